"""Customer segments: filters over the directory, counted and listed live."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from cagnotte.api.deps import Caller, ServicesDep
from cagnotte.api.pagination import PageDep
from cagnotte.api.schemas import CustomerOut
from cagnotte.api.schemas.base import Strict, example
from cagnotte.api.schemas.pages import Page
from cagnotte.crm.segments import SegmentDefinition

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


@router.post("/segments", status_code=status.HTTP_201_CREATED)
def create_segment(body: SegmentIn, caller: Caller, services: ServicesDep) -> SegmentOut:
    return SegmentOut(**services.segments.create(caller, body.name, body.definition))


@router.get("/segments")
def list_segments(caller: Caller, services: ServicesDep, page: PageDep) -> Page[SegmentOut]:
    """The merchant's segments, oldest first."""
    return Page.of(services.segments.list(caller, page), lambda row: SegmentOut(**row))


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
    segment_id: uuid.UUID, caller: Caller, services: ServicesDep, page: PageDep
) -> Page[CustomerOut]:
    """The segment's members now, by id, a page at a time."""
    found = services.segments.members(caller, segment_id, page)
    return Page.of(
        found, lambda member_id: CustomerOut.of(services.customers.get(caller, member_id))
    )
