"""bonus campaigns' variable symbols are claimed in platform_lookups

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 11:30:00

A bank payment quotes a campaign's variable symbol alone, so the symbol is
unique platform-wide: that is held by platform_lookups ('variable_symbol'),
copied from the campaigns; bonus_campaigns keeps it unique per merchant.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO platform_lookups (kind, value, merchant_id, row_id, created_at)"
        " SELECT 'variable_symbol', variable_symbol, merchant_id, id, created_at"
        " FROM bonus_campaigns"
    )
    with op.batch_alter_table("bonus_campaigns", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_bonus_campaigns_variable_symbol"), type_="unique")
        batch_op.create_unique_constraint(
            op.f("uq_bonus_campaigns_merchant_id_variable_symbol"),
            ["merchant_id", "variable_symbol"],
        )


def downgrade() -> None:
    with op.batch_alter_table("bonus_campaigns", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("uq_bonus_campaigns_merchant_id_variable_symbol"), type_="unique"
        )
        batch_op.create_unique_constraint(
            op.f("uq_bonus_campaigns_variable_symbol"), ["variable_symbol"]
        )
    op.execute("DELETE FROM platform_lookups WHERE kind = 'variable_symbol'")
