"""Conditions: time windows in the merchant's zone, the active period, the requirements."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from cagnotte.programs.loyalty import (
    Birthday,
    Channel,
    EnrolledThisCheck,
    FirstPurchase,
    FixedBonus,
    MinimumBasket,
    NthVisit,
    ProfileComplete,
    TimeWindow,
    evaluate_rules,
)

from .builders import COFFEE, check, line, member, rule

BONUS = FixedBonus(10)


def earns(the_rule, moment=None, customer=None, **check_kwargs) -> bool:
    if moment is not None:
        check_kwargs["moment"] = moment
    the_check = check(line(0, 5000), cake_line(), **check_kwargs)
    return evaluate_rules([the_rule], the_check, customer or member()).total("points") > 0


def cake_line():
    return line(1, 5000, product="cheesecake", categories=("cakes", "food"))


def at_utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# Time windows.

OFFICE_HOURS = rule("office", BONUS, windows=(TimeWindow(start=time(9), end=time(17)),))


def test_hours_are_the_merchants_local_hours_in_winter():
    # 07:30 UTC is 08:30 in Prague in March (CET): before the window.
    assert not earns(OFFICE_HOURS, at_utc(2026, 3, 2, 7, 30))
    assert earns(OFFICE_HOURS, at_utc(2026, 3, 2, 8, 0))


def test_hours_are_the_merchants_local_hours_in_summer():
    # 07:30 UTC is 09:30 in Prague in June (CEST).
    assert earns(OFFICE_HOURS, at_utc(2026, 6, 1, 7, 30))
    assert not earns(OFFICE_HOURS, at_utc(2026, 6, 1, 15, 0))


def test_the_end_of_a_window_is_excluded():
    assert earns(OFFICE_HOURS, at_utc(2026, 3, 2, 15, 59))
    assert not earns(OFFICE_HOURS, at_utc(2026, 3, 2, 16, 0))


FRIDAY_NIGHT = rule(
    "night", BONUS, windows=(TimeWindow(days_of_week=frozenset({5}), start=time(22), end=time(2)),)
)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 3, 6, 21, 59), False),  # Friday, before
        (datetime(2026, 3, 6, 23, 0), True),  # Friday night
        (datetime(2026, 3, 7, 1, 30), True),  # Saturday 01:30: Friday's window
        (datetime(2026, 3, 7, 2, 0), False),  # its end
        (datetime(2026, 3, 7, 23, 0), False),  # Saturday night is not Friday's
        (datetime(2026, 3, 6, 1, 0), False),  # Friday 01:00 belongs to Thursday night
    ],
)
def test_a_window_across_midnight_belongs_to_the_day_it_starts(local, expected):
    moment = local.replace(tzinfo=UTC) - timedelta(hours=1)  # Prague is UTC+1 in March
    assert earns(FRIDAY_NIGHT, moment) is expected


def test_a_window_across_the_spring_dst_change_follows_the_wall_clock():
    # On Sunday 29 March 2026 Prague skips 02:00–03:00; 01:30 UTC is 03:30 CEST.
    early = rule(
        "early",
        BONUS,
        windows=(TimeWindow(days_of_week=frozenset({7}), start=time(1), end=time(4)),),
    )
    assert earns(early, at_utc(2026, 3, 29, 0, 30))  # 01:30 CET
    assert earns(early, at_utc(2026, 3, 29, 1, 30))  # 03:30 CEST
    assert not earns(early, at_utc(2026, 3, 29, 2, 0))  # 04:00 CEST


def test_the_hour_repeated_in_autumn_is_in_the_window_both_times():
    # On Sunday 25 October 2026 Prague lives 02:00–03:00 twice: 00:30 and 01:30 UTC.
    repeated = rule("repeated", BONUS, windows=(TimeWindow(start=time(2), end=time(3)),))
    assert earns(repeated, at_utc(2026, 10, 25, 0, 30))
    assert earns(repeated, at_utc(2026, 10, 25, 1, 30))
    assert not earns(repeated, at_utc(2026, 10, 25, 2, 0))  # 03:00 CET


def test_days_of_the_week_are_local_days():
    # 23:30 UTC on Friday 6 March is 00:30 on Saturday in Prague.
    saturday = rule("saturday", BONUS, windows=(TimeWindow(days_of_week=frozenset({6})),))
    assert earns(saturday, at_utc(2026, 3, 6, 23, 30))
    assert not earns(saturday, at_utc(2026, 3, 6, 22, 30))


def test_a_date_range_bounds_the_days_inclusive_in_local_dates():
    spring = rule(
        "spring",
        BONUS,
        windows=(TimeWindow(date_from=date(2026, 3, 1), date_to=date(2026, 3, 31)),),
    )
    assert earns(spring, at_utc(2026, 2, 28, 23, 0))  # 1 March 00:00 local
    assert earns(spring, at_utc(2026, 3, 31, 21, 59))
    assert not earns(spring, at_utc(2026, 3, 31, 22, 0))  # 1 April 00:00 CEST


def test_any_one_window_is_enough():
    two = rule(
        "two",
        BONUS,
        windows=(
            TimeWindow(start=time(7), end=time(9)),
            TimeWindow(start=time(17), end=time(19)),
        ),
    )
    assert earns(two, at_utc(2026, 3, 2, 7, 0))
    assert earns(two, at_utc(2026, 3, 2, 16, 30))
    assert not earns(two, at_utc(2026, 3, 2, 11, 0))


def test_the_active_period_is_half_open():
    start, end = at_utc(2026, 3, 1), at_utc(2026, 4, 1)
    promotion = rule("promo", BONUS, active_from=start, active_to=end)
    assert earns(promotion, start)
    assert earns(promotion, end - timedelta(microseconds=1))
    assert not earns(promotion, end)
    assert not earns(promotion, start - timedelta(seconds=1))


# Requirements.


def test_a_birthday_bonus_on_the_local_birthday():
    birthday = rule("birthday", BONUS, requirements=(Birthday(),))
    born = member(birth_date=date(1990, 3, 3))
    # 23:30 UTC on 2 March is already 3 March in Prague.
    assert earns(birthday, at_utc(2026, 3, 2, 23, 30), born)
    assert not earns(birthday, at_utc(2026, 3, 2, 22, 30), born)
    assert not earns(birthday, at_utc(2026, 3, 2, 23, 30), member())


def test_a_birthday_bonus_within_days_of_the_birthday_across_new_year():
    week = rule("birthday", BONUS, requirements=(Birthday(days_around=3),))
    assert earns(week, at_utc(2026, 12, 30, 12), member(birth_date=date(1990, 1, 2)))
    assert not earns(week, at_utc(2026, 12, 29, 12), member(birth_date=date(1990, 1, 2)))
    assert earns(week, at_utc(2026, 3, 5, 12), member(birth_date=date(1990, 3, 2)))


def test_a_29_february_birthday_is_28_february_in_other_years():
    birthday = rule("birthday", BONUS, requirements=(Birthday(),))
    leapling = member(birth_date=date(2000, 2, 29))
    assert earns(birthday, at_utc(2026, 2, 28, 12), leapling)
    assert not earns(birthday, at_utc(2026, 3, 1, 12), leapling)


def test_every_nth_visit_and_exactly_the_nth_visit():
    every_fifth = rule("fifth", BONUS, requirements=(NthVisit(5),))
    third_only = rule("third", BONUS, requirements=(NthVisit(3, every=False),))
    assert earns(every_fifth, customer=member(visit_number=10))
    assert not earns(every_fifth, customer=member(visit_number=11))
    assert earns(third_only, customer=member(visit_number=3))
    assert not earns(third_only, customer=member(visit_number=6))


def test_profile_first_purchase_and_enrolment_requirements():
    assert earns(
        rule("p", BONUS, requirements=(ProfileComplete(),)), customer=member(profile_complete=True)
    )
    assert not earns(rule("p", BONUS, requirements=(ProfileComplete(),)))
    assert earns(
        rule("f", BONUS, requirements=(FirstPurchase(),)), customer=member(first_purchase=True)
    )
    assert earns(
        rule("e", BONUS, requirements=(EnrolledThisCheck(),)),
        customer=member(enrolled_this_check=True),
    )
    assert not earns(rule("e", BONUS, requirements=(EnrolledThisCheck(),)))


def test_a_minimum_basket_on_the_whole_check_or_on_the_eligible_lines():
    # The check is 100 CZK: 50 CZK of coffee and 50 CZK of cake.
    assert earns(rule("m", BONUS, requirements=(MinimumBasket(10000),)))
    assert not earns(rule("m", BONUS, requirements=(MinimumBasket(10001),)))
    on_coffee = rule(
        "m", BONUS, scope=COFFEE, requirements=(MinimumBasket(6000, on_eligible_lines=True),)
    )
    assert not earns(on_coffee)


def test_all_requirements_must_hold():
    both = rule("both", BONUS, requirements=(ProfileComplete(), FirstPurchase()))
    assert earns(both, customer=member(profile_complete=True, first_purchase=True))
    assert not earns(both, customer=member(profile_complete=True))


# Targeting.


def test_stores_channels_and_segments_restrict_a_rule():
    assert earns(rule("s", BONUS, store_ids=frozenset({"store-1"})))
    assert not earns(rule("s", BONUS, store_ids=frozenset({"store-2"})))
    app_only = rule("a", BONUS, channels=frozenset({Channel.CUSTOMER_APP}))
    assert not earns(app_only)
    assert earns(app_only, channel=Channel.CUSTOMER_APP)
    students = rule("g", BONUS, segment_ids=frozenset({"students"}))
    assert not earns(students)
    assert earns(students, customer=member(segment_ids=frozenset({"students", "locals"})))
