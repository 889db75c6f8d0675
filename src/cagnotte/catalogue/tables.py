"""Catalogue tables: a merchant's product categories (a tree) and products.

Both are keyed by (merchant_id, id), and every unique constraint starts with
merchant_id: two merchants may use the same SKU or category names, and a
reference (a product's category, a category's parent) can only name a row of
the same merchant.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    Uuid,
)

from cagnotte.catalogue.fields import (
    CATEGORY_NAME_LENGTH_MAX,
    NAME_KEY_LENGTH_MAX,
    PRODUCT_NAME_LENGTH_MAX,
    SEARCH_TEXT_LENGTH_MAX,
    SKU_LENGTH_MAX,
    UNIT_PRICE_MINOR_MAX,
)
from cagnotte.db.tables import merchant_id_column, metadata
from cagnotte.db.types import UTCDateTime

product_categories = Table(
    "product_categories",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    # NULL for a root category.
    Column("parent_id", Uuid),
    Column("name", String(CATEGORY_NAME_LENGTH_MAX), nullable=False),
    # The name case-folded (fields.name_key): siblings are not told apart by case
    # alone, and an import's "drinks" finds the category "Drinks".
    Column("name_key", String(NAME_KEY_LENGTH_MAX), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "id"),
    ForeignKeyConstraint(
        ["merchant_id", "parent_id"], ["product_categories.merchant_id", "product_categories.id"]
    ),
    # A name is unique among its siblings; the index below does it for the roots,
    # whose NULL parent_id a unique constraint would let repeat.
    UniqueConstraint("merchant_id", "parent_id", "name_key"),
    CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
    CheckConstraint("name <> '' AND name_key <> ''", name="name"),
)
Index(
    "uq_product_categories_root_name_key",
    product_categories.c.merchant_id,
    product_categories.c.name_key,
    unique=True,
    sqlite_where=product_categories.c.parent_id.is_(None),
    postgresql_where=product_categories.c.parent_id.is_(None),
)

# The version of a merchant's category tree, bumped by every change of it in
# the same unit of work: a register keeps the tree in memory until it changes.
category_versions = Table(
    "category_versions",
    metadata,
    merchant_id_column(),
    Column("version", BigInteger, nullable=False),
    PrimaryKeyConstraint("merchant_id"),
)

products = Table(
    "products",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("sku", String(SKU_LENGTH_MAX), nullable=False),
    Column("name", String(PRODUCT_NAME_LENGTH_MAX), nullable=False),
    # NULL for a product in no category.
    Column("category_id", Uuid),
    Column("unit_price_minor", BigInteger, nullable=False),
    # The currency of the price: an asset every merchant may use.
    Column("asset_code", String(24), ForeignKey("assets.code"), nullable=False),
    Column("tax_free", Boolean, nullable=False),
    # Reserved to members: sold to identified customers only.
    Column("members_only", Boolean, nullable=False),
    # Products are deactivated, never deleted: checks keep naming them.
    Column("active", Boolean, nullable=False),
    # SKU and name case-folded (fields.search_text), for a search that ignores case
    # the same way on both databases.
    Column("search_text", String(SEARCH_TEXT_LENGTH_MAX), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "id"),
    ForeignKeyConstraint(
        ["merchant_id", "category_id"], ["product_categories.merchant_id", "product_categories.id"]
    ),
    # Also the index of look-ups by SKU (resolve_lines, imports) and of the pages
    # of the product list, which are in SKU order.
    UniqueConstraint("merchant_id", "sku"),
    CheckConstraint(
        f"unit_price_minor >= 0 AND unit_price_minor <= {UNIT_PRICE_MINOR_MAX}", name="unit_price"
    ),
    CheckConstraint("sku <> '' AND name <> ''", name="text"),
)
Index("ix_products_merchant_id_category_id", products.c.merchant_id, products.c.category_id)
