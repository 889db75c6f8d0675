"""consent events: each change of a member's consent to marketing, per channel

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-01 14:30:00

The proof of consent (crm/consents.py): channel, given or withdrawn, when, the
source and the text version. The membership gains the phone channel's flag
(canvassing by phone only for those who asked to be called back).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cagnotte.db.types

revision: str = "0029"
down_revision: str | Sequence[str] | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "memberships",
        sa.Column(
            "consent_phone_callback", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )
    op.create_table(
        "consent_events",
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("text_version", sa.String(length=40), nullable=True),
        sa.Column("created_at", cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "channel IN ('email', 'sms', 'phone')", name=op.f("ck_consent_events_channel")
        ),
        sa.CheckConstraint(
            "source IN ('register', 'customer_page', 'import', 'back_office', 'api',"
            " 'unsubscribe_link')",
            name=op.f("ck_consent_events_source"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_consent_events_merchant_id_merchants"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "membership_id"],
            ["memberships.merchant_id", "memberships.id"],
            name=op.f("fk_consent_events_merchant_id_membership_id_memberships"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_consent_events")),
    )
    op.create_index(
        "ix_consent_events_membership",
        "consent_events",
        ["merchant_id", "membership_id", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_consent_events_membership", table_name="consent_events")
    op.drop_table("consent_events")
    op.drop_column("memberships", "consent_phone_callback")
