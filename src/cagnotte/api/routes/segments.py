"""Customer segments: filters over the directory, counted and listed live."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from cagnotte import errors
from cagnotte.api.deps import Caller, ServicesDep
from cagnotte.api.schemas import CustomerOut
from cagnotte.api.schemas.base import Strict, example
from cagnotte.crm.segments import MEMBERS_PAGE_MAX, SegmentDefinition

router = APIRouter(prefix="/v1", tags=["segments"])


@example(
    {
        "name": "Big spenders who read mail",
        "definition": {
            "currency": "CZK",
            "spend_min_minor": 500_000,
            "period_days": 365,
            "consent": "email",
        },
    }
)
class SegmentIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    definition: SegmentDefinition


class SegmentOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    name: str
    definition: SegmentDefinition
    created_at: datetime
    updated_at: datetime
    members: int | None = Field(None, description="How many members it has now (one segment).")


class SegmentMembersOut(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None


@router.post("/segments", status_code=status.HTTP_201_CREATED)
def create_segment(body: SegmentIn, caller: Caller, services: ServicesDep) -> SegmentOut:
    return SegmentOut(**services.segments.create(caller, body.name, body.definition))


@router.get("/segments")
def list_segments(caller: Caller, services: ServicesDep) -> list[SegmentOut]:
    return [SegmentOut(**row) for row in services.segments.list(caller)]


@router.get("/segments/{segment_id}")
def get_segment(segment_id: uuid.UUID, caller: Caller, services: ServicesDep) -> SegmentOut:
    """The segment, with how many members it has now."""
    row = services.segments.get(caller, segment_id)
    return SegmentOut(**row, members=services.segments.count(caller, segment_id))


@router.put("/segments/{segment_id}")
def update_segment(
    segment_id: uuid.UUID, body: SegmentIn, caller: Caller, services: ServicesDep
) -> SegmentOut:
    return SegmentOut(**services.segments.update(caller, segment_id, body.name, body.definition))


@router.delete("/segments/{segment_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_segment(segment_id: uuid.UUID, caller: Caller, services: ServicesDep) -> Response:
    services.segments.delete(caller, segment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/segments/{segment_id}/members")
def list_segment_members(
    segment_id: uuid.UUID,
    caller: Caller,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MEMBERS_PAGE_MAX)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> SegmentMembersOut:
    """The segment's members now, by id, a page at a time."""
    after = None
    if cursor is not None:
        try:
            after = uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        except ValueError:
            raise errors.InvalidInput("That cursor is not one of ours.") from None
    ids, last = services.segments.members(caller, segment_id, limit=limit, after=after)
    members = [services.customers.get(caller, membership_id) for membership_id in ids]
    return SegmentMembersOut(
        items=[CustomerOut.of(member) for member in members],
        next_cursor=base64.urlsafe_b64encode(last.bytes).decode().rstrip("=") if last else None,
    )
