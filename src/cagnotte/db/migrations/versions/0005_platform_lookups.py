"""platform lookups: values unique across merchants live in a table of their own

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00

Staff e-mails and API key hashes were unique platform-wide on their own tables,
which a table distributed by merchant cannot enforce. They are claimed in
platform_lookups now (copied from the rows that hold them), and the tables keep
unique constraints that include merchant_id.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cagnotte.db.types

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, lookup kind): uq_<table>_<column> becomes uq_<table>_merchant_id_<column>.
MOVED = (
    ("staff", "email", "staff_email"),
    ("api_keys", "key_hash", "api_key"),
)


def upgrade() -> None:
    op.create_table(
        "platform_lookups",
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("row_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "value", name=op.f("pk_platform_lookups")),
    )
    for table, column, kind in MOVED:
        op.execute(
            f"INSERT INTO platform_lookups (kind, value, merchant_id, row_id, created_at)"
            f" SELECT '{kind}', {column}, merchant_id, id, created_at FROM {table}"
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f"uq_{table}_{column}"), type_="unique")
            batch_op.create_unique_constraint(
                op.f(f"uq_{table}_merchant_id_{column}"), ["merchant_id", column]
            )


def downgrade() -> None:
    for table, column, _kind in MOVED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f"uq_{table}_merchant_id_{column}"), type_="unique")
            batch_op.create_unique_constraint(op.f(f"uq_{table}_{column}"), [column])
    op.drop_table("platform_lookups")
