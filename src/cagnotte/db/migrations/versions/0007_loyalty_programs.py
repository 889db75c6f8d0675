"""loyalty programs and their earning rules

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cagnotte.db.types

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_MOMENT = cagnotte.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "loyalty_programs",
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=24), nullable=False),
        sa.Column("asset_code", sa.String(length=24), nullable=False),
        sa.Column("settings", _JSON, nullable=False),
        sa.Column("open_balances", sa.String(length=16), nullable=True),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.Column("updated_at", _MOMENT, nullable=False),
        sa.Column("deleted_at", _MOMENT, nullable=True),
        sa.CheckConstraint("kind IN ('points', 'stamps', 'kitty')",
                           name=op.f("ck_loyalty_programs_kind")),
        sa.CheckConstraint("status IN ('active', 'suspended', 'deleted')",
                           name=op.f("ck_loyalty_programs_status")),
        sa.CheckConstraint("open_balances IS NULL OR open_balances IN ('kept', 'expired')",
                           name=op.f("ck_loyalty_programs_open_balances")),
        sa.ForeignKeyConstraint(["asset_code"], ["assets.code"],
                                name=op.f("fk_loyalty_programs_asset_code_assets")),
        sa.ForeignKeyConstraint(["currency"], ["assets.code"],
                                name=op.f("fk_loyalty_programs_currency_assets")),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"],
                                name=op.f("fk_loyalty_programs_merchant_id_merchants"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_loyalty_programs")),
    )
    op.create_index("ix_loyalty_programs_status", "loyalty_programs",
                    ["merchant_id", "status"], unique=False)
    op.create_table(
        "loyalty_rules",
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("exclusive", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("definition", _JSON, nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.Column("updated_at", _MOMENT, nullable=False),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"],
                                name=op.f("fk_loyalty_rules_merchant_id_merchants"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(
            ["merchant_id", "program_id"],
            ["loyalty_programs.merchant_id", "loyalty_programs.id"],
            name=op.f("fk_loyalty_rules_merchant_id_loyalty_programs"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_loyalty_rules")),
    )
    op.create_index("ix_loyalty_rules_program", "loyalty_rules",
                    ["merchant_id", "program_id"], unique=False)
    op.create_table(
        "loyalty_rule_versions",
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"],
                                name=op.f("fk_loyalty_rule_versions_merchant_id_merchants"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_loyalty_rule_versions")),
    )


def downgrade() -> None:
    op.drop_table("loyalty_rule_versions")
    op.drop_index("ix_loyalty_rules_program", table_name="loyalty_rules")
    op.drop_table("loyalty_rules")
    op.drop_index("ix_loyalty_programs_status", table_name="loyalty_programs")
    op.drop_table("loyalty_programs")
