"""Request and response bodies. Amounts are integers of minor units, strictly."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from cagnotte.ledger import Balance, EntryResult, TransferRecord
from cagnotte.money import AMOUNT_MINOR_MAX

AmountMinor = Annotated[int, Field(strict=True, gt=0, le=AMOUNT_MINOR_MAX)]
AssetCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,23}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
Email = Annotated[EmailStr, StringConstraints(max_length=320)]


class Strict(BaseModel):
    """A request body: unknown fields are refused, and so is a NUL character in text."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _refuse_nul_characters(self) -> Strict:
        # PostgreSQL cannot store U+0000 in text; refuse it here rather than fail there.
        for name, value in self:
            if isinstance(value, str) and "\x00" in value:
                raise ValueError(f"{name} contains a NUL character")
        return self


# Merchants -------------------------------------------------------------------


class MerchantCreate(Strict):
    name: Name
    head_office_email: Email | None = None


class MerchantOut(BaseModel):
    id: uuid.UUID
    name: str
    status: Literal["active", "suspended"]
    head_office_email: str | None
    created_at: datetime


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    name: str
    role: Literal["operator", "owner", "manager", "cashier", "reseller"]
    key_prefix: str
    store_id: uuid.UUID | None
    terminal_id: uuid.UUID | None
    created_at: datetime
    revoked_at: datetime | None = None


class IssuedApiKeyOut(ApiKeyOut):
    secret: str = Field(description="The key itself. Shown this once; only a hash is kept.")


class MerchantCreated(MerchantOut):
    owner_key: IssuedApiKeyOut


class MerchantStatusChange(Strict):
    status: Literal["active", "suspended"]


class AssetCreate(Strict):
    code: AssetCode
    scale: Annotated[int, Field(strict=True, ge=0, le=8)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class AssetOut(BaseModel):
    code: str
    scale: int
    name: str
    merchant_id: uuid.UUID | None


class StoreCreate(Strict):
    name: Name
    address: Annotated[str, StringConstraints(max_length=500)] | None = None
    manager_email: Email | None = None


class StoreOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    name: str
    address: str | None
    manager_email: str | None
    created_at: datetime


class TerminalCreate(Strict):
    store_id: uuid.UUID
    kind: Literal["register", "kiosk", "e_store"]
    name: Name


class TerminalOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    store_id: uuid.UUID
    kind: Literal["register", "kiosk", "e_store"]
    name: str
    active: bool
    created_at: datetime


class TerminalCreated(TerminalOut):
    api_key: IssuedApiKeyOut


class StaffCreate(Strict):
    email: Email
    name: Name
    role: Literal["owner", "manager", "cashier"]
    password: Annotated[str, StringConstraints(min_length=10, max_length=200)] | None = None


class StaffOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    email: str
    name: str
    role: Literal["owner", "manager", "cashier"]
    active: bool
    locked_until: datetime | None
    created_at: datetime


class ApiKeyCreate(Strict):
    name: Name
    role: Literal["owner", "manager", "cashier"]
    store_id: uuid.UUID | None = None


# Customers -------------------------------------------------------------------


PersonName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]


class Profile(Strict):
    first_name: PersonName | None = None
    last_name: PersonName | None = None
    email: Email | None = None
    birth_date: date | None = None
    address: Annotated[str, StringConstraints(max_length=500)] | None = None
    consent_marketing_email: bool | None = None
    consent_marketing_sms: bool | None = None


def _without_default(schema: dict) -> None:
    schema.pop("default", None)


class ProfileChange(Profile):
    """A PATCH: only the fields sent change; null clears a text field, not a consent."""

    consent_marketing_email: bool = Field(default=None, json_schema_extra=_without_default)
    consent_marketing_sms: bool = Field(default=None, json_schema_extra=_without_default)


class CustomerEnrol(Profile):
    phone: Annotated[str, StringConstraints(min_length=3, max_length=32)] | None = Field(
        default=None, description="Any common notation; stored in E.164."
    )
    accept_terms: bool = False


class CustomerOut(BaseModel):
    id: uuid.UUID = Field(description="The membership id: this customer, at this merchant.")
    merchant_id: uuid.UUID
    status: Literal["active", "blocked"]
    phone: str | None
    email: str | None
    first_name: str | None
    last_name: str | None
    birth_date: date | None
    address: str | None
    consent_marketing_email: bool
    consent_marketing_sms: bool
    consent_terms_at: datetime | None
    last_visit_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, membership: dict) -> CustomerOut:
        return cls(**{key: membership.get(key) for key in cls.model_fields if key != "id"},
                   id=membership["id"])


class CustomerStatusChange(Strict):
    status: Literal["active", "blocked"]


# Ledger ----------------------------------------------------------------------


class BalanceOut(BaseModel):
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    balance_minor: int = Field(description="Posted credits less posted debits.")
    available_minor: int = Field(description="The balance less pending debits (holds).")

    @classmethod
    def of(cls, balance: Balance) -> BalanceOut:
        return cls(
            debits_posted=balance.debits_posted, credits_posted=balance.credits_posted,
            debits_pending=balance.debits_pending, credits_pending=balance.credits_pending,
            balance_minor=balance.credit_balance, available_minor=balance.available,
        )


class AccountOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    asset_code: str
    owner_type: str
    owner_id: uuid.UUID
    purpose: str
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    frozen: bool
    created_at: datetime
    balance: BalanceOut


class TransferOut(BaseModel):
    id: uuid.UUID
    kind: Literal["regular", "pending", "post", "void", "expire"]
    code: str
    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    asset_code: str
    amount_minor: int
    reference: str | None
    expires_at: datetime | None
    pending_id: uuid.UUID | None
    reverses_id: uuid.UUID | None
    created_at: datetime

    @classmethod
    def of(cls, record: TransferRecord) -> TransferOut:
        return cls(
            id=record.id, kind=record.kind, code=record.code,  # type: ignore[arg-type]
            debit_account_id=record.debit_account_id,
            credit_account_id=record.credit_account_id, asset_code=record.asset_code,
            amount_minor=record.amount, reference=record.reference,
            expires_at=record.expires_at, pending_id=record.pending_id,
            reverses_id=record.reverses_id, created_at=record.created_at,
        )


class TransferPage(BaseModel):
    items: list[TransferOut]
    next_cursor: str | None


class EntryOut(BaseModel):
    id: uuid.UUID
    kind: str
    created_at: datetime
    transfers: list[TransferOut]

    @classmethod
    def of(cls, entry: EntryResult) -> EntryOut:
        return cls(
            id=entry.entry_id, kind=entry.kind, created_at=entry.created_at,
            transfers=[TransferOut.of(t) for t in entry.transfers],
        )


# Wallets ---------------------------------------------------------------------


class WalletMovement(Strict):
    customer_id: uuid.UUID
    asset: AssetCode
    amount_minor: AmountMinor
    reference: ShortText | None = Field(default=None, description="e.g. the POS receipt number")


class RefundCreate(Strict):
    amount_minor: AmountMinor | None = Field(default=None, description="Omit for the whole rest.")


class AdjustmentCreate(Strict):
    customer_id: uuid.UUID
    asset: AssetCode
    amount_minor: AmountMinor
    direction: Literal["credit", "debit"]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]


class WalletEntryOut(BaseModel):
    id: uuid.UUID = Field(description="The journal entry: the payment, top-up, refund …")
    kind: str
    customer_id: uuid.UUID | None
    asset: str
    amount_minor: int
    reference: str | None
    wallet_account_id: uuid.UUID
    wallet_balance_minor: int | None = Field(description="The wallet's balance after this.")
    transfer: TransferOut
    created_at: datetime

    @classmethod
    def of(
        cls, entry: EntryResult, customer_id: uuid.UUID | None, wallet_account_id: uuid.UUID
    ) -> WalletEntryOut:
        transfer = entry.transfers[0]
        balance = entry.balances.get(wallet_account_id)
        return cls(
            id=entry.entry_id, kind=entry.kind, customer_id=customer_id,
            asset=transfer.asset_code, amount_minor=transfer.amount,
            reference=transfer.reference, wallet_account_id=wallet_account_id,
            wallet_balance_minor=balance.credit_balance if balance else None,
            transfer=TransferOut.of(transfer), created_at=entry.created_at,
        )


class PaymentOut(WalletEntryOut):
    refunded_minor: int = 0


# Customer sign-in ------------------------------------------------------------


class SignInCodeRequest(Strict):
    email: Email


class SignInCodeVerify(Strict):
    email: Email
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=12)]


class SessionOut(BaseModel):
    token: str
    expires_at: datetime


class MeOut(BaseModel):
    customer_id: uuid.UUID
    memberships: list[CustomerOut]
