"""Near misses: only rules failing one thing the customer can act on, with the numbers."""

from __future__ import annotations

from datetime import UTC, datetime, time

from cagnotte.programs.loyalty import (
    ANONYMOUS,
    Birthday,
    EnrolledThisCheck,
    EvaluationOptions,
    FixedBonus,
    MinimumBasket,
    Missing,
    Multiplier,
    NearMiss,
    ProductScope,
    ProfileComplete,
    ProgramKind,
    Rate,
    StampsPerItem,
    TieredRate,
    TierRate,
    TierStanding,
    TimeWindow,
    evaluate_rules,
)

from .builders import COFFEE, check, line, member, rule

DOUBLE_FROM_500 = rule(
    "double", Multiplier("base"), name="double points", requirements=(MinimumBasket(50000),)
)
SATURDAY = TimeWindow(days_of_week=frozenset({6}))


def near_misses(rules, the_check, customer=None, **options):
    evaluation = evaluate_rules(
        rules, the_check, customer or member(), EvaluationOptions(**options)
    )
    return evaluation.near_misses


def test_a_minimum_basket_short_by_120_czk_says_so():
    misses = near_misses([rule("base"), DOUBLE_FROM_500], check(line(0, 38000)))
    assert misses == (
        NearMiss(
            rule_ids=("double",),
            program_id="points",
            missing=Missing.MINIMUM_BASKET,
            message="add 120 CZK to earn double points",
            missing_amount=12000,
            would_earn=38,
        ),
    )


def test_a_minimum_basket_far_off_is_no_near_miss():
    assert near_misses([rule("base"), DOUBLE_FROM_500], check(line(0, 24999))) == ()
    assert near_misses([rule("base"), DOUBLE_FROM_500], check(line(0, 25000))) != ()
    assert (
        near_misses(
            [rule("base"), DOUBLE_FROM_500], check(line(0, 9000)), basket_near_miss_from_bp=0
        )
        != ()
    )


def test_a_rule_without_a_name_says_what_it_would_give():
    bonus = rule("bonus", FixedBonus(30), requirements=(MinimumBasket(10000),))
    assert near_misses([bonus], check(line(0, 9050)))[0].message == "add 9.50 CZK to earn 30 points"


def test_an_anonymous_customer_is_told_what_joining_would_earn_per_program():
    rules = [rule("base"), rule("welcome", FixedBonus(50), requirements=(EnrolledThisCheck(),))]
    assert near_misses(rules[:1], check(line(0, 12345)), ANONYMOUS) == (
        NearMiss(
            rule_ids=("base",),
            program_id="points",
            missing=Missing.MEMBERSHIP,
            message="join to earn 12 points",
            would_earn=12,
        ),
    )
    joined = near_misses(rules, check(line(0, 12345)), ANONYMOUS)
    assert [(miss.rule_ids, miss.message) for miss in joined] == [
        (("base", "welcome"), "join to earn 62 points"),
    ]


def test_buy_on_saturday_to_earn_the_weekend_bonus():
    weekend = rule("weekend", FixedBonus(100), name="the weekend bonus", windows=(SATURDAY,))
    misses = near_misses([weekend], check(line(0, 5000)))
    assert [(miss.missing, miss.message) for miss in misses] == [
        (Missing.TIME_WINDOW, "buy on Saturday to earn the weekend bonus"),
    ]


def test_a_happy_hour_near_miss_names_its_hours_and_days():
    happy = rule(
        "happy",
        FixedBonus(20),
        windows=(
            TimeWindow(days_of_week=frozenset({1, 2, 3, 4, 5}), start=time(14), end=time(16)),
        ),
    )
    assert near_misses([happy], check(line(0, 5000)))[0].message == (
        "buy on Monday, Tuesday, Wednesday, Thursday or Friday between 14:00 and 16:00"
        " to earn 20 points"
    )


def test_a_window_whose_dates_are_over_is_no_near_miss():
    over = TimeWindow(days_of_week=frozenset({6}), date_to=datetime(2026, 2, 1).date())
    assert near_misses([rule("old", FixedBonus(5), windows=(over,))], check(line(0, 5000))) == ()


def test_complete_your_profile_to_earn_50_points():
    profile = rule("profile", FixedBonus(50), requirements=(ProfileComplete(),))
    assert near_misses([profile], check(line(0, 100)))[0].message == (
        "complete your profile to earn 50 points"
    )


def test_rules_failing_two_conditions_or_one_the_customer_cannot_act_on_are_left_out():
    rules = [
        rule("two", FixedBonus(5), windows=(SATURDAY,), requirements=(ProfileComplete(),)),
        rule("birthday", FixedBonus(5), requirements=(Birthday(),)),
        rule("elsewhere", FixedBonus(5), store_ids=frozenset({"store-9"})),
        rule("tea", FixedBonus(5), scope=ProductScope(category_ids=frozenset({"tea"}))),
    ]
    assert near_misses(rules, check(line(0, 5000))) == ()


def test_a_near_miss_behind_an_exclusive_rule_that_applied_is_left_out():
    rules = [
        rule("exclusive", FixedBonus(5), priority=10, exclusive=True),
        rule("weekend", FixedBonus(100), windows=(SATURDAY,)),
    ]
    assert near_misses(rules, check(line(0, 5000))) == ()


def test_one_more_stamp_to_a_free_coffee():
    card = rule(
        "card",
        StampsPerItem(card_size=10, reward="a free coffee"),
        program="card",
        kind=ProgramKind.STAMPS,
        scope=COFFEE,
    )
    customer = member(stamps_on_card={"card": 7})
    misses = near_misses([card], check(line(0, 6000, quantity=2)), customer)
    assert misses == (
        NearMiss(
            rule_ids=("card",),
            program_id="card",
            missing=Missing.STAMPS,
            message="one more stamp to a free coffee",
            missing_amount=1,
        ),
    )
    # Without a coffee on the check the card is still three stamps short: not near.
    assert (
        near_misses([card], check(line(0, 100, product="tea", categories=("tea",))), customer) == ()
    )


def test_spend_missing_to_reach_the_next_tier():
    tiers = rule(
        "tiers",
        TieredRate(
            (
                TierRate("silver", Rate.per(1, 1000)),
                TierRate("gold", Rate.per(2, 1000), spend_min_minor=1_000_000),
            )
        ),
    )
    customer = member(tiers={"points": TierStanding("silver", period_spend_minor=850_000)})
    misses = near_misses([tiers], check(line(0, 50000)), customer)
    assert [(miss.missing, miss.missing_amount, miss.message) for miss in misses] == [
        (Missing.TIER, 100_000, "spend 1000 CZK more to reach gold and earn 2 points per 10 CZK"),
    ]


def test_near_misses_are_at_most_the_options_number_in_rule_order():
    rules = [rule(f"w{n}", FixedBonus(5), priority=n, windows=(SATURDAY,)) for n in range(8)]
    misses = near_misses(rules, check(line(0, 5000)), near_misses_max=3)
    assert [miss.rule_id for miss in misses] == ["w7", "w6", "w5"]


def test_near_misses_can_be_switched_off():
    assert near_misses([rule("base")], check(line(0, 5000)), ANONYMOUS, near_misses=False) == ()


def test_the_moment_of_the_check_not_the_clock_decides():
    weekend = rule("weekend", FixedBonus(100), windows=(SATURDAY,))
    saturday = check(line(0, 5000), moment=datetime(2026, 3, 7, 12, tzinfo=UTC))
    assert evaluate_rules([weekend], saturday, member()).total("points") == 100
