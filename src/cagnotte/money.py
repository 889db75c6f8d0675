"""Amounts are integers of minor units with an asset; Decimal only to parse and display."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

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
