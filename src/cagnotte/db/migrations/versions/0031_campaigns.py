"""campaigns: e-mail campaigns to a segment, and their recipients

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-01 14:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cagnotte.db.types

revision: str = "0031"
down_revision: str | Sequence[str] | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("segment_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("rate_per_hour", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", cagnotte.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", cagnotte.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("rate_per_hour > 0", name=op.f("ck_campaigns_rate_positive")),
        sa.CheckConstraint(
            "status IN ('draft', 'sending', 'sent')", name=op.f("ck_campaigns_status")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "segment_id"],
            ["segments.merchant_id", "segments.id"],
            name=op.f("fk_campaigns_merchant_id_segment_id_segments"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_campaigns_merchant_id_merchants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_campaigns")),
    )
    op.create_index("ix_campaigns_status", "campaigns", ["status"])
    op.create_table(
        "campaign_recipients",
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("outbox_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'queued', 'unsubscribed')",
            name=op.f("ck_campaign_recipients_status"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "campaign_id"],
            ["campaigns.merchant_id", "campaigns.id"],
            name=op.f("fk_campaign_recipients_merchant_id_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_campaign_recipients_merchant_id_merchants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "merchant_id", "campaign_id", "membership_id", name=op.f("pk_campaign_recipients")
        ),
    )


def downgrade() -> None:
    op.drop_table("campaign_recipients")
    op.drop_index("ix_campaigns_status", table_name="campaigns")
    op.drop_table("campaigns")
