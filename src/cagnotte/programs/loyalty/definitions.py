"""Earning rules as a merchant writes them (JSON), and their translation into the engine's rules.

One model serves the API's request body, the stored document and the check:
`RuleDefinition` is validated here (every number in range, brackets rising, a
multiplier's base named), so the engine's own asserts never see bad data, and
`engine_rule` turns it into the engine's frozen `Rule`.

Caps per customer per day and month and limits on goods are counted by the
commit (`checkout/usage.py`, under the member's lock); a budget is a ledger
account of the rule's own (`LoyaltyPrograms.budget_account`) that its awards
are paid from. A tiered rate names a rate for some of the program's tiers
(`LoyaltyProgram.tiers`: the member's tier comes from their spend, counted by
the commit). Not offered yet (refused rather than ignored): customer segments.
"""

from __future__ import annotations

import uuid
from datetime import date, time
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from cagnotte.programs.loyalty.facts import Channel
from cagnotte.programs.loyalty.program import LoyaltyProgram
from cagnotte.programs.loyalty.rules import (
    Birthday,
    Bracket,
    Caps,
    Condition,
    EarningPolicy,
    EnrolledThisCheck,
    FirstPurchase,
    FixedBonus,
    FixedRate,
    GoodsLimit,
    KittyPercentage,
    MinimumBasket,
    Multiplier,
    NthVisit,
    ProductScope,
    ProfileComplete,
    ProgressiveRate,
    Rate,
    Rule,
    StampsPerItem,
    StampsPerVisit,
    TieredRate,
    TierRate,
    TimeWindow,
)

UNITS_MAX = 10**12
RATE_TERM_MAX = 10**9
LIST_MAX = 1_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FixedRateIn(_Strict):
    """`numerator` units per `denominator` minor units: 1 point per 10.00 CZK is 1/1000."""

    kind: Literal["fixed_rate"]
    numerator: int = Field(ge=0, le=RATE_TERM_MAX)
    denominator: int = Field(ge=1, le=RATE_TERM_MAX)
    per_line: bool = False


class KittyPercentageIn(_Strict):
    kind: Literal["kitty_percentage"]
    basis_points: int = Field(ge=1, le=10_000)
    per_line: bool = False


class BracketIn(_Strict):
    from_minor: int = Field(ge=0, le=UNITS_MAX)
    numerator: int = Field(ge=0, le=RATE_TERM_MAX)
    denominator: int = Field(ge=1, le=RATE_TERM_MAX)


class ProgressiveIn(_Strict):
    """Brackets of the check's eligible amount; the first starts at 0, rates rise."""

    kind: Literal["progressive"]
    brackets: list[BracketIn] = Field(min_length=1, max_length=20)
    marginal: bool = False

    @model_validator(mode="after")
    def _rising(self) -> ProgressiveIn:
        if self.brackets[0].from_minor != 0:
            raise ValueError("the first bracket starts at 0")
        for lower, higher in zip(self.brackets, self.brackets[1:], strict=False):
            if lower.from_minor >= higher.from_minor:
                raise ValueError("brackets start at rising amounts")
            if lower.numerator * higher.denominator > higher.numerator * lower.denominator:
                raise ValueError("a bracket's rate is at least the one below it")
        return self


class FixedBonusIn(_Strict):
    kind: Literal["fixed_bonus"]
    units: int = Field(ge=1, le=UNITS_MAX)


class MultiplierIn(_Strict):
    """Multiply another rule's rate (or the program's base rate: `base`) on this rule's lines."""

    kind: Literal["multiplier"]
    base_rule_id: Literal["base"] | uuid.UUID = "base"
    factor_numerator: int = Field(2, ge=2, le=1_000)
    factor_denominator: int = Field(1, ge=1, le=999)

    @model_validator(mode="after")
    def _above_one(self) -> MultiplierIn:
        if self.factor_numerator <= self.factor_denominator:
            raise ValueError("a multiplier is above 1")
        return self


class TierRateIn(_Strict):
    """The rate of one of the program's tiers (by its name)."""

    tier: str = Field(min_length=1, max_length=60)
    numerator: int = Field(ge=0, le=RATE_TERM_MAX)
    denominator: int = Field(ge=1, le=RATE_TERM_MAX)


class TieredRateIn(_Strict):
    """A rate by the member's tier in the program; a tier not listed earns nothing here."""

    kind: Literal["tiered_rate"]
    tiers: list[TierRateIn] = Field(min_length=1, max_length=10)
    per_line: bool = False

    @model_validator(mode="after")
    def _once_each(self) -> TieredRateIn:
        names = [tier.tier for tier in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("a tier is given one rate")
        return self


class ExtraStampsIn(_Strict):
    """A stamps program's promotion: more stamps per item (or per visit, on a visit card)
    when its conditions hold: 1 is double stamps."""

    kind: Literal["extra_stamps"]
    stamps: int = Field(1, ge=1, le=100)


Benefit = Annotated[
    FixedRateIn
    | KittyPercentageIn
    | ProgressiveIn
    | FixedBonusIn
    | MultiplierIn
    | TieredRateIn
    | ExtraStampsIn,
    Field(discriminator="kind"),
]


class RequirementIn(_Strict):
    """What the customer must have done or be; all of them must hold."""

    kind: Literal[
        "profile_complete",
        "birthday",
        "first_purchase",
        "nth_visit",
        "minimum_basket",
        "enrolled_this_check",
    ]
    days_around: int = Field(0, ge=0, le=31)
    n: int = Field(1, ge=1, le=1_000)
    every: bool = True
    amount_minor: int = Field(1, ge=1, le=UNITS_MAX)
    on_eligible_lines: bool = False


class WindowIn(_Strict):
    """Days of the week (1 = Monday), local hours (end before start: across midnight), dates."""

    days_of_week: list[Annotated[int, Field(ge=1, le=7)]] = Field(
        default_factory=list, max_length=7
    )
    start: time | None = None
    end: time | None = None
    date_from: date | None = None
    date_to: date | None = None

    @model_validator(mode="after")
    def _consistent(self) -> WindowIn:
        if (self.start is None) != (self.end is None):
            raise ValueError("a window has a start and an end, or neither")
        if self.start is not None and (
            self.start == self.end or self.start.tzinfo or self.end.tzinfo
        ):
            raise ValueError("a window is a non-empty span of local wall-clock time")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("a window's dates end after they start")
        return self


class ScopeIn(_Strict):
    """Products and categories it earns on (none: the whole catalogue), and exclusions."""

    product_ids: list[uuid.UUID] = Field(default_factory=list, max_length=LIST_MAX)
    category_ids: list[uuid.UUID] = Field(default_factory=list, max_length=LIST_MAX)
    excluded_product_ids: list[uuid.UUID] = Field(default_factory=list, max_length=LIST_MAX)
    excluded_category_ids: list[uuid.UUID] = Field(default_factory=list, max_length=LIST_MAX)
    members_only_products: bool = True


class CapsIn(_Strict):
    """The most the rule gives one customer per local day and month (units, or checks)."""

    per_day_amount_max: int | None = Field(None, ge=1, le=UNITS_MAX)
    per_day_times_max: int | None = Field(None, ge=1, le=1_000)
    per_month_amount_max: int | None = Field(None, ge=1, le=UNITS_MAX)
    per_month_times_max: int | None = Field(None, ge=1, le=10_000)


class GoodsLimitIn(_Strict):
    """The most units of each product that earn under the rule, per customer per day / month."""

    per_day_quantity_max: int | None = Field(None, ge=1, le=100_000)
    per_month_quantity_max: int | None = Field(None, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _some(self) -> GoodsLimitIn:
        if self.per_day_quantity_max is None and self.per_month_quantity_max is None:
            raise ValueError("a limit on goods has a daily or a monthly quantity")
        return self


class RuleDefinition(_Strict):
    """An earning rule (a promotion) of one program: condition, benefit, caps."""

    # The example a client's documentation shows (the OpenAPI of the rule routes).
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "50 points for a first purchase",
                    "benefit": {"kind": "fixed_bonus", "units": 50},
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    priority: int = Field(0, ge=-1_000, le=1_000)
    exclusive: bool = False
    active: bool = True
    active_from: AwareDatetime | None = None
    active_to: AwareDatetime | None = None
    scope: ScopeIn = Field(default_factory=ScopeIn)
    windows: list[WindowIn] = Field(default_factory=list, max_length=20)
    store_ids: list[uuid.UUID] = Field(default_factory=list, max_length=LIST_MAX)
    segment_ids: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=LIST_MAX,
        description="Only for members in one of these segments (GET /v1/segments).",
    )
    channels: list[Literal["register", "kiosk", "e_store", "customer_app", "third_party_api"]] = (
        Field(default_factory=list, max_length=5)
    )
    requirements: list[RequirementIn] = Field(default_factory=list, max_length=6)
    benefit: Benefit
    per_check_amount_max: int | None = Field(None, ge=1, le=UNITS_MAX)
    per_customer: CapsIn = Field(default_factory=CapsIn)
    goods_limit: GoodsLimitIn | None = None
    budget_units: int | None = Field(
        None,
        ge=1,
        le=UNITS_MAX,
        description="The most the promotion gives in all (its budget, in the program's units): "
        "a ledger account of its own pays its awards, so parallel checks never overspend it; "
        "a refund gives back to it.",
    )
    expires_after_days: int | None = Field(
        None, ge=1, le=3_650, description="Temporary points: they expire then."
    )

    @model_validator(mode="after")
    def _period(self) -> RuleDefinition:
        if self.active_from and self.active_to and self.active_from >= self.active_to:
            raise ValueError("a rule's active period ends after it starts")
        return self


def engine_rule(rule_id: uuid.UUID, program: LoyaltyProgram, definition: RuleDefinition) -> Rule:
    """The engine's rule for a stored definition of this program."""
    scope = definition.scope
    return Rule(
        id=str(rule_id),
        program_id=str(program.id),
        kind=program.kind,
        benefit=_benefit(definition.benefit, program),
        condition=Condition(
            scope=ProductScope(
                product_ids=_ids(scope.product_ids),
                category_ids=_ids(scope.category_ids),
                excluded_product_ids=_ids(scope.excluded_product_ids),
                excluded_category_ids=_ids(scope.excluded_category_ids),
                members_only_products=scope.members_only_products,
            ),
            windows=tuple(
                TimeWindow(
                    days_of_week=frozenset(window.days_of_week),
                    start=window.start,
                    end=window.end,
                    date_from=window.date_from,
                    date_to=window.date_to,
                )
                for window in definition.windows
            ),
            store_ids=_ids(definition.store_ids),
            segment_ids=_ids(definition.segment_ids),
            channels=frozenset(Channel(channel) for channel in definition.channels),
            requirements=tuple(_requirement(item) for item in definition.requirements),
        ),
        name=definition.name,
        priority=definition.priority,
        exclusive=definition.exclusive,
        active_from=definition.active_from,
        active_to=definition.active_to,
        caps=Caps(
            per_check_amount_max=definition.per_check_amount_max,
            per_day_amount_max=definition.per_customer.per_day_amount_max,
            per_day_times_max=definition.per_customer.per_day_times_max,
            per_month_amount_max=definition.per_customer.per_month_amount_max,
            per_month_times_max=definition.per_customer.per_month_times_max,
        ),
        goods_limit=GoodsLimit(
            per_day_quantity_max=definition.goods_limit.per_day_quantity_max,
            per_month_quantity_max=definition.goods_limit.per_month_quantity_max,
        )
        if definition.goods_limit
        else None,
        budget_id=str(rule_id) if definition.budget_units else None,
        expires_after_days=definition.expires_after_days,
        policy=EarningPolicy(earn_on_loyalty_paid=program.earn_on_loyalty_payment),
    )


def _benefit(benefit: object, program: LoyaltyProgram):  # -> the engine's Benefit
    if isinstance(benefit, FixedRateIn):
        return FixedRate(Rate(benefit.numerator, benefit.denominator), per_line=benefit.per_line)
    if isinstance(benefit, KittyPercentageIn):
        return KittyPercentage(benefit.basis_points, per_line=benefit.per_line)
    if isinstance(benefit, ProgressiveIn):
        return ProgressiveRate(
            tuple(
                Bracket(bracket.from_minor, Rate(bracket.numerator, bracket.denominator))
                for bracket in benefit.brackets
            ),
            marginal=benefit.marginal,
        )
    if isinstance(benefit, FixedBonusIn):
        return FixedBonus(benefit.units)
    if isinstance(benefit, TieredRateIn):
        return _tiered(benefit, program)
    if isinstance(benefit, ExtraStampsIn):
        card = program.stamp_card
        assert card is not None, "extra stamps are a stamps program's"
        if card.counts_visits:
            return StampsPerVisit(card.size, card.reward.value, stamps=benefit.stamps)
        return StampsPerItem(card.size, card.reward.value, stamps_per_item=benefit.stamps)
    assert isinstance(benefit, MultiplierIn)
    base = f"base:{program.id}" if benefit.base_rule_id == "base" else str(benefit.base_rule_id)
    return Multiplier(base, benefit.factor_numerator, benefit.factor_denominator)


def unknown_tiers(benefit: TieredRateIn, program: LoyaltyProgram) -> set[str]:
    """The tiers a tiered rate names that the program does not have (all, without tiers)."""
    known = {tier.name for tier in program.tiers.levels} if program.tiers else set()
    return {tier.tier for tier in benefit.tiers} - known


def _tiered(benefit: TieredRateIn, program: LoyaltyProgram):  # -> the engine's Benefit
    """The engine's tiered rate, its tiers in the program's order with their thresholds.

    A rule is checked against the program's tiers when it is written; should the
    program's tiers change later, a tier no longer there earns nothing.
    """
    rates = {tier.tier: tier for tier in benefit.tiers}
    levels = [
        tier for tier in (program.tiers.levels if program.tiers else ()) if tier.name in rates
    ]
    if not levels:
        return FixedRate(Rate(0, 1))
    return TieredRate(
        tuple(
            TierRate(
                tier.name,
                Rate(rates[tier.name].numerator, rates[tier.name].denominator),
                tier.spend_min_minor,
            )
            for tier in levels
        ),
        per_line=benefit.per_line,
    )


def _requirement(item: RequirementIn):  # -> the engine's Requirement
    return {
        "profile_complete": lambda: ProfileComplete(),
        "birthday": lambda: Birthday(item.days_around),
        "first_purchase": lambda: FirstPurchase(),
        "nth_visit": lambda: NthVisit(item.n, item.every),
        "minimum_basket": lambda: MinimumBasket(item.amount_minor, item.on_eligible_lines),
        "enrolled_this_check": lambda: EnrolledThisCheck(),
    }[item.kind]()


def _ids(values: list[uuid.UUID]) -> frozenset[str]:
    return frozenset(str(value) for value in values)


# Base rates come after a merchant's promotions in the engine's order.
BASE_RATE_PRIORITY = -1_000_000


def base_rule(program: LoyaltyProgram) -> Rule:
    """A program's base rate as an earning rule of the engine."""
    assert program.earning is not None
    return Rule(
        id=f"base:{program.id}",
        program_id=str(program.id),
        kind=program.kind,
        benefit=FixedRate(Rate(program.earning.numerator, program.earning.denominator)),
        condition=Condition(
            scope=ProductScope(
                product_ids=frozenset(str(value) for value in program.scope.product_ids),
                category_ids=frozenset(str(value) for value in program.scope.category_ids),
            )
        ),
        name=f"{program.name}: base rate",
        priority=BASE_RATE_PRIORITY,
        active_from=program.valid_from,
        active_to=program.valid_to,
        policy=EarningPolicy(earn_on_loyalty_paid=program.earn_on_loyalty_payment),
    )
