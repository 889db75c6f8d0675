"""jobs: a lock row per scheduled job, with a lease (SQLite)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 12:10:00

Every uvicorn worker runs the scheduler, so that several may start the same job
at once. On PostgreSQL a job runs under an advisory lock; on SQLite, which has
none, under this row: taken with a lease by one process, skipped by the others
while the lease runs (db/job_locks.py). The table exists on both databases, so
that the schema is the same.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cagnotte.db.types

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_locks",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("lease_ends_at", cagnotte.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_locks")),
    )


def downgrade() -> None:
    op.drop_table("job_locks")
