"""Gift card request and answer bodies.

A program's bodies are not written out field by field: they are made from the
one list of its settings, `programs.gift_cards.program.Program` — each
setting's type, bounds, default and whether it may change — so that a new
setting is one new field there. The shapes (and so the OpenAPI) are those the
classes written by hand had:
- `ProgramCreate`: the name, the asset and the load range are needed; every
  other setting may be left out (or null) for its default;
- `ProgramChange`: a PATCH of the controls; a limit is lifted with null, a
  setting that always has a value takes no null;
- `ProgramOut`: every field of the program, the asset_code named `asset`.
"""

from __future__ import annotations

import dataclasses
import typing
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, create_model, model_validator

from cagnotte.api.schemas.base import (
    AmountMinor,
    AssetCode,
    Email,
    Name,
    Strict,
    example,
    without_default,
)
from cagnotte.api.schemas.merchants import IssuedApiKeyOut
from cagnotte.programs.gift_cards.program import PROGRAM_SETTINGS, Program, ProgramSetting
from cagnotte.programs.gift_cards.rows import Batch, Reseller
from cagnotte.programs.gift_cards.views import CardOperation

CardNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Pin = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=12)]
Invoice = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Count = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
# The program's fields by another name on the wire.
_WIRE_NAMES = {"asset_code": "asset"}


# Programs ----------------------------------------------------------------------------


def _request_type(setting: ProgramSetting) -> Any:
    """What a request may send for one setting (without null)."""
    how = setting.setting
    if setting.value_type is bool:
        return bool
    if how.amount:
        return AmountMinor
    if setting.value_type is int:
        return Annotated[int, Field(strict=True, ge=how.minimum, le=how.maximum)]
    return Annotated[str, StringConstraints(pattern=how.pattern)]


def _optional(setting: ProgramSetting) -> tuple[Any, Any]:
    return _request_type(setting) | None, None


def _controls() -> type[Strict]:
    """Every control, optional: the base of the create and the change."""
    controls = {
        setting.name: _optional(setting)
        for setting in PROGRAM_SETTINGS
        if setting.setting.changeable
    }
    return create_model("ProgramControls", __base__=Strict, **controls)


ProgramControls = _controls()


class _ProgramChangeBase(ProgramControls):
    """A PATCH: the controls sent change. A limit is lifted with null; a setting that
    always has a value (a flag, the load range, the PIN rules) takes no null."""

    @model_validator(mode="after")
    def _something_to_change(self) -> _ProgramChangeBase:
        if not self.model_fields_set:
            raise ValueError("name at least one control to change")
        return self


def _change() -> type[BaseModel]:
    # A setting that always has a value may be left out, but not sent as null.
    fields = {
        setting.name: (
            _request_type(setting),
            Field(default=None, json_schema_extra=without_default),
        )
        for setting in PROGRAM_SETTINGS
        if setting.setting.changeable and not setting.nullable
    }
    return create_model(
        "ProgramChange", __base__=_ProgramChangeBase, __doc__=_ProgramChangeBase.__doc__, **fields
    )


ProgramChange = example({"load_max_minor": 1500000, "spends_per_card_per_day_max": 10})(_change())


class _ProgramCreateBase(ProgramControls):
    name: Name
    asset: AssetCode


def _create() -> type[BaseModel]:
    # The settings without a default are needed; the card format may be chosen.
    fields: dict[str, Any] = {}
    for setting in PROGRAM_SETTINGS:
        if setting.required:
            fields[setting.name] = (_request_type(setting), ...)
        elif not setting.setting.changeable:
            fields[setting.name] = _optional(setting)
    return create_model("ProgramCreate", __base__=_ProgramCreateBase, **fields)


ProgramCreate = example(
    {
        "name": "Café Bleu gift card",
        "asset": "CZK",
        "load_min_minor": 20000,
        "load_max_minor": 1000000,
        "balance_max_minor": 2000000,
        "expiry_months": 24,
    }
)(_create())


class _ProgramAnswer(BaseModel):
    @classmethod
    def of(cls, program: Program) -> BaseModel:
        data = dataclasses.asdict(program)
        return cls(**{_WIRE_NAMES.get(name, name): value for name, value in data.items()})


def _answer() -> type[_ProgramAnswer]:
    hints = typing.get_type_hints(Program)
    # The id first, as in every answer of the API.
    names = sorted((field.name for field in dataclasses.fields(Program)), key=lambda n: n != "id")
    fields = {_WIRE_NAMES.get(name, name): (hints[name], ...) for name in names}
    return create_model("ProgramOut", __base__=_ProgramAnswer, **fields)


ProgramOut = _answer()


# Batches, cards and operations -------------------------------------------------------


@example({"card_count": 500, "note": "Christmas print run"})
class BatchCreate(Strict):
    card_count: Annotated[int, Field(strict=True, ge=1, le=5_000)]
    note: Annotated[str, StringConstraints(max_length=200)] | None = None


class BatchOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    program_id: uuid.UUID
    card_count: int
    note: str | None
    exported_at: datetime | None
    created_at: datetime
    cards_by_state: dict[str, int]

    @classmethod
    def of(cls, batch: Batch) -> BatchOut:
        return cls(**dataclasses.asdict(batch))


@example({"sequence_from": 1, "sequence_to": 100, "load_minor": 50000})
class BatchActivationCreate(Strict):
    """The whole batch (nothing else given), a range of its sequence numbers, or a list."""

    sequence_from: Annotated[int, Field(strict=True, ge=1)] | None = None
    sequence_to: Annotated[int, Field(strict=True, ge=1)] | None = None
    numbers: Annotated[list[CardNumber], Field(min_length=1, max_length=5_000)] | None = None
    load_minor: AmountMinor | None = None

    @model_validator(mode="after")
    def _one_selection(self) -> BatchActivationCreate:
        if self.numbers is not None and (self.sequence_from or self.sequence_to):
            raise ValueError("give a range or a list of numbers, not both")
        return self


class BatchActivationOut(BaseModel):
    activated: list[uuid.UUID]
    skipped: list[uuid.UUID]
    loaded_minor: int


class CardOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    program_id: uuid.UUID
    kind: Literal["plastic", "virtual"]
    state: Literal["inactive", "active", "frozen", "closed"]
    number_last4: str
    asset: str
    balance_minor: int
    available_minor: int = Field(description="The balance less open authorisations.")
    pin_failures: int
    locked_until: datetime | None
    batch_id: uuid.UUID | None
    batch_sequence: int | None
    membership_id: uuid.UUID | None
    registered_at: datetime | None
    recipient_email: str | None
    activated_at: datetime | None
    expires_at: datetime | None
    closed_at: datetime | None
    closed_reason: str | None
    replaced_by: uuid.UUID | None
    created_at: datetime


class OperationOut(BaseModel):
    id: uuid.UUID
    kind: str
    card_id: uuid.UUID
    program_id: uuid.UUID
    number_last4: str
    asset: str
    amount_minor: int
    requested_minor: int
    rest_due_minor: int = Field(description="For a spend that took what the card held.")
    balance_after_minor: int
    entry_id: uuid.UUID | None
    related_id: uuid.UUID | None
    invoice_number: str | None
    hold_expires_at: datetime | None
    store_id: uuid.UUID | None
    terminal_id: uuid.UUID | None
    reseller_id: uuid.UUID | None
    created_at: datetime

    @classmethod
    def of(cls, operation: CardOperation) -> OperationOut:
        data = dataclasses.asdict(operation)
        data["asset"] = data.pop("asset_code")
        return cls(**data, rest_due_minor=operation.rest_due_minor)


@example(
    {
        "program_id": "0e7d6c5b-4a39-4281-8f7e-6d5c4b3a2910",
        "amount_minor": 100000,
        "recipient_email": "petr@example.com",
        "recipient_name": "Petr",
        "sender_name": "Jana",
        "message": "Happy birthday!",
    }
)
class ECardCreate(Strict):
    program_id: uuid.UUID
    amount_minor: AmountMinor
    recipient_email: Email
    recipient_name: Name | None = None
    sender_name: Name | None = None
    message: Annotated[str, StringConstraints(max_length=500)] | None = None
    invoice_number: Invoice | None = None


class IssuedCardOut(BaseModel):
    card: CardOut
    number: str | None = Field(
        description="Shown to the issuing request, and again to its retry with the same "
        "Idempotency-Key (sealed under that key meanwhile)."
    )
    pin: str | None
    page_url: str | None
    operation: OperationOut | None


@example({"idempotency_key": "0b1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"})
class ECardMailResend(Strict):
    """Mail an e-card again: only the holder of the key it was issued with may."""

    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=150)] = Field(
        description="The Idempotency-Key the e-card was issued with."
    )
    recipient_email: Email | None = Field(
        default=None, description="Another address (else the first one)."
    )


@example({"number": "6280001234567890", "amount_minor": 50000})
class ActivationCreate(Strict):
    number: CardNumber
    amount_minor: AmountMinor | None = None
    invoice_number: Invoice | None = None


@example({"number": "6280001234567890", "amount_minor": 30000})
class LoadCreate(Strict):
    number: CardNumber
    amount_minor: AmountMinor
    invoice_number: Invoice | None = None


@example({"number": "6280001234567890", "pin": "4821", "amount_minor": 12900})
class SpendCreate(Strict):
    number: CardNumber
    pin: Pin | None = None
    amount_minor: AmountMinor
    invoice_number: Invoice | None = None
    take_what_is_there: bool = Field(
        default=False,
        description="Beyond the balance, take what the card holds and report the rest due.",
    )


@example({"number": "6280001234567890", "pin": "4821", "amount_minor": 25000})
class AuthorisationCreate(Strict):
    number: CardNumber
    pin: Pin | None = None
    amount_minor: AmountMinor
    invoice_number: Invoice | None = None


@example({"number": "6280001234567890", "pin": "4821"})
class CardCredentials(Strict):
    number: CardNumber
    pin: Pin | None = None


@example({"amount_minor": 5000})
class PartialAmount(Strict):
    amount_minor: AmountMinor | None = None


@example({"from_number": "6280001234567890", "from_pin": "4821", "to_number": "6280009876543210"})
class BalanceTransferCreate(Strict):
    """The old card by id (back office) or by number and PIN (register); the new by number."""

    from_card_id: uuid.UUID | None = None
    from_number: CardNumber | None = None
    from_pin: Pin | None = None
    to_number: CardNumber

    @model_validator(mode="after")
    def _one_source(self) -> BalanceTransferCreate:
        if (self.from_card_id is None) == (self.from_number is None):
            raise ValueError("give from_card_id or from_number")
        return self


class BalanceTransferOut(BaseModel):
    transfer_out: OperationOut
    transfer_in: OperationOut


@example({"amount_minor": 10000, "direction": "credit", "reason": "Card reader charged twice"})
class CardAdjustmentCreate(Strict):
    amount_minor: AmountMinor
    direction: Literal["credit", "debit"]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]


@example(
    {
        "customer_id": "5b2f8f1e-8a3c-4d61-9a57-0c2f6f0d9b11",
        "number": "6280001234567890",
        "pin": "4821",
    }
)
class RegistrationCreate(Strict):
    customer_id: uuid.UUID
    number: CardNumber
    pin: Pin | None = None


@example(
    {
        "merchant_id": "c0ffee00-1234-4abc-8def-0123456789ab",
        "number": "6280001234567890",
        "pin": "4821",
    }
)
class OwnRegistrationCreate(Strict):
    """A customer's own card: the merchant of their membership, the number and the PIN."""

    merchant_id: uuid.UUID
    number: CardNumber
    pin: Pin


@example(
    {
        "customer_id": "5b2f8f1e-8a3c-4d61-9a57-0c2f6f0d9b11",
        "card_id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
    }
)
class ProfileBonusCreate(Strict):
    customer_id: uuid.UUID
    card_id: uuid.UUID


@example({"kind": "large_load", "threshold_minor": 500000, "notify_head_office": True})
class AlertRuleCreate(Strict):
    kind: Literal[
        "wrong_pins",
        "large_load",
        "large_spend",
        "card_velocity",
        "terminal_card_checks",
        "balance_transfer",
        "manual_adjustment",
    ]
    program_id: uuid.UUID | None = None
    threshold_count: Count | None = None
    threshold_minor: AmountMinor | None = None
    window_minutes: Annotated[int, Field(strict=True, ge=1, le=10_080)] | None = None
    notify_head_office: bool = True
    notify_store_manager: bool = False


class AlertRuleOut(BaseModel):
    id: uuid.UUID
    kind: str
    program_id: uuid.UUID | None
    threshold_count: int | None
    threshold_minor: int | None
    window_minutes: int | None
    notify_head_office: bool
    notify_store_manager: bool
    active: bool
    created_at: datetime


@example({"active": False})
class AlertRuleChange(Strict):
    active: bool


class AlertOut(BaseModel):
    id: uuid.UUID
    rule_id: uuid.UUID
    kind: str
    card_id: uuid.UUID | None
    store_id: uuid.UUID | None
    terminal_id: uuid.UUID | None
    summary: str
    details: dict[str, Any]
    mailed_to: list[str]
    created_at: datetime


@example(
    {
        "name": "City Mall kiosk",
        "email": "sales@citymall.example",
        "program_ids": ["0e7d6c5b-4a39-4281-8f7e-6d5c4b3a2910"],
    }
)
class ResellerCreate(Strict):
    name: Name
    email: Email | None = None
    program_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=100)]


class ResellerOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    name: str
    email: str | None
    api_key_id: uuid.UUID
    program_ids: list[uuid.UUID]
    created_at: datetime

    @classmethod
    def of(cls, reseller: Reseller, **more: Any) -> ResellerOut:
        return cls(**dataclasses.asdict(reseller), **more)


class ResellerCreated(ResellerOut):
    api_key: IssuedApiKeyOut
