"""Request and response bodies of the catalogue routes. Prices are integers of minor units."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, model_validator

from cagnotte.api.schemas.base import AssetCode, Strict, example
from cagnotte.catalogue.fields import (
    CATEGORY_NAME_LENGTH_MAX,
    PRODUCT_NAME_LENGTH_MAX,
    SKU_LENGTH_MAX,
    UNIT_PRICE_MINOR_MAX,
)
from cagnotte.catalogue.rows import CategoryNode, ImportSummary, Product

Sku = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=SKU_LENGTH_MAX)
]
ProductName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=PRODUCT_NAME_LENGTH_MAX)
]
CategoryName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=CATEGORY_NAME_LENGTH_MAX,
        pattern=r"^[^/]*$",
    ),
    Field(description="Any name but one holding '/', which separates the names of a path."),
]
UnitPriceMinor = Annotated[int, Field(strict=True, ge=0, le=UNIT_PRICE_MINOR_MAX)]
Flag = Annotated[bool, Field(strict=True)]


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _unset() -> Any:
    """A PATCH field that takes no null: absent means unchanged."""
    return Field(default=None, json_schema_extra=_without_default)


# Products ---------------------------------------------------------------------------


@example(
    {
        "sku": "ESPRESSO",
        "name": "Espresso",
        "unit_price_minor": 5500,
        "currency": "CZK",
        "category_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    }
)
class ProductCreate(Strict):
    sku: Sku = Field(description="The product's code at the register; it never changes.")
    name: ProductName
    unit_price_minor: UnitPriceMinor
    currency: AssetCode
    category_id: uuid.UUID | None = None
    tax_free: Flag = False
    members_only: Flag = Field(default=False, description="Sold to identified members only.")
    active: Flag = True


@example({"unit_price_minor": 5900})
class ProductChange(Strict):
    """A PATCH: the fields sent change; category_id null takes the product out of its
    category. The SKU stays: a product under a new SKU is a new product."""

    name: ProductName = _unset()
    unit_price_minor: UnitPriceMinor = _unset()
    currency: AssetCode = _unset()
    category_id: uuid.UUID | None = None
    tax_free: Flag = _unset()
    members_only: Flag = _unset()
    active: Flag = _unset()

    @model_validator(mode="after")
    def _something_to_change(self) -> ProductChange:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields sent, named as the catalogue names them."""
        changes = self.model_dump(exclude_unset=True)
        if "currency" in changes:
            changes["asset_code"] = changes.pop("currency")
        return changes


class ProductOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    sku: str
    name: str
    category_id: uuid.UUID | None
    unit_price_minor: int
    currency: str
    tax_free: bool
    members_only: bool
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, product: Product) -> ProductOut:
        return cls(
            id=product.id,
            merchant_id=product.merchant_id,
            sku=product.sku,
            name=product.name,
            category_id=product.category_id,
            unit_price_minor=product.unit_price_minor,
            currency=product.asset_code,
            tax_free=product.tax_free,
            members_only=product.members_only,
            active=product.active,
            created_at=product.created_at,
            updated_at=product.updated_at,
        )


# Categories -------------------------------------------------------------------------


@example({"name": "Hot drinks", "parent_id": None})
class CategoryCreate(Strict):
    name: CategoryName
    parent_id: uuid.UUID | None = Field(default=None, description="None: a top category.")


@example({"name": "Coffee"})
class CategoryChange(Strict):
    """A PATCH: rename (name), move (parent_id; null moves it to the top), or both."""

    name: CategoryName = _unset()
    parent_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> CategoryChange:
        if not self.model_fields_set:
            raise ValueError("name a new name or a new parent")
        return self


class CategoryOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    parent_id: uuid.UUID | None
    name: str
    path: list[str] = Field(description="The names from the top category down to this one.")
    created_at: datetime

    @classmethod
    def of(cls, node: CategoryNode) -> CategoryOut:
        category = node.category
        return cls(
            id=category.id,
            merchant_id=category.merchant_id,
            parent_id=category.parent_id,
            name=category.name,
            path=list(node.path),
            created_at=category.created_at,
        )


class CategoryTreeOut(CategoryOut):
    children: list[CategoryTreeOut]

    @classmethod
    def of(cls, node: CategoryNode) -> CategoryTreeOut:
        return cls(
            **CategoryOut.of(node).model_dump(),
            children=[CategoryTreeOut.of(child) for child in node.children],
        )


# Imports ----------------------------------------------------------------------------


class ImportOut(BaseModel):
    created: int = Field(description="Products made (their SKUs were new).")
    updated: int = Field(description="Products whose SKU was known and whose values changed.")
    unchanged: int = Field(description="Products whose SKU was known, with the same values.")
    categories_created: int

    @classmethod
    def of(cls, summary: ImportSummary) -> ImportOut:
        return cls(
            created=summary.created,
            updated=summary.updated,
            unchanged=summary.unchanged,
            categories_created=summary.categories_created,
        )
