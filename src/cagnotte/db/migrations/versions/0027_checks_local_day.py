"""checks: the merchant's local day of each check, for statistics by day, week and month

Revision ID: 0027
Revises: 0016
Create Date: 2026-12-01 14:00:00

`occurred_on` is the local day of `occurred_at` in the merchant's time zone,
fixed when the check is committed, so that statistics group and filter by day
with an index on both databases (SQLite has no time zones). Checks recorded
before this revision get their UTC day. The column stays nullable on SQLite
(adding a NOT NULL column there rewrites the table); the commit always sets it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("checks", sa.Column("occurred_on", sa.Date(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE checks SET occurred_on = (occurred_at AT TIME ZONE 'UTC')::date")
    else:
        op.execute("UPDATE checks SET occurred_on = date(occurred_at)")
    op.create_index(
        "ix_checks_occurred_on", "checks", ["merchant_id", "occurred_on", "store_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_checks_occurred_on", table_name="checks")
    op.drop_column("checks", "occurred_on")
