"""The counters behind per-customer caps and limits on goods, and the member's facts.

A promotion may give a customer at most so much (or so many times) per local
day and month, and may earn on at most so many units of a product per day and
month (mLoyalty's "accounting of limitations on goods"). The engine checks
those against counters (`RuleUsage`, `GoodsUsage`); this module reads and
keeps them. The commit reads them under the member's row lock (parallel
checks of one member wait for each other, so none counts on a stale
counter) and adds what the check gave in the same unit of work; a refund
takes back what it reverses. Counters are kept for the day and the month of
the check's own moment (an offline replay counts in the day it happened), in
the merchant's time zone.

The member's other facts for conditional rules come from their membership:
a completed profile (first and last name, e-mail, phone and birth date), the
birth date, and which visit this check is (1 + the member's earlier checks).

A program with tiers counts each member's qualifying spend per local month
(`loyalty_member_spend`), added by the commit under the same lock and taken
back by a refund from the check's own month; the tier's period is a sum of
months (`TierLadder.first_month`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Select, Table, bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from cagnotte.checkout.tables import (
    checks,
    loyalty_goods_usage,
    loyalty_member_spend,
    loyalty_rule_usage,
)
from cagnotte.db.tables import memberships
from cagnotte.programs.loyalty import CustomerFacts
from cagnotte.programs.loyalty.facts import GoodsUsage, RuleUsage
from cagnotte.programs.loyalty.program import LoyaltyProgram


def local_day(moment: datetime, time_zone: str) -> date:
    """The day `moment` falls on in the time zone."""
    return moment.astimezone(ZoneInfo(time_zone)).date()


def periods(moment: datetime, time_zone: str) -> tuple[date, date]:
    """The local day of `moment` and the first day of its month."""
    day = local_day(moment, time_zone)
    return day, day.replace(day=1)


# The check's reads of a member, built once (SQLAlchemy then skips building them
# and their cache keys on every quote).
_MERCHANT, _MEMBERSHIP = bindparam("merchant_id"), bindparam("membership_id")
_MEMBER_FACTS = select(
    memberships.c.first_name,
    memberships.c.last_name,
    memberships.c.email,
    memberships.c.phone,
    memberships.c.birth_date,
    select(func.count())
    .select_from(checks)
    .where(
        checks.c.merchant_id == _MERCHANT,
        checks.c.membership_id == _MEMBERSHIP,
        checks.c.occurred_at <= bindparam("moment"),
    )
    .scalar_subquery()
    .label("earlier"),
).where(memberships.c.merchant_id == _MERCHANT, memberships.c.id == _MEMBERSHIP)


def _in_period(table, day, month):  # dates or their bind parameters -> a SQL condition
    return ((table.c.period == "day") & (table.c.starts_on == day)) | (
        (table.c.period == "month") & (table.c.starts_on == month)
    )


def _usage_of(table: Table) -> Select:
    """A member's counters of this local day and month."""
    return select(table).where(
        table.c.merchant_id == _MERCHANT,
        table.c.membership_id == _MEMBERSHIP,
        _in_period(table, bindparam("day"), bindparam("month")),
    )


_RULE_USAGE = _usage_of(loyalty_rule_usage)
_GOODS_USAGE = _usage_of(loyalty_goods_usage)


def member_facts(
    connection: Connection,
    merchant_id: uuid.UUID,
    membership_id: uuid.UUID,
    moment: datetime,
    *,
    time_zone: str,
    counted: bool,
) -> CustomerFacts:
    """What the engine knows of the member at `moment`; `counted` reads the usage counters."""
    row = connection.execute(  # one round trip: the profile and the visits before
        _MEMBER_FACTS,
        {"merchant_id": merchant_id, "membership_id": membership_id, "moment": moment},
    ).one()
    earlier = int(row.earlier)
    rule_usage: dict[str, RuleUsage] = {}
    goods_usage: dict[tuple[str, str], GoodsUsage] = {}
    if counted:
        rule_usage, goods_usage = read_usage(
            connection, merchant_id, membership_id, periods(moment, time_zone)
        )
    return CustomerFacts(
        member=True,
        profile_complete=all((row.first_name, row.last_name, row.email, row.phone, row.birth_date)),
        birth_date=row.birth_date,
        first_purchase=earlier == 0,
        visit_number=earlier + 1,
        rule_usage=rule_usage,
        goods_usage=goods_usage,
    )


def read_usage(
    connection: Connection,
    merchant_id: uuid.UUID,
    membership_id: uuid.UUID,
    day_and_month: tuple[date, date],
) -> tuple[dict[str, RuleUsage], dict[tuple[str, str], GoodsUsage]]:
    """The member's counters for this day and month, every rule at once (a few rows)."""
    day, month = day_and_month
    rules: dict[str, dict[str, int]] = {}
    keys = {"merchant_id": merchant_id, "membership_id": membership_id, "day": day, "month": month}
    for row in connection.execute(_RULE_USAGE, keys).mappings():
        counters = rules.setdefault(str(row["rule_id"]), {})
        counters[f"{row['period']}_amount"] = int(row["amount"])
        counters[f"{row['period']}_times"] = int(row["times"])
    goods: dict[tuple[str, str], dict[str, int]] = {}
    for row in connection.execute(_GOODS_USAGE, keys).mappings():
        key = (str(row["rule_id"]), str(row["product_id"]))
        goods.setdefault(key, {})[f"{row['period']}_quantity"] = int(row["quantity"])
    return (
        {rule_id: RuleUsage(**counters) for rule_id, counters in rules.items()},
        {key: GoodsUsage(**counters) for key, counters in goods.items()},
    )


def record_usage(
    connection: Connection,
    merchant_id: uuid.UUID,
    membership_id: uuid.UUID,
    moment: datetime,
    time_zone: str,
    *,
    given: Mapping[uuid.UUID, tuple[int, int]],
    goods: Iterable[tuple[uuid.UUID, uuid.UUID, int]] = (),
) -> None:
    """Add to the member's counters: `given` is rule → (units, times); `goods` is
    (rule, product, quantity). Negative numbers take back (a refund)."""
    day, month = periods(moment, time_zone)
    insert = pg_dialect.insert if connection.dialect.name == "postgresql" else sqlite_dialect.insert
    rule_rows = [
        {
            "merchant_id": merchant_id,
            "membership_id": membership_id,
            "rule_id": rule_id,
            "period": period,
            "starts_on": starts_on,
            "amount": units,
            "times": times,
        }
        for rule_id, (units, times) in sorted(given.items())
        if units or times
        for period, starts_on in (("day", day), ("month", month))
    ]
    if rule_rows:
        statement = insert(loyalty_rule_usage)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=_key(loyalty_rule_usage),
                set_={
                    "amount": loyalty_rule_usage.c.amount + statement.excluded.amount,
                    "times": loyalty_rule_usage.c.times + statement.excluded.times,
                },
            ),
            rule_rows,
        )
    goods_rows = [
        {
            "merchant_id": merchant_id,
            "membership_id": membership_id,
            "rule_id": rule_id,
            "product_id": product_id,
            "period": period,
            "starts_on": starts_on,
            "quantity": quantity,
        }
        for rule_id, product_id, quantity in sorted(goods)
        if quantity
        for period, starts_on in (("day", day), ("month", month))
    ]
    if goods_rows:
        statement = insert(loyalty_goods_usage)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=_key(loyalty_goods_usage),
                set_={"quantity": loyalty_goods_usage.c.quantity + statement.excluded.quantity},
            ),
            goods_rows,
        )


def take_back_usage(
    connection: Connection,
    merchant_id: uuid.UUID,
    membership_id: uuid.UUID,
    moment: datetime,
    time_zone: str,
    *,
    given: Mapping[uuid.UUID, tuple[int, int]],
) -> None:
    """A refund's part: take rule → (units, times) off the counters of the check's day and
    month (never below zero). Limits on goods keep counting refunded units."""
    day, month = periods(moment, time_zone)
    for rule_id, (units, times) in sorted(given.items()):
        connection.execute(
            update(loyalty_rule_usage)
            .where(
                loyalty_rule_usage.c.merchant_id == merchant_id,
                loyalty_rule_usage.c.membership_id == membership_id,
                loyalty_rule_usage.c.rule_id == rule_id,
                _in_period(loyalty_rule_usage, day, month),
            )
            .values(
                amount=case(
                    (loyalty_rule_usage.c.amount > units, loyalty_rule_usage.c.amount - units),
                    else_=0,
                ),
                times=case(
                    (loyalty_rule_usage.c.times > times, loyalty_rule_usage.c.times - times),
                    else_=0,
                ),
            )
        )


def _key(table) -> Sequence:
    return list(table.primary_key.columns)


# Tier spend -------------------------------------------------------------------------


def read_spend(
    connection: Connection,
    merchant_id: uuid.UUID,
    membership_id: uuid.UUID,
    programs: Sequence[LoyaltyProgram],
    moment: datetime,
    time_zone: str,
) -> dict[uuid.UUID, int]:
    """The member's qualifying spend in each program with tiers, over the period ending
    with the local month of `moment` (months after it, an offline replay's future, are
    not counted)."""
    tiered = [program for program in programs if program.tiers is not None]
    if not tiered:
        return {}
    month = periods(moment, time_zone)[1]
    firsts = {program.id: program.tiers.first_month(month) for program in tiered}  # type: ignore[union-attr]
    spend = dict.fromkeys(firsts, 0)
    for program_id, starts_on, amount in connection.execute(
        select(
            loyalty_member_spend.c.program_id,
            loyalty_member_spend.c.starts_on,
            loyalty_member_spend.c.spend_minor,
        ).where(
            loyalty_member_spend.c.merchant_id == merchant_id,
            loyalty_member_spend.c.membership_id == membership_id,
            loyalty_member_spend.c.program_id.in_(sorted(firsts)),
            loyalty_member_spend.c.starts_on >= min(firsts.values()),
            loyalty_member_spend.c.starts_on <= month,
        )
    ):
        if starts_on >= firsts[program_id]:
            spend[program_id] += int(amount)
    return spend


def record_spend(
    connection: Connection,
    merchant_id: uuid.UUID,
    membership_id: uuid.UUID,
    moment: datetime,
    time_zone: str,
    spends: Mapping[uuid.UUID, int],
) -> None:
    """Add a check's qualifying spend to the member's month in each program (under the
    member's lock, as the commit holds it)."""
    month = periods(moment, time_zone)[1]
    rows = [
        {
            "merchant_id": merchant_id,
            "membership_id": membership_id,
            "program_id": program_id,
            "starts_on": month,
            "spend_minor": amount,
        }
        for program_id, amount in sorted(spends.items())
        if amount > 0
    ]
    if not rows:
        return
    insert = pg_dialect.insert if connection.dialect.name == "postgresql" else sqlite_dialect.insert
    statement = insert(loyalty_member_spend)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=_key(loyalty_member_spend),
            set_={
                "spend_minor": loyalty_member_spend.c.spend_minor + statement.excluded.spend_minor
            },
        ),
        rows,
    )


def take_back_spend(
    connection: Connection,
    merchant_id: uuid.UUID,
    membership_id: uuid.UUID,
    moment: datetime,
    time_zone: str,
    spends: Mapping[uuid.UUID, int],
) -> None:
    """A refund's part: take the refunded spend off the check's own month (never below 0)."""
    month = periods(moment, time_zone)[1]
    spend = loyalty_member_spend.c.spend_minor
    for program_id, amount in sorted(spends.items()):
        if amount <= 0:
            continue
        connection.execute(
            update(loyalty_member_spend)
            .where(
                loyalty_member_spend.c.merchant_id == merchant_id,
                loyalty_member_spend.c.membership_id == membership_id,
                loyalty_member_spend.c.program_id == program_id,
                loyalty_member_spend.c.starts_on == month,
            )
            .values(spend_minor=case((spend > amount, spend - amount), else_=0))
        )
