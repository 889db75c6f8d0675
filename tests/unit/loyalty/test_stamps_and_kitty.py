"""Stamps cards and kitty programs, worked examples."""

from __future__ import annotations

from cagnotte.programs.loyalty import (
    Caps,
    Channel,
    FixedRate,
    KittyPercentage,
    LineShare,
    ProgramKind,
    Rate,
    StampCard,
    StampsPerItem,
    StampsPerVisit,
    evaluate_rules,
)

from .builders import COFFEE, cake, check, line, member, rule

STAMPS = ProgramKind.STAMPS
KITTY = ProgramKind.KITTY
COFFEE_CARD = StampsPerItem(card_size=10, reward="a free coffee")


def stamp_rule(rule_id="coffee-card", benefit=COFFEE_CARD, **kwargs):
    return rule(rule_id, benefit, program="card", kind=STAMPS, scope=COFFEE, **kwargs)


def kitty_rule(rule_id="kitty", benefit=KittyPercentage(250), **kwargs):
    return rule(rule_id, benefit, program="kitty", kind=KITTY, **kwargs)


def test_each_coffee_bought_earns_a_stamp():
    the_check = check(line(0, 9000, quantity=3), cake(1, 8000))
    award = evaluate_rules([stamp_rule()], the_check, member()).awards[0]
    assert (award.amount, award.shares) == (3, (LineShare(0, 3),))
    assert award.reason == "1 stamp per item on 3 coffee items"


def test_a_coffee_paid_with_the_card_reward_earns_no_stamp():
    free_one = line(0, 3000, paid_with_loyalty_minor=3000)
    assert evaluate_rules([stamp_rule()], check(free_one), member()).awards == ()
    # Two coffees, one of them paid with points: one stamp.
    half = line(0, 6000, quantity=2, paid_with_loyalty_minor=3000)
    assert evaluate_rules([stamp_rule()], check(half), member()).total("card") == 1


def test_a_stamp_per_visit_whatever_the_check_buys():
    visit = rule(
        "visit", StampsPerVisit(card_size=8, reward="a free lunch"), program="card", kind=STAMPS
    )
    assert evaluate_rules([visit], check(line(0, 100, quantity=5)), member()).total("card") == 1


def test_a_kiosk_visit_without_lines_earns_a_visit_stamp():
    visit = rule(
        "kiosk",
        StampsPerVisit(card_size=8, reward="a free lunch"),
        program="card",
        kind=STAMPS,
        channels=frozenset({Channel.KIOSK}),
    )
    evaluation = evaluate_rules([visit], check(channel=Channel.KIOSK), member())
    assert evaluation.total("card") == 1
    assert evaluation.awards[0].shares == ()


def test_a_completed_card_is_reported_with_the_stamps_before_and_after():
    evaluation = evaluate_rules(
        [stamp_rule()], check(line(0, 9000, quantity=3)), member(stamps_on_card={"card": 8})
    )
    assert evaluation.stamp_cards == (StampCard("card", 10, "a free coffee", 8, 11),)
    assert evaluation.stamp_cards[0].cards_completed == 1


def test_two_and_a_half_percent_into_the_kitty():
    evaluation = evaluate_rules([kitty_rule()], check(line(0, 30000), cake(1, 15000)), member())
    award = evaluation.awards[0]
    # 450 CZK × 2.5 % = 11.25 CZK.
    assert award.amount == 1125
    assert award.shares == (LineShare(0, 750), LineShare(1, 375))
    assert award.reason == "2.5 % of 450 CZK into the kitty on 2 lines"


def test_a_kitty_percentage_rounds_down_to_the_haler():
    # 9.99 CZK × 2.5 % = 0.24975 CZK → 0.24 CZK.
    assert evaluate_rules([kitty_rule()], check(line(0, 999)), member()).total("kitty") == 24


def test_a_kitty_may_also_be_a_rate_and_is_capped_in_minor_units():
    capped = kitty_rule(benefit=FixedRate(Rate(1, 20)), caps=Caps(per_check_amount_max=500))
    evaluation = evaluate_rules([capped], check(line(0, 20000)), member())
    # 5 % of 200 CZK = 10 CZK, capped at 5 CZK.
    assert evaluation.total("kitty") == 500
    assert evaluation.applied_caps[0].message == "at most 5 CZK per check"
