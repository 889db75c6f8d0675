"""What the catalogue holds and answers: plain, immutable values."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Category:
    """A node of a merchant's category tree; a root has no parent."""

    merchant_id: uuid.UUID
    id: uuid.UUID
    parent_id: uuid.UUID | None
    name: str
    created_at: datetime

    def __post_init__(self) -> None:
        assert self.parent_id != self.id, "a category is not its own parent"

    @classmethod
    def from_row(cls, row: Any) -> Category:
        return cls(**{field.name: row[field.name] for field in fields(cls)})


@dataclass(frozen=True, slots=True)
class Product:
    """A product a merchant sells, known by its SKU; priced in minor units of a currency."""

    merchant_id: uuid.UUID
    id: uuid.UUID
    sku: str
    name: str
    category_id: uuid.UUID | None
    unit_price_minor: int
    asset_code: str
    tax_free: bool
    members_only: bool
    active: bool
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        assert self.unit_price_minor >= 0, "a unit price is never negative"
        assert self.sku and self.name

    @classmethod
    def from_row(cls, row: Any) -> Product:
        return cls(**{field.name: row[field.name] for field in fields(cls)})


@dataclass(frozen=True, slots=True)
class ProductDraft:
    """A product to create, as the caller describes it."""

    sku: str
    name: str
    unit_price_minor: int
    asset_code: str
    category_id: uuid.UUID | None = None
    tax_free: bool = False
    members_only: bool = False
    active: bool = True


# What a change of a product may name (a SKU stays: registers and past checks know it).
PRODUCT_CHANGE_FIELDS = frozenset(
    {"name", "category_id", "unit_price_minor", "asset_code", "tax_free", "members_only", "active"}
)
# What a change of a category may name: a new name, a new parent (None: the root).
CATEGORY_CHANGE_FIELDS = frozenset({"name", "parent_id"})


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """What a check needs to know of a product its line names."""

    product: Product
    # The product's category first, then each ancestor up to the root; empty for a
    # product in no category.
    category_ids: tuple[uuid.UUID, ...]

    def in_category(self, category_id: uuid.UUID) -> bool:
        """Whether the product is in this category or in one below it."""
        return category_id in self.category_ids


@dataclass(frozen=True, slots=True)
class ProductFilter:
    """Which products a list holds: all of them when nothing is set."""

    # The category or any category below it.
    category_id: uuid.UUID | None = None
    active: bool | None = None
    # Part of the SKU or of the name, in any case.
    text: str | None = None


@dataclass(frozen=True, slots=True)
class CategoryNode:
    """A category in its tree: its names from the root down, and its children."""

    category: Category
    path: tuple[str, ...]
    children: tuple[CategoryNode, ...]


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did: products created, changed, left as they were; categories made."""

    created: int
    updated: int
    unchanged: int
    categories_created: int
