"""Statistics of recorded checks: totals, tables by day, week, month or store, exports."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from cagnotte.api.deps import Caller, ServicesDep
from cagnotte.api.schemas.statistics import StatisticsOut
from cagnotte.statistics.service import StatisticsFilters

router = APIRouter(prefix="/v1", tags=["statistics"])

GroupBy = Literal["none", "day", "week", "month", "store"]
_MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class _Query:
    filters: StatisticsFilters
    group_by: str


def _statistics_query(
    currency: Annotated[str, Query(min_length=1, max_length=24, examples=["CZK"])],
    date_from: Annotated[date | None, Query(description="First local day, included.")] = None,
    date_to: Annotated[date | None, Query(description="Last local day, included.")] = None,
    store_id: uuid.UUID | None = None,
    terminal_id: uuid.UUID | None = None,
    channel: Annotated[str | None, Query(max_length=24)] = None,
    program_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
    category_id: uuid.UUID | None = None,
    member: bool | None = None,
    segment_id: Annotated[
        uuid.UUID | None, Query(description="The checks of this segment's members now.")
    ] = None,
    group_by: GroupBy = "none",
) -> _Query:
    return _Query(
        StatisticsFilters(
            currency=currency,
            date_from=date_from,
            date_to=date_to,
            store_id=store_id,
            terminal_id=terminal_id,
            channel=channel,
            program_id=program_id,
            product_id=product_id,
            category_id=category_id,
            member=member,
            segment_id=segment_id,
        ),
        group_by,
    )


StatisticsQuery = Annotated[_Query, Depends(_statistics_query)]


@router.get("/statistics/checks")
def get_check_statistics(
    query: StatisticsQuery, caller: Caller, services: ServicesDep
) -> StatisticsOut:
    """Totals of the recorded checks (members' and others') with filters, and a table
    grouped by day, week, month or store. Days are the merchant's local days."""
    return StatisticsOut.of(
        services.statistics.report(
            caller,
            query.filters,
            group_by=query.group_by,
            time_zone=services.merchants.locale_of(caller.merchant_id).time_zone,
        )
    )


@router.get(
    "/statistics/checks/export",
    response_class=Response,
    responses={
        200: {
            "content": {media: {"schema": {"type": "string"}} for media in _MEDIA_TYPES.values()},
            "description": "The table, a line per group and a total line.",
        }
    },
)
def export_check_statistics(
    query: StatisticsQuery,
    caller: Caller,
    services: ServicesDep,
    file_format: Annotated[Literal["csv", "xlsx"], Query(alias="format")] = "csv",
) -> Response:
    """The same table as a CSV or XLSX file (cells are safe from formula injection)."""
    content = services.statistics.export(
        caller,
        query.filters,
        group_by=query.group_by,
        time_zone=services.merchants.locale_of(caller.merchant_id).time_zone,
        file_format=file_format,
    )
    return Response(
        content,
        media_type=_MEDIA_TYPES[file_format],
        headers={"Content-Disposition": f'attachment; filename="checks.{file_format}"'},
    )
