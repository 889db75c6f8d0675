"""checks: recorded register checks, their lines, effects and refunds; invoice numbers

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:30:00

invoice_numbers holds every POS invoice number a merchant used, across checks
and gift card operations; the numbers gift card operations used so far are
copied into it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cagnotte.db.types

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_MOMENT = cagnotte.db.types.UTCDateTime(timezone=True)


def _merchant(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["merchant_id"], ["merchants.id"], name=op.f(f"fk_{table}_merchant_id_merchants"),
        ondelete="RESTRICT",
    )


def _of_check(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["merchant_id", "check_id"], ["checks.merchant_id", "checks.id"],
        name=op.f(f"fk_{table}_merchant_id_check_id_checks"),
    )


def upgrade() -> None:
    op.create_table(
        "invoice_numbers",
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("used_by", sa.String(length=24), nullable=False),
        sa.Column("used_by_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        _merchant("invoice_numbers"),
        sa.PrimaryKeyConstraint("merchant_id", "number", name=op.f("pk_invoice_numbers")),
    )
    op.execute(
        "INSERT INTO invoice_numbers (merchant_id, number, used_by, used_by_id, created_at)"
        " SELECT merchant_id, invoice_number, 'gift_card_operation', id, created_at"
        " FROM gift_card_operations WHERE invoice_number IS NOT NULL"
    )
    op.create_table(
        "checks",
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("terminal_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=24), nullable=False),
        sa.Column("invoice_number", sa.String(length=64), nullable=True),
        sa.Column("membership_id", sa.Uuid(), nullable=True),
        sa.Column("currency", sa.String(length=24), nullable=False),
        sa.Column("gross_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("loyalty_paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("tender_paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("due_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("occurred_at", _MOMENT, nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.CheckConstraint("status IN ('committed', 'partly_refunded', 'refunded')",
                           name=op.f("ck_checks_status")),
        sa.CheckConstraint(
            "gross_minor >= 0 AND discount_minor >= 0 AND loyalty_paid_minor >= 0"
            " AND tender_paid_minor >= 0 AND due_minor >= 0 AND refunded_minor >= 0",
            name=op.f("ck_checks_non_negative"),
        ),
        sa.ForeignKeyConstraint(["currency"], ["assets.code"],
                                name=op.f("fk_checks_currency_assets")),
        _merchant("checks"),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_checks")),
    )
    op.create_index("ix_checks_occurred", "checks", ["merchant_id", "occurred_at", "id"])
    op.create_index("ix_checks_membership", "checks",
                    ["merchant_id", "membership_id", "occurred_at"])
    op.create_table(
        "check_lines",
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("check_id", sa.Uuid(), nullable=False),
        sa.Column("line_index", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("gross_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("loyalty_paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0 AND refunded_quantity BETWEEN 0 AND quantity",
                           name=op.f("ck_check_lines_quantity")),
        _of_check("check_lines"),
        _merchant("check_lines"),
        sa.PrimaryKeyConstraint("merchant_id", "check_id", "line_index",
                                name=op.f("pk_check_lines")),
    )
    op.create_table(
        "check_effects",
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("check_id", sa.Uuid(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("contributor", sa.String(length=24), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=True),
        sa.Column("rule_id", sa.String(length=80), nullable=True),
        sa.Column("asset_code", sa.String(length=24), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("value_minor", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.Uuid(), nullable=True),
        sa.Column("lines", _JSON, nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        _of_check("check_effects"),
        _merchant("check_effects"),
        sa.PrimaryKeyConstraint("merchant_id", "check_id", "ordinal",
                                name=op.f("pk_check_effects")),
    )
    op.create_table(
        "check_refunds",
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("check_id", sa.Uuid(), nullable=False),
        sa.Column("lines", _JSON, nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        _of_check("check_refunds"),
        _merchant("check_refunds"),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_check_refunds")),
    )
    op.create_index("ix_check_refunds_check", "check_refunds", ["merchant_id", "check_id"])


def downgrade() -> None:
    op.drop_index("ix_check_refunds_check", table_name="check_refunds")
    op.drop_table("check_refunds")
    op.drop_table("check_effects")
    op.drop_table("check_lines")
    op.drop_index("ix_checks_membership", table_name="checks")
    op.drop_index("ix_checks_occurred", table_name="checks")
    op.drop_table("checks")
    op.drop_table("invoice_numbers")
