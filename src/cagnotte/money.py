"""Amounts are integers of minor units with an asset; Decimal only to parse and display."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from fractions import Fraction

# The largest value a balance counter (a signed 64-bit integer) can hold.
AMOUNT_MINOR_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Asset:
    """What is counted: a currency (scale 2 for CZK, EUR …) or a merchant's unit (scale 0)."""

    code: str
    scale: int

    def format(self, amount_minor: int) -> str:
        """Render an amount for people, e.g. 12345 CZK → '123.45 CZK'."""
        sign = "-" if amount_minor < 0 else ""
        units, minor = divmod(abs(amount_minor), 10**self.scale)
        if self.scale == 0:
            return f"{sign}{units} {self.code}"
        return f"{sign}{units}.{minor:0{self.scale}d} {self.code}"

    def parse(self, text: str) -> int:
        """Parse '123.45' into minor units; more decimals than the scale is an error."""
        try:
            value = Decimal(text.strip())
        except InvalidOperation as error:
            raise ValueError(f"not an amount: {text!r}") from error
        minor = value.scaleb(self.scale)
        if minor != minor.to_integral_value(rounding=ROUND_HALF_EVEN):
            raise ValueError(f"{text!r} has more than {self.scale} decimals")
        return int(minor)


class Rounding(enum.Enum):
    """How a division that does not come out even is rounded to a whole minor unit.

    The names and meanings are those of decimal.ROUND_* and Java's RoundingMode,
    which is what a payments engineer reads them as: UP and DOWN are measured from
    zero, CEILING and FLOOR along the number line.
    """

    # Toward zero (truncation): 2.7 → 2, -2.7 → -2. Points earned, interest paid.
    DOWN = "down"
    # Away from zero: 2.1 → 3, -2.1 → -3. A fee that must never be undercharged.
    UP = "up"
    # Toward negative infinity: 2.7 → 2, -2.1 → -3.
    FLOOR = "floor"
    # Toward positive infinity: 2.1 → 3, -2.7 → -2.
    CEILING = "ceiling"
    # To the nearest; a half away from zero: 2.5 → 3, -2.5 → -3. Commercial rounding.
    HALF_UP = "half_up"
    # To the nearest; a half toward zero: 2.5 → 2, -2.5 → -2.
    HALF_DOWN = "half_down"
    # To the nearest; a half to the even neighbour: 2.5 → 2, 3.5 → 4. Banker's
    # rounding: over many roundings the halves cancel out instead of drifting up.
    HALF_EVEN = "half_even"


def divide(numerator: int, denominator: int, rounding: Rounding) -> int:
    """numerator / denominator rounded to an integer by `rounding`; exact for any ints."""
    _check_integer(numerator)
    _check_integer(denominator)
    assert denominator != 0, "division by zero"
    assert isinstance(rounding, Rounding), rounding
    # Python's divmod floors: numerator / denominator = quotient + remainder / denominator
    # with 0 <= remainder / denominator < 1, whatever the signs.
    quotient, remainder = divmod(numerator, denominator)
    if remainder == 0:
        return quotient
    negative = (numerator < 0) != (denominator < 0)
    if rounding is Rounding.FLOOR:
        return quotient
    if rounding is Rounding.CEILING:
        return quotient + 1
    if rounding is Rounding.DOWN:
        return quotient + 1 if negative else quotient
    if rounding is Rounding.UP:
        return quotient if negative else quotient + 1
    # The fraction above the quotient, compared with a half.
    twice_fraction, whole = 2 * abs(remainder), abs(denominator)
    if twice_fraction < whole:
        return quotient
    if twice_fraction > whole:
        return quotient + 1
    if rounding is Rounding.HALF_UP:
        return quotient if negative else quotient + 1
    if rounding is Rounding.HALF_DOWN:
        return quotient + 1 if negative else quotient
    return quotient if quotient % 2 == 0 else quotient + 1


BASIS_POINTS_PER_WHOLE = 10_000


def percentage(amount: int, basis_points: int, rounding: Rounding) -> int:
    """`basis_points` hundredths of a percent of `amount` (1 % = 100, 100 % = 10 000).

    Rates are basis points, integers, because that is how programs store them
    (2.5 % cashback = 250). A rate basis points cannot write, such as a third, is
    a Fraction: scale(amount, rate.numerator, rate.denominator, rounding).
    Negative amounts and rates are allowed and exact; the result is not checked
    against AMOUNT_MINOR_MAX (the ledger refuses what does not fit a counter).
    """
    _check_integer(basis_points)
    return scale(amount, basis_points, BASIS_POINTS_PER_WHOLE, rounding)


def scale(amount: int, numerator: int, denominator: int, rounding: Rounding) -> int:
    """amount × numerator / denominator, rounded once, at the end, by `rounding`.

    For conversions between assets, each counted in its own minor units: the
    result is worth `numerator` of its units for every `denominator` units of
    `amount`. "1 point per 10 CZK" (10 CZK = 1000 haléřů) is
    scale(haléřů, 1, 1000, Rounding.DOWN); "100 points = 1 CZK" is
    scale(points, 100, 100, rounding) in haléřů.
    """
    _check_integer(amount)
    _check_integer(numerator)
    return divide(amount * numerator, denominator, rounding)


def allocate(total: int, weights: Sequence[int], *, caps: Sequence[int] | None = None) -> list[int]:
    """Split `total` in proportion to `weights`; the parts add up to `total` exactly.

    Each line first gets the whole part of its exact share; the units left over
    go one each to the lines with the largest remainders, the lower index first
    on a tie (the largest remainder method). So every part is its exact share
    rounded down or up, and a line of weight 0 gets 0. Weights are non-negative
    with a positive sum (asserted: a programmer error otherwise).

    With `caps`, no part exceeds its line's cap (e.g. a discount spread over the
    lines of a check, none of which may go below zero): a line whose share would
    pass its cap gets the cap, and the rest is shared over the other lines by
    their weights, again until no share passes a cap. When the caps of the lines
    with a positive weight add up to less than the total, there is no such split
    and ValueError is raised: it depends on the data, not on the code (a coupon
    worth more than the check), so the caller decides whether to lower the total
    or refuse. It is not an assert, so that it holds under `python -O` too.

    A negative total (a refund spread as the charge was) is split as its size
    and every part negated; caps then bound the size of each part.
    """
    _check_integer(total)
    for weight in weights:
        _check_integer(weight)
        assert weight >= 0, f"a negative weight: {weight}"
    assert sum(weights) > 0, "the weights add up to zero"
    if total < 0:
        return [-part for part in allocate(-total, weights, caps=caps)]
    if caps is None:
        return _largest_remainder(total, weights, range(len(weights)))
    assert len(caps) == len(weights), "one cap per weight"
    for cap in caps:
        _check_integer(cap)
        assert cap >= 0, f"a negative cap: {cap}"
    return _allocate_capped(total, weights, caps)


def _allocate_capped(total: int, weights: Sequence[int], caps: Sequence[int]) -> list[int]:
    lines = [index for index, weight in enumerate(weights) if weight > 0]
    room = sum(caps[index] for index in lines)
    if room < total:
        raise ValueError(f"cannot allocate {total}: the caps of the lines add up to {room}")
    parts = [0] * len(weights)
    # Water-filling: lines in the order of cap per unit of weight. A line whose
    # share of what is left would pass its cap takes the cap; each such line had
    # less than its share, so the share per unit of weight of the others only
    # grows, and once one line fits, every later one fits too.
    lines.sort(key=lambda index: Fraction(caps[index], weights[index]))
    left, weight_left = total, sum(weights)
    uncapped: list[int] = []
    for position, index in enumerate(lines):
        if left * weights[index] <= caps[index] * weight_left:
            uncapped = sorted(lines[position:])
            break
        parts[index] = caps[index]
        left -= caps[index]
        weight_left -= weights[index]
    # A share at most its cap rounds up to at most the cap, as the cap is whole.
    for index, part in zip(uncapped, _largest_remainder(left, weights, uncapped), strict=True):
        parts[index] = part
    return parts


def _largest_remainder(total: int, weights: Sequence[int], lines: Sequence[int]) -> list[int]:
    """`total` over the given lines (by index, in order) by weight; parts in that order."""
    if not lines:
        assert total == 0
        return []
    weight_sum = sum(weights[index] for index in lines)
    shares = [divmod(total * weights[index], weight_sum) for index in lines]
    parts = [whole for whole, _ in shares]
    left_over = total - sum(parts)
    # Fewer units are left over than there are lines with a remainder, so a line
    # of weight 0 (remainder 0) never gets one.
    by_remainder = sorted(range(len(lines)), key=lambda position: -shares[position][1])
    for position in by_remainder[:left_over]:
        parts[position] += 1
    return parts


def _check_integer(value: int) -> None:
    # bool is an int to Python, and a float would lose precision silently.
    assert isinstance(value, int) and not isinstance(value, bool), f"not an int: {value!r}"
