"""Whether a rule's condition holds for a check and a customer, piece by piece.

Two halves. *Targeting* (scope, stores, channels, segments) decides whether a
rule concerns the check at all and on which lines; the index answers it
without scanning every rule, and `targets` here is the plain scan it must agree
with. The *rest* (active period, time windows, membership, requirements) is
checked on each candidate and reported as the list of what is missing, so that
a rule failing one thing the customer can act on becomes a near miss.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta

from cagnotte.programs.loyalty.facts import CheckFacts, CustomerFacts, LineFacts
from cagnotte.programs.loyalty.rules import (
    Birthday,
    EnrolledThisCheck,
    FirstPurchase,
    MinimumBasket,
    NthVisit,
    ProductScope,
    ProfileComplete,
    Requirement,
    Rule,
    TimeWindow,
)


class Missing(enum.Enum):
    """What keeps a rule from applying, or what the customer could still do to earn more."""

    MEMBERSHIP = "membership"
    ACTIVE_PERIOD = "active_period"
    TIME_WINDOW = "time_window"
    PROFILE = "profile"
    BIRTHDAY = "birthday"
    FIRST_PURCHASE = "first_purchase"
    NTH_VISIT = "nth_visit"
    MINIMUM_BASKET = "minimum_basket"
    ENROLMENT = "enrolment"
    # Not failures of a condition: progress the customer can make.
    STAMPS = "stamps"
    TIER = "tier"


def line_in_scope(scope: ProductScope, line: LineFacts) -> bool:
    """Whether the line earns under a rule of this scope (exclusions and members-only too)."""
    if line.members_only and not scope.members_only_products:
        return False
    if line.product_id is None:
        return scope.whole_catalogue
    if line.product_id in scope.excluded_product_ids:
        return False
    if scope.excluded_category_ids and not scope.excluded_category_ids.isdisjoint(
        line.category_ids
    ):
        return False
    return (
        scope.whole_catalogue
        or line.product_id in scope.product_ids
        or not scope.category_ids.isdisjoint(line.category_ids)
    )


def targets(rule: Rule, check: CheckFacts, customer: CustomerFacts) -> tuple[int, ...] | None:
    """The indexes of the lines a rule targets, or None when it does not concern the check.

    A whole-catalogue rule concerns every check of its stores, channels and
    segments, even one with no line (a kiosk visit); a rule scoped to products
    or categories needs at least one line in scope. This is the scan over every
    rule that `RuleIndex.candidates` answers faster and must agree with.
    """
    condition = rule.condition
    if condition.store_ids and check.store_id not in condition.store_ids:
        return None
    if condition.channels and check.channel not in condition.channels:
        return None
    if condition.segment_ids and condition.segment_ids.isdisjoint(customer.segment_ids):
        return None
    lines = tuple(line.index for line in check.lines if line_in_scope(condition.scope, line))
    if not lines and not condition.scope.whole_catalogue:
        return None
    return lines


def in_active_period(rule: Rule, moment: datetime) -> bool:
    if rule.active_from is not None and moment < rule.active_from:
        return False
    return rule.active_to is None or moment < rule.active_to


def window_start_day(window: TimeWindow, local: datetime) -> date | None:
    """The local day the window containing `local` started on, or None if `local` is outside.

    Only the hours are compared here; the caller checks that day's weekday and dates.
    """
    if window.start is None:
        return local.date()
    clock = local.time()
    if not window.across_midnight:
        return local.date() if window.start <= clock < window.end else None
    if clock >= window.start:
        return local.date()
    if clock < window.end:
        return local.date() - timedelta(days=1)
    return None


def window_dates_hold(window: TimeWindow, day: date) -> bool:
    if window.date_from is not None and day < window.date_from:
        return False
    return window.date_to is None or day <= window.date_to


def window_holds(window: TimeWindow, local: datetime) -> bool:
    day = window_start_day(window, local)
    if day is None:
        return False
    if window.days_of_week and day.isoweekday() not in window.days_of_week:
        return False
    return window_dates_hold(window, day)


def birthday_in_year(birth_date: date, year: int) -> date:
    if birth_date.month == 2 and birth_date.day == 29:
        try:
            return date(year, 2, 29)
        except ValueError:
            return date(year, 2, 28)
    return birth_date.replace(year=year)


def is_birthday(requirement: Birthday, birth_date: date | None, day: date) -> bool:
    if birth_date is None:
        return False
    # The nearest birthday may fall in the previous or the next year (31 December, 2 January).
    return any(
        abs((birthday_in_year(birth_date, year) - day).days) <= requirement.days_around
        for year in (day.year - 1, day.year, day.year + 1)
    )


def requirement_missing(
    requirement: Requirement,
    customer: CustomerFacts,
    local_day: date,
    basket_minor: int,
    eligible_minor: int,
) -> Missing | None:
    """What the requirement lacks, or None when it holds."""
    if isinstance(requirement, ProfileComplete):
        return None if customer.profile_complete else Missing.PROFILE
    if isinstance(requirement, Birthday):
        holds = is_birthday(requirement, customer.birth_date, local_day)
        return None if holds else Missing.BIRTHDAY
    if isinstance(requirement, FirstPurchase):
        return None if customer.first_purchase else Missing.FIRST_PURCHASE
    if isinstance(requirement, NthVisit):
        visit = customer.visit_number
        holds = visit % requirement.n == 0 if requirement.every else visit == requirement.n
        return None if holds else Missing.NTH_VISIT
    if isinstance(requirement, MinimumBasket):
        amount = eligible_minor if requirement.on_eligible_lines else basket_minor
        return None if amount >= requirement.amount_minor else Missing.MINIMUM_BASKET
    assert isinstance(requirement, EnrolledThisCheck), requirement
    return None if customer.enrolled_this_check else Missing.ENROLMENT


def basket_shortfall(requirement: MinimumBasket, basket_minor: int, eligible_minor: int) -> int:
    """How much more the check (or its eligible lines) must cost to meet the minimum."""
    amount = eligible_minor if requirement.on_eligible_lines else basket_minor
    return max(0, requirement.amount_minor - amount)
