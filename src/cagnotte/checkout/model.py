"""A register check as values: what the register sends, and what a quote answers.

Pure: nothing here reads the database or the clock. Amounts are integers of
minor units of the check's currency; a program's units are integers of its
asset (points, stamps, or minor units of a kitty).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from cagnotte import errors

CHECK_LINES_MAX = 500
LINE_QUANTITY_MAX = 100_000


@dataclass(frozen=True, slots=True)
class LineRequest:
    """One line as the register sends it; the price is the register's (the shelf price)."""

    sku: str
    quantity: int
    unit_price_minor: int
    # A discount the register itself gave on the line, before any reward.
    discount_minor: int = 0

    @property
    def gross_minor(self) -> int:
        return self.quantity * self.unit_price_minor

    def __post_init__(self) -> None:
        if not 1 <= self.quantity <= LINE_QUANTITY_MAX:
            raise errors.InvalidInput(f"A line's quantity is 1 to {LINE_QUANTITY_MAX}.")
        if self.unit_price_minor < 0 or not 0 <= self.discount_minor <= self.gross_minor:
            raise errors.InvalidInput("A line's discount is at most what the line costs.")


@dataclass(frozen=True, slots=True)
class LoyaltyUse:
    """The customer pays with a program's balance: `units`, or as much as allowed."""

    program_id: uuid.UUID
    units: int | None = None


@dataclass(frozen=True, slots=True)
class WalletUse:
    """The customer pays from their wallet in the check's currency: an amount, or the rest."""

    amount_minor: int | None = None


@dataclass(frozen=True, slots=True)
class GiftCardUse:
    """The customer pays with a gift card: an amount, or what is left (up to its balance)."""

    number: str
    pin: str | None = None
    amount_minor: int | None = None


@dataclass(frozen=True, slots=True)
class CheckRequest:
    """A check to quote or commit."""

    store_id: uuid.UUID
    terminal_id: uuid.UUID | None
    channel: str
    currency: str
    lines: tuple[LineRequest, ...]
    membership_id: uuid.UUID | None = None
    # Other ways the register may name the member: a phone number (any format)
    # or the token of the member's QR code; at most one way.
    phone: str | None = None
    member_token: str | None = None
    invoice_number: str | None = None
    loyalty_uses: tuple[LoyaltyUse, ...] = ()
    wallet: WalletUse | None = None
    # A gift card pays first, the wallet what is left after it.
    gift_card: GiftCardUse | None = None
    # An offline register's replay says when the check was made.
    occurred_at: datetime | None = None
    # The member's open credits the check uses (checkout/credits.py): these
    # vouchers, and this much of their loyalty credit (None: none of it).
    vouchers: tuple[uuid.UUID, ...] = ()
    credit_minor: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.lines) <= CHECK_LINES_MAX:
            raise errors.InvalidInput(f"A check has 1 to {CHECK_LINES_MAX} lines.")
        programs = [use.program_id for use in self.loyalty_uses]
        if len(set(programs)) != len(programs):
            raise errors.InvalidInput("A program is named once among what the customer uses.")
        named = [self.membership_id, self.phone, self.member_token]
        if sum(way is not None for way in named) > 1:
            raise errors.InvalidInput("Name the customer one way: id, phone or member code.")
        if (self.loyalty_uses or self.wallet) and all(way is None for way in named):
            raise errors.InvalidInput("Only an identified member pays with points or a wallet.")
        if (self.vouchers or self.credit_minor is not None) and all(way is None for way in named):
            raise errors.InvalidInput("Only an identified member uses vouchers or credit.")
        if len(set(self.vouchers)) != len(self.vouchers):
            raise errors.InvalidInput("A voucher is named once.")
        if self.credit_minor is not None and self.credit_minor <= 0:
            raise errors.InvalidInput("The credit to use is a positive amount.")


@dataclass(frozen=True, slots=True)
class LineShare:
    """A line and the part of an effect's units that falls on it."""

    line_index: int
    amount: int


@dataclass(frozen=True, slots=True)
class Effect:
    """One thing a contributor does to the check: earn, spend, stamps, reward, payment."""

    contributor: str
    kind: str
    asset_code: str
    units: int
    value_minor: int
    reason: str
    program_id: uuid.UUID | None = None
    rule_id: str | None = None
    lines: tuple[LineShare, ...] = ()
    transfer_id: uuid.UUID = field(default_factory=uuid.uuid4)
    # For temporary points: when the units earned expire.
    expires_at: datetime | None = None
    # For a promotion with a budget: the rule whose budget account pays it.
    budget_id: uuid.UUID | None = None
    # Earned in a program with a return window: pending (held) until then.
    pending_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class PricedLine:
    """A line after discounts and what points or the kitty paid of it."""

    index: int
    sku: str
    product_id: uuid.UUID | None
    quantity: int
    unit_price_minor: int
    gross_minor: int
    discount_minor: int
    loyalty_paid_minor: int

    @property
    def net_minor(self) -> int:
        """What the line costs after discounts (whatever pays it)."""
        return self.gross_minor - self.discount_minor


@dataclass(frozen=True, slots=True)
class Spendable:
    """The most a program's balance could pay of this check, for the register's screen."""

    program_id: uuid.UUID
    balance_units: int
    units: int
    value_minor: int
    limited_by: str | None


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A rule that nearly applied, and what is missing."""

    program_id: uuid.UUID | None
    rule_id: str
    message: str


@dataclass(frozen=True, slots=True)
class CreditOffer:
    """One of the member's usable open credits, and what it gives (or would give) this check."""

    credit_id: uuid.UUID
    kind: str  # voucher, next_purchase, credit
    program_id: uuid.UUID
    remaining_minor: int
    reward: str | None
    reward_value: int
    expires_at: datetime
    gives_minor: int
    # Whether this check uses it (a next-purchase discount by itself, the others when asked).
    applied: bool


@dataclass(frozen=True, slots=True)
class Quote:
    """What a check would do: per line, per program, per instrument, and the total left."""

    lines: tuple[PricedLine, ...]
    effects: tuple[Effect, ...]
    spendable: tuple[Spendable, ...]
    near_misses: tuple[NearMiss, ...]
    occurred_at: datetime
    # The member's usable open credits (checkout/credits.py).
    credits: tuple[CreditOffer, ...] = ()

    @property
    def gross_minor(self) -> int:
        return sum(line.gross_minor for line in self.lines)

    @property
    def discount_minor(self) -> int:
        return sum(line.discount_minor for line in self.lines)

    @property
    def loyalty_paid_minor(self) -> int:
        return sum(line.loyalty_paid_minor for line in self.lines)

    @property
    def tender_paid_minor(self) -> int:
        return sum(effect.value_minor for effect in self.effects if effect.kind == "payment")

    @property
    def due_minor(self) -> int:
        """What is left to pay by other means (cash, a bank card)."""
        return (
            self.gross_minor
            - self.discount_minor
            - self.loyalty_paid_minor
            - self.tender_paid_minor
        )
