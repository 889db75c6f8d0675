"""memberships: search names without accents, for the directory's search

Revision ID: 0032
Revises: 0022
Create Date: 2026-12-01 15:15:00

`search_name` was "first last" lower-cased; it is now folded (crm/names.py:
decomposed, marks dropped, case-folded), so that `eloise` finds Éloïse. The
existing rows are rewritten here, in batches; new ones are written folded.
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1_000


def _fold(text: str) -> str:
    # A copy of crm/names.py's fold as it is today: a migration must not change
    # when the code does.
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.casefold().split())


def upgrade() -> None:
    connection = op.get_bind()
    memberships = sa.table(
        "memberships",
        sa.column("merchant_id", sa.Uuid()),
        sa.column("id", sa.Uuid()),
        sa.column("first_name", sa.String()),
        sa.column("last_name", sa.String()),
        sa.column("search_name", sa.String()),
    )
    last = None
    while True:
        query = sa.select(
            memberships.c.merchant_id,
            memberships.c.id,
            memberships.c.first_name,
            memberships.c.last_name,
            memberships.c.search_name,
        ).order_by(memberships.c.merchant_id, memberships.c.id)
        if last is not None:
            query = query.where(
                sa.tuple_(memberships.c.merchant_id, memberships.c.id) > sa.tuple_(*last)
            )
        rows = connection.execute(query.limit(BATCH)).all()
        if not rows:
            break
        for row in rows:
            folded = " ".join(
                _fold(part) for part in (row.first_name or "", row.last_name or "") if part
            ).strip()
            if folded != row.search_name:
                connection.execute(
                    sa.update(memberships)
                    .where(
                        memberships.c.merchant_id == row.merchant_id, memberships.c.id == row.id
                    )
                    .values(search_name=folded)
                )
        last = (rows[-1].merchant_id, rows[-1].id)


def downgrade() -> None:
    pass  # a folded name is still a lower-cased one: nothing to undo
