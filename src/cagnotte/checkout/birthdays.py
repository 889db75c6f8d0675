"""Birthday bonuses, credited by a job on the member's birthday, once a year.

A promotion whose requirements include `birthday` and whose benefit is a fixed
bonus gives its units on the member's birthday whether or not they buy
anything: `credit_birthdays` (the `birthdays` job, under its job lock) finds
the members whose birthday is today (the merchant's local date) and credits
each once per program and year. Such a rule gives nothing at a check (the job
pays it; `paid_by_the_job`); a birthday rule with a rate (double points on
your birthday, `days_around`) still applies at the check.

- Once per program, member and year: the key birthday:{program}:{member}:{year}
  names the row of `loyalty_birthday_credits` (its primary key: a second run, or
  a second process, inserts nothing) and the transfer's id (derived from it).
  A program with several such rules credits the first one in priority order.
- 29 February: in a year without one, the birthday is 28 February (as the
  rules engine's `birthday` requirement has it).
- The bonus is paid from the program's issuance, or from the promotion's budget
  (at most what is left of it, read under the rule's lock), with the rule's
  expiry for temporary points. A blocked member is skipped.
- Batch by batch (`BIRTHDAY_BATCH_SIZE_MAX` members at a time), one unit of
  work per member under the member's row lock.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, and_, cast, extract, or_, select
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from cagnotte import errors
from cagnotte.checkout.tables import loyalty_birthday_credits
from cagnotte.db.engine import Database
from cagnotte.db.tables import memberships
from cagnotte.db.unit_of_work import UnitOfWork, UnitsOfWork
from cagnotte.i18n import merchant_locale
from cagnotte.ledger import Ledger, Transfer
from cagnotte.programs.loyalty.admin import LoyaltyPrograms
from cagnotte.programs.loyalty.budgets import budgets_of
from cagnotte.programs.loyalty.definitions import FixedBonusIn, RuleDefinition
from cagnotte.programs.loyalty.program import LoyaltyProgram, ProgramKind
from cagnotte.programs.loyalty.rules import Birthday, FixedBonus, Rule
from cagnotte.programs.loyalty.tables import loyalty_rules

log = logging.getLogger("cagnotte.checkout.birthdays")

BIRTHDAY_BATCH_SIZE_MAX = 500
_BIRTHDAY_IDS = uuid.UUID("0b7c5e2d-3f4a-4c1e-8d9b-6a2e1f0c7d35")


@dataclass(frozen=True, slots=True)
class _BirthdayRule:
    merchant_id: uuid.UUID
    rule_id: uuid.UUID
    program: LoyaltyProgram
    definition: RuleDefinition


def paid_by_the_job(rule: Rule | None) -> bool:
    """A fixed birthday bonus: the job credits it on the day, a check gives nothing of it."""
    return (
        rule is not None
        and isinstance(rule.benefit, FixedBonus)
        and any(isinstance(item, Birthday) for item in rule.condition.requirements)
    )


def birthday_key(program_id: uuid.UUID, membership_id: uuid.UUID, year: int) -> str:
    return f"birthday:{program_id}:{membership_id}:{year}"


def birthday_transfer_id(program_id: uuid.UUID, membership_id: uuid.UUID, year: int) -> uuid.UUID:
    return uuid.uuid5(_BIRTHDAY_IDS, birthday_key(program_id, membership_id, year))


def credit_birthdays(
    database: Database,
    units: UnitsOfWork,
    ledger: Ledger,
    loyalty: LoyaltyPrograms,
    now: datetime,
    batch_size: int = BIRTHDAY_BATCH_SIZE_MAX,
) -> int:
    """Credit today's birthday bonuses not credited yet; returns how many were credited.

    "Today" is each merchant's local day (its time zone).
    """
    assert 1 <= batch_size <= BIRTHDAY_BATCH_SIZE_MAX
    zones: dict[uuid.UUID, str] = {}
    credited = 0
    seen: set[uuid.UUID] = set()
    for rule in _birthday_rules(database, loyalty, now):
        if rule.program.id in seen:
            continue  # the first rule of a program in priority order credits it
        seen.add(rule.program.id)
        if rule.merchant_id not in zones:
            with database.read() as connection:
                zones[rule.merchant_id] = merchant_locale(connection, rule.merchant_id).time_zone
        today = now.astimezone(ZoneInfo(zones[rule.merchant_id])).date()
        issuance = loyalty.issuance_account(rule.program).id
        while True:
            members = _members_due(database, rule, today, batch_size)
            for membership_id in members:
                # Opened before the unit of work: it holds its own connection.
                member = loyalty.member_account(rule.program, membership_id).id
                try:
                    credited += units.run(
                        rule.merchant_id,
                        "birthday_credit",
                        lambda unit, m=membership_id, a=member, r=rule, i=issuance, d=today: (
                            _credit(unit, ledger, r, m, (i, a), d, now)
                        ),
                    )
                except errors.DomainError as error:
                    log.warning("a birthday bonus waits: %s (%s)", error.code, membership_id)
            if len(members) < batch_size:
                break
    return credited


def _birthday_rules(
    database: Database, loyalty: LoyaltyPrograms, now: datetime
) -> list[_BirthdayRule]:
    """Every merchant's active fixed birthday bonuses of running points and kitty programs."""
    with database.read() as connection:
        rows = connection.execute(
            select(
                loyalty_rules.c.merchant_id,
                loyalty_rules.c.id,
                loyalty_rules.c.program_id,
                loyalty_rules.c.definition,
            )
            .where(
                loyalty_rules.c.active.is_(True),
                # A cheap first sieve on the stored JSON; the definition decides.
                cast(loyalty_rules.c.definition, String).like('%"birthday"%'),
            )
            .order_by(
                loyalty_rules.c.merchant_id,
                loyalty_rules.c.priority.desc(),
                loyalty_rules.c.id,
            )
        ).all()
        found = []
        for merchant_id, rule_id, program_id, stored in rows:
            definition = RuleDefinition.model_validate(stored)
            if not isinstance(definition.benefit, FixedBonusIn) or not any(
                item.kind == "birthday" for item in definition.requirements
            ):
                continue
            if (definition.active_from and now < definition.active_from) or (
                definition.active_to and now >= definition.active_to
            ):
                continue
            program = loyalty.program(merchant_id, program_id, connection)
            if program.kind == ProgramKind.STAMPS or not program.running_at(now):
                continue
            found.append(_BirthdayRule(merchant_id, rule_id, program, definition))
    return found


def born_on(birth_date: ColumnElement[date], today: date) -> ColumnElement[bool]:
    """Whether a birth date's birthday is `today` (SQL, both databases): a 29 February
    birthday is 28 February in a year without one."""
    born_today = and_(
        extract("month", birth_date) == today.month, extract("day", birth_date) == today.day
    )
    if today.month == 2 and today.day == 28 and not _is_leap(today.year):
        born_today = or_(
            born_today, and_(extract("month", birth_date) == 2, extract("day", birth_date) == 29)
        )
    return born_today


def _members_due(
    database: Database, rule: _BirthdayRule, today: date, batch_size: int
) -> list[uuid.UUID]:
    """Members of the merchant whose birthday is today, not credited this year yet."""
    born_today = born_on(memberships.c.birth_date, today)
    credited = (
        select(loyalty_birthday_credits.c.membership_id)
        .where(
            loyalty_birthday_credits.c.merchant_id == memberships.c.merchant_id,
            loyalty_birthday_credits.c.program_id == rule.program.id,
            loyalty_birthday_credits.c.membership_id == memberships.c.id,
            loyalty_birthday_credits.c.year == today.year,
        )
        .exists()
    )
    with database.read() as connection:
        return list(
            connection.execute(
                select(memberships.c.id)
                .where(
                    memberships.c.merchant_id == rule.merchant_id,
                    memberships.c.status == "active",
                    memberships.c.birth_date.is_not(None),
                    born_today,
                    ~credited,
                )
                .order_by(memberships.c.id)
                .limit(batch_size)
            ).scalars()
        )


def _credit(
    unit: UnitOfWork,
    ledger: Ledger,
    rule: _BirthdayRule,
    membership_id: uuid.UUID,
    accounts: tuple[uuid.UUID, uuid.UUID],
    today: date,
    now: datetime,
) -> int:
    """One member's bonus: the row claims the year, the transfer pays it (one unit).

    `accounts` are the program's issuance and the member's account."""
    assert isinstance(rule.definition.benefit, FixedBonusIn)
    program = rule.program
    issuance, member = accounts
    unit.lock(memberships, membership_id)
    amount = rule.definition.benefit.units
    if rule.definition.budget_units:
        unit.lock_many(loyalty_rules, [rule.rule_id], keys_stay=True)
        budget = budgets_of(unit.connection, unit.merchant_id, [rule.rule_id])[rule.rule_id]
        issuance, amount = budget.account_id, min(amount, budget.left_units)
    transfer_id = birthday_transfer_id(program.id, membership_id, today.year)
    insert = pg_dialect.insert if unit.is_postgresql else sqlite_dialect.insert
    claimed = unit.connection.execute(
        insert(loyalty_birthday_credits)
        .values(
            merchant_id=unit.merchant_id,
            program_id=program.id,
            membership_id=membership_id,
            year=today.year,
            units=amount,
            transfer_id=transfer_id,
            created_at=unit.now,
        )
        .on_conflict_do_nothing()
        .returning(loyalty_birthday_credits.c.year)
    ).first()
    if claimed is None:
        return 0  # credited this year already (another run, another process)
    if amount == 0:
        return 0  # the budget is spent: the year is claimed with nothing given
    expires = rule.definition.expires_after_days
    ledger.post_entry(
        unit.merchant_id,
        [
            Transfer(
                issuance,
                member,
                amount,
                "loyalty_birthday",
                birthday_key(program.id, membership_id, today.year),
                lot_expires_at=now + timedelta(days=expires) if expires else None,
                id=transfer_id,
            )
        ],
        kind="loyalty_birthday",
        unit=unit,
    )
    return 1


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
