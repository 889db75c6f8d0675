"""The one cursor codec and the in-Python pager (db/pages.py), without a database."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, Uuid

from cagnotte import errors
from cagnotte.db.pages import (
    Order,
    Page,
    PageRequest,
    decode_cursor,
    encode_cursor,
    every_item,
    page_of_list,
)
from cagnotte.db.types import UTCDateTime

things = Table(
    "things",
    MetaData(),
    Column("id", Uuid, primary_key=True),
    Column("created_at", UTCDateTime),
    Column("name", String(200)),
    Column("rank", Integer),
    Column("hash", LargeBinary(32)),
)
NEWEST_FIRST = Order("things", (things.c.created_at, things.c.id), descending=True)
MOMENT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def forged(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def test_a_cursor_reads_back_the_values_it_was_made_of():
    order = Order(
        "things", (things.c.name, things.c.rank, things.c.hash, things.c.created_at, things.c.id)
    )
    values = ["Café ☕", -7, b"\x00\xff" * 16, MOMENT, uuid.uuid4()]

    cursor = encode_cursor(order, values)

    assert decode_cursor(cursor, order) == values
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_a_moment_in_another_zone_reads_back_in_utc():
    cursor = forged(["things", "2026-01-05T10:00:00+01:00", str(uuid.UUID(int=1))])
    moment, _ = decode_cursor(cursor, NEWEST_FIRST)
    assert moment == MOMENT and moment.tzinfo == UTC


SOME_ID = "36082f7a-91f8-46a3-b65f-f81a23231592"


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "a",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        forged({"things": 1}),  # type: ignore[arg-type]
        forged([]),
        forged(["things"]),
        forged(["things", MOMENT.isoformat()]),
        forged(["things", MOMENT.isoformat(), SOME_ID, "extra"]),
        forged(["others", MOMENT.isoformat(), SOME_ID]),  # another list's
        forged(["things", "2026-01-05T09:00:00", SOME_ID]),  # naive
        forged(["things", "yesterday", SOME_ID]),
        forged(["things", 1767603600, SOME_ID]),
        forged(["things", MOMENT.isoformat(), "not-a-uuid"]),
        forged(["things", MOMENT.isoformat(), None]),
        forged(["things", "0001-01-01T00:00:00+14:00", SOME_ID]),  # before year 1 in UTC
        forged(["things", "9999-12-31T23:59:59-14:00", SOME_ID]),  # after year 9999 in UTC
    ],
)
def test_anything_else_is_an_invalid_cursor(cursor):
    with pytest.raises(errors.InvalidCursor):
        decode_cursor(cursor, NEWEST_FIRST)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (things.c.name, "nul\x00"),
        (things.c.name, 12),
        (things.c.rank, True),
        (things.c.rank, 2**63),
        (things.c.rank, 1.5),
        (things.c.rank, "1"),
        (things.c.hash, "***"),
    ],
)
def test_a_value_a_column_cannot_hold_is_an_invalid_cursor(column, value):
    order = Order("things", (column, things.c.id))
    with pytest.raises(errors.InvalidCursor):
        decode_cursor(forged(["things", value, SOME_ID]), order)


def test_a_short_list_pages_in_python_by_the_same_rules():
    made = [(MOMENT + timedelta(seconds=index // 2), uuid.uuid4()) for index in range(7)]
    seen, request = [], PageRequest(limit=3)
    while True:
        page = page_of_list(made, NEWEST_FIRST, request, key=lambda item: item)
        seen += page.items
        if page.next_cursor is None:
            break
        assert len(page.items) == 3
        request = PageRequest(cursor=page.next_cursor, limit=3)
    assert seen == sorted(made, reverse=True)


def test_every_item_walks_every_page():
    numbers = list(range(450))
    order = Order("things", (things.c.rank,))

    def fetch(request: PageRequest) -> Page[int]:
        return page_of_list(numbers, order, request, key=lambda n: (n,))

    assert every_item(fetch) == numbers


def test_a_limit_beyond_the_maximum_is_a_programmer_error():
    with pytest.raises(AssertionError):
        PageRequest(limit=201)
