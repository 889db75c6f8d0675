"""Caps per check, per customer per day and month, and limits on goods: each cuts exactly."""

from __future__ import annotations

from cagnotte.programs.loyalty import (
    AppliedCap,
    CapKind,
    Caps,
    GoodsEarned,
    GoodsLimit,
    GoodsUsage,
    RuleUsage,
    evaluate_rules,
)

from .builders import check, line, member, rule

# 150 CZK at 1 point per 10 CZK: 15 points before any cap.
FIFTEEN_POINTS = check(line(0, 10000), line(1, 5000, product="latte"))


def cut(caps: Caps, usage: RuleUsage | None = None):
    customer = member(rule_usage={"base": usage}) if usage else member()
    evaluation = evaluate_rules([rule("base", caps=caps)], FIFTEEN_POINTS, customer)
    return evaluation.total("points"), evaluation.applied_caps


def test_a_per_check_cap_cuts_the_award_to_the_cap():
    total, caps = cut(Caps(per_check_amount_max=10))
    assert total == 10
    assert caps == (
        AppliedCap(
            "base", "points", CapKind.PER_CHECK_AMOUNT, 10, 0, 15, 10, "at most 10 points per check"
        ),
    )


def test_a_cut_award_is_shared_over_its_lines_to_the_cap():
    evaluation = evaluate_rules(
        [rule("base", caps=Caps(per_check_amount_max=10))], FIFTEEN_POINTS, member()
    )
    assert [share.amount for share in evaluation.awards[0].shares] == [7, 3]
    assert evaluation.awards[0].amount_before_caps == 15


def test_a_daily_amount_cap_leaves_what_today_has_not_used():
    total, caps = cut(Caps(per_day_amount_max=20), RuleUsage(day_amount=12))
    assert total == 8
    assert caps[0].cap is CapKind.PER_DAY_AMOUNT
    assert (caps[0].used_before, caps[0].requested, caps[0].granted) == (12, 15, 8)
    assert caps[0].message == "at most 20 points a day; 12 points already given today"


def test_a_monthly_amount_cap_leaves_what_the_month_has_not_used():
    total, caps = cut(Caps(per_month_amount_max=100), RuleUsage(month_amount=99))
    assert total == 1
    assert caps[0].cap is CapKind.PER_MONTH_AMOUNT


def test_a_cap_already_reached_gives_nothing():
    total, caps = cut(Caps(per_day_amount_max=20), RuleUsage(day_amount=20))
    assert total == 0
    assert caps[0].granted == 0


def test_a_daily_times_cap_refuses_the_rule_once_used_up():
    assert cut(Caps(per_day_times_max=2), RuleUsage(day_times=1))[0] == 15
    total, caps = cut(Caps(per_day_times_max=2), RuleUsage(day_times=2))
    assert total == 0
    assert caps[0].cap is CapKind.PER_DAY_TIMES
    assert caps[0].message == "at most 2 times a day; 2 already today"


def test_a_monthly_times_cap_refuses_the_rule_once_used_up():
    total, caps = cut(Caps(per_month_times_max=3), RuleUsage(month_times=3))
    assert (total, caps[0].cap) == (0, CapKind.PER_MONTH_TIMES)


def test_the_tightest_of_several_caps_wins_and_each_cut_is_reported():
    total, caps = cut(
        Caps(per_check_amount_max=12, per_day_amount_max=30, per_month_amount_max=100),
        RuleUsage(day_amount=20, month_amount=95),
    )
    assert total == 5
    assert [(c.cap, c.requested, c.granted) for c in caps] == [
        (CapKind.PER_CHECK_AMOUNT, 15, 12),
        (CapKind.PER_DAY_AMOUNT, 12, 10),
        (CapKind.PER_MONTH_AMOUNT, 10, 5),
    ]


def test_usage_of_another_rule_does_not_count():
    evaluation = evaluate_rules(
        [rule("base", caps=Caps(per_day_amount_max=20))],
        FIFTEEN_POINTS,
        member(rule_usage={"other": RuleUsage(day_amount=20)}),
    )
    assert evaluation.total("points") == 15


# Limits on goods.

FIVE_A_DAY = GoodsLimit(per_day_quantity_max=5)


def test_a_daily_limit_on_goods_earns_on_the_units_left_today():
    limited = rule("base", goods_limit=FIVE_A_DAY)
    the_check = check(line(0, 40000, product="whisky", quantity=4))
    customer = member(goods_usage={("base", "whisky"): GoodsUsage(day_quantity=3)})
    evaluation = evaluate_rules([limited], the_check, customer)
    # 2 of the 4 bottles at 100 CZK earn: 200 CZK → 20 points.
    assert evaluation.total("points") == 20
    assert evaluation.goods_earned == (GoodsEarned("base", "whisky", 2),)
    goods_cut = evaluation.applied_caps[0]
    assert (goods_cut.cap, goods_cut.product_id, goods_cut.requested, goods_cut.granted) == (
        CapKind.GOODS_PER_DAY,
        "whisky",
        4,
        2,
    )
    assert goods_cut.message == "earns on at most 5 units of whisky a day; 3 already earned today"


def test_a_limit_on_goods_is_used_by_the_lines_in_order():
    limited = rule("base", goods_limit=GoodsLimit(per_day_quantity_max=3))
    the_check = check(
        line(0, 20000, product="whisky", quantity=2),
        line(1, 1000, product="water"),
        line(2, 20000, product="whisky", quantity=2),
    )
    evaluation = evaluate_rules([limited], the_check, member())
    assert [(s.line_index, s.amount) for s in evaluation.awards[0].shares] == [
        (0, 20),
        (1, 1),
        (2, 10),
    ]
    assert evaluation.goods_earned == (
        GoodsEarned("base", "whisky", 3),
        GoodsEarned("base", "water", 1),
    )


def test_the_monthly_limit_on_goods_binds_when_it_has_less_room():
    limited = rule(
        "base", goods_limit=GoodsLimit(per_day_quantity_max=5, per_month_quantity_max=20)
    )
    customer = member(
        goods_usage={("base", "whisky"): GoodsUsage(day_quantity=0, month_quantity=19)}
    )
    evaluation = evaluate_rules(
        [limited], check(line(0, 40000, product="whisky", quantity=4)), customer
    )
    assert evaluation.total("points") == 10
    assert evaluation.applied_caps[0].cap is CapKind.GOODS_PER_MONTH
