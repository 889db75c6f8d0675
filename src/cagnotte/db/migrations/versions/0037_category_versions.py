"""category_versions: a merchant's category tree version, for the register's cache

Revision ID: 0037
Revises: 0032
Create Date: 2026-12-01 16:40:00

Every change of a merchant's category tree (a category created, renamed or
moved, an import's new categories) bumps its row in the unit of work that
makes it. A check reads the version with the merchant's other check context in
one statement and keeps the tree in memory until it changes, instead of
walking each line's ancestors in SQL on every quote.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | Sequence[str] | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "category_versions",
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_category_versions_merchant_id_merchants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_category_versions")),
    )


def downgrade() -> None:
    op.drop_table("category_versions")
