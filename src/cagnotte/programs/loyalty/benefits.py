"""How much a benefit gives on the lines that earn, before caps, and the words for it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

from cagnotte.money import Asset, Rounding, divide
from cagnotte.programs.loyalty import wording
from cagnotte.programs.loyalty.facts import CustomerFacts
from cagnotte.programs.loyalty.rules import (
    FixedBonus,
    FixedRate,
    KittyPercentage,
    Multiplier,
    ProgramKind,
    ProgressiveRate,
    Rate,
    Rule,
    StampsPerItem,
    StampsPerVisit,
    TieredRate,
)


class EarningLine(NamedTuple):
    """A line as a rule earns on it: its position in the check, amount and units that earn.

    A named tuple rather than a frozen dataclass: one is made per line per rule,
    and a frozen dataclass's __init__ took a fifth of an evaluation (bench/rules_engine.py).
    """

    position: int
    amount_minor: int
    units: int


@dataclass(frozen=True, slots=True)
class Earned:
    """A benefit's outcome before caps: the amount, how it spreads over lines, and why.

    `weights` are (position, weight) for spreading the amount over lines; when
    `exact`, they are the lines' shares themselves (a per-line rounding, stamps
    per item). No weights: a check-wide award.
    """

    amount: int
    weights: tuple[tuple[int, int], ...]
    exact: bool
    reason: str


NOTHING = Earned(0, (), False, "")


def base_rate(rule: Rule, lines: Sequence[EarningLine], customer: CustomerFacts) -> Rate | None:
    """The rate a rate rule gives this customer on these lines (what a multiplier multiplies)."""
    benefit = rule.benefit
    if isinstance(benefit, FixedRate | KittyPercentage):
        return benefit.rate
    if isinstance(benefit, TieredRate):
        standing = customer.tiers.get(rule.program_id)
        tier = None if standing is None else benefit.tier(standing.tier_id)
        return None if tier is None else tier.rate
    assert isinstance(benefit, ProgressiveRate), benefit
    return benefit.bracket_for(sum(line.amount_minor for line in lines)).rate


def earn(
    rule: Rule,
    lines: Sequence[EarningLine],
    customer: CustomerFacts,
    currency: Asset,
    base: tuple[Rule, Rate, Mapping[int, int]] | None = None,
) -> Earned:
    """What the rule's benefit gives on its earning lines; `base` only for a multiplier.

    `base` is the base rule, its rate for this customer and its earning amount by position.
    """
    benefit = rule.benefit
    label = rule.condition.scope.label
    if isinstance(benefit, FixedRate | KittyPercentage):
        return _by_rate(rule, benefit.rate, benefit.rounding, benefit.per_line, lines, currency)
    if isinstance(benefit, TieredRate):
        return _tiered(rule, benefit, lines, customer, currency)
    if isinstance(benefit, ProgressiveRate):
        return _progressive(rule, benefit, lines, currency)
    if isinstance(benefit, Multiplier):
        return _multiplied(rule, benefit, lines, base, currency) if base else NOTHING
    if isinstance(benefit, StampsPerItem):
        weights = tuple(
            (line.position, line.units * benefit.stamps_per_item) for line in lines if line.units
        )
        count = sum(line.units for line in lines)
        reason = f"{wording.plural(benefit.stamps_per_item, 'stamp')} per item on " + (
            wording.items(count, label)
        )
        return Earned(count * benefit.stamps_per_item, weights, True, reason)
    if isinstance(benefit, StampsPerVisit):
        reason = f"{wording.plural(benefit.stamps, 'stamp')} per visit"
        return Earned(benefit.stamps, _spread(rule, lines), False, reason)
    assert isinstance(benefit, FixedBonus), benefit
    reason = f"bonus of {wording.units(benefit.units, rule.kind, currency)}"
    return Earned(benefit.units, _spread(rule, lines), False, reason)


def _spread(rule: Rule, lines: Sequence[EarningLine]) -> tuple[tuple[int, int], ...]:
    """A once-per-check award of a scoped rule spreads over its lines (by amount, else units)."""
    if rule.condition.scope.whole_catalogue:
        return ()
    weights = tuple((line.position, line.amount_minor) for line in lines if line.amount_minor)
    return weights or tuple((line.position, line.units) for line in lines if line.units)


def _by_rate(
    rule: Rule,
    rate: Rate,
    rounding: Rounding,
    per_line: bool,
    lines: Sequence[EarningLine],
    currency: Asset,
) -> Earned:
    earning = [line for line in lines if line.amount_minor > 0]
    if not earning:
        return NOTHING
    total_minor = sum(line.amount_minor for line in earning)
    label = rule.condition.scope.label
    words = f"{wording.rate(rate, rule.kind, currency)} on {wording.lines(len(earning), label)}"
    if per_line:
        weights = tuple(
            (line.position, divide(line.amount_minor * rate.numerator, rate.denominator, rounding))
            for line in earning
        )
        return Earned(sum(weight for _, weight in weights), weights, True, words + ", per line")
    amount = divide(total_minor * rate.numerator, rate.denominator, rounding)
    weights = tuple((line.position, line.amount_minor) for line in earning)
    if rule.kind is ProgramKind.KITTY:
        words = (
            f"{wording.percent(rate)} of {wording.money(total_minor, currency)} into the kitty"
            f" on {wording.lines(len(earning), label)}"
        )
    return Earned(amount, weights, False, words)


def _tiered(
    rule: Rule,
    benefit: TieredRate,
    lines: Sequence[EarningLine],
    customer: CustomerFacts,
    currency: Asset,
) -> Earned:
    rate = base_rate(rule, lines, customer)
    if rate is None:
        return NOTHING
    earned = _by_rate(rule, rate, benefit.rounding, benefit.per_line, lines, currency)
    tier_id = customer.tiers[rule.program_id].tier_id
    return Earned(earned.amount, earned.weights, earned.exact, f"{earned.reason}, tier {tier_id}")


def _progressive(
    rule: Rule,
    benefit: ProgressiveRate,
    lines: Sequence[EarningLine],
    currency: Asset,
) -> Earned:
    earning = [line for line in lines if line.amount_minor > 0]
    if not earning:
        return NOTHING
    total_minor = sum(line.amount_minor for line in earning)
    weights = tuple((line.position, line.amount_minor) for line in earning)
    label = rule.condition.scope.label
    on_lines = f"on {wording.lines(len(earning), label)}"
    if not benefit.marginal:
        bracket = benefit.bracket_for(total_minor)
        rate = bracket.rate
        amount = divide(total_minor * rate.numerator, rate.denominator, benefit.rounding)
        words = (
            f"{wording.rate(rate, rule.kind, currency)} for a check from "
            f"{wording.money(bracket.from_minor, currency)} {on_lines}"
        )
        return Earned(amount, weights, False, words)
    exact = Fraction(0)
    for bracket, upper in zip(
        benefit.brackets, [b.from_minor for b in benefit.brackets[1:]] + [None], strict=True
    ):
        top = total_minor if upper is None else min(total_minor, upper)
        if top > bracket.from_minor:
            exact += Fraction(
                (top - bracket.from_minor) * bracket.rate.numerator, bracket.rate.denominator
            )
    amount = divide(exact.numerator, exact.denominator, benefit.rounding)
    return Earned(amount, weights, False, f"progressive rate by bracket {on_lines}")


def _multiplied(
    rule: Rule,
    benefit: Multiplier,
    lines: Sequence[EarningLine],
    base: tuple[Rule, Rate, Mapping[int, int]],
    currency: Asset,
) -> Earned:
    base_rule, rate, base_amounts = base
    weights = tuple(
        (line.position, min(line.amount_minor, base_amounts[line.position]))
        for line in lines
        if line.position in base_amounts and min(line.amount_minor, base_amounts[line.position])
    )
    if not weights:
        return NOTHING
    total_minor = sum(weight for _, weight in weights)
    extra = benefit.factor_numerator - benefit.factor_denominator
    amount = divide(
        total_minor * rate.numerator * extra,
        rate.denominator * benefit.factor_denominator,
        benefit.rounding,
    )
    extra_rate = Rate(rate.numerator * extra, rate.denominator * benefit.factor_denominator)
    words = (
        f"{wording.rate(extra_rate, base_rule.kind, currency)} extra "
        f"({wording.factor(benefit.factor_numerator, benefit.factor_denominator)}) on "
        f"{wording.lines(len(weights), rule.condition.scope.label)}"
    )
    return Earned(amount, weights, False, words)
