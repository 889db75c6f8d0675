"""Keyset pagination: the one cursor codec and the one helper every list uses.

A list has an Order: a name, and the columns it is sorted by, the last of them
unique (the row's id), all ascending or all descending. A page is the rows after
the cursor's position in that order, `limit + 1` of them fetched so that the
last one tells whether there is a next page; never OFFSET, so a page costs the
same however deep it is and a row written meanwhile neither repeats nor skips
another.

The cursor is opaque to clients: base64url of a small JSON array of the order's
name and the last row's sort values. It is not secret (it holds what the page
showed) and needs no key: decoding checks the order's name, the count and the
type of every value, so anything this module did not write for this list is
invalid_cursor (400), never a database error.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, and_, or_
from sqlalchemy.engine import RowMapping
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.types import TypeDecorator, TypeEngine

from cagnotte import errors

# One limit for every list: 50 a page unless asked, at most 200.
PAGE_LIMIT_DEFAULT = 50
PAGE_LIMIT_MAX = 200
# Long enough for a 200-character name and an id, in base64.
CURSOR_LENGTH_MAX = 1000
# PostgreSQL's bigint, the widest integer a sort column holds.
_INTEGER_MAX = 2**63 - 1

Item = TypeVar("Item")
Other = TypeVar("Other")


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which page a caller asks for: after `cursor` (None: the first), `limit` rows."""

    cursor: str | None = None
    limit: int = PAGE_LIMIT_DEFAULT

    def __post_init__(self) -> None:
        assert 1 <= self.limit <= PAGE_LIMIT_MAX, self.limit


FIRST_PAGE = PageRequest()


@dataclass(frozen=True, slots=True)
class Page(Generic[Item]):
    """One page of a list; `next_cursor` asks for the next one, None on the last."""

    items: list[Item]
    next_cursor: str | None

    def map(self, convert: Callable[[Item], Other]) -> Page[Other]:
        return Page([convert(item) for item in self.items], self.next_cursor)


@dataclass(frozen=True, slots=True)
class Order:
    """How a list is sorted: `columns` (the last one unique), all one direction.

    `name` goes into the cursor, so that a cursor of one list is refused by another.
    """

    name: str
    columns: tuple[ColumnElement[Any], ...]
    descending: bool = False

    def __post_init__(self) -> None:
        assert self.columns, "an order needs at least its unique column"

    @property
    def types(self) -> tuple[type, ...]:
        return tuple(_python_type(column.type) for column in self.columns)

    def clauses(self) -> list[ColumnElement[Any]]:
        return [c.desc() if self.descending else c.asc() for c in self.columns]

    def after(self, values: Sequence[Any]) -> ColumnElement[bool]:
        """Rows past these sort values: (a, b) > (x, y) spelled out for every database."""
        beyond = []
        for index, column in enumerate(self.columns):
            step = column < values[index] if self.descending else column > values[index]
            ties = [self.columns[i] == values[i] for i in range(index)]
            beyond.append(and_(*ties, step))
        return or_(*beyond)


def fetch_page(
    connection: Connection, query: Select[Any], order: Order, request: PageRequest
) -> Page[RowMapping]:
    """The page of `query`'s rows the request asks for, in `order` (which it must select)."""
    if request.cursor is not None:
        query = query.where(order.after(decode_cursor(request.cursor, order)))
    rows = (
        connection.execute(query.order_by(*order.clauses()).limit(request.limit + 1))
        .mappings()
        .all()
    )
    return page_of_rows(rows, order, request, key=lambda row: [row[c] for c in order.columns])


def page_of_rows(
    rows: Sequence[Item],
    order: Order,
    request: PageRequest,
    key: Callable[[Item], Sequence[Any]],
) -> Page[Item]:
    """The page from `limit + 1` rows fetched past the cursor; `key` gives a row's values."""
    items = list(rows[: request.limit])
    more = len(rows) > request.limit
    return Page(items, encode_cursor(order, key(items[-1])) if more else None)


def page_of_list(
    items: Sequence[Item],
    order: Order,
    request: PageRequest,
    key: Callable[[Item], Sequence[Any]],
) -> Page[Item]:
    """The page of a short list built in Python (a customer's few accounts), by the same
    rules and cursors as fetch_page; `key` gives an item's sort values."""
    ordered = sorted(items, key=lambda item: tuple(key(item)), reverse=order.descending)
    if request.cursor is not None:
        last = tuple(decode_cursor(request.cursor, order))
        if order.descending:
            ordered = [item for item in ordered if tuple(key(item)) < last]
        else:
            ordered = [item for item in ordered if tuple(key(item)) > last]
    return page_of_rows(ordered[: request.limit + 1], order, request, key)


# The cursor ----------------------------------------------------------------------


def encode_cursor(order: Order, values: Sequence[Any]) -> str:
    """The opaque cursor naming the position just after a row with these sort values."""
    assert len(values) == len(order.columns)
    data = [order.name, *(_plain(value) for value in values)]
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, order: Order) -> list[Any]:
    """The sort values a cursor of this order holds; invalid_cursor for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw.decode())
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise errors.InvalidCursor() from error
    types = order.types
    if not isinstance(data, list) or len(data) != len(types) + 1 or data[0] != order.name:
        raise errors.InvalidCursor()
    return [_typed(value, kind) for value, kind in zip(data[1:], types, strict=True)]


def _python_type(column_type: TypeEngine[Any]) -> type:
    """What a column holds in Python (a decorated type, such as UTCDateTime, its impl's)."""
    if isinstance(column_type, TypeDecorator):
        return _python_type(column_type.impl_instance)
    return column_type.python_type


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        assert value.tzinfo is not None, "sort timestamps are aware"
        return value.astimezone(UTC).isoformat()
    if isinstance(value, uuid.UUID | date):
        return str(value)
    if isinstance(value, bytes):
        return base64.urlsafe_b64encode(value).decode()
    assert isinstance(value, str | int) and not isinstance(value, bool), type(value)
    return value


def _typed(value: Any, kind: type) -> Any:
    try:
        if kind is datetime and isinstance(value, str):
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is not None:
                # In UTC here, so that a moment beyond the calendar's ends is refused.
                return moment.astimezone(UTC)
        elif kind is date and isinstance(value, str):
            return date.fromisoformat(value)
        elif kind is uuid.UUID and isinstance(value, str):
            return uuid.UUID(value)
        elif kind is str and isinstance(value, str) and "\x00" not in value:
            return value
        elif kind is bytes and isinstance(value, str):
            return base64.b64decode(value, altchars=b"-_", validate=True)
        elif kind is int and type(value) is int and abs(value) <= _INTEGER_MAX:
            return value
    except (ValueError, OverflowError, binascii.Error) as error:
        raise errors.InvalidCursor() from error
    raise errors.InvalidCursor()


def every_item(fetch: Callable[[PageRequest], Page[Item]]) -> list[Item]:
    """Every item of a list, walking its pages (a web page's choice of stores)."""
    found: list[Item] = []
    request = PageRequest(limit=PAGE_LIMIT_MAX)
    while True:
        page = fetch(request)
        found += page.items
        if page.next_cursor is None:
            return found
        request = PageRequest(cursor=page.next_cursor, limit=PAGE_LIMIT_MAX)
