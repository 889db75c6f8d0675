"""loyalty_credits: vouchers, next-purchase discounts and loyalty credit a check issued

Revision ID: 0033
Revises: 0037
Create Date: 2026-12-01 16:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cagnotte.db.types

revision: str = "0033"
down_revision: str | Sequence[str] | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    moment = cagnotte.db.types.UTCDateTime(timezone=True)
    op.create_table(
        "loyalty_credits",
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=24), nullable=False),
        sa.Column("reward", sa.String(length=20), nullable=True),
        sa.Column("reward_value", sa.BigInteger(), nullable=False),
        sa.Column("remaining_minor", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("issue_transfer_id", sa.Uuid(), nullable=True),
        sa.Column("issuing_check_id", sa.Uuid(), nullable=False),
        sa.Column("issued_at", moment, nullable=False),
        sa.Column("expires_at", moment, nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("using_check_id", sa.Uuid(), nullable=True),
        sa.Column("used_at", moment, nullable=True),
        sa.Column("used_value_minor", sa.BigInteger(), nullable=False),
        sa.Column("resolved_at", moment, nullable=True),
        sa.CheckConstraint(
            "kind IN ('voucher', 'next_purchase', 'credit')", name=op.f("ck_loyalty_credits_kind")
        ),
        sa.CheckConstraint(
            "state IN ('open', 'used', 'expired', 'voided')", name=op.f("ck_loyalty_credits_state")
        ),
        sa.CheckConstraint(
            "remaining_minor >= 0 AND used_value_minor >= 0 AND reward_value >= 0",
            name=op.f("ck_loyalty_credits_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["currency"], ["assets.code"], name=op.f("fk_loyalty_credits_currency_assets")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "issuing_check_id"],
            ["checks.merchant_id", "checks.id"],
            name=op.f("fk_loyalty_credits_merchant_id_issuing_check_id_checks"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_loyalty_credits_merchant_id_merchants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_loyalty_credits")),
    )
    op.create_index(
        "ix_loyalty_credits_member",
        "loyalty_credits",
        ["merchant_id", "membership_id", "state", "expires_at"],
    )
    op.create_index("ix_loyalty_credits_due", "loyalty_credits", ["state", "expires_at"])
    op.create_index(
        "ix_loyalty_credits_issuing_check", "loyalty_credits", ["merchant_id", "issuing_check_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_loyalty_credits_issuing_check", table_name="loyalty_credits")
    op.drop_index("ix_loyalty_credits_due", table_name="loyalty_credits")
    op.drop_index("ix_loyalty_credits_member", table_name="loyalty_credits")
    op.drop_table("loyalty_credits")
