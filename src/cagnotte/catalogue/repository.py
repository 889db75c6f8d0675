"""The catalogue's SQL: reading and writing categories and products, nothing else.

Every function takes the connection of the caller's transaction (or unit of
work) and the merchant it works for; another merchant's rows are never read.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict
from typing import Any, TypeVar

from sqlalchemy import Connection, Select, bindparam, insert, literal, select, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from cagnotte.catalogue import fields
from cagnotte.catalogue.rows import Category, Product, ProductFilter
from cagnotte.catalogue.tables import category_versions, product_categories, products
from cagnotte.catalogue.tree import NO_SUCH_CATEGORY
from cagnotte.db.pages import Order, Page, PageRequest, fetch_page
from cagnotte.db.rows import merchant_row
from cagnotte.db.tables import assets
from cagnotte.db.unit_of_work import UnitOfWork

NO_SUCH_PRODUCT = "No such product."
# Values per IN (…) list: well under SQLite's limit of bound parameters.
_CHUNK_SIZE = 500

T = TypeVar("T")
PRODUCT_ORDER = Order("products", (products.c.sku,))


# Currencies ---------------------------------------------------------------------


def currency_scales(connection: Connection) -> dict[str, int]:
    """The scale of each currency a price may be in: the assets every merchant may use.

    A merchant's own units (points, stamps) price nothing.
    """
    rows = connection.execute(
        select(assets.c.code, assets.c.scale).where(assets.c.merchant_id.is_(None))
    ).all()
    return {row.code: row.scale for row in rows}


# Categories ---------------------------------------------------------------------


def categories(connection: Connection, merchant_id: uuid.UUID) -> list[Category]:
    rows = connection.execute(
        select(product_categories).where(product_categories.c.merchant_id == merchant_id)
    ).mappings()
    return [Category.from_row(row) for row in rows]


def lock_categories(unit: UnitOfWork) -> list[Category]:
    """All of the merchant's categories, locked until the unit of work ends.

    A category made while the first ones were being locked is locked in a second
    round: when this returns, nobody else can change any category of the merchant
    (they lock them all first too) or add one below them. Products may still be
    written into them meanwhile: the lock leaves the keys that products reference
    to the check of their foreign key (so a product change, which locks its row
    before that check, never waits for a tree change that waits for the product).
    """
    locked: dict[uuid.UUID, Any] = {}
    while True:
        ids = (
            unit.connection.execute(
                select(product_categories.c.id).where(
                    product_categories.c.merchant_id == unit.merchant_id
                )
            )
            .scalars()
            .all()
        )
        missing = set(ids) - locked.keys()
        if not missing:
            return [Category.from_row(row) for row in locked.values()]
        for row in unit.lock_many(product_categories, missing, keys_stay=True):
            locked[row["id"]] = row


def category(connection: Connection, merchant_id: uuid.UUID, category_id: uuid.UUID) -> Category:
    """The merchant's category, or not_found."""
    return Category.from_row(
        merchant_row(
            connection, product_categories, merchant_id, category_id, missing=NO_SUCH_CATEGORY
        )
    )


def insert_categories(connection: Connection, new: Sequence[Category]) -> None:
    """Insert these categories, each after its parent."""
    if new:
        connection.execute(insert(product_categories), [_category_values(c) for c in new])
        _bump_categories_version(connection, new[0].merchant_id)


def category_parents(
    connection: Connection, merchant_id: uuid.UUID
) -> dict[uuid.UUID, uuid.UUID | None]:
    """Each of the merchant's categories and its parent (None for a root): the tree."""
    rows = connection.execute(
        select(product_categories.c.id, product_categories.c.parent_id).where(
            product_categories.c.merchant_id == merchant_id
        )
    )
    return {row.id: row.parent_id for row in rows}


def categories_version(connection: Connection, merchant_id: uuid.UUID) -> int:
    """The version of the merchant's category tree (0 before its first category)."""
    return (
        connection.execute(
            select(category_versions.c.version).where(
                category_versions.c.merchant_id == merchant_id
            )
        ).scalar()
        or 0
    )


def _bump_categories_version(connection: Connection, merchant_id: uuid.UUID) -> None:
    """Say that the merchant's tree changed, in the unit of work that changes it.

    An upsert: the merchant's first two categories, made in parallel when there
    was none yet for lock_categories to lock, make and bump one row.
    """
    dialect = pg_dialect if connection.dialect.name == "postgresql" else sqlite_dialect
    statement = dialect.insert(category_versions).values(merchant_id=merchant_id, version=1)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[category_versions.c.merchant_id],
            set_={"version": category_versions.c.version + 1},
        )
    )


def update_category(connection: Connection, changed: Category) -> None:
    connection.execute(
        update(product_categories)
        .where(
            product_categories.c.merchant_id == changed.merchant_id,
            product_categories.c.id == changed.id,
        )
        .values(
            name=changed.name, name_key=fields.name_key(changed.name), parent_id=changed.parent_id
        )
    )
    _bump_categories_version(connection, changed.merchant_id)


def _category_and_below(merchant_id: uuid.UUID, category_id: uuid.UUID) -> Select:
    """The ids of the category and of every category below it."""
    top = (
        select(product_categories.c.id, literal(1).label("depth"))
        .where(
            product_categories.c.merchant_id == merchant_id,
            product_categories.c.id == category_id,
        )
        .cte("below", recursive=True)
    )
    child = product_categories.alias("child")
    below = top.union_all(
        select(child.c.id, top.c.depth + 1).where(
            child.c.merchant_id == merchant_id,
            child.c.parent_id == top.c.id,
            top.c.depth < fields.CATEGORY_DEPTH_MAX,
        )
    )
    return select(below.c.id)


# Products -----------------------------------------------------------------------


def product(connection: Connection, merchant_id: uuid.UUID, product_id: uuid.UUID) -> Product:
    """The merchant's product, or not_found."""
    return Product.from_row(
        merchant_row(connection, products, merchant_id, product_id, missing=NO_SUCH_PRODUCT)
    )


# Built once: a check looks its lines up on every quote and commit.
_PRODUCTS_BY_SKU = select(products).where(
    products.c.merchant_id == bindparam("merchant_id"),
    products.c.sku.in_(bindparam("skus", expanding=True)),
)


def products_by_sku(
    connection: Connection, merchant_id: uuid.UUID, skus: Collection[str]
) -> dict[str, Product]:
    """The merchant's products among these SKUs, by SKU."""
    found: dict[str, Product] = {}
    for chunk in _chunks(sorted(set(skus))):
        rows = connection.execute(
            _PRODUCTS_BY_SKU, {"merchant_id": merchant_id, "skus": list(chunk)}
        ).mappings()
        found.update((row["sku"], Product.from_row(row)) for row in rows)
    return found


def insert_products(connection: Connection, new: Sequence[Product]) -> None:
    if new:
        connection.execute(insert(products), [_product_values(p) for p in new])


def update_products(connection: Connection, changed: Sequence[Product]) -> None:
    """Write these products' values over the stored ones (their SKUs stay)."""
    if not changed:
        return
    columns = (
        "name",
        "category_id",
        "unit_price_minor",
        "asset_code",
        "tax_free",
        "members_only",
        "active",
        "search_text",
        "updated_at",
    )
    statement = (
        update(products)
        .where(
            products.c.merchant_id == bindparam("key_merchant_id"),
            products.c.id == bindparam("key_id"),
        )
        .values({column: bindparam(f"new_{column}") for column in columns})
    )
    parameters = []
    for product_ in changed:
        values = _product_values(product_)
        parameters.append(
            {
                "key_merchant_id": product_.merchant_id,
                "key_id": product_.id,
                **{f"new_{column}": values[column] for column in columns},
            }
        )
    connection.execute(statement, parameters)


def product_page(
    connection: Connection,
    merchant_id: uuid.UUID,
    wanted: ProductFilter,
    page: PageRequest,
) -> Page[Product]:
    """A page of the products, in SKU order (unique in a merchant's catalogue)."""
    query = select(products).where(products.c.merchant_id == merchant_id)
    if wanted.category_id is not None:
        query = query.where(
            products.c.category_id.in_(_category_and_below(merchant_id, wanted.category_id))
        )
    if wanted.active is not None:
        query = query.where(products.c.active == wanted.active)
    if wanted.text:
        query = query.where(
            products.c.search_text.contains(wanted.text.casefold(), autoescape=True)
        )
    return fetch_page(connection, query, PRODUCT_ORDER, page).map(Product.from_row)


# Helpers ------------------------------------------------------------------------


def _category_values(category_: Category) -> dict[str, Any]:
    return {**asdict(category_), "name_key": fields.name_key(category_.name)}


def _product_values(product_: Product) -> dict[str, Any]:
    return {**asdict(product_), "search_text": fields.search_text(product_.sku, product_.name)}


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), _CHUNK_SIZE):
        yield values[start : start + _CHUNK_SIZE]
