"""What the gift card service answers: plain values, no secrets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cagnotte.programs.gift_cards.rows import CardRow, OperationRow
from cagnotte.security.attempts import AttemptCount

CARD_VIEW_FIELDS = (
    "id",
    "merchant_id",
    "program_id",
    "kind",
    "state",
    "number_last4",
    "pin_failures",
    "locked_until",
    "account_id",
    "batch_id",
    "batch_sequence",
    "membership_id",
    "registered_at",
    "profile_bonus_at",
    "recipient_email",
    "activated_at",
    "expires_at",
    "closed_at",
    "closed_reason",
    "replaced_by",
    "created_at",
)


def card_view(
    card: CardRow,
    balance_minor: int,
    available_minor: int,
    asset_code: str,
    pin_attempts: AttemptCount | None = None,
) -> dict[str, Any]:
    """A card as shown to staff: state, last four digits, balance; never the number or PIN.

    Its PIN attempts are the attempt limiter's (finding.py), not the card row's
    unused columns: `pin_failures` is the count of the current window (wrong
    PINs, and any being checked right now), `locked_until` the end of a lock
    that holds now.
    """
    view = {name: getattr(card, name) for name in CARD_VIEW_FIELDS}
    view.update(
        balance_minor=balance_minor,
        available_minor=available_minor,
        asset=asset_code,
        pin_failures=pin_attempts.attempts if pin_attempts else 0,
        locked_until=pin_attempts.locked_until if pin_attempts else None,
    )
    return view


@dataclass(frozen=True, slots=True)
class CardOperation:
    """One operation on one card, as recorded in the operation log."""

    merchant_id: uuid.UUID
    id: uuid.UUID
    kind: str
    card_id: uuid.UUID
    program_id: uuid.UUID
    number_last4: str
    asset_code: str
    amount_minor: int
    requested_minor: int
    balance_after_minor: int
    entry_id: uuid.UUID | None
    transfer_id: uuid.UUID | None
    related_id: uuid.UUID | None
    invoice_number: str | None
    hold_expires_at: datetime | None
    store_id: uuid.UUID | None
    terminal_id: uuid.UUID | None
    reseller_id: uuid.UUID | None
    actor: str
    created_at: datetime
    replayed: bool = False

    @property
    def rest_due_minor(self) -> int:
        """What a spend that took what was there left for the customer to pay otherwise."""
        return (
            self.requested_minor - self.amount_minor
            if self.kind in ("spend", "authorisation")
            else 0
        )

    def as_json(self) -> dict[str, Any]:
        """The operation as JSON (what an Idempotency-Key's record keeps)."""
        return {
            name: _json_value(getattr(self, name))
            for name in self.__dataclass_fields__
            if name != "replayed"
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, replayed: bool = False) -> CardOperation:
        values: dict[str, Any] = dict(data)
        for name in _UUID_FIELDS:
            values[name] = uuid.UUID(values[name]) if values[name] is not None else None
        for name in ("hold_expires_at", "created_at"):
            values[name] = datetime.fromisoformat(values[name]) if values[name] else None
        return cls(**values, replayed=replayed)

    @classmethod
    def of(
        cls, row: OperationRow, number_last4: str, asset_code: str, *, replayed: bool = False
    ) -> CardOperation:
        """The logged operation, named by its card's last four digits and its asset."""
        return cls(
            number_last4=number_last4,
            asset_code=asset_code,
            replayed=replayed,
            **{name: getattr(row, name) for name in _ROW_FIELDS},
        )


_ROW_FIELDS = tuple(
    name
    for name in CardOperation.__dataclass_fields__
    if name not in ("number_last4", "asset_code", "replayed")
)
_UUID_FIELDS = (
    "merchant_id",
    "id",
    "card_id",
    "program_id",
    "entry_id",
    "transfer_id",
    "related_id",
    "store_id",
    "terminal_id",
    "reseller_id",
)


def _json_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True, slots=True)
class IssuedCard:
    """A new card with its number and PIN: shown this once."""

    card: dict[str, Any]
    number: str
    pin: str | None
    page_url: str | None = None
    operation: CardOperation | None = None


@dataclass(frozen=True, slots=True)
class BatchActivation:
    """What a batch activation did."""

    activated: list[uuid.UUID] = field(default_factory=list)
    skipped: list[uuid.UUID] = field(default_factory=list)
    loaded_minor: int = 0
