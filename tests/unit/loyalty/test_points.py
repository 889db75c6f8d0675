"""Points programs, worked examples: every benefit with the numbers written out."""

from __future__ import annotations

from cagnotte.programs.loyalty import (
    ANONYMOUS,
    AmountBasis,
    Bracket,
    BudgetDraw,
    EarningPolicy,
    FirstPurchase,
    FixedBonus,
    FixedRate,
    LineShare,
    Multiplier,
    ProductScope,
    ProgressiveRate,
    Rate,
    Rounding,
    TieredRate,
    TierRate,
    TierStanding,
    evaluate_rules,
)

from .builders import COFFEE, cake, check, line, member, rule, uncatalogued


def points(rules, the_check, customer=None) -> int:
    return evaluate_rules(rules, the_check, customer or member()).total("points")


# A fixed rate.


def test_9_99_czk_earns_no_point_at_one_point_per_10_czk_rounded_down():
    assert points([rule("base")], check(line(0, 999))) == 0


def test_10_00_czk_earns_one_point():
    evaluation = evaluate_rules([rule("base")], check(line(0, 1000)), member())
    assert evaluation.total("points") == 1
    assert evaluation.awards[0].shares == (LineShare(0, 1),)


def test_the_rate_applies_once_to_the_sum_of_the_eligible_lines():
    # 3 × 9.99 CZK = 29.97 CZK → 2 points, shared by largest remainder.
    evaluation = evaluate_rules(
        [rule("base", scope=COFFEE)], check(line(0, 999), line(1, 999), line(2, 999)), member()
    )
    award = evaluation.awards[0]
    assert award.amount == 2
    assert award.shares == (LineShare(0, 1), LineShare(1, 1))
    assert award.reason == "1 point per 10 CZK on 3 coffee lines"


def test_per_line_rounding_rounds_each_line_on_its_own():
    per_line = rule("base", FixedRate(Rate.per(1, 1000), per_line=True))
    lines = (line(0, 1500), line(1, 2500))
    assert points([per_line], check(*lines)) == 3
    assert points([rule("base")], check(*lines)) == 4
    assert points([per_line], check(line(0, 999), line(1, 999))) == 0


def test_half_up_rounding_rounds_the_half_point_up():
    half_up = rule("base", FixedRate(Rate.per(1, 1000), rounding=Rounding.HALF_UP))
    assert points([half_up], check(line(0, 1499))) == 1
    assert points([half_up], check(line(0, 1500))) == 2


def test_points_earn_after_discounts_and_not_on_what_points_paid():
    # 100 CZK list price, 80 CZK after a discount, 30 CZK of it paid with points.
    discounted = line(0, 8000, unit_price_minor=10000, paid_with_loyalty_minor=3000)
    assert points([rule("base")], check(discounted)) == 5
    before_discounts = EarningPolicy(amount_basis=AmountBasis.BEFORE_DISCOUNTS)
    assert points([rule("base", policy=before_discounts)], check(discounted)) == 7
    on_loyalty_paid = EarningPolicy(earn_on_loyalty_paid=True)
    assert points([rule("base", policy=on_loyalty_paid)], check(discounted)) == 8


def test_a_line_paid_entirely_with_points_earns_nothing():
    assert points([rule("base")], check(line(0, 5000, paid_with_loyalty_minor=5000))) == 0


def test_an_anonymous_customer_earns_nothing():
    evaluation = evaluate_rules([rule("base")], check(line(0, 5000)), ANONYMOUS)
    assert evaluation.awards == ()


# Uncatalogued lines and members-only products.


def test_an_uncatalogued_line_earns_only_from_whole_catalogue_rules():
    rules = [rule("all"), rule("coffee", scope=COFFEE)]
    evaluation = evaluate_rules(rules, check(line(0, 1000), uncatalogued(1, 5000)), member())
    assert evaluation.award("all").amount == 6
    assert evaluation.award("all").line_indexes == (0, 1)
    assert evaluation.award("coffee").amount == 1
    assert evaluation.award("coffee").line_indexes == (0,)


def test_members_only_products_earn_unless_the_rule_leaves_them_out():
    lines = (line(0, 2000, members_only=True), line(1, 1000))
    assert points([rule("base")], check(*lines)) == 3
    without = ProductScope(members_only_products=False)
    assert points([rule("base", scope=without)], check(*lines)) == 1


def test_excluded_categories_win_over_the_whole_catalogue():
    no_cakes = ProductScope(excluded_category_ids=frozenset({"cakes"}))
    assert points([rule("base", scope=no_cakes)], check(line(0, 1000), cake(1, 5000))) == 1


# Progressive brackets.

BRACKETS = (
    Bracket(0, Rate.per(1, 1000)),
    Bracket(100_000, Rate.per(2, 1000)),
    Bracket(300_000, Rate.per(3, 1000)),
)


def test_a_bracket_is_reached_at_exactly_its_threshold():
    progressive = rule("progressive", ProgressiveRate(BRACKETS))
    assert points([progressive], check(line(0, 99_999))) == 99
    assert points([progressive], check(line(0, 100_000))) == 200
    assert points([progressive], check(line(0, 299_999))) == 599
    assert points([progressive], check(line(0, 300_000))) == 900


def test_the_reached_bracket_applies_to_the_whole_amount_unless_marginal():
    whole = rule("progressive", ProgressiveRate(BRACKETS))
    marginal = rule("progressive", ProgressiveRate(BRACKETS, marginal=True))
    # 1 500 CZK: whole at 2 per 10 CZK = 300; marginal 1 000 × 1/10 + 500 × 2/10 = 200.
    assert points([whole], check(line(0, 150_000))) == 300
    assert points([marginal], check(line(0, 150_000))) == 200
    reason = evaluate_rules([whole], check(line(0, 150_000)), member()).awards[0].reason
    assert reason == "2 points per 10 CZK for a check from 1000 CZK on 1 line"


# Tiers.

TIERS = TieredRate(
    (
        TierRate("bronze", Rate.per(1, 1000)),
        TierRate("silver", Rate.per(3, 2000), spend_min_minor=500_000),
        TierRate("gold", Rate.per(2, 1000), spend_min_minor=1_500_000),
    )
)


def test_the_rate_follows_the_customers_tier():
    tiered = rule("tiers", TIERS)
    the_check = check(line(0, 12_345))
    assert points([tiered], the_check, member(tiers={"points": TierStanding("gold")})) == 24
    assert points([tiered], the_check, member(tiers={"points": TierStanding("silver")})) == 18
    assert points([tiered], the_check, member(tiers={"points": TierStanding("bronze")})) == 12


def test_a_customer_without_a_listed_tier_earns_nothing_from_a_tiered_rule():
    tiered = rule("tiers", TIERS)
    assert points([tiered], check(line(0, 12_345)), member()) == 0
    assert (
        points([tiered], check(line(0, 12_345)), member(tiers={"points": TierStanding("platinum")}))
        == 0
    )


# A fixed bonus, a multiplier, temporary points, budgets.


def test_a_first_purchase_bonus_is_check_wide():
    bonus = rule("welcome", FixedBonus(50), requirements=(FirstPurchase(),))
    evaluation = evaluate_rules([bonus], check(line(0, 100)), member(first_purchase=True))
    award = evaluation.awards[0]
    assert (award.amount, award.shares) == (50, ())
    assert award.reason == "bonus of 50 points, for the first purchase"
    assert points([bonus], check(line(0, 100)), member(first_purchase=False)) == 0


def test_a_scoped_bonus_is_earned_on_its_lines():
    cakes = ProductScope(category_ids=frozenset({"cakes"}))
    bonus = rule("cake-bonus", FixedBonus(20), scope=cakes)
    evaluation = evaluate_rules([bonus], check(line(0, 1000), cake(1, 9000)), member())
    assert evaluation.awards[0].shares == (LineShare(1, 20),)


def test_double_points_on_coffee_add_the_base_rate_again_on_coffee_lines_only():
    base = rule("base")
    double = rule("double-coffee", Multiplier("base"), scope=COFFEE)
    evaluation = evaluate_rules([base, double], check(line(0, 4500), cake(1, 3000)), member())
    # Base: 75 CZK → 7 points; the extra: 45 CZK of coffee → 4 points.
    assert evaluation.award("base").amount == 7
    extra = evaluation.award("double-coffee")
    assert (extra.amount, extra.line_indexes) == (4, (0,))
    assert extra.reason == "1 point per 10 CZK extra (×2) on 1 coffee line"
    assert evaluation.total("points") == 11


def test_a_multiplier_gives_nothing_when_its_base_rule_does_not_apply():
    base = rule("base", store_ids=frozenset({"store-2"}))
    double = rule("double", Multiplier("base"))
    assert points([base, double], check(line(0, 4500))) == 0


def test_triple_points_on_a_tiered_base_use_the_customers_tier():
    tiered = rule("tiers", TIERS)
    triple = rule("triple", Multiplier("tiers", 3))
    gold = member(tiers={"points": TierStanding("gold")})
    # 100 CZK at gold (2 per 10 CZK) = 20, and twice that extra.
    assert points([tiered, triple], check(line(0, 10_000)), gold) == 60


def test_temporary_points_carry_their_expiry():
    temporary = rule("summer", expires_after_days=30)
    award = evaluate_rules([temporary], check(line(0, 2000)), member()).awards[0]
    assert award.expires_after_days == 30
    assert award.reason == "1 point per 10 CZK on 1 line, expiring after 30 days"


def test_awards_report_what_they_draw_on_each_budget():
    rules = [rule("a", budget_id="summer"), rule("b", FixedBonus(5), budget_id="summer")]
    evaluation = evaluate_rules(rules, check(line(0, 2000)), member())
    assert evaluation.budget_draws == (BudgetDraw("summer", "points", 7),)
    assert {award.budget_id for award in evaluation.awards} == {"summer"}
