"""Integer rounding and splitting for the earning engine.

These move to `cagnotte.money` when its `Rounding`, `divide` and `allocate`
land (written in parallel): the names, the enum values and the meanings here
are that module's, so the move is a change of import and nothing else. Until
then the engine must not depend on a module that is still being written.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence


class Rounding(enum.Enum):
    """How a division that does not come out even becomes a whole unit.

    UP and DOWN are measured from zero, CEILING and FLOOR along the number line,
    as decimal.ROUND_* and Java's RoundingMode name them.
    """

    DOWN = "down"
    UP = "up"
    FLOOR = "floor"
    CEILING = "ceiling"
    HALF_UP = "half_up"
    HALF_DOWN = "half_down"
    HALF_EVEN = "half_even"


def divide(numerator: int, denominator: int, rounding: Rounding) -> int:
    """numerator / denominator rounded to an integer by `rounding`; exact for any ints."""
    assert denominator != 0, "division by zero"
    # divmod floors: numerator / denominator = quotient + remainder / denominator,
    # the fraction remainder / denominator in [0, 1) whatever the signs.
    quotient, remainder = divmod(numerator, denominator)
    if remainder == 0 or rounding is Rounding.FLOOR:
        return quotient
    if rounding is Rounding.CEILING:
        return quotient + 1
    negative = (numerator < 0) != (denominator < 0)
    if rounding is Rounding.DOWN:
        return quotient + 1 if negative else quotient
    if rounding is Rounding.UP:
        return quotient if negative else quotient + 1
    twice_fraction, whole = 2 * abs(remainder), abs(denominator)
    if twice_fraction < whole:
        return quotient
    if twice_fraction > whole:
        return quotient + 1
    if rounding is Rounding.HALF_UP:
        return quotient if negative else quotient + 1
    if rounding is Rounding.HALF_DOWN:
        return quotient + 1 if negative else quotient
    assert rounding is Rounding.HALF_EVEN, rounding
    return quotient if quotient % 2 == 0 else quotient + 1


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split a non-negative `total` by `weights`; the parts add up to `total` exactly.

    The largest remainder method: each part is its exact share rounded down,
    and the units left over go one each to the largest remainders, the lower
    index first on a tie. A weight of 0 gets 0.
    """
    assert total >= 0, total
    weight_sum = sum(weights)
    assert weight_sum > 0 and all(weight >= 0 for weight in weights), weights
    parts = []
    remainders = []
    for position, weight in enumerate(weights):
        part, remainder = divmod(total * weight, weight_sum)
        parts.append(part)
        remainders.append((-remainder, position))
    left = total - sum(parts)
    for _, position in sorted(remainders)[:left]:
        parts[position] += 1
    return parts
