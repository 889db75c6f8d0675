"""loyalty: the return window's holds, tier spend, birthday credits; ledger functions v4

Revision ID: 0024
Revises: 0031
Create Date: 2026-12-01 14:00:00

Points a check earns in a program with a return window are held until it ends
(loyalty_pending_earnings names each hold, its end and what a refund left of
it). A program's tiers count each member's qualifying spend per local month
(loyalty_member_spend). A birthday rule credits once per member and year
(loyalty_birthday_credits). Version 4 of the ledger's PostgreSQL functions lets
the post of a hold name when its lot expires (temporary points held for a
return window keep their expiry).
"""

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

import cagnotte.db.types

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSIONS = Path(__file__).parent


def _merchant() -> sa.Column:
    return sa.Column("merchant_id", sa.Uuid(), nullable=False)


def _merchant_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["merchant_id"],
        ["merchants.id"],
        name=op.f(f"fk_{table}_merchant_id_merchants"),
        ondelete="RESTRICT",
    )


def upgrade() -> None:
    op.create_table(
        "loyalty_pending_earnings",
        _merchant(),
        sa.Column("transfer_id", sa.Uuid(), nullable=False),
        sa.Column("check_id", sa.Uuid(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("hold_id", sa.Uuid(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("available_at", cagnotte.db.types.UTCDateTime(), nullable=False),
        sa.Column("lot_expires_at", cagnotte.db.types.UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("posted_transfer_id", sa.Uuid(), nullable=True),
        sa.Column("resolved_at", cagnotte.db.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'posted', 'voided')",
            name=op.f("ck_loyalty_pending_earnings_status"),
        ),
        sa.CheckConstraint(
            "units >= 0", name=op.f("ck_loyalty_pending_earnings_units_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "check_id"],
            ["checks.merchant_id", "checks.id"],
            name=op.f("fk_loyalty_pending_earnings_merchant_id_check_id_checks"),
        ),
        _merchant_key("loyalty_pending_earnings"),
        sa.PrimaryKeyConstraint(
            "merchant_id", "transfer_id", name=op.f("pk_loyalty_pending_earnings")
        ),
    )
    op.create_index(
        "ix_loyalty_pending_earnings_due",
        "loyalty_pending_earnings",
        ["status", "available_at"],
        unique=False,
    )
    op.create_index(
        "ix_loyalty_pending_earnings_member",
        "loyalty_pending_earnings",
        ["merchant_id", "membership_id", "status"],
        unique=False,
    )
    op.create_table(
        "loyalty_member_spend",
        _merchant(),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("spend_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "spend_minor >= 0", name=op.f("ck_loyalty_member_spend_spend_not_negative")
        ),
        _merchant_key("loyalty_member_spend"),
        sa.PrimaryKeyConstraint(
            "merchant_id",
            "membership_id",
            "program_id",
            "starts_on",
            name=op.f("pk_loyalty_member_spend"),
        ),
    )
    op.create_table(
        "loyalty_birthday_credits",
        _merchant(),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", cagnotte.db.types.UTCDateTime(), nullable=False),
        _merchant_key("loyalty_birthday_credits"),
        sa.PrimaryKeyConstraint(
            "merchant_id",
            "program_id",
            "membership_id",
            "year",
            name=op.f("pk_loyalty_birthday_credits"),
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text((VERSIONS / "0024_postgres_ledger.sql").read_text()))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Version 3 declares the eight-argument function; the ninth would stay beside it.
        op.execute(
            sa.text(
                "DROP FUNCTION IF EXISTS cagnotte_resolve_hold("
                "uuid, uuid, timestamptz, uuid[], uuid, uuid, text, bigint, timestamptz)"
            )
        )
        op.execute(sa.text((VERSIONS / "0009_postgres_ledger.sql").read_text()))
    op.drop_table("loyalty_birthday_credits")
    op.drop_table("loyalty_member_spend")
    op.drop_index("ix_loyalty_pending_earnings_member", table_name="loyalty_pending_earnings")
    op.drop_index("ix_loyalty_pending_earnings_due", table_name="loyalty_pending_earnings")
    op.drop_table("loyalty_pending_earnings")
