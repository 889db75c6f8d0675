"""The words of reasons and near misses: "1 point per 10 CZK on 3 coffee lines".

English for now, built from the rule's values; a translation would replace
this module, never the engine's numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import time

from cagnotte.money import Asset
from cagnotte.programs.loyalty.rules import (
    BASIS_POINTS_PER_WHOLE,
    Birthday,
    EnrolledThisCheck,
    FirstPurchase,
    MinimumBasket,
    NthVisit,
    ProfileComplete,
    ProgramKind,
    Rate,
    Requirement,
    TimeWindow,
)

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def money(amount_minor: int, currency: Asset) -> str:
    """12345 → '123.45 CZK'; whole amounts without decimals: 1000 → '10 CZK'."""
    units, minor = divmod(amount_minor, 10**currency.scale)
    if minor == 0 or currency.scale == 0:
        return f"{units} {currency.code}"
    return f"{units}.{minor:0{currency.scale}d} {currency.code}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def units(amount: int, kind: ProgramKind, currency: Asset) -> str:
    """An amount of the program's unit: '12 points', '1 stamp', '4.50 CZK'."""
    if kind is ProgramKind.POINTS:
        return plural(amount, "point")
    if kind is ProgramKind.STAMPS:
        return plural(amount, "stamp")
    return money(amount, currency)


def percent(rate: Rate) -> str:
    """Rate(250, 10 000) → '2.5 %'; a rate that is no whole number of basis points as n/d."""
    basis_points, remainder = divmod(rate.numerator * BASIS_POINTS_PER_WHOLE, rate.denominator)
    if remainder:
        return f"{rate.numerator}/{rate.denominator}"
    whole, hundredths = divmod(basis_points, 100)
    if hundredths == 0:
        return f"{whole} %"
    return f"{whole}.{hundredths:02d}".rstrip("0") + " %"


def rate(value: Rate, kind: ProgramKind, currency: Asset) -> str:
    """'1 point per 10 CZK', or for a kitty '2.5 %'."""
    if kind is ProgramKind.KITTY:
        return percent(value)
    return f"{units(value.numerator, kind, currency)} per {money(value.denominator, currency)}"


def factor(numerator: int, denominator: int) -> str:
    """2/1 → '×2', 3/2 → '×1.5', 4/3 → '×4/3'."""
    if numerator % denominator == 0:
        return f"×{numerator // denominator}"
    if (numerator * 10) % denominator == 0:
        return f"×{numerator // denominator}.{(numerator * 10 // denominator) % 10}"
    return f"×{numerator}/{denominator}"


def lines(count: int, label: str) -> str:
    """'3 coffee lines', '1 line'."""
    noun = f"{label} line" if label else "line"
    return plural(count, noun)


def items(count: int, label: str) -> str:
    noun = f"{label} item" if label else "item"
    return plural(count, noun)


def requirement(value: Requirement, currency: Asset) -> str:
    if isinstance(value, ProfileComplete):
        return "for a completed profile"
    if isinstance(value, Birthday):
        if value.days_around:
            return f"within {plural(value.days_around, 'day')} of the birthday"
        return "on the birthday"
    if isinstance(value, FirstPurchase):
        return "for the first purchase"
    if isinstance(value, NthVisit):
        return (
            f"on every {ordinal(value.n)} visit"
            if value.every
            else (f"on the {ordinal(value.n)} visit")
        )
    if isinstance(value, MinimumBasket):
        return f"for a check of at least {money(value.amount_minor, currency)}"
    assert isinstance(value, EnrolledThisCheck), value
    return "for joining"


def ordinal(number: int) -> str:
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def count_words(count: int) -> str:
    return NUMBER_WORDS[count] if 0 <= count < len(NUMBER_WORDS) else str(count)


def either(words: Iterable[str]) -> str:
    """'a', 'a or b', 'a, b or c'."""
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def clock(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def window(value: TimeWindow) -> str:
    """'on Saturday or Sunday', 'between 14:00 and 16:00', or both."""
    parts = []
    if value.days_of_week:
        parts.append("on " + either(DAY_NAMES[day - 1] for day in sorted(value.days_of_week)))
    if value.start is not None:
        parts.append(f"between {clock(value.start)} and {clock(value.end)}")
    return " ".join(parts)


def stamps_to_go(missing: int, reward: str) -> str:
    """'one more stamp to a free coffee'."""
    noun = "stamp" if missing == 1 else "stamps"
    return f"{count_words(missing)} more {noun} to {reward}"
