"""The bonus tables' rows as typed values, and the JSON an answer is stored as.

A row is read once into a frozen value; the use cases ask it questions
(`campaign.is_closed`) instead of indexing a dict. `as_json` / `from_json` turn
these values (and answers built of them) into the JSON an Idempotency-Key's
record keeps, and back.
"""

from __future__ import annotations

import dataclasses
import types
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")

CampaignStatus = Literal["awaiting_funding", "active", "stopped", "settled", "cancelled"]
RestDestination = Literal["business_account", "bank"]
BankPaymentStatus = Literal["matched", "unmatched", "assigned"]
PayoutStatus = Literal["pending", "paid"]
# What one redemption attempt came to (bonus_attempts.outcome): not_valid_now is a
# real code outside its validity, customer_blocked a member its merchant blocked.
AttemptOutcome = Literal["redeemed", "wrong", "not_valid_now", "customer_blocked", "captcha_wrong"]


@dataclass(frozen=True, slots=True)
class Campaign:
    """A bonus campaign as stored: what the merchant asked for and where it stands."""

    merchant_id: uuid.UUID
    id: uuid.UUID
    name: str
    description: str
    asset_code: str
    bonus_value_minor: int
    code_count: int
    funding_required_minor: int
    valid_from: datetime
    valid_to: datetime
    rest_destination: RestDestination
    bank_account: str | None
    variable_symbol: str
    notify_email: str | None
    status: CampaignStatus
    escrow_account_id: uuid.UUID
    requested_by: str
    rest_minor: int | None
    created_at: datetime
    funded_at: datetime | None
    stopped_at: datetime | None
    settled_at: datetime | None

    def __post_init__(self) -> None:
        assert self.bonus_value_minor > 0 and self.code_count > 0
        assert self.funding_required_minor == self.bonus_value_minor * self.code_count
        assert self.rest_destination == "business_account" or self.bank_account

    @property
    def is_closed(self) -> bool:
        """Settled or cancelled: its rest has left, nothing more happens to it."""
        return self.status in ("settled", "cancelled")

    def is_valid_at(self, moment: datetime) -> bool:
        return self.valid_from <= moment < self.valid_to


@dataclass(frozen=True, slots=True)
class BonusCode:
    """One code, known by its keyed hash; its merchant and campaign; whether used."""

    code_hash: bytes
    merchant_id: uuid.UUID
    campaign_id: uuid.UUID
    last_characters: str
    redeemed_at: datetime | None
    redeemed_by: uuid.UUID | None
    transfer_id: uuid.UUID | None
    # The id of the key code_hash was made under; None from before ids were kept.
    code_key_id: str | None = None

    @property
    def is_redeemed(self) -> bool:
        return self.redeemed_at is not None


@dataclass(frozen=True, slots=True)
class Member:
    """A customer's membership at a code's merchant, as a redemption needs it."""

    id: uuid.UUID
    status: Literal["active", "blocked"]


@dataclass(frozen=True, slots=True)
class MaskedCode:
    """A code as the merchant sees it once the plain codes are gone."""

    last_characters: str
    redeemed_at: datetime | None


@dataclass(frozen=True, slots=True)
class BankPayment:
    """Money the operator saw arrive on the platform's bank account, and where it went."""

    id: uuid.UUID
    asset_code: str
    amount_minor: int
    variable_symbol: str | None
    received_at: datetime
    note: str | None
    status: BankPaymentStatus
    merchant_id: uuid.UUID | None
    campaign_id: uuid.UUID | None
    to_campaign_minor: int
    to_business_minor: int
    recorded_by: str
    created_at: datetime

    def __post_init__(self) -> None:
        assert self.amount_minor > 0
        assert self.status == "unmatched" or (
            self.to_campaign_minor + self.to_business_minor == self.amount_minor
        )


@dataclass(frozen=True, slots=True)
class Payout:
    """A campaign's rest owed to the merchant's bank account until the operator pays it."""

    merchant_id: uuid.UUID
    id: uuid.UUID
    campaign_id: uuid.UUID
    asset_code: str
    amount_minor: int
    bank_account: str
    status: PayoutStatus
    created_at: datetime
    paid_at: datetime | None
    paid_by: str | None

    def __post_init__(self) -> None:
        assert self.amount_minor > 0


def row_of(cls: type[T], row: Mapping[str, Any]) -> T:
    """A table row (its mapping) as the value `cls`."""
    return cls(**row)


# JSON ------------------------------------------------------------------------


def as_json(value: Any) -> Any:
    """A row or an answer made of rows as JSON: ids and moments as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: as_json(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [as_json(item) for item in value]
    return value


def from_json(cls: type[T], data: Mapping[str, Any]) -> T:
    """The value `as_json` turned into `data`, rebuilt from its fields' types."""
    hints = get_type_hints(cls)
    return cls(
        **{
            field.name: _decoded(hints[field.name], data[field.name])
            for field in dataclasses.fields(cls)  # type: ignore[arg-type]
        }
    )


def _decoded(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    if get_origin(hint) in (Union, types.UnionType):
        (hint,) = [arg for arg in get_args(hint) if arg is not type(None)]
    if hint is uuid.UUID:
        return uuid.UUID(value)
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is bytes:
        return bytes.fromhex(value)
    if dataclasses.is_dataclass(hint):
        return from_json(hint, value)  # type: ignore[arg-type]
    return value
