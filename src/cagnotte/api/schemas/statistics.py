"""Answer models of the statistics routes."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, Field

from cagnotte.statistics.service import Figures, Statistics


class ProgramFiguresOut(BaseModel):
    program_id: uuid.UUID
    issued: int = Field(description="Units earned on the checks (stamps for a stamps program).")
    spent: int = Field(description="Units paid with on the checks.")
    expired: int | None = Field(
        None, description="Units expired in the period (totals only; not filtered by store …)."
    )


class FiguresOut(BaseModel):
    checks: int
    member_checks: int
    gross_minor: int
    discount_minor: int
    loyalty_paid_minor: int
    refunded_minor: int
    revenue_minor: int = Field(description="gross − discounts − refunded.")
    average_basket_minor: int = Field(description="revenue / checks, rounded half up.")
    product_quantity: int | None = Field(
        None, description="With a product or category filter: the units of those lines."
    )
    product_net_minor: int | None = Field(
        None, description="With a product or category filter: the net amount of those lines."
    )
    programs: list[ProgramFiguresOut]

    @classmethod
    def of(cls, figures: Figures) -> FiguresOut:
        return cls(
            checks=figures.checks,
            member_checks=figures.member_checks,
            gross_minor=figures.gross_minor,
            discount_minor=figures.discount_minor,
            loyalty_paid_minor=figures.loyalty_paid_minor,
            refunded_minor=figures.refunded_minor,
            revenue_minor=figures.revenue_minor,
            average_basket_minor=figures.average_basket_minor,
            product_quantity=figures.product_quantity,
            product_net_minor=figures.product_net_minor,
            programs=[
                ProgramFiguresOut(
                    program_id=p.program_id, issued=p.issued, spent=p.spent, expired=p.expired
                )
                for p in sorted(figures.programs.values(), key=lambda p: str(p.program_id))
            ],
        )


class MembersOut(BaseModel):
    members: int = Field(description="Distinct members with a check in the selection.")
    returning_members: int = Field(
        description="Of them, those with a check before date_from (0 without date_from)."
    )
    new_members: int = Field(description="Memberships opened in the period (not filtered).")


class GroupOut(BaseModel):
    key: str = Field(
        description="The day, the Monday of the week, the 1st of the month (ISO dates), "
        "or the store's id."
    )
    figures: FiguresOut


class StatisticsOut(BaseModel):
    currency: str
    date_from: date | None
    date_to: date | None
    group_by: str
    totals: FiguresOut
    members: MembersOut
    groups: list[GroupOut]

    @classmethod
    def of(cls, report: Statistics) -> StatisticsOut:
        return cls(
            currency=report.filters.currency,
            date_from=report.filters.date_from,
            date_to=report.filters.date_to,
            group_by=report.group_by,
            totals=FiguresOut.of(report.totals),
            members=MembersOut(
                members=report.members.members,
                returning_members=report.members.returning_members,
                new_members=report.members.new_members,
            ),
            groups=[GroupOut(key=g.key, figures=FiguresOut.of(g.figures)) for g in report.groups],
        )
