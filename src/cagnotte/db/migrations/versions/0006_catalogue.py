# ruff: noqa: E501  (Alembic writes one line per column and constraint)
"""catalogue: products and product categories

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01 09:00:00

Its own branch off the core (migrate() upgrades every head).

- product_categories: a merchant's tree of categories; a name is unique among
  its siblings (a unique constraint, and a partial unique index for the roots,
  whose NULL parent a constraint would let repeat), compared case-folded.
- products: SKU unique per merchant, a unit price in minor units of a currency
  (0 to 10^12), tax-free and members-only flags, active or not; indexed by
  category (the SKU's unique constraint is the index of look-ups by SKU).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cagnotte.db.types

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('product_categories',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('parent_id', sa.Uuid(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_key', sa.String(length=300), nullable=False),
    sa.Column('created_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("name <> '' AND name_key <> ''", name=op.f('ck_product_categories_name')),
    sa.CheckConstraint('parent_id IS NULL OR parent_id <> id', name=op.f('ck_product_categories_not_own_parent')),
    sa.ForeignKeyConstraint(['merchant_id', 'parent_id'], ['product_categories.merchant_id', 'product_categories.id'], name=op.f('fk_product_categories_merchant_id_parent_id_product_categories')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_product_categories_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'id', name=op.f('pk_product_categories')),
    sa.UniqueConstraint('merchant_id', 'parent_id', 'name_key', name=op.f('uq_product_categories_merchant_id_parent_id_name_key'))
    )
    with op.batch_alter_table('product_categories', schema=None) as batch_op:
        batch_op.create_index('uq_product_categories_root_name_key', ['merchant_id', 'name_key'], unique=True, sqlite_where=sa.text('parent_id IS NULL'), postgresql_where=sa.text('parent_id IS NULL'))

    op.create_table('products',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category_id', sa.Uuid(), nullable=True),
    sa.Column('unit_price_minor', sa.BigInteger(), nullable=False),
    sa.Column('asset_code', sa.String(length=24), nullable=False),
    sa.Column('tax_free', sa.Boolean(), nullable=False),
    sa.Column('members_only', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('search_text', sa.String(length=795), nullable=False),
    sa.Column('created_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("sku <> '' AND name <> ''", name=op.f('ck_products_text')),
    sa.CheckConstraint('unit_price_minor >= 0 AND unit_price_minor <= 1000000000000', name=op.f('ck_products_unit_price')),
    sa.ForeignKeyConstraint(['asset_code'], ['assets.code'], name=op.f('fk_products_asset_code_assets')),
    sa.ForeignKeyConstraint(['merchant_id', 'category_id'], ['product_categories.merchant_id', 'product_categories.id'], name=op.f('fk_products_merchant_id_category_id_product_categories')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_products_merchant_id_merchants'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('merchant_id', 'id', name=op.f('pk_products')),
    sa.UniqueConstraint('merchant_id', 'sku', name=op.f('uq_products_merchant_id_sku'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index('ix_products_merchant_id_category_id', ['merchant_id', 'category_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index('ix_products_merchant_id_category_id')

    op.drop_table('products')
    with op.batch_alter_table('product_categories', schema=None) as batch_op:
        batch_op.drop_index('uq_product_categories_root_name_key', sqlite_where=sa.text('parent_id IS NULL'), postgresql_where=sa.text('parent_id IS NULL'))

    op.drop_table('product_categories')
