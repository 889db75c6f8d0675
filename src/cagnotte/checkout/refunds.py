"""Refunding a check, whole or some of its lines: each effect reversed in proportion (pure part).

What falls on a refunded line is its share of each effect, in proportion to
the quantity given back. Totals are kept cumulatively (what all refunds of the
check so far should have reversed, less what they did), so that several
partial refunds add up exactly to a whole one:
- points, kitty and stamps earned are taken back rounded **up** (a customer
  never keeps a unit earned on what was refunded);
- points and kitty spent, and what a wallet paid, are given back rounded
  **down** (nothing is given back that was not paid);
- an effect not tied to lines (a stamp for the visit) is taken back when the
  whole check is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import ceil, floor

from cagnotte import errors


@dataclass(frozen=True, slots=True)
class LineState:
    """A recorded line: its quantity and how much of it was given back already."""

    index: int
    quantity: int
    refunded_quantity: int
    net_minor: int
    loyalty_paid_minor: int


@dataclass(frozen=True, slots=True)
class EffectState:
    """A recorded effect: what it moved, and on which lines."""

    ordinal: int
    kind: str
    units: int
    lines: tuple[tuple[int, int], ...]


def refunded_quantities(
    lines: Sequence[LineState], requested: Mapping[int, int] | None
) -> dict[int, int]:
    """The quantity of each line refunded after this refund (cumulative); checks the request."""
    by_index = {line.index: line for line in lines}
    if requested is None:
        requested = {line.index: line.quantity - line.refunded_quantity for line in lines}
        if not any(requested.values()):
            raise errors.RefundExceedsCheck("The check has been refunded in full already.")
    after = {line.index: line.refunded_quantity for line in lines}
    for index, quantity in requested.items():
        line = by_index.get(index)
        if line is None:
            raise errors.InvalidInput(f"The check has no line {index}.")
        if quantity < 0 or line.refunded_quantity + quantity > line.quantity:
            raise errors.RefundExceedsCheck(
                f"Line {index}: at most {line.quantity - line.refunded_quantity} left to refund."
            )
        after[index] += quantity
    if after == {line.index: line.refunded_quantity for line in lines}:
        raise errors.InvalidInput("A refund gives back at least one item.")
    return after


def _fraction(lines: Sequence[LineState], refunded: Mapping[int, int]) -> dict[int, Fraction]:
    return {line.index: Fraction(refunded[line.index], line.quantity) for line in lines}


def money_back(lines: Sequence[LineState], refunded: Mapping[int, int]) -> int:
    """What the refunded items cost, less what points and kitty paid of them (rounded down)."""
    share = _fraction(lines, refunded)
    return floor(
        sum((line.net_minor - line.loyalty_paid_minor) * share[line.index] for line in lines)
    )


def reversed_units(
    effect: EffectState, lines: Sequence[LineState], refunded: Mapping[int, int]
) -> int:
    """How much of an effect all refunds up to `refunded` reverse (cumulative)."""
    share = _fraction(lines, refunded)
    whole = all(share[line.index] == 1 for line in lines)
    if effect.kind == "payment":
        paid = sum(line.net_minor - line.loyalty_paid_minor for line in lines)
        return floor(effect.units * Fraction(money_back(lines, refunded), paid)) if paid else 0
    if not effect.lines:
        return effect.units if whole else 0
    exact = sum(amount * share[index] for index, amount in effect.lines)
    taken_back = effect.kind in ("earn", "stamps")
    return min(effect.units, ceil(exact) if taken_back else floor(exact))
