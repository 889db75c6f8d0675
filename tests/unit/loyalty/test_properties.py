"""Properties of the earning engine over random rules, checks and customers (hypothesis).

The rules are drawn from a small world (six products in a two-level category
tree, two stores, three segments, four programs), so that random rules and
checks meet often enough to test something.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cagnotte.programs.loyalty import (
    Birthday,
    Bracket,
    Caps,
    Channel,
    CheckFacts,
    Condition,
    CustomerFacts,
    FirstPurchase,
    FixedBonus,
    FixedRate,
    GoodsLimit,
    GoodsUsage,
    KittyPercentage,
    LineFacts,
    MinimumBasket,
    Multiplier,
    NthVisit,
    ProductScope,
    ProfileComplete,
    ProgramKind,
    ProgressiveRate,
    Rate,
    Rounding,
    Rule,
    RuleUsage,
    StampsPerItem,
    StampsPerVisit,
    TieredRate,
    TierRate,
    TierStanding,
    TimeWindow,
    compile_rules,
    evaluate,
    targets,
)

from .builders import CZK

PROPERTY_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
CATEGORIES_OF = {
    "p0": frozenset({"a1", "a"}),
    "p1": frozenset({"a2", "a"}),
    "p2": frozenset({"b1", "b"}),
    "p3": frozenset({"b"}),
    "p4": frozenset({"a1", "a"}),
    "p5": frozenset(),
}
PRODUCTS = sorted(CATEGORIES_OF)
CATEGORIES = ["a", "a1", "a2", "b", "b1"]
STORES = ["s1", "s2"]
SEGMENTS = ["g1", "g2", "g3"]
PROGRAMS = {
    "pA": ProgramKind.POINTS,
    "pB": ProgramKind.POINTS,
    "pK": ProgramKind.KITTY,
    "pS": ProgramKind.STAMPS,
}
TIME_ZONES = ["Europe/Prague", "America/New_York", "UTC"]
START = datetime(2026, 1, 1, tzinfo=UTC)
# A multiplier drawn before its program's rate rules are known: with_multiplier_bases
# names its base.
PENDING_MULTIPLIER = Multiplier("pending")


def subsets(values):
    return st.frozensets(st.sampled_from(values), max_size=len(values))


# Strategies are built once, here: building them inside each draw is slow.
PRODUCT_SETS, CATEGORY_SETS = subsets(PRODUCTS), subsets(CATEGORIES)
STORE_SETS, SEGMENT_SETS = subsets(STORES), subsets(SEGMENTS)
CHANNEL_SETS, DAY_SETS = subsets(list(Channel)), subsets(list(range(1, 8)))
RARELY = st.integers(0, 4).map(lambda n: n == 0)
SOMETIMES = st.integers(0, 3).map(lambda n: n == 0)
amounts = st.integers(0, 60_000)
rates = st.builds(Rate, st.integers(1, 5), st.sampled_from([100, 999, 1000, 2000]))
roundings = st.sampled_from([Rounding.DOWN, Rounding.HALF_UP, Rounding.HALF_EVEN, Rounding.UP])
moments = st.integers(0, 365 * 24 * 60).map(lambda minutes: START + timedelta(minutes=minutes))


@st.composite
def scopes(draw) -> ProductScope:
    return ProductScope(
        product_ids=draw(PRODUCT_SETS) if draw(st.booleans()) else frozenset(),
        category_ids=draw(CATEGORY_SETS) if draw(st.booleans()) else frozenset(),
        excluded_product_ids=draw(PRODUCT_SETS) if draw(RARELY) else frozenset(),
        excluded_category_ids=draw(CATEGORY_SETS) if draw(RARELY) else frozenset(),
        members_only_products=draw(st.booleans()),
    )


@st.composite
def windows(draw) -> tuple[TimeWindow, ...]:
    if draw(st.booleans()):
        return ()
    start = end = None
    if draw(st.booleans()):
        start, end = draw(HOUR_PAIRS)
        start, end = time(start), time(end)
    return (TimeWindow(days_of_week=draw(DAY_SETS), start=start, end=end),)


HOUR_PAIRS = st.tuples(st.integers(0, 23), st.integers(0, 23)).filter(
    lambda hours: hours[0] != hours[1]
)


requirements = st.lists(
    st.one_of(
        st.just(ProfileComplete()),
        st.just(FirstPurchase()),
        st.builds(NthVisit, st.integers(1, 3), st.booleans()),
        st.builds(MinimumBasket, st.integers(1, 80_000), st.booleans()),
        st.builds(Birthday, st.integers(0, 3)),
    ),
    max_size=2,
).map(tuple)
caps = st.builds(Caps, *[st.none() | st.integers(0, 60) for _ in range(5)])
goods_limits = st.none() | st.builds(GoodsLimit, st.integers(0, 6), st.none() | st.integers(0, 10))


def _benefits(kind: ProgramKind):
    rate_benefits = [
        st.builds(FixedRate, rates, roundings, st.booleans()),
        st.builds(
            ProgressiveRate,
            st.just(
                (
                    Bracket(0, Rate(1, 1000)),
                    Bracket(20_000, Rate(2, 1000)),
                )
            ),
            roundings,
            st.booleans(),
        ),
        st.builds(
            TieredRate,
            st.just(
                (
                    TierRate("t1", Rate(1, 1000)),
                    TierRate("t2", Rate(3, 1000), 100_000),
                )
            ),
            roundings,
            st.booleans(),
        ),
    ]
    if kind is ProgramKind.POINTS:
        return st.one_of(
            *rate_benefits, st.builds(FixedBonus, st.integers(1, 50)), st.just(PENDING_MULTIPLIER)
        )
    if kind is ProgramKind.KITTY:
        return st.one_of(
            st.builds(KittyPercentage, st.integers(1, 1000), roundings),
            *rate_benefits,
            st.just(PENDING_MULTIPLIER),
        )
    return st.one_of(
        st.builds(StampsPerItem, st.just(5), st.just("a free coffee"), st.integers(1, 2)),
        st.builds(StampsPerVisit, st.just(5), st.just("a free coffee"), st.integers(1, 2)),
        st.builds(FixedBonus, st.integers(1, 3)),
    )


BENEFITS = {kind: _benefits(kind) for kind in ProgramKind}
SCOPES, WINDOWS = scopes(), windows()


@st.composite
def a_rule(draw, number: int) -> Rule:
    program_id = draw(st.sampled_from(sorted(PROGRAMS)))
    kind = PROGRAMS[program_id]
    active_from = active_to = None
    if draw(RARELY):
        active_from = draw(moments)
        active_to = active_from + timedelta(days=draw(st.integers(1, 90)))
    return Rule(
        id=f"r{number}",
        program_id=program_id,
        kind=kind,
        benefit=draw(BENEFITS[kind]),
        condition=Condition(
            scope=draw(SCOPES),
            windows=draw(WINDOWS),
            store_ids=draw(STORE_SETS) if draw(SOMETIMES) else frozenset(),
            channels=draw(CHANNEL_SETS) if draw(SOMETIMES) else frozenset(),
            segment_ids=draw(SEGMENT_SETS) if draw(SOMETIMES) else frozenset(),
            requirements=draw(requirements) if draw(SOMETIMES) else (),
        ),
        priority=draw(st.integers(0, 3)),
        exclusive=draw(RARELY),
        active_from=active_from,
        active_to=active_to,
        caps=draw(caps) if draw(st.booleans()) else Caps(),
        goods_limit=draw(goods_limits),
        expires_after_days=draw(st.none() | st.integers(1, 60)),
        budget_id=f"budget-{program_id}" if draw(st.booleans()) else None,
    )


def with_multiplier_bases(rules: list[Rule]) -> list[Rule]:
    """A drawn multiplier multiplies a rate rule of its program, or becomes a bonus."""
    fixed = []
    for rule in rules:
        if rule.benefit == PENDING_MULTIPLIER:
            bases = [
                other.id
                for other in rules
                if other.program_id == rule.program_id
                and isinstance(
                    other.benefit, FixedRate | KittyPercentage | ProgressiveRate | TieredRate
                )
            ]
            benefit = Multiplier(bases[0], 3, 2) if bases else FixedBonus(7)
            rule = replace(rule, benefit=benefit)
        fixed.append(rule)
    return fixed


@st.composite
def rule_sets(draw) -> list[Rule]:
    count = draw(st.integers(0, 12))
    return with_multiplier_bases([draw(RULES[number]) for number in range(count)])


RULES = [a_rule(number) for number in range(12)]


@st.composite
def a_line(draw, index: int) -> LineFacts:
    product = draw(st.none() | st.sampled_from(PRODUCTS))
    quantity = draw(st.integers(1, 4))
    unit_price = draw(st.integers(0, 20_000))
    amount = draw(st.integers(0, unit_price * quantity))
    return LineFacts(
        index=index,
        sku=product or "open",
        product_id=product,
        category_ids=CATEGORIES_OF[product] if product else frozenset(),
        quantity=quantity,
        unit_price_minor=unit_price,
        amount_minor=amount,
        members_only=product is not None and draw(SOMETIMES),
        paid_with_loyalty_minor=draw(st.integers(0, amount)) if draw(st.booleans()) else 0,
    )


LINES = [a_line(index) for index in range(7)]


@st.composite
def checks(draw) -> CheckFacts:
    count = draw(st.integers(0, 6))
    return CheckFacts(
        lines=tuple(draw(LINES[index]) for index in range(count)),
        store_id=draw(st.sampled_from(STORES)),
        terminal_id=None,
        channel=draw(st.sampled_from(list(Channel))),
        currency=CZK,
        moment=draw(moments),
        time_zone=draw(st.sampled_from(TIME_ZONES)),
    )


RULE_IDS = st.sampled_from([f"r{n}" for n in range(12)])
TIER_STANDINGS = st.dictionaries(
    st.sampled_from(["pA", "pB", "pK"]),
    st.builds(TierStanding, st.sampled_from(["t1", "t2", "t9"]), st.integers(0, 200_000)),
)
RULE_USAGES = st.dictionaries(
    RULE_IDS, st.builds(RuleUsage, *[st.integers(0, 70) for _ in range(4)])
)
GOODS_USAGES = st.dictionaries(
    st.tuples(RULE_IDS, st.sampled_from(PRODUCTS)),
    st.builds(GoodsUsage, st.integers(0, 8), st.integers(0, 12)),
)
STAMPS_ON_CARDS = st.dictionaries(st.just("pS"), st.integers(0, 9))


@st.composite
def customers(draw) -> CustomerFacts:
    is_member = not draw(RARELY)
    return CustomerFacts(
        member=is_member,
        segment_ids=draw(SEGMENT_SETS),
        profile_complete=draw(st.booleans()),
        birth_date=draw(st.none() | st.dates(date(1950, 1, 1), date(2010, 12, 31))),
        first_purchase=draw(st.booleans()),
        visit_number=draw(st.integers(1, 12)),
        enrolled_this_check=is_member and draw(st.booleans()),
        tiers=draw(TIER_STANDINGS),
        rule_usage=draw(RULE_USAGES),
        goods_usage=draw(GOODS_USAGES),
        stamps_on_card=draw(STAMPS_ON_CARDS),
    )


RULE_SETS, CHECKS, CUSTOMERS = rule_sets(), checks(), customers()


@PROPERTY_SETTINGS
@given(RULE_SETS, CHECKS, CUSTOMERS)
def test_awards_are_positive_and_lie_on_lines_of_the_check(rules, check, customer):
    evaluation = evaluate(compile_rules(rules), check, customer)
    line_indexes = {line.index for line in check.lines}
    for award in evaluation.awards:
        assert award.amount > 0
        assert all(share.amount > 0 for share in award.shares)
        assert set(award.line_indexes) <= line_indexes
        assert len(set(award.line_indexes)) == len(award.shares)
        if award.shares:
            assert sum(share.amount for share in award.shares) == award.amount
    for total in evaluation.totals:
        assert total.amount == sum(
            award.amount for award in evaluation.awards if award.program_id == total.program_id
        )
    if not customer.member:
        assert evaluation.awards == ()


@PROPERTY_SETTINGS
@given(RULE_SETS, CHECKS, CUSTOMERS)
def test_caps_and_limits_on_goods_are_never_exceeded(rules, check, customer):
    evaluation = evaluate(compile_rules(rules), check, customer)
    by_id = {rule.id: rule for rule in rules}
    for award in evaluation.awards:
        rule_caps = by_id[award.rule_id].caps
        usage = customer.rule_usage.get(award.rule_id, RuleUsage())
        if rule_caps.per_check_amount_max is not None:
            assert award.amount <= rule_caps.per_check_amount_max
        if rule_caps.per_day_amount_max is not None:
            assert usage.day_amount + award.amount <= max(
                rule_caps.per_day_amount_max, usage.day_amount
            )
        if rule_caps.per_month_amount_max is not None:
            assert usage.month_amount + award.amount <= max(
                rule_caps.per_month_amount_max, usage.month_amount
            )
        if rule_caps.per_day_times_max is not None:
            assert usage.day_times < rule_caps.per_day_times_max
        if rule_caps.per_month_times_max is not None:
            assert usage.month_times < rule_caps.per_month_times_max
    for earned in evaluation.goods_earned:
        limit = by_id[earned.rule_id].goods_limit
        used = customer.goods_usage.get((earned.rule_id, earned.product_id), GoodsUsage())
        if limit.per_day_quantity_max is not None:
            assert used.day_quantity + earned.quantity <= max(
                limit.per_day_quantity_max, used.day_quantity
            )
        if limit.per_month_quantity_max is not None:
            assert used.month_quantity + earned.quantity <= max(
                limit.per_month_quantity_max, used.month_quantity
            )


@PROPERTY_SETTINGS
@given(RULE_SETS, CHECKS, CUSTOMERS, st.data())
def test_adding_a_line_never_lowers_a_fixed_rate_award(rules, check, customer, data):
    # Without exclusive rules: a new line may otherwise make a higher exclusive rule apply.
    rules = [replace(rule, exclusive=False) for rule in rules]
    index = compile_rules(rules)
    added = data.draw(LINES[len(check.lines)])
    longer = replace(check, lines=(*check.lines, added))
    before, after = evaluate(index, check, customer), evaluate(index, longer, customer)
    for rule in rules:
        if isinstance(rule.benefit, FixedRate):
            had = before.award(rule.id)
            has = after.award(rule.id)
            assert (has.amount if has else 0) >= (had.amount if had else 0)


@PROPERTY_SETTINGS
@given(RULE_SETS, CHECKS, CUSTOMERS, st.randoms(use_true_random=False))
def test_evaluation_is_deterministic_whatever_the_order_of_the_rules(
    rules, check, customer, shuffler: random.Random
):
    first = evaluate(compile_rules(rules), check, customer)
    assert evaluate(compile_rules(rules), check, customer) == first
    shuffled = list(rules)
    shuffler.shuffle(shuffled)
    assert evaluate(compile_rules(shuffled), check, customer) == first


@PROPERTY_SETTINGS
@given(RULE_SETS, CHECKS, CUSTOMERS)
def test_the_index_finds_exactly_what_a_scan_of_every_rule_finds(rules, check, customer):
    index = compile_rules(rules)
    scanned = [
        (rule.id, found)
        for rule in index.rules
        if (found := targets(rule, check, customer)) is not None
    ]
    assert [(c.rule.id, c.line_indexes) for c in index.candidates(check, customer)] == scanned
