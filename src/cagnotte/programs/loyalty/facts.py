"""What the earning engine is told: the check and the customer, as frozen values.

The caller (the register check's quote and commit) gathers these facts; the
engine never looks anything up. Ids are opaque strings (a uuid's text, a SKU):
the engine only compares them and sorts rule ids for a stable order.

Usage counters (`RuleUsage`, `GoodsUsage`) are those of the merchant's local
day and month that contain the check's moment, before this check: the caller
adds each award of the committed evaluation to them, and takes a refund's
reversal off them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType

from cagnotte.money import Asset

RuleId = str
ProgramId = str
ProductId = str
CategoryId = str
StoreId = str
SegmentId = str
TierId = str
BudgetId = str

_EMPTY: Mapping = MappingProxyType({})


def _empty():
    # A read-only empty mapping shared by every default (a dataclass refuses it as a default).
    return field(default_factory=lambda: _EMPTY)


class Channel(enum.Enum):
    """Where the check is made."""

    REGISTER = "register"
    KIOSK = "kiosk"
    E_STORE = "e_store"
    CUSTOMER_APP = "customer_app"
    THIRD_PARTY_API = "third_party_api"


@dataclass(frozen=True, slots=True)
class LineFacts:
    """One line of a check: a product (or an uncatalogued item) and what it costs.

    `amount_minor` is what the line costs after discounts; `paid_with_loyalty_minor`
    is the part of it paid with points or kitty. An uncatalogued line
    (`product_id` None) has no categories and earns only by whole-catalogue rules.
    `category_ids` holds the product's category and all its ancestors.
    """

    index: int
    sku: str
    product_id: ProductId | None
    category_ids: frozenset[CategoryId]
    quantity: int
    unit_price_minor: int
    amount_minor: int
    members_only: bool = False
    paid_with_loyalty_minor: int = 0

    def __post_init__(self) -> None:
        assert self.index >= 0, self.index
        assert self.quantity >= 1, f"line {self.index}: quantity {self.quantity}"
        assert self.unit_price_minor >= 0 and self.amount_minor >= 0, self
        assert 0 <= self.paid_with_loyalty_minor <= self.amount_minor, self
        assert self.product_id is not None or not self.category_ids, (
            "an uncatalogued line has no categories"
        )
        assert not (self.product_id is None and self.members_only), (
            "an uncatalogued line cannot be a members-only product"
        )


@dataclass(frozen=True, slots=True)
class CheckFacts:
    """A register check (or a kiosk visit with no lines) at one moment, in one store."""

    lines: tuple[LineFacts, ...]
    store_id: StoreId
    terminal_id: str | None
    channel: Channel
    currency: Asset
    moment: datetime
    # The merchant's IANA time zone (for hours, days of the week, local dates).
    time_zone: str

    def __post_init__(self) -> None:
        assert self.moment.tzinfo is not None and self.moment.utcoffset() is not None, (
            "the moment of a check is timezone-aware"
        )
        indexes = [line.index for line in self.lines]
        assert len(set(indexes)) == len(indexes), f"line indexes repeat: {indexes}"
        assert isinstance(self.channel, Channel), self.channel

    @property
    def basket_minor(self) -> int:
        """What the check costs after discounts, whatever pays it."""
        return sum(line.amount_minor for line in self.lines)


@dataclass(frozen=True, slots=True)
class TierStanding:
    """The customer's tier in one program and what they spent in the tier's period so far."""

    tier_id: TierId
    period_spend_minor: int = 0


@dataclass(frozen=True, slots=True)
class RuleUsage:
    """What one capped rule already gave the customer today and this month (local)."""

    day_amount: int = 0
    day_times: int = 0
    month_amount: int = 0
    month_times: int = 0

    def __post_init__(self) -> None:
        assert min(self.day_amount, self.day_times, self.month_amount, self.month_times) >= 0


@dataclass(frozen=True, slots=True)
class GoodsUsage:
    """Units of one product that already earned under one rule today and this month."""

    day_quantity: int = 0
    month_quantity: int = 0

    def __post_init__(self) -> None:
        assert self.day_quantity >= 0 and self.month_quantity >= 0


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """Who is buying, as far as earning cares; `member=False` is an anonymous check."""

    member: bool
    segment_ids: frozenset[SegmentId] = frozenset()
    profile_complete: bool = False
    birth_date: date | None = None
    first_purchase: bool = False
    # This check is the customer's Nth visit (1 for the first).
    visit_number: int = 1
    enrolled_this_check: bool = False
    tiers: Mapping[ProgramId, TierStanding] = _empty()
    rule_usage: Mapping[RuleId, RuleUsage] = _empty()
    # Per (rule id, product id), for the rules with a limit on goods.
    goods_usage: Mapping[tuple[RuleId, ProductId], GoodsUsage] = _empty()
    # Stamps on the customer's current card, per stamps program.
    stamps_on_card: Mapping[ProgramId, int] = _empty()

    def __post_init__(self) -> None:
        assert self.visit_number >= 1, self.visit_number
        assert self.member or not self.enrolled_this_check, "one who enrolled is a member"
        assert all(stamps >= 0 for stamps in self.stamps_on_card.values())


ANONYMOUS = CustomerFacts(member=False)
