"""loyalty: usage counters of capped promotions, and promotion budgets

Revision ID: 0019
Revises: 0015
Create Date: 2026-12-01 11:40:00

A promotion's caps per customer per day and month, and its limits on goods,
are checked against counters the commit keeps (loyalty_rule_usage,
loyalty_goods_usage). A promotion's budget is a ledger account of its own;
loyalty_rule_budgets names it and what was put in it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('loyalty_goods_usage',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('membership_id', sa.Uuid(), nullable=False),
    sa.Column('rule_id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('period', sa.String(length=5), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("period IN ('day', 'month')", name=op.f('ck_loyalty_goods_usage_period')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_loyalty_goods_usage_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'membership_id', 'rule_id', 'product_id', 'period', 'starts_on', name=op.f('pk_loyalty_goods_usage'))
    )
    op.create_table('loyalty_rule_usage',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('membership_id', sa.Uuid(), nullable=False),
    sa.Column('rule_id', sa.Uuid(), nullable=False),
    sa.Column('period', sa.String(length=5), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('times', sa.Integer(), nullable=False),
    sa.CheckConstraint("period IN ('day', 'month')", name=op.f('ck_loyalty_rule_usage_period')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_loyalty_rule_usage_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'membership_id', 'rule_id', 'period', 'starts_on', name=op.f('pk_loyalty_rule_usage'))
    )
    op.create_table('loyalty_rule_budgets',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('rule_id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('funded_units', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id', 'rule_id'], ['loyalty_rules.merchant_id', 'loyalty_rules.id'], name=op.f('fk_loyalty_rule_budgets_merchant_id_rule_id_loyalty_rules')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_loyalty_rule_budgets_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'rule_id', name=op.f('pk_loyalty_rule_budgets'))
    )


def downgrade() -> None:
    op.drop_table('loyalty_rule_budgets')
    op.drop_table('loyalty_rule_usage')
    op.drop_table('loyalty_goods_usage')
