"""Gift card rows as typed values: a card, an operation of its log, a batch, a reseller.

What the repository reads and what a plan writes. A card row holds the card's
state and secrets' hashes, never its balance (that is its ledger account); the
hashes stay out of a row's repr, so a log line never carries them.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

CARD_KINDS = ("plastic", "virtual")
CARD_STATES = ("inactive", "active", "frozen", "closed")
CLOSED_REASONS = ("closed", "expired", "transferred")
OPERATION_KINDS = (
    "activation",
    "load",
    "spend",
    "authorisation",
    "capture",
    "void",
    "refund",
    "transfer_out",
    "transfer_in",
    "expiry",
    "adjustment",
    "profile_bonus",
)


@dataclass(frozen=True, slots=True)
class CardRow:
    """A row of gift_cards."""

    merchant_id: uuid.UUID
    id: uuid.UUID
    program_id: uuid.UUID
    kind: str
    state: str
    number_hash: str = field(repr=False)
    number_last4: str
    pin_hash: str | None = field(repr=False)
    pin_failures: int
    locked_until: datetime | None
    account_id: uuid.UUID
    batch_id: uuid.UUID | None
    batch_sequence: int | None
    membership_id: uuid.UUID | None
    registered_at: datetime | None
    profile_bonus_at: datetime | None
    recipient_email: str | None
    page_token_hash: str | None = field(repr=False)
    number_sealed: str | None = field(repr=False)
    activated_at: datetime | None
    expires_at: datetime | None
    closed_at: datetime | None
    closed_reason: str | None
    replaced_by: uuid.UUID | None
    created_at: datetime
    # The id of the key number_hash was made under; None from before ids were kept.
    number_key_id: str | None = field(default=None, repr=False)
    # The id of the key pin_hash was made under; None for an argon2 hash from before.
    pin_key_id: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        assert self.kind in CARD_KINDS, self.kind
        assert self.state in CARD_STATES, self.state
        assert self.closed_reason is None or self.closed_reason in CLOSED_REASONS

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> CardRow:
        return cls(**{name: row[name] for name in _CARD_FIELDS})


@dataclass(frozen=True, slots=True)
class OperationRow:
    """A row of gift_card_operations: one operation on one card, as logged."""

    merchant_id: uuid.UUID
    id: uuid.UUID
    card_id: uuid.UUID
    program_id: uuid.UUID
    kind: str
    amount_minor: int
    # For a spend that took what was there: what was asked.
    requested_minor: int
    balance_after_minor: int
    entry_id: uuid.UUID | None
    # The ledger transfer this operation made (a hold for an authorisation).
    transfer_id: uuid.UUID | None
    # For a capture, void or refund: the operation it settles; for a balance
    # transfer: the other card.
    related_id: uuid.UUID | None
    store_id: uuid.UUID | None
    terminal_id: uuid.UUID | None
    reseller_id: uuid.UUID | None
    actor: str
    invoice_number: str | None
    hold_expires_at: datetime | None
    business_date: date
    created_at: datetime

    def __post_init__(self) -> None:
        assert self.kind in OPERATION_KINDS, self.kind
        assert self.amount_minor >= 0 and self.requested_minor >= 0

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> OperationRow:
        return cls(**{name: row[name] for name in _OPERATION_FIELDS})

    def insert_values(self) -> dict[str, Any]:
        """The row's values for an insert into the unit's merchant (which adds merchant_id)."""
        return {name: getattr(self, name) for name in _OPERATION_FIELDS if name != "merchant_id"}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who carries out an operation, as its log row names them."""

    actor: str
    store_id: uuid.UUID | None = None
    terminal_id: uuid.UUID | None = None
    reseller_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch of printed cards, with how many of its cards are in each state."""

    merchant_id: uuid.UUID
    id: uuid.UUID
    program_id: uuid.UUID
    card_count: int
    note: str | None
    exported_at: datetime | None
    created_at: datetime
    cards_by_state: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Reseller:
    """A distribution partner of the merchant, and the programs it may sell."""

    merchant_id: uuid.UUID
    id: uuid.UUID
    name: str
    email: str | None
    api_key_id: uuid.UUID
    created_at: datetime
    program_ids: tuple[uuid.UUID, ...]


_CARD_FIELDS = tuple(f.name for f in dataclasses.fields(CardRow))
_OPERATION_FIELDS = tuple(f.name for f in dataclasses.fields(OperationRow))
