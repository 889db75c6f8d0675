"""Priority, exclusivity and stacking: which rules of a program apply together."""

from __future__ import annotations

from datetime import time

from cagnotte.programs.loyalty import (
    FixedBonus,
    FixedRate,
    Rate,
    StoppedRule,
    TimeWindow,
    evaluate_rules,
)

from .builders import check, line, member, rule

HAPPY_HOUR = FixedRate(Rate.per(3, 1000))


def test_an_exclusive_rule_that_applies_stops_the_lower_rules_of_its_program():
    rules = [
        rule("base"),
        rule("happy-hour", HAPPY_HOUR, priority=10, exclusive=True),
        rule("other-program", program="partner"),
    ]
    evaluation = evaluate_rules(rules, check(line(0, 5000)), member())
    assert [award.rule_id for award in evaluation.awards] == ["happy-hour", "other-program"]
    assert evaluation.total("points") == 15
    assert evaluation.stopped == (StoppedRule("base", "points", "happy-hour"),)


def test_an_exclusive_rule_that_does_not_apply_stops_nothing():
    late = TimeWindow(start=time(22, 0), end=time(23, 0))
    rules = [
        rule("base"),
        rule("happy-hour", HAPPY_HOUR, priority=10, exclusive=True, windows=(late,)),
    ]
    evaluation = evaluate_rules(rules, check(line(0, 5000)), member())
    assert [award.rule_id for award in evaluation.awards] == ["base"]
    assert evaluation.stopped == ()


def test_an_exclusive_rule_does_not_stop_the_higher_rules():
    rules = [
        rule("bonus", FixedBonus(10), priority=20),
        rule("happy-hour", HAPPY_HOUR, priority=10, exclusive=True),
    ]
    evaluation = evaluate_rules(rules, check(line(0, 5000)), member())
    assert evaluation.total("points") == 25


def test_an_exclusive_rule_stops_the_rules_of_equal_priority_after_it_by_id():
    rules = [rule("b"), rule("a", HAPPY_HOUR, exclusive=True)]
    evaluation = evaluate_rules(rules, check(line(0, 5000)), member())
    assert [award.rule_id for award in evaluation.awards] == ["a"]


def test_stackable_rules_all_apply():
    rules = [rule("base"), rule("bonus", FixedBonus(10)), rule("happy-hour", HAPPY_HOUR)]
    assert evaluate_rules(rules, check(line(0, 5000)), member()).total("points") == 30


def test_awards_come_in_priority_order_then_by_rule_id():
    rules = [rule("b", priority=5), rule("c", priority=9), rule("a", priority=5)]
    evaluation = evaluate_rules(rules, check(line(0, 5000)), member())
    assert [award.rule_id for award in evaluation.awards] == ["c", "a", "b"]
