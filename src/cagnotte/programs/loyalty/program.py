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
- no tiers (`tiers` None). With tiers, a member's tier is the highest whose
  threshold their qualifying spend over the tier period reaches: what they
  paid after discounts, less what points and kitty paid, over the current
  local month and the 11 before (`rolling_12_months`) or since 1 January
  (`calendar_year`); refunds take their part back. The purchase that crosses a
  threshold already earns at the new tier (its own amount counts);
- the whole of a check's eligible amount may be paid with points
  (`share_max_basis_points` 10 000), from 1 point up, in blocks of 1; the value
  of points is rounded down to the minor unit (a customer is never paid a
  fraction the merchant did not give).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from cagnotte import errors
from cagnotte.programs.loyalty.rules import ProgramKind

BASIS_POINTS_WHOLE = 10_000
STAMP_CARD_SIZE_MAX = 100


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


class RewardDelivery(StrEnum):
    """When and how a full stamp card's reward reaches the member."""

    INSTANT = "instant"  # off the check that fills the card (the default)
    VOUCHER = "voucher"  # a purchase voucher of reward_value minor units, used once
    NEXT_PURCHASE = "next_purchase"  # the card's reward, off a later check, once
    CREDIT = "credit"  # reward_value minor units added to the member's loyalty credit


REWARD_VALID_DAYS_MAX = 3_650


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
    # A reward delivered later (a voucher, a next-purchase discount, credit) is an
    # open credit of the member (checkout/credits.py) usable for `valid_days`.
    delivery: RewardDelivery = RewardDelivery.INSTANT
    valid_days: int = 90

    def __post_init__(self) -> None:
        if not 1 < self.size <= STAMP_CARD_SIZE_MAX:
            raise errors.InvalidInput(f"A stamp card has 2 to {STAMP_CARD_SIZE_MAX} stamps.")
        if not 1 <= self.valid_days <= REWARD_VALID_DAYS_MAX:
            raise errors.InvalidInput(
                f"A reward delivered later is valid 1 to {REWARD_VALID_DAYS_MAX} days."
            )
        if self.delivery in (RewardDelivery.VOUCHER, RewardDelivery.CREDIT) and (
            self.reward != StampReward.FIXED_DISCOUNT
        ):
            raise errors.InvalidInput(
                "A voucher or a credit is a fixed amount: its reward is a fixed_discount."
            )
        if self.reward == StampReward.FIXED_DISCOUNT and self.reward_value <= 0:
            raise errors.InvalidInput("A fixed discount needs an amount.")
        if self.reward == StampReward.PERCENT_DISCOUNT and not (
            0 < self.reward_value <= BASIS_POINTS_WHOLE
        ):
            raise errors.InvalidInput("A percentage discount is 0.01 % to 100 %.")


class TierPeriod(StrEnum):
    """Over what a member's qualifying spend is counted (local months of the merchant)."""

    ROLLING_12_MONTHS = "rolling_12_months"  # this month and the 11 before
    CALENDAR_YEAR = "calendar_year"  # since 1 January


TIERS_MAX = 10


@dataclass(frozen=True, slots=True)
class Tier:
    """A tier: its name and the spend over the period that reaches it."""

    name: str
    spend_min_minor: int


@dataclass(frozen=True, slots=True)
class TierLadder:
    """A program's tiers, the lowest first (it starts at 0: every member has a tier)."""

    period: TierPeriod
    levels: tuple[Tier, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.levels) <= TIERS_MAX:
            raise errors.InvalidInput(f"A program has 1 to {TIERS_MAX} tiers.")
        if self.levels[0].spend_min_minor != 0:
            raise errors.InvalidInput("The lowest tier starts at 0.")
        names = [tier.name for tier in self.levels]
        if len(set(names)) != len(names) or not all(names):
            raise errors.InvalidInput("Each tier has a name of its own.")
        for lower, higher in zip(self.levels, self.levels[1:], strict=False):
            if lower.spend_min_minor >= higher.spend_min_minor:
                raise errors.InvalidInput("Tiers are listed by rising spend.")

    def tier_for(self, spend_minor: int) -> Tier:
        """The highest tier the spend reaches."""
        reached = self.levels[0]
        for tier in self.levels:
            if tier.spend_min_minor <= spend_minor:
                reached = tier
        return reached

    def first_month(self, month: date) -> date:
        """The first month (its first day) of the period that ends with `month`."""
        if self.period == TierPeriod.CALENDAR_YEAR:
            return month.replace(month=1, day=1)
        index = month.year * 12 + month.month - 1 - 11
        return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class BaseEarning:
    """A program's base rate: units earned per minor unit of the eligible amount.

    1 point per 10.00 CZK is 1/1000; a kitty of 5 % is 500/10 000 (its units are
    minor units of the currency). Rounded down, on the check's eligible amount
    as a whole (not line by line), so a check of ten 9.99 CZK coffees earns 9
    points, as the customer expects from its total.
    """

    numerator: int
    denominator: int

    def __post_init__(self) -> None:
        if self.numerator < 0 or self.denominator <= 0:
            raise errors.InvalidInput("An earning rate is a non-negative fraction.")

    def earned_on(self, amount_minor: int) -> int:
        return max(amount_minor, 0) * self.numerator // self.denominator


@dataclass(frozen=True, slots=True)
class KittyVoucher:
    """A kitty that reaches `threshold_minor` is turned into a voucher of that amount."""

    threshold_minor: int
    valid_days: int = 90

    def __post_init__(self) -> None:
        if self.threshold_minor <= 0:
            raise errors.InvalidInput("A kitty's voucher threshold is a positive amount.")
        if not 1 <= self.valid_days <= REWARD_VALID_DAYS_MAX:
            raise errors.InvalidInput(f"A voucher is valid 1 to {REWARD_VALID_DAYS_MAX} days.")


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
    earning: BaseEarning | None = None
    spending: SpendingRules | None = None
    stamp_card: StampCard | None = None
    earn_on_loyalty_payment: bool = False
    spend_earned_in_same_check: bool = False
    pending_days: int = 0
    tiers: TierLadder | None = None
    # Off by default: a kitty stays money off, spent as the member asks.
    kitty_voucher: KittyVoucher | None = None

    def __post_init__(self) -> None:
        if self.kitty_voucher is not None and self.kind != ProgramKind.KITTY:
            raise errors.InvalidInput("Only a kitty turns into vouchers.")
        if self.kind == ProgramKind.STAMPS:
            if self.stamp_card is None:
                raise errors.InvalidInput("A stamps program needs its card.")
        elif self.spending is None or self.earning is None:
            raise errors.InvalidInput("A points or kitty program needs its earning and spending.")
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
    rules: SpendingRules,
    *,
    balance_units: int,
    eligible_minor: int,
    check_total_minor: int,
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
    if value == 0:
        return SpendQuote(0, 0, "minimum_spend")
    # Where a unit is worth a fraction of a minor unit, the value is rounded down;
    # the units taken are the fewest (in whole blocks) worth that value, so no
    # unit is taken for a fraction the customer is not given. They are never more
    # than `units`, which is a whole number of blocks worth `value`.
    fewest = max(
        -(-value * rules.value_denominator // rules.value_numerator), rules.spend_min_units
    )
    fewest += -fewest % rules.spend_block_units
    return SpendQuote(min(fewest, units), value, limited_by)


# Defaults of the three pre-set types (Up2pay): the merchant adjusts each option.
DEFAULT_SETTINGS: dict[ProgramKind, dict[str, object]] = {
    # 1 point per 10.00 spent; 1 point is worth 0.10 (so 1 % back).
    ProgramKind.POINTS: {
        "earning": {"numerator": 1, "denominator": 1_000},
        "spending": {"value_numerator": 10, "value_denominator": 1},
    },
    # 5 % of each purchase into the kitty, spent one for one.
    ProgramKind.KITTY: {
        "earning": {"numerator": 500, "denominator": BASIS_POINTS_WHOLE},
        "spending": {"value_numerator": 1, "value_denominator": 1},
    },
    # Ten eligible items bought: the cheapest eligible item free.
    ProgramKind.STAMPS: {"stamp_card": {"size": 10, "reward": "free_item"}},
}


def program_from_settings(
    *,
    merchant_id: uuid.UUID,
    id: uuid.UUID,
    kind: ProgramKind,
    name: str,
    status: ProgramStatus,
    currency: str,
    asset_code: str,
    settings: dict[str, Any],
) -> LoyaltyProgram:
    """A program from its stored (or requested) settings; invalid_input when they clash."""
    known = {
        "scope",
        "valid_from",
        "valid_to",
        "earning",
        "spending",
        "stamp_card",
        "earn_on_loyalty_payment",
        "spend_earned_in_same_check",
        "pending_days",
        "tiers",
        "kitty_voucher",
    }
    unknown = set(settings) - known
    if unknown:
        raise errors.InvalidInput(f"Unknown program settings: {', '.join(sorted(unknown))}.")
    try:
        scope = settings.get("scope") or {}
        spending = settings.get("spending")
        return LoyaltyProgram(
            merchant_id=merchant_id,
            id=id,
            kind=kind,
            name=name,
            status=status,
            currency=currency,
            asset_code=asset_code,
            scope=_scope(scope),
            valid_from=_moment(settings.get("valid_from")),
            valid_to=_moment(settings.get("valid_to")),
            earning=BaseEarning(**settings["earning"]) if settings.get("earning") else None,
            spending=SpendingRules(
                **{
                    **spending,
                    "scope": SpendScope(spending.get("scope", "public")),
                    "chosen": _scope(spending.get("chosen") or {}),
                }
            )
            if spending
            else None,
            stamp_card=StampCard(
                **{
                    **settings["stamp_card"],
                    "reward": StampReward(settings["stamp_card"].get("reward", "free_item")),
                    "delivery": RewardDelivery(
                        settings["stamp_card"].get("delivery", RewardDelivery.INSTANT.value)
                    ),
                }
            )
            if settings.get("stamp_card")
            else None,
            earn_on_loyalty_payment=bool(settings.get("earn_on_loyalty_payment", False)),
            spend_earned_in_same_check=bool(settings.get("spend_earned_in_same_check", False)),
            pending_days=int(settings.get("pending_days", 0)),
            tiers=_tiers(settings["tiers"]) if settings.get("tiers") else None,
            kitty_voucher=KittyVoucher(**settings["kitty_voucher"])
            if settings.get("kitty_voucher")
            else None,
        )
    except (TypeError, ValueError, KeyError) as error:
        raise errors.InvalidInput(f"The program's settings are not valid: {error}") from None


def settings_of(program: LoyaltyProgram) -> dict[str, Any]:
    """The program's options as stored (JSON), the inverse of program_from_settings."""
    settings: dict[str, Any] = {
        "scope": _scope_json(program.scope),
        "valid_from": program.valid_from.isoformat() if program.valid_from else None,
        "valid_to": program.valid_to.isoformat() if program.valid_to else None,
        "earn_on_loyalty_payment": program.earn_on_loyalty_payment,
        "spend_earned_in_same_check": program.spend_earned_in_same_check,
        "pending_days": program.pending_days,
    }
    if program.tiers is not None:
        settings["tiers"] = {
            "period": program.tiers.period.value,
            "levels": [
                {"name": tier.name, "spend_min_minor": tier.spend_min_minor}
                for tier in program.tiers.levels
            ],
        }
    if program.earning is not None:
        settings["earning"] = {
            "numerator": program.earning.numerator,
            "denominator": program.earning.denominator,
        }
    if program.spending is not None:
        spending = program.spending
        settings["spending"] = {
            "value_numerator": spending.value_numerator,
            "value_denominator": spending.value_denominator,
            "share_max_basis_points": spending.share_max_basis_points,
            "spend_min_units": spending.spend_min_units,
            "spend_block_units": spending.spend_block_units,
            "scope": spending.scope.value,
            "chosen": _scope_json(spending.chosen),
        }
    if program.stamp_card is not None:
        card = program.stamp_card
        settings["stamp_card"] = {
            "size": card.size,
            "counts_visits": card.counts_visits,
            "reward": card.reward.value,
            "reward_value": card.reward_value,
            "delivery": card.delivery.value,
            "valid_days": card.valid_days,
        }
    if program.kitty_voucher is not None:
        settings["kitty_voucher"] = {
            "threshold_minor": program.kitty_voucher.threshold_minor,
            "valid_days": program.kitty_voucher.valid_days,
        }
    return settings


def _tiers(data: dict[str, Any]) -> TierLadder:
    return TierLadder(
        period=TierPeriod(data.get("period", "rolling_12_months")),
        levels=tuple(
            Tier(str(level["name"]), int(level["spend_min_minor"])) for level in data["levels"]
        ),
    )


def _scope(data: dict[str, Any]) -> Scope:
    return Scope(
        product_ids=frozenset(uuid.UUID(str(value)) for value in data.get("product_ids", ())),
        category_ids=frozenset(uuid.UUID(str(value)) for value in data.get("category_ids", ())),
    )


def _scope_json(scope: Scope) -> dict[str, list[str]]:
    return {
        "product_ids": sorted(str(value) for value in scope.product_ids),
        "category_ids": sorted(str(value) for value in scope.category_ids),
    }


def _moment(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError("a moment needs its time zone")
    return moment
