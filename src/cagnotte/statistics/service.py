"""Statistics of recorded checks: totals and tables with filters, and their export.

Every check is here, a member's or not (mLoyalty: "all transactions arrive …
detailed tables with multiple filters"). The figures come from the recorded
checks, their lines and effects, and the ledger (points expired):

- `checks`, `member_checks`: how many checks, and how many of them a member's;
- `gross_minor`, `discount_minor`: what the lines cost before discounts, and the
  discounts given;
- `refunded_minor`: the money given back by refunds of these checks (whenever
  the refund was made: a check is counted on the day it was made);
- `revenue_minor`: gross − discounts − refunded, what the checks brought in at
  the end, whatever paid it (points and kitty included: `loyalty_paid_minor`);
- `average_basket_minor`: revenue / checks, rounded half up;
- per program: units `issued` (earned on the checks) and `spent` (paid with on
  them), and in the totals, `expired` (the ledger's lot expiries in the period;
  not filtered by store, terminal, channel, product or member: an expiry has
  none of those);
- in the totals only (they do not add up across groups): `members` (distinct
  members with a check), `returning_members` (those of them with a check
  before the period) and `new_members` (memberships opened in the period; not
  filtered either).

A `segment_id` keeps the checks of the segment's members as it is now (its
one query, crm/segments.py): "what did my Gold members buy this year".

A day is the merchant's local day (`checks.occurred_on`, fixed at commit). A
period runs from `date_from` to `date_to`, both included. Filters combine; a
product or category filter keeps the checks with such a line, and adds the
quantity and net amount of those lines.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, case, func, literal, select

from cagnotte import errors
from cagnotte.catalogue.tables import product_categories, products
from cagnotte.checkout.tables import check_effects, check_lines, checks
from cagnotte.crm.segments import Segments
from cagnotte.db.engine import Database
from cagnotte.db.tables import accounts, memberships, transfers
from cagnotte.money import Rounding, divide
from cagnotte.programs.loyalty.tables import loyalty_programs
from cagnotte.security.principals import Principal
from cagnotte.spreadsheets import csv_file, xlsx_file

GROUPINGS = ("none", "day", "week", "month", "store")
# The longest period a table by day may cover (a few years of days).
PERIOD_DAYS_MAX = 3_660


@dataclass(frozen=True, slots=True)
class StatisticsFilters:
    """Which checks count (None: any)."""

    currency: str
    date_from: date | None = None
    date_to: date | None = None
    store_id: uuid.UUID | None = None
    terminal_id: uuid.UUID | None = None
    channel: str | None = None
    program_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None
    category_id: uuid.UUID | None = None
    member: bool | None = None
    # The checks of the segment's members now (crm/segments.py's one query).
    segment_id: uuid.UUID | None = None


@dataclass(slots=True)
class ProgramFigures:
    program_id: uuid.UUID
    issued: int = 0
    spent: int = 0
    expired: int | None = None


@dataclass(slots=True)
class Figures:
    """The figures of a group of checks (or of all of them)."""

    checks: int = 0
    member_checks: int = 0
    gross_minor: int = 0
    discount_minor: int = 0
    loyalty_paid_minor: int = 0
    refunded_minor: int = 0
    product_quantity: int | None = None
    product_net_minor: int | None = None
    programs: dict[uuid.UUID, ProgramFigures] = field(default_factory=dict)

    @property
    def revenue_minor(self) -> int:
        return self.gross_minor - self.discount_minor - self.refunded_minor

    @property
    def average_basket_minor(self) -> int:
        return divide(self.revenue_minor, self.checks, Rounding.HALF_UP) if self.checks else 0

    def add(self, other: Figures) -> None:
        for name in (
            "checks",
            "member_checks",
            "gross_minor",
            "discount_minor",
            "loyalty_paid_minor",
            "refunded_minor",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("product_quantity", "product_net_minor"):
            if getattr(other, name) is not None:
                setattr(self, name, (getattr(self, name) or 0) + getattr(other, name))
        for program_id, figures in other.programs.items():
            mine = self.programs.setdefault(program_id, ProgramFigures(program_id))
            mine.issued += figures.issued
            mine.spent += figures.spent


@dataclass(frozen=True, slots=True)
class Group:
    key: str  # a day, the Monday of a week, the first of a month (ISO), or a store id
    figures: Figures


@dataclass(frozen=True, slots=True)
class Members:
    members: int
    returning_members: int
    new_members: int


@dataclass(frozen=True, slots=True)
class Statistics:
    filters: StatisticsFilters
    group_by: str
    totals: Figures
    members: Members
    groups: list[Group]


class CheckStatistics:
    """Totals and tables of a merchant's recorded checks."""

    def __init__(self, database: Database, segments: Segments) -> None:
        self.database = database
        self.segments = segments

    def report(
        self, caller: Principal, filters: StatisticsFilters, *, group_by: str, time_zone: str
    ) -> Statistics:
        caller.require("manager")
        if group_by not in GROUPINGS:
            raise errors.InvalidInput(f"group_by is one of {', '.join(GROUPINGS)}.")
        if filters.date_from and filters.date_to:
            if filters.date_to < filters.date_from:
                raise errors.InvalidInput("date_to is before date_from.")
            if (filters.date_to - filters.date_from).days > PERIOD_DAYS_MAX:
                raise errors.InvalidInput(f"A period is at most {PERIOD_DAYS_MAX} days.")
        merchant_id = caller.merchant_id
        with self.database.read() as connection:
            products_wanted = self._products(connection, merchant_id, filters)
            selected = self._checks(merchant_id, filters, products_wanted)
            if filters.segment_id is not None:
                selected = and_(selected, self._of_segment(caller, connection, filters.segment_id))
            key = _group_key(group_by)
            by_key: dict[str, Figures] = defaultdict(Figures)
            for row in connection.execute(_check_sums(selected, key)).mappings():
                figures = by_key[_key_text(row["key"])]
                figures.checks = int(row["checks"])
                figures.member_checks = int(row["member_checks"])
                figures.gross_minor = int(row["gross"])
                figures.discount_minor = int(row["discount"])
                figures.loyalty_paid_minor = int(row["loyalty_paid"])
                figures.refunded_minor = int(row["refunded"])
            for row in connection.execute(_effect_sums(merchant_id, selected, key)).mappings():
                program = by_key[_key_text(row["key"])].programs.setdefault(
                    row["program_id"], ProgramFigures(row["program_id"])
                )
                if row["kind"] == "spend":
                    program.spent += int(row["units"])
                else:
                    program.issued += int(row["units"])
            if products_wanted is not None:
                for row in connection.execute(
                    _line_sums(merchant_id, selected, key, products_wanted)
                ).mappings():
                    figures = by_key[_key_text(row["key"])]
                    figures.product_quantity = int(row["quantity"])
                    figures.product_net_minor = int(row["net"])
            members = self._members(connection, merchant_id, filters, selected, time_zone)
            expired = self._expired(connection, merchant_id, filters, time_zone)
        groups = [Group(key, by_key[key]) for key in sorted(by_key)]
        if group_by in ("week", "month"):
            groups = _roll_up(groups, group_by)
        totals = Figures()
        for group in groups:
            totals.add(group.figures)
        for program_id, units in expired.items():
            totals.programs.setdefault(program_id, ProgramFigures(program_id)).expired = units
        return Statistics(filters, group_by, totals, members, [] if group_by == "none" else groups)

    def export(
        self,
        caller: Principal,
        filters: StatisticsFilters,
        *,
        group_by: str,
        time_zone: str,
        file_format: str,
    ) -> bytes:
        """The table as CSV or XLSX: a line per group, then the totals (formula-safe)."""
        report = self.report(caller, filters, group_by=group_by, time_zone=time_zone)
        programs = sorted(report.totals.programs, key=str)
        columns = [
            "group",
            "checks",
            "member_checks",
            "gross_minor",
            "discount_minor",
            "loyalty_paid_minor",
            "refunded_minor",
            "revenue_minor",
            "average_basket_minor",
        ]
        for program_id in programs:
            columns += [f"issued {program_id}", f"spent {program_id}"]

        def line(label: str, figures: Figures) -> list[Any]:
            cells: list[Any] = [
                label,
                figures.checks,
                figures.member_checks,
                figures.gross_minor,
                figures.discount_minor,
                figures.loyalty_paid_minor,
                figures.refunded_minor,
                figures.revenue_minor,
                figures.average_basket_minor,
            ]
            for program_id in programs:
                program = figures.programs.get(program_id, ProgramFigures(program_id))
                cells += [program.issued, program.spent]
            return cells

        rows = [line(group.key, group.figures) for group in report.groups]
        rows.append(line("total", report.totals))
        if file_format == "xlsx":
            return xlsx_file("Checks", columns, rows)
        return csv_file(columns, rows)

    # Queries --------------------------------------------------------------------------

    def _products(
        self, connection: Any, merchant_id: uuid.UUID, filters: StatisticsFilters
    ) -> Select | None:
        """The products a product or category filter keeps (a category: its whole subtree)."""
        if filters.product_id is None and filters.category_id is None:
            return None
        query = select(products.c.id).where(products.c.merchant_id == merchant_id)
        if filters.product_id is not None:
            query = query.where(products.c.id == filters.product_id)
        if filters.category_id is not None:
            children: dict[uuid.UUID | None, list[uuid.UUID]] = defaultdict(list)
            for row in connection.execute(
                select(product_categories.c.id, product_categories.c.parent_id).where(
                    product_categories.c.merchant_id == merchant_id
                )
            ):
                children[row.parent_id].append(row.id)
            subtree, waiting = set(), [filters.category_id]
            while waiting:
                category = waiting.pop()
                if category not in subtree:
                    subtree.add(category)
                    waiting.extend(children.get(category, ()))
            query = query.where(products.c.category_id.in_(subtree))
        return query

    def _of_segment(self, caller: Principal, connection: Any, segment_id: uuid.UUID) -> Any:
        """The checks of the segment's members now (not_found for no segment of ours)."""
        segment = self.segments.get(caller, segment_id)  # joins this read
        members = self.segments.members_select(
            caller.merchant_id, segment["definition"], connection
        )
        return checks.c.membership_id.in_(members)

    def _checks(
        self, merchant_id: uuid.UUID, filters: StatisticsFilters, products_wanted: Select | None
    ) -> Any:
        """The conditions on `checks` the filters make."""
        conditions = [checks.c.merchant_id == merchant_id, checks.c.currency == filters.currency]
        if filters.date_from is not None:
            conditions.append(checks.c.occurred_on >= filters.date_from)
        if filters.date_to is not None:
            conditions.append(checks.c.occurred_on <= filters.date_to)
        for column, value in (
            (checks.c.store_id, filters.store_id),
            (checks.c.terminal_id, filters.terminal_id),
            (checks.c.channel, filters.channel),
        ):
            if value is not None:
                conditions.append(column == value)
        if filters.member is not None:
            conditions.append(
                checks.c.membership_id.isnot(None)
                if filters.member
                else checks.c.membership_id.is_(None)
            )
        if filters.program_id is not None:
            conditions.append(
                select(check_effects.c.ordinal)
                .where(
                    check_effects.c.merchant_id == checks.c.merchant_id,
                    check_effects.c.check_id == checks.c.id,
                    check_effects.c.program_id == filters.program_id,
                )
                .correlate(checks)
                .exists()
            )
        if products_wanted is not None:
            conditions.append(
                select(check_lines.c.line_index)
                .where(
                    check_lines.c.merchant_id == checks.c.merchant_id,
                    check_lines.c.check_id == checks.c.id,
                    check_lines.c.product_id.in_(products_wanted),
                )
                .correlate(checks)
                .exists()
            )
        return and_(*conditions)

    def _members(
        self,
        connection: Any,
        merchant_id: uuid.UUID,
        filters: StatisticsFilters,
        selected: Any,
        time_zone: str,
    ) -> Members:
        # The period's members once each, then, for each, whether a check came before:
        # a probe per member, not per check (at a million checks, a probe per check of
        # the month had SQLite run for minutes: bench/check_statistics.py).
        in_period = (
            select(checks.c.membership_id)
            .where(selected, checks.c.membership_id.isnot(None))
            .distinct()
            .subquery("in_period")
        )
        came_before: Any = literal(False)
        if filters.date_from is not None:
            earlier = checks.alias("earlier")
            came_before = (
                select(earlier.c.id)
                .where(
                    earlier.c.merchant_id == merchant_id,
                    earlier.c.membership_id == in_period.c.membership_id,
                    earlier.c.occurred_on < filters.date_from,
                )
                .exists()
            )
        members, returning = connection.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((came_before, 1), else_=0)), 0),
            ).select_from(in_period)
        ).one()
        opened = select(func.count()).where(memberships.c.merchant_id == merchant_id)
        start, end = _instants(filters, time_zone)
        if start is not None:
            opened = opened.where(memberships.c.created_at >= start)
        if end is not None:
            opened = opened.where(memberships.c.created_at < end)
        return Members(int(members), int(returning), int(connection.execute(opened).scalar_one()))

    def _expired(
        self, connection: Any, merchant_id: uuid.UUID, filters: StatisticsFilters, time_zone: str
    ) -> dict[uuid.UUID, int]:
        """Units of each program (in the check's currency's programs) expired in the period."""
        programs = {
            row.asset_code: row.id
            for row in connection.execute(
                select(loyalty_programs.c.id, loyalty_programs.c.asset_code).where(
                    loyalty_programs.c.merchant_id == merchant_id,
                    loyalty_programs.c.currency == filters.currency,
                )
            )
        }
        if filters.program_id is not None:
            programs = {a: p for a, p in programs.items() if p == filters.program_id}
        if not programs:
            return {}
        members_account = accounts.alias("member_account")
        query = (
            select(transfers.c.asset_code, func.coalesce(func.sum(transfers.c.amount), 0))
            .join(
                members_account,
                and_(
                    members_account.c.merchant_id == transfers.c.merchant_id,
                    members_account.c.id == transfers.c.debit_account_id,
                ),
            )
            .where(
                transfers.c.merchant_id == merchant_id,
                transfers.c.code == "lot_expired",
                transfers.c.asset_code.in_(list(programs)),
                members_account.c.owner_type == "membership",
            )
            .group_by(transfers.c.asset_code)
        )
        start, end = _instants(filters, time_zone)
        if start is not None:
            query = query.where(transfers.c.created_at >= start)
        if end is not None:
            query = query.where(transfers.c.created_at < end)
        expired = {program_id: 0 for program_id in programs.values()}
        for asset_code, units in connection.execute(query):
            expired[programs[asset_code]] = int(units)
        return expired


def _group_key(group_by: str) -> Any:
    if group_by == "store":
        return checks.c.store_id
    if group_by == "none":
        return None
    return checks.c.occurred_on  # weeks and months are rolled up from days


def _grouped(query: Select, key: Any) -> Select:
    if key is None:
        return query.add_columns(literal("total").label("key"))
    return query.add_columns(key.label("key")).group_by(key)


def _check_sums(selected: Any, key: Any) -> Select:
    return _grouped(
        select(
            func.count().label("checks"),
            func.count(checks.c.membership_id).label("member_checks"),
            func.coalesce(func.sum(checks.c.gross_minor), 0).label("gross"),
            func.coalesce(func.sum(checks.c.discount_minor), 0).label("discount"),
            func.coalesce(func.sum(checks.c.loyalty_paid_minor), 0).label("loyalty_paid"),
            func.coalesce(func.sum(checks.c.refunded_minor), 0).label("refunded"),
        )
        .select_from(checks)
        .where(selected),
        key,
    )


def _effect_sums(merchant_id: uuid.UUID, selected: Any, key: Any) -> Select:
    query = (
        select(
            check_effects.c.program_id,
            check_effects.c.kind,
            func.coalesce(func.sum(check_effects.c.units), 0).label("units"),
        )
        .join(
            checks,
            and_(
                checks.c.merchant_id == check_effects.c.merchant_id,
                checks.c.id == check_effects.c.check_id,
            ),
        )
        .where(
            check_effects.c.merchant_id == merchant_id,
            check_effects.c.contributor == "loyalty",
            check_effects.c.kind.in_(("earn", "spend", "stamps")),
            check_effects.c.program_id.isnot(None),
            selected,
        )
        .group_by(check_effects.c.program_id, check_effects.c.kind)
    )
    return _grouped(query, key)


def _line_sums(merchant_id: uuid.UUID, selected: Any, key: Any, products_wanted: Select) -> Select:
    query = (
        select(
            func.coalesce(func.sum(check_lines.c.quantity), 0).label("quantity"),
            func.coalesce(func.sum(check_lines.c.net_minor), 0).label("net"),
        )
        .join(
            checks,
            and_(
                checks.c.merchant_id == check_lines.c.merchant_id,
                checks.c.id == check_lines.c.check_id,
            ),
        )
        .where(
            check_lines.c.merchant_id == merchant_id,
            check_lines.c.product_id.in_(products_wanted),
            selected,
        )
    )
    return _grouped(query, key)


def _key_text(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _roll_up(groups: list[Group], group_by: str) -> list[Group]:
    """Days added up into weeks (from Monday) or months (from the 1st)."""
    rolled: dict[str, Figures] = {}
    for group in groups:
        day = date.fromisoformat(group.key)
        start = day - timedelta(days=day.weekday()) if group_by == "week" else day.replace(day=1)
        rolled.setdefault(start.isoformat(), Figures()).add(group.figures)
    return [Group(key, rolled[key]) for key in sorted(rolled)]


def _instants(
    filters: StatisticsFilters, time_zone: str
) -> tuple[datetime | None, datetime | None]:
    """The period's local days as UTC instants: [first day's midnight, after the last)."""
    zone = ZoneInfo(time_zone)

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)

    start = midnight(filters.date_from) if filters.date_from else None
    end = midnight(filters.date_to + timedelta(days=1)) if filters.date_to else None
    return start, end
