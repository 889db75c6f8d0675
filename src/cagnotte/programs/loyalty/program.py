"""A loyalty program and how its balance pays for a check: pure values and rules.

Three pre-set types (Up2pay): **points** earned per amount spent and spent as
money off at a conversion rate; **stamps** (N eligible items bought or N visits
give a reward); a **kitty** (*cagnotte*: a percentage of each purchase kept in
the currency, spent later as money off). Each program has its own ledger asset
(points and stamps scale 0; the kitty's is the currency), so its balances,
liability and breakage come from the ledger.

Nothing here reads the database or the clock.

Documented defaults (the merchant may change each):
- points are earned on what the customer pays after discounts, and not on what
  is paid with points or the kitty (`earn_on_loyalty_payment` False);
- points earned in a check cannot pay for that same check
  (`spend_earned_in_same_check` False);
- points are spendable at once (`pending_days` 0; N > 0 keeps them pending for
  a return window of N days);
- the whole of a check's eligible amount may be paid with points
  (`share_max_basis_points` 10 000), from 1 point up, in blocks of 1; the value
  of points is rounded down to the minor unit (a customer is never paid a
  fraction the merchant did not give).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from cagnotte import errors

BASIS_POINTS_WHOLE = 10_000
STAMP_CARD_SIZE_MAX = 100


class ProgramKind(StrEnum):
    POINTS = "points"
    STAMPS = "stamps"
    KITTY = "kitty"


class ProgramStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


class SpendScope(StrEnum):
    """Which products may be paid with a program's balance."""

    PUBLIC = "public"  # every product not reserved to members (and uncatalogued lines)
    ALL = "all"  # every line, members-only products included
    CHOSEN = "chosen"  # the chosen products and categories only
    MEMBERS_ONLY = "members_only"  # only the products reserved to members


class StampReward(StrEnum):
    FREE_ITEM = "free_item"  # the cheapest eligible line's unit, free
    FIXED_DISCOUNT = "fixed_discount"  # reward_value minor units off the check
    PERCENT_DISCOUNT = "percent_discount"  # reward_value basis points off the eligible lines


@dataclass(frozen=True, slots=True)
class Scope:
    """Products and categories a rule or program covers; empty means the whole catalogue."""

    product_ids: frozenset[uuid.UUID] = frozenset()
    category_ids: frozenset[uuid.UUID] = frozenset()

    @property
    def whole_catalogue(self) -> bool:
        return not self.product_ids and not self.category_ids

    def covers(self, product_id: uuid.UUID | None, category_ids: frozenset[uuid.UUID]) -> bool:
        """Whether a line of this product (in these categories and their ancestors) is in."""
        if self.whole_catalogue:
            return True
        if product_id is not None and product_id in self.product_ids:
            return True
        return bool(self.category_ids & category_ids)


@dataclass(frozen=True, slots=True)
class SpendingRules:
    """How a points or kitty balance pays for a check."""

    # The value of one unit of the program's asset in minor units of the currency,
    # as a fraction: 100 points = 1.00 CZK is 100 minor per 100 points (1/1).
    value_numerator: int = 1
    value_denominator: int = 1
    share_max_basis_points: int = BASIS_POINTS_WHOLE
    spend_min_units: int = 1
    spend_block_units: int = 1
    scope: SpendScope = SpendScope.PUBLIC
    chosen: Scope = field(default_factory=Scope)

    def __post_init__(self) -> None:
        if self.value_numerator <= 0 or self.value_denominator <= 0:
            raise errors.InvalidInput("A point's value is a positive fraction.")
        if not 0 < self.share_max_basis_points <= BASIS_POINTS_WHOLE:
            raise errors.InvalidInput("The share payable with points is 0.01 % to 100 %.")
        if self.spend_min_units < 1 or self.spend_block_units < 1:
            raise errors.InvalidInput("The minimum and the block of a spend are at least 1.")

    def value_of(self, units: int) -> int:
        """What `units` pay, in minor units of the currency, rounded down."""
        return units * self.value_numerator // self.value_denominator

    def units_for(self, amount_minor: int) -> int:
        """The most units whose value is at most `amount_minor`."""
        return amount_minor * self.value_denominator // self.value_numerator


@dataclass(frozen=True, slots=True)
class StampCard:
    """A stamp card: `size` stamps give one reward."""

    size: int
    counts_visits: bool = False  # a stamp per visit instead of one per eligible item
    reward: StampReward = StampReward.FREE_ITEM
    reward_value: int = 0

    def __post_init__(self) -> None:
        if not 1 < self.size <= STAMP_CARD_SIZE_MAX:
            raise errors.InvalidInput(f"A stamp card has 2 to {STAMP_CARD_SIZE_MAX} stamps.")
        if self.reward == StampReward.FIXED_DISCOUNT and self.reward_value <= 0:
            raise errors.InvalidInput("A fixed discount needs an amount.")
        if self.reward == StampReward.PERCENT_DISCOUNT and not (
            0 < self.reward_value <= BASIS_POINTS_WHOLE
        ):
            raise errors.InvalidInput("A percentage discount is 0.01 % to 100 %.")


@dataclass(frozen=True, slots=True)
class LoyaltyProgram:
    """A merchant's loyalty program, its options and its ledger asset."""

    merchant_id: uuid.UUID
    id: uuid.UUID
    kind: ProgramKind
    name: str
    status: ProgramStatus
    currency: str
    asset_code: str
    scope: Scope = field(default_factory=Scope)
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    spending: SpendingRules | None = None
    stamp_card: StampCard | None = None
    earn_on_loyalty_payment: bool = False
    spend_earned_in_same_check: bool = False
    pending_days: int = 0

    def __post_init__(self) -> None:
        if self.kind == ProgramKind.STAMPS:
            if self.stamp_card is None:
                raise errors.InvalidInput("A stamps program needs its card.")
        elif self.spending is None:
            raise errors.InvalidInput("A points or kitty program needs its spending rules.")
        if self.valid_from and self.valid_to and self.valid_from >= self.valid_to:
            raise errors.InvalidInput("A program's validity ends after it starts.")
        if not 0 <= self.pending_days <= 365:
            raise errors.InvalidInput("The return window is 0 to 365 days.")

    def running_at(self, moment: datetime) -> bool:
        """Whether the program earns and spends at this moment."""
        if self.status != ProgramStatus.ACTIVE:
            return False
        if self.valid_from is not None and moment < self.valid_from:
            return False
        return self.valid_to is None or moment < self.valid_to


@dataclass(frozen=True, slots=True)
class SpendQuote:
    """What a balance may pay of a check: units taken and their value."""

    units: int
    value_minor: int
    # Why the customer may not spend more (or at all), for the register's screen.
    limited_by: str | None = None


def spendable(
    rules: SpendingRules, *, balance_units: int, eligible_minor: int, check_total_minor: int,
    requested_units: int | None = None,
) -> SpendQuote:
    """The most a balance may pay of a check (or of the units the customer asks to use).

    `eligible_minor` is what the lines payable with the program come to (after
    discounts); at most `share_max_basis_points` of it, never more than the check
    left to pay, in whole blocks, and nothing below the minimum. The value is
    rounded down; the units are those that value needs, so nobody pays a point
    for less than it is worth.
    """
    assert balance_units >= 0 and eligible_minor >= 0 and check_total_minor >= 0
    cap_minor = min(
        eligible_minor * rules.share_max_basis_points // BASIS_POINTS_WHOLE, check_total_minor
    )
    units = min(balance_units, rules.units_for(cap_minor))
    limited_by = "balance" if units == balance_units else "share_of_check"
    if requested_units is not None and requested_units < units:
        units, limited_by = requested_units, None
    units -= units % rules.spend_block_units
    if units < rules.spend_min_units:
        return SpendQuote(0, 0, "minimum_spend")
    value = rules.value_of(units)
    # Where a unit is worth a fraction of a minor unit, the value is rounded down;
    # the units taken are the fewest (in whole blocks) worth that value, so no
    # unit is taken for a fraction the customer is not given. They are never more
    # than `units`, which is a whole number of blocks worth `value`.
    fewest = max(-(-value * rules.value_denominator // rules.value_numerator),
                 rules.spend_min_units)
    fewest += -fewest % rules.spend_block_units
    return SpendQuote(min(fewest, units), value, limited_by)
