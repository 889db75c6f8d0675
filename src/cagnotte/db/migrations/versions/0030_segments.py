"""segments: a merchant's customer segments, filters counted live

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-01 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cagnotte.db.types

revision: str = "0030"
down_revision: str | Sequence[str] | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", cagnotte.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_segments_merchant_id_merchants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_segments")),
    )


def downgrade() -> None:
    op.drop_table("segments")
