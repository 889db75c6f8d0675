"""Customer segments: members chosen by filters, counted and listed live.

A segment's filters all hold together (and); each is optional:

- `spend_min_minor` / `spend_max_minor` in `currency`, and `visits_min` /
  `visits_max`, over the last `period_days` days (every day without it): what
  the member's checks brought in (gross − discounts − refunded) and how many
  visits (checks not wholly refunded);
- `last_visit_within_days` (seen lately) and `no_visit_for_days` (not seen
  since; a member who never came counts as not seen);
- `store_id`: a check at that store in the period;
- `program_id` with `balance_min` / `balance_max`: the member's balance in that
  program (in its units), from the ledger;
- `program_id` with `program_member`: whether the member has the program's
  account (opened by their first check or credit in it): true for its members,
  false for the others;
- `program_id` with `tier`: the member's tier in that program now, counted as
  the check counts it (checkout/tiers.py): their qualifying spend over the
  program's period (`loyalty_member_spend`, per local month of the merchant's
  time zone, the current month included) reaches the tier's threshold and not
  the next one's;
- `birthday_month` (1–12);
- `consent`: `email`, `sms` or `phone` given.

Erased and blocked members are never in a segment. One query serves all
uses (`members_query`): counting and listing, and, restricted to one member,
telling a check which of the segments its rules name the customer is in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import (
    Connection,
    Select,
    and_,
    case,
    extract,
    false,
    func,
    insert,
    select,
    update,
)

from cagnotte import errors
from cagnotte.checkout.tables import checks, loyalty_member_spend
from cagnotte.checkout.usage import periods
from cagnotte.clock import Clock
from cagnotte.crm.tables import segments
from cagnotte.db.engine import Database
from cagnotte.db.pages import FIRST_PAGE, Order, Page, PageRequest, fetch_page
from cagnotte.db.tables import account_balances, accounts, memberships
from cagnotte.i18n import merchant_locale
from cagnotte.programs.loyalty.admin import LoyaltyPrograms, member_account_spec
from cagnotte.programs.loyalty.program import LoyaltyProgram
from cagnotte.security.principals import Principal

AMOUNT_MAX = 10**15
SEGMENTS_MAX = 200
CONSENT_COLUMNS = {
    "email": memberships.c.consent_marketing_email,
    "sms": memberships.c.consent_marketing_sms,
    "phone": memberships.c.consent_phone_callback,
}


class SegmentDefinition(BaseModel):
    """The filters of a segment (see the module's documentation)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "currency": "CZK",
                    "spend_min_minor": 500_000,
                    "period_days": 365,
                    "consent": "email",
                }
            ]
        },
    )

    currency: str | None = Field(None, max_length=24)
    period_days: int | None = Field(None, ge=1, le=3_660)
    spend_min_minor: int | None = Field(None, ge=0, le=AMOUNT_MAX)
    spend_max_minor: int | None = Field(None, ge=0, le=AMOUNT_MAX)
    visits_min: int | None = Field(None, ge=0, le=1_000_000)
    visits_max: int | None = Field(None, ge=0, le=1_000_000)
    last_visit_within_days: int | None = Field(None, ge=1, le=3_660)
    no_visit_for_days: int | None = Field(None, ge=1, le=3_660)
    store_id: uuid.UUID | None = None
    program_id: uuid.UUID | None = None
    balance_min: int | None = Field(None, ge=0, le=AMOUNT_MAX)
    balance_max: int | None = Field(None, ge=0, le=AMOUNT_MAX)
    program_member: bool | None = None
    tier: str | None = Field(None, min_length=1, max_length=40)
    birthday_month: int | None = Field(None, ge=1, le=12)
    consent: Literal["email", "sms", "phone"] | None = None

    @model_validator(mode="after")
    def _coherent(self) -> SegmentDefinition:
        if (self.spend_min_minor is not None or self.spend_max_minor is not None) and (
            self.currency is None
        ):
            raise ValueError("a spend filter needs its currency")
        if (self.balance_min is not None or self.balance_max is not None) and (
            self.program_id is None
        ):
            raise ValueError("a balance filter needs its program_id")
        if (self.program_member is not None or self.tier is not None) and self.program_id is None:
            raise ValueError("a program membership or tier filter needs its program_id")
        for low, high in (
            (self.spend_min_minor, self.spend_max_minor),
            (self.visits_min, self.visits_max),
            (self.balance_min, self.balance_max),
        ):
            if low is not None and high is not None and high < low:
                raise ValueError("a maximum is below its minimum")
        return self


@dataclass(frozen=True, slots=True)
class ProgramFilter:
    """What a definition's program filters need to know of the program now."""

    program_id: uuid.UUID
    # The purpose and asset of the program's member accounts.
    account: tuple[str, str]
    # The tier filter's: the months counted (first, current) and the tier's spend,
    # from its threshold to below the next one's (None: the highest tier).
    tier_months: tuple[date, date] | None = None
    tier_spend: tuple[int, int | None] | None = None


def members_query(
    merchant_id: uuid.UUID,
    definition: SegmentDefinition,
    now: datetime,
    program: ProgramFilter | None,
) -> Select:
    """The ids of the merchant's members in the segment (`program`: the program the
    definition names, when it names one)."""
    d = definition
    since = now - timedelta(days=d.period_days) if d.period_days else None
    in_period = [checks.c.merchant_id == merchant_id]
    if since is not None:
        in_period.append(checks.c.occurred_at >= since)
    spend_in = (checks.c.currency == d.currency) if d.currency else None
    visits = (
        select(
            checks.c.membership_id.label("membership_id"),
            func.sum(case((checks.c.status == "refunded", 0), else_=1)).label("visits"),
            func.sum(
                case(
                    (
                        spend_in,
                        checks.c.gross_minor - checks.c.discount_minor - checks.c.refunded_minor,
                    ),
                    else_=0,
                )
                if spend_in is not None
                else 0
            ).label("spend"),
        )
        .where(*in_period, checks.c.membership_id.isnot(None))
        .group_by(checks.c.membership_id)
        .subquery("visits")
    )
    last_visit = (
        select(func.max(checks.c.occurred_at))
        .where(
            checks.c.merchant_id == merchant_id,
            checks.c.membership_id == memberships.c.id,
            checks.c.status != "refunded",
        )
        .correlate(memberships)
        .scalar_subquery()
    )
    # The visits and spend of every member are summed only for a filter on them: a
    # segment by consent or tier reads no check.
    counted = any(
        value is not None
        for value in (d.spend_min_minor, d.spend_max_minor, d.visits_min, d.visits_max)
    )
    members = (
        memberships.outerjoin(visits, visits.c.membership_id == memberships.c.id)
        if counted
        else memberships
    )
    query = (
        select(memberships.c.id)
        .select_from(members)
        .where(
            memberships.c.merchant_id == merchant_id,
            memberships.c.status == "active",
            memberships.c.erased_at.is_(None),
        )
    )
    spend = func.coalesce(visits.c.spend, 0)
    count = func.coalesce(visits.c.visits, 0)
    for value, condition in (
        (d.spend_min_minor, lambda v: spend >= v),
        (d.spend_max_minor, lambda v: spend <= v),
        (d.visits_min, lambda v: count >= v),
        (d.visits_max, lambda v: count <= v),
        (d.last_visit_within_days, lambda v: last_visit >= now - timedelta(days=v)),
        (
            d.no_visit_for_days,
            lambda v: last_visit.is_(None) | (last_visit < now - timedelta(days=v)),
        ),
        (d.consent, lambda v: CONSENT_COLUMNS[v].is_(True)),
    ):
        if value is not None:
            query = query.where(condition(value))
    if d.birthday_month is not None:
        query = query.where(_month(memberships.c.birth_date) == d.birthday_month)
    if d.store_id is not None:
        query = query.where(
            select(checks.c.id)
            .where(
                *in_period,
                checks.c.membership_id == memberships.c.id,
                checks.c.store_id == d.store_id,
            )
            .correlate(memberships)
            .exists()
        )
    if program is not None:
        query = _program_filters(query, merchant_id, d, program)
    return query


def _program_filters(
    query: Select, merchant_id: uuid.UUID, d: SegmentDefinition, program: ProgramFilter
) -> Select:
    purpose, asset_code = program.account
    member_accounts = [
        accounts.c.merchant_id == merchant_id,
        accounts.c.owner_type == "membership",
        accounts.c.owner_id == memberships.c.id,
        accounts.c.purpose == purpose,
        accounts.c.asset_code == asset_code,
    ]
    if d.program_member is not None:
        has_account = select(accounts.c.id).where(*member_accounts).correlate(memberships).exists()
        query = query.where(has_account if d.program_member else ~has_account)
    if d.tier is not None and (program.tier_months is None or program.tier_spend is None):
        query = query.where(false())
    elif d.tier is not None and program.tier_months and program.tier_spend:
        first, month = program.tier_months
        spend = func.coalesce(
            select(func.sum(loyalty_member_spend.c.spend_minor))
            .where(
                loyalty_member_spend.c.merchant_id == merchant_id,
                loyalty_member_spend.c.membership_id == memberships.c.id,
                loyalty_member_spend.c.program_id == program.program_id,
                loyalty_member_spend.c.starts_on >= first,
                loyalty_member_spend.c.starts_on <= month,
            )
            .correlate(memberships)
            .scalar_subquery(),
            0,
        )
        low, below = program.tier_spend
        query = query.where(spend >= low)
        if below is not None:
            query = query.where(spend < below)
    if d.balance_min is not None or d.balance_max is not None:
        balance = func.coalesce(
            select(func.sum(account_balances.c.credits_posted - account_balances.c.debits_posted))
            .select_from(
                accounts.join(
                    account_balances,
                    and_(
                        account_balances.c.merchant_id == accounts.c.merchant_id,
                        account_balances.c.account_id == accounts.c.id,
                    ),
                )
            )
            .where(*member_accounts)
            .correlate(memberships)
            .scalar_subquery(),
            0,
        )
        if d.balance_min is not None:
            query = query.where(balance >= d.balance_min)
        if d.balance_max is not None:
            query = query.where(balance <= d.balance_max)
    return query


def _month(column: Any) -> Any:
    # SQLAlchemy writes extract() as strftime() on SQLite.
    return extract("month", column)


class Segments:
    def __init__(self, database: Database, clock: Clock, loyalty: LoyaltyPrograms) -> None:
        self.database = database
        self.clock = clock
        self.loyalty = loyalty

    def create(self, caller: Principal, name: str, definition: SegmentDefinition) -> dict:
        caller.require("manager")
        now = self.clock.now()
        segment_id = uuid.uuid4()
        with self.database.transaction() as connection:
            count = connection.execute(
                select(func.count()).where(
                    segments.c.merchant_id == caller.merchant_id, segments.c.deleted_at.is_(None)
                )
            ).scalar_one()
            if count >= SEGMENTS_MAX:
                raise errors.Conflict(f"A merchant has at most {SEGMENTS_MAX} segments.")
            self._check_program(caller.merchant_id, definition)
            connection.execute(
                insert(segments).values(
                    merchant_id=caller.merchant_id,
                    id=segment_id,
                    name=name,
                    definition=definition.model_dump(mode="json", exclude_none=True),
                    created_at=now,
                    updated_at=now,
                )
            )
            return self._row(connection, caller.merchant_id, segment_id)

    def update(
        self, caller: Principal, segment_id: uuid.UUID, name: str, definition: SegmentDefinition
    ) -> dict:
        caller.require("manager")
        self._check_program(caller.merchant_id, definition)
        with self.database.transaction() as connection:
            self._row(connection, caller.merchant_id, segment_id)
            connection.execute(
                update(segments)
                .where(segments.c.merchant_id == caller.merchant_id, segments.c.id == segment_id)
                .values(
                    name=name,
                    definition=definition.model_dump(mode="json", exclude_none=True),
                    updated_at=self.clock.now(),
                )
            )
            return self._row(connection, caller.merchant_id, segment_id)

    def delete(self, caller: Principal, segment_id: uuid.UUID) -> None:
        caller.require("manager")
        with self.database.transaction() as connection:
            self._row(connection, caller.merchant_id, segment_id)
            connection.execute(
                update(segments)
                .where(segments.c.merchant_id == caller.merchant_id, segments.c.id == segment_id)
                .values(deleted_at=self.clock.now())
            )

    def list(self, caller: Principal, page: PageRequest = FIRST_PAGE) -> Page[dict]:
        """The merchant's segments, oldest first."""
        caller.require("cashier")
        query = select(segments).where(
            segments.c.merchant_id == caller.merchant_id, segments.c.deleted_at.is_(None)
        )
        order = Order("segments", (segments.c.created_at, segments.c.id))
        with self.database.read() as connection:
            return fetch_page(connection, query, order, page).map(_view)

    def get(self, caller: Principal, segment_id: uuid.UUID) -> dict:
        caller.require("cashier")
        with self.database.read() as connection:
            return self._row(connection, caller.merchant_id, segment_id)

    def count(self, caller: Principal, segment_id: uuid.UUID) -> int:
        caller.require("cashier")
        with self.database.read() as connection:
            segment = self._row(connection, caller.merchant_id, segment_id)
            query = self.members_select(caller.merchant_id, segment["definition"]).subquery()
            return int(connection.execute(select(func.count()).select_from(query)).scalar_one())

    def members(
        self, caller: Principal, segment_id: uuid.UUID, page: PageRequest = FIRST_PAGE
    ) -> Page[uuid.UUID]:
        """The segment's members now, by id, a page at a time."""
        caller.require("cashier")
        with self.database.read() as connection:
            segment = self._row(connection, caller.merchant_id, segment_id)
            query = self.members_select(caller.merchant_id, segment["definition"])
            order = Order("segment_members", (memberships.c.id,))
            return fetch_page(connection, query, order, page).map(lambda row: row["id"])

    def of_member(
        self,
        connection: Connection,
        merchant_id: uuid.UUID,
        membership_id: uuid.UUID,
        among: frozenset[uuid.UUID],
    ) -> frozenset[uuid.UUID]:
        """Which of these segments (those a check's rules name) the member is in now."""
        if not among:
            return frozenset()
        found = set()
        for row in connection.execute(
            select(segments.c.id, segments.c.definition).where(
                segments.c.merchant_id == merchant_id,
                segments.c.deleted_at.is_(None),
                segments.c.id.in_(sorted(among)),
            )
        ):
            definition = SegmentDefinition.model_validate(row.definition)
            query = self.members_select(merchant_id, definition, connection).where(
                memberships.c.id == membership_id
            )
            if connection.execute(query).first() is not None:
                found.add(row.id)
        return frozenset(found)

    def members_select(
        self,
        merchant_id: uuid.UUID,
        definition: SegmentDefinition,
        connection: Connection | None = None,
    ) -> Select:
        """The query of the segment's member ids now (a campaign fixes its recipients by it).

        In a unit of work (a check asking which segments its member is in), pass its
        connection: the program and the merchant's time zone are read through it.
        """
        if definition.program_id is None:
            return members_query(merchant_id, definition, self.clock.now(), None)
        if connection is None:
            with self.database.read() as own_connection:
                return self.members_select(merchant_id, definition, own_connection)
        now = self.clock.now()
        program = self.loyalty.program(merchant_id, definition.program_id, connection)
        spec = member_account_spec(program, uuid.UUID(int=0))
        program_filter = ProgramFilter(program.id, (spec.purpose, spec.asset_code))
        if definition.tier is not None:
            program_filter = _with_tier(
                program_filter,
                program,
                definition.tier,
                periods(now, merchant_locale(connection, merchant_id).time_zone)[1],
            )
        return members_query(merchant_id, definition, now, program_filter)

    def _check_program(self, merchant_id: uuid.UUID, definition: SegmentDefinition) -> None:
        if definition.program_id is None:
            return
        program = self.loyalty.program(merchant_id, definition.program_id)  # not_found if not ours
        if definition.tier is not None and definition.tier not in _tier_names(program):
            raise errors.InvalidInput(
                f"The program has no tier {definition.tier!r}"
                f" (its tiers: {', '.join(_tier_names(program)) or 'none'})."
            )

    def _row(self, connection: Connection, merchant_id: uuid.UUID, segment_id: uuid.UUID) -> dict:
        row = (
            connection.execute(
                select(segments).where(
                    segments.c.merchant_id == merchant_id,
                    segments.c.id == segment_id,
                    segments.c.deleted_at.is_(None),
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise errors.NotFound("No such segment.")
        return _view(row)


def _tier_names(program: LoyaltyProgram) -> list[str]:
    return [] if program.tiers is None else [tier.name for tier in program.tiers.levels]


def _with_tier(
    program_filter: ProgramFilter, program: LoyaltyProgram, tier: str, month: date
) -> ProgramFilter:
    """The filter with the months and the spend of `tier` (none, if the program no longer
    has it: then nobody is in the segment)."""
    if tier not in _tier_names(program):
        return replace(program_filter, tier_months=None, tier_spend=None)
    assert program.tiers is not None
    levels = program.tiers.levels
    index = _tier_names(program).index(tier)
    below = levels[index + 1].spend_min_minor if index + 1 < len(levels) else None
    return replace(
        program_filter,
        tier_months=(program.tiers.first_month(month), month),
        tier_spend=(levels[index].spend_min_minor, below),
    )


def _view(row: Any) -> dict:
    view = dict(row)
    view["definition"] = SegmentDefinition.model_validate(view["definition"])
    view.pop("deleted_at", None)
    return view
