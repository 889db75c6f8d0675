"""The query parameters of every list: `limit` and an opaque `cursor` (db/pages.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from cagnotte.db.pages import CURSOR_LENGTH_MAX, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, PageRequest


def page_request(
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=PAGE_LIMIT_MAX,
            description=f"Items a page, at most {PAGE_LIMIT_MAX} (more: 422 validation_error).",
        ),
    ] = PAGE_LIMIT_DEFAULT,
    cursor: Annotated[
        str | None,
        Query(
            max_length=CURSOR_LENGTH_MAX,
            description="The `next_cursor` of the previous page; none for the first page. "
            "A cursor this list did not give is 400 invalid_cursor.",
        ),
    ] = None,
) -> PageRequest:
    return PageRequest(cursor=cursor, limit=limit)


PageDep = Annotated[PageRequest, Depends(page_request)]
