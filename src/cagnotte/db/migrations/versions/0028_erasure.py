"""erasure: when a membership's and an identity's personal data were erased

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01 14:20:00

An erased membership keeps its id (the pseudonym its ledger accounts and
checks go on naming) and loses its personal data; `erased_at` says when.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cagnotte.db.types

revision: str = "0028"
down_revision: str | Sequence[str] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("memberships", "customers"):
        op.add_column(
            table,
            sa.Column("erased_at", cagnotte.db.types.UTCDateTime(timezone=True), nullable=True),
        )


def downgrade() -> None:
    for table in ("memberships", "customers"):
        op.drop_column(table, "erased_at")
