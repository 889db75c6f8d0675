"""information notices and birthday messages

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-01 16:40:00

A merchant's information notice, version by version (crm/notices.py), and the
membership's record of the one it was given at enrolment; the birthday message's
settings on the merchant and its once-a-year rows (crm/birthday_messages.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cagnotte.db.types

revision: str = "0034"
down_revision: str | Sequence[str] | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "merchants",
        sa.Column(
            "birthday_message_enabled", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )
    op.add_column("merchants", sa.Column("birthday_message_subject", sa.String(length=500)))
    op.add_column("merchants", sa.Column("birthday_message_body", sa.Text()))
    op.add_column(
        "memberships",
        sa.Column("notice_given_at", cagnotte.db.types.UTCDateTime(timezone=True)),
    )
    op.add_column("memberships", sa.Column("notice_version", sa.Integer()))
    op.create_table(
        "information_notices",
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("version > 0", name=op.f("ck_information_notices_version_positive")),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_information_notices_merchant_id_merchants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("merchant_id", "version", name=op.f("pk_information_notices")),
    )
    op.create_table(
        "birthday_messages",
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_birthday_messages_merchant_id_merchants"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "membership_id"],
            ["memberships.merchant_id", "memberships.id"],
            name=op.f("fk_birthday_messages_merchant_id_membership_id_memberships"),
        ),
        sa.PrimaryKeyConstraint(
            "merchant_id", "membership_id", "year", name=op.f("pk_birthday_messages")
        ),
    )


def downgrade() -> None:
    op.drop_table("birthday_messages")
    op.drop_table("information_notices")
    op.drop_column("memberships", "notice_version")
    op.drop_column("memberships", "notice_given_at")
    op.drop_column("merchants", "birthday_message_body")
    op.drop_column("merchants", "birthday_message_subject")
    op.drop_column("merchants", "birthday_message_enabled")
