"""Earning rules: a rule is a condition and a benefit, with caps, as frozen values.

A `Rule` belongs to one program of one kind (points, stamps or kitty). Its
`Condition` says where, when, on what and for whom it applies; its benefit
says how much it gives. The engine (`engine.evaluate`) is a pure function of
the rules, a check and the customer; nothing here reads a clock or a table.

Documented defaults (each is a field, so a program may say otherwise):

- Amounts earn **after discounts** and **not on what is paid with points or
  kitty** (`EarningPolicy`).
- Rates round **down** (`Rounding.DOWN`): a customer never gets a unit that the
  amount did not fully earn: 9.99 CZK at 1 point per 10 CZK is 0 points.
- Rates apply **per check, to the sum of the eligible lines**, rounded once;
  `per_line=True` rounds each line on its own (which can only give less with
  rounding down).
- Progressive brackets apply the rate of the highest bracket reached to the
  whole eligible amount (a bracket is reached at exactly its threshold);
  `marginal=True` applies each bracket's rate to its own slice instead.
- A condition left empty does not restrict: every store, channel, customer,
  time, and the whole catalogue (members-only products included).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, time

from cagnotte.money import Rounding
from cagnotte.programs.loyalty.facts import (
    BudgetId,
    CategoryId,
    Channel,
    ProductId,
    ProgramId,
    RuleId,
    SegmentId,
    StoreId,
    TierId,
)

BASIS_POINTS_PER_WHOLE = 10_000


class ProgramKind(enum.Enum):
    """What a program counts: points, stamps on a card, or money in the customer's kitty."""

    POINTS = "points"
    STAMPS = "stamps"
    KITTY = "kitty"


@dataclass(frozen=True, slots=True, order=True)
class Rate:
    """Units earned per minor unit of amount, as a fraction.

    1 point per 10 CZK is Rate(1, 1000) (1000 haléřů); a kitty of 2.5 % is
    Rate(250, 10_000), i.e. `Rate.basis_points(250)`.
    """

    numerator: int
    denominator: int

    def __post_init__(self) -> None:
        assert self.numerator >= 0 and self.denominator > 0, self

    @classmethod
    def per(cls, units: int, amount_minor: int) -> Rate:
        """`units` for every `amount_minor` spent: Rate.per(1, 1000) is 1 point per 10 CZK."""
        return cls(units, amount_minor)

    @classmethod
    def basis_points(cls, basis_points: int) -> Rate:
        """A share of the amount in hundredths of a percent (a kitty's 2.5 % is 250)."""
        return cls(basis_points, BASIS_POINTS_PER_WHOLE)

    def at_most(self, other: Rate) -> bool:
        return self.numerator * other.denominator <= other.numerator * self.denominator


class AmountBasis(enum.Enum):
    """Which amount of a line earns."""

    # What the line costs after discounts (`LineFacts.amount_minor`).
    AFTER_DISCOUNTS = "after_discounts"
    # Unit price × quantity, as if no discount had been given.
    BEFORE_DISCOUNTS = "before_discounts"


@dataclass(frozen=True, slots=True)
class EarningPolicy:
    """The written policy of what earns; the defaults are the usual ones.

    With `earn_on_loyalty_paid` False, the part of a line paid with points or
    kitty is taken off the amount that earns, and a unit (for stamps and limits
    on goods) earns only for the share of the line paid otherwise:
    floor(quantity × (amount − paid with loyalty) / amount).
    """

    amount_basis: AmountBasis = AmountBasis.AFTER_DISCOUNTS
    earn_on_loyalty_paid: bool = False


# Benefits: how much a rule gives once its condition holds.


@dataclass(frozen=True, slots=True)
class FixedRate:
    """The same rate on every eligible amount: 1 point per 10 CZK."""

    rate: Rate
    rounding: Rounding = Rounding.DOWN
    per_line: bool = False


@dataclass(frozen=True, slots=True)
class KittyPercentage:
    """A share of each purchase into the kitty, in basis points (250 = 2.5 %)."""

    basis_points: int
    rounding: Rounding = Rounding.DOWN
    per_line: bool = False

    def __post_init__(self) -> None:
        assert 0 < self.basis_points <= BASIS_POINTS_PER_WHOLE, self

    @property
    def rate(self) -> Rate:
        return Rate.basis_points(self.basis_points)


@dataclass(frozen=True, slots=True)
class Bracket:
    """From `from_minor` of eligible amount (inclusive) on, the rate is `rate`."""

    from_minor: int
    rate: Rate


@dataclass(frozen=True, slots=True)
class ProgressiveRate:
    """A rate that rises with the check's eligible amount (always per check)."""

    brackets: tuple[Bracket, ...]
    rounding: Rounding = Rounding.DOWN
    marginal: bool = False

    def __post_init__(self) -> None:
        assert self.brackets and self.brackets[0].from_minor == 0, (
            "the first bracket starts at 0 (its rate may be 0)"
        )
        for lower, higher in zip(self.brackets, self.brackets[1:], strict=False):
            assert lower.from_minor < higher.from_minor, "brackets rise"
            assert lower.rate.at_most(higher.rate), "a bracket's rate is at least the one below"

    def bracket_for(self, amount_minor: int) -> Bracket:
        reached = self.brackets[0]
        for bracket in self.brackets:
            if bracket.from_minor <= amount_minor:
                reached = bracket
        return reached


@dataclass(frozen=True, slots=True)
class TierRate:
    """The rate of one tier, and the spend over the tier period that reaches it."""

    tier_id: TierId
    rate: Rate
    spend_min_minor: int = 0


@dataclass(frozen=True, slots=True)
class TieredRate:
    """A rate by the customer's tier in the program; a tier not listed earns nothing."""

    tiers: tuple[TierRate, ...]
    rounding: Rounding = Rounding.DOWN
    per_line: bool = False

    def __post_init__(self) -> None:
        assert self.tiers, "at least one tier"
        ids = [tier.tier_id for tier in self.tiers]
        assert len(set(ids)) == len(ids), f"a tier is listed twice: {ids}"
        for lower, higher in zip(self.tiers, self.tiers[1:], strict=False):
            assert lower.spend_min_minor < higher.spend_min_minor, "tiers in the order reached"

    def tier(self, tier_id: TierId) -> TierRate | None:
        for tier in self.tiers:
            if tier.tier_id == tier_id:
                return tier
        return None

    def next_tier(self, tier_id: TierId) -> TierRate | None:
        ids = [tier.tier_id for tier in self.tiers]
        position = ids.index(tier_id)
        return self.tiers[position + 1] if position + 1 < len(self.tiers) else None


@dataclass(frozen=True, slots=True)
class FixedBonus:
    """A fixed number of units once per check (points, stamps, or minor units of kitty)."""

    units: int

    def __post_init__(self) -> None:
        assert self.units > 0, self


@dataclass(frozen=True, slots=True)
class Multiplier:
    """Multiply the rate of another rule of the program on this rule's lines: double points.

    It gives the extra (factor − 1) × the base rule's rate on the lines eligible
    under both rules, rounded once; the base rule gives its own award as usual.
    It gives nothing when the base rule does not apply (or is stopped by an
    exclusive rule). The base is a fixed, kitty, tiered or progressive rate
    (for a progressive one: the rate of the bracket its own amount reached).
    """

    base_rule_id: RuleId
    factor_numerator: int = 2
    factor_denominator: int = 1
    rounding: Rounding = Rounding.DOWN

    def __post_init__(self) -> None:
        assert self.factor_denominator > 0, self
        assert self.factor_numerator > self.factor_denominator, "a multiplier above 1"


@dataclass(frozen=True, slots=True)
class StampsPerItem:
    """Stamps for each eligible unit bought: buy 10 coffees, get one free."""

    card_size: int
    reward: str
    stamps_per_item: int = 1

    def __post_init__(self) -> None:
        assert self.card_size >= 1 and self.stamps_per_item >= 1, self


@dataclass(frozen=True, slots=True)
class StampsPerVisit:
    """Stamps for a visit (a check meeting the condition), whatever it buys."""

    card_size: int
    reward: str
    stamps: int = 1

    def __post_init__(self) -> None:
        assert self.card_size >= 1 and self.stamps >= 1, self


Benefit = (
    FixedRate
    | KittyPercentage
    | ProgressiveRate
    | TieredRate
    | FixedBonus
    | Multiplier
    | StampsPerItem
    | StampsPerVisit
)
RATE_BENEFITS = (FixedRate, KittyPercentage, ProgressiveRate, TieredRate)
BENEFITS_OF_KIND: dict[ProgramKind, tuple[type, ...]] = {
    ProgramKind.POINTS: (FixedRate, ProgressiveRate, TieredRate, FixedBonus, Multiplier),
    ProgramKind.KITTY: (
        KittyPercentage,
        FixedRate,
        ProgressiveRate,
        TieredRate,
        FixedBonus,
        Multiplier,
    ),
    ProgramKind.STAMPS: (StampsPerItem, StampsPerVisit, FixedBonus),
}


# Conditional requirements: what the customer must have done or be.


@dataclass(frozen=True, slots=True)
class ProfileComplete:
    """The customer's profile is complete."""


@dataclass(frozen=True, slots=True)
class Birthday:
    """The check's local date is the customer's birthday, or within `days_around` of it.

    A 29 February birthday falls on 28 February in other years.
    """

    days_around: int = 0

    def __post_init__(self) -> None:
        assert 0 <= self.days_around <= 31, self


@dataclass(frozen=True, slots=True)
class FirstPurchase:
    """The check is the customer's first purchase."""


@dataclass(frozen=True, slots=True)
class NthVisit:
    """The check is the customer's Nth visit: every Nth, or exactly the Nth."""

    n: int
    every: bool = True

    def __post_init__(self) -> None:
        assert self.n >= 1, self


@dataclass(frozen=True, slots=True)
class MinimumBasket:
    """The check costs at least `amount_minor` after discounts (or its eligible lines do)."""

    amount_minor: int
    on_eligible_lines: bool = False

    def __post_init__(self) -> None:
        assert self.amount_minor > 0, self


@dataclass(frozen=True, slots=True)
class EnrolledThisCheck:
    """The customer joined the program with this check."""


Requirement = (
    ProfileComplete | Birthday | FirstPurchase | NthVisit | MinimumBasket | EnrolledThisCheck
)


@dataclass(frozen=True, slots=True)
class ProductScope:
    """Which lines a rule earns on: products and/or categories, or the whole catalogue.

    A line is in scope when its product is listed or one of its categories (or
    their ancestors) is; with neither listed, every line is, uncatalogued ones
    included. Exclusions win over inclusions. `label` names the scope for
    people ("coffee" → "on 3 coffee lines").
    """

    product_ids: frozenset[ProductId] = frozenset()
    category_ids: frozenset[CategoryId] = frozenset()
    excluded_product_ids: frozenset[ProductId] = frozenset()
    excluded_category_ids: frozenset[CategoryId] = frozenset()
    members_only_products: bool = True
    label: str = ""

    @property
    def whole_catalogue(self) -> bool:
        return not self.product_ids and not self.category_ids


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A recurring window in the merchant's local time: days of the week, hours, dates.

    `days_of_week` are ISO numbers (1 = Monday … 7 = Sunday), empty for every
    day. `start`–`end` is half-open local wall-clock time, None for the whole
    day; an `end` before `start` runs across midnight, and such a window
    belongs to the day it starts (Friday 22:00–02:00 covers Saturday 01:00).
    `date_from`–`date_to` (inclusive, local) bound the days a window starts on.
    Wall-clock times follow DST: 09:00 is 09:00 local in winter and summer.
    """

    days_of_week: frozenset[int] = frozenset()
    start: time | None = None
    end: time | None = None
    date_from: date | None = None
    date_to: date | None = None

    def __post_init__(self) -> None:
        assert self.days_of_week <= frozenset(range(1, 8)), self.days_of_week
        assert (self.start is None) == (self.end is None), "a window has both ends or neither"
        assert self.start is None or self.start != self.end, "an empty window"
        assert self.start is None or (self.start.tzinfo is None and self.end.tzinfo is None), (
            "window times are local wall-clock times"
        )
        assert self.date_from is None or self.date_to is None or self.date_from <= self.date_to

    @property
    def across_midnight(self) -> bool:
        return self.start is not None and self.end < self.start


@dataclass(frozen=True, slots=True)
class Condition:
    """Where, when, on what and for whom a rule applies; an empty field does not restrict.

    `windows`: any one of them (none: any time). `segment_ids`: the customer is
    in at least one. `requirements`: all of them (none: unconditional).
    """

    scope: ProductScope = ProductScope()
    windows: tuple[TimeWindow, ...] = ()
    store_ids: frozenset[StoreId] = frozenset()
    channels: frozenset[Channel] = frozenset()
    segment_ids: frozenset[SegmentId] = frozenset()
    requirements: tuple[Requirement, ...] = ()


@dataclass(frozen=True, slots=True)
class Caps:
    """The most a rule gives: per check, and per customer per local day and month.

    Amounts are in the program's units (points, stamps, minor units of kitty);
    times count checks on which the rule gave something.
    """

    per_check_amount_max: int | None = None
    per_day_amount_max: int | None = None
    per_day_times_max: int | None = None
    per_month_amount_max: int | None = None
    per_month_times_max: int | None = None

    def __post_init__(self) -> None:
        for value in (
            self.per_check_amount_max,
            self.per_day_amount_max,
            self.per_day_times_max,
            self.per_month_amount_max,
            self.per_month_times_max,
        ):
            assert value is None or value >= 0, self

    @property
    def per_customer(self) -> bool:
        return any(
            value is not None
            for value in (
                self.per_day_amount_max,
                self.per_day_times_max,
                self.per_month_amount_max,
                self.per_month_times_max,
            )
        )


@dataclass(frozen=True, slots=True)
class GoodsLimit:
    """The most units of one product that earn under the rule, per customer per day / month.

    Units that already earned under the rule today and this month
    (`CustomerFacts.goods_usage`) count against it; the lines of the check use
    what is left in line order, and a line cut short earns on the share of its
    amount that its allowed units are (rounded down).
    """

    per_day_quantity_max: int | None = None
    per_month_quantity_max: int | None = None

    def __post_init__(self) -> None:
        assert self.per_day_quantity_max is not None or self.per_month_quantity_max is not None
        for value in (self.per_day_quantity_max, self.per_month_quantity_max):
            assert value is None or value >= 0, self


@dataclass(frozen=True, slots=True)
class Rule:
    """One earning rule of one program: a condition, a benefit, caps and where it draws.

    Rules apply in the order of `priority` (higher first), then `id`. An
    `exclusive` rule that applies stops every rule of the same program after it
    in that order (equal priority included). `active_from`–`active_to` is
    half-open in absolute time. `expires_after_days` makes temporary points.
    `budget_id` names the ledger account the award draws on; the engine only
    reports the draw, the budget is checked when the check is committed.
    """

    id: RuleId
    program_id: ProgramId
    kind: ProgramKind
    benefit: Benefit
    condition: Condition = Condition()
    name: str = ""
    priority: int = 0
    exclusive: bool = False
    active_from: datetime | None = None
    active_to: datetime | None = None
    caps: Caps = Caps()
    goods_limit: GoodsLimit | None = None
    expires_after_days: int | None = None
    budget_id: BudgetId | None = None
    policy: EarningPolicy = field(default=EarningPolicy())

    def __post_init__(self) -> None:
        assert isinstance(self.benefit, BENEFITS_OF_KIND[self.kind]), (
            f"rule {self.id}: a {type(self.benefit).__name__} does not earn {self.kind.value}"
        )
        for moment in (self.active_from, self.active_to):
            assert moment is None or moment.utcoffset() is not None, "active period is aware"
        assert (
            self.active_from is None or self.active_to is None or self.active_from < self.active_to
        ), f"rule {self.id}: an empty active period"
        assert self.expires_after_days is None or self.expires_after_days >= 1, self
