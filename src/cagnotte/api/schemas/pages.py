"""The one shape of every list's answer: `{"items": [...], "next_cursor": "…" | null}`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from cagnotte.db import pages

Item = TypeVar("Item", bound=BaseModel)


class Page(BaseModel, Generic[Item]):
    """One page of a list (see db/pages.py); `Page[StoreOut]` is `StorePage` in the OpenAPI."""

    items: list[Item]
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page; null on the last page."
    )

    @classmethod
    def model_parametrized_name(cls, params: tuple[type[Any], ...]) -> str:
        (item,) = params
        return item.__name__.removesuffix("Out") + "Page"

    @classmethod
    def of(cls, page: pages.Page[Any], convert: Callable[[Any], Item]) -> Page[Item]:
        return cls(items=[convert(item) for item in page.items], next_cursor=page.next_cursor)
