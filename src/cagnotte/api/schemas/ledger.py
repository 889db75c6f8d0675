"""Ledger accounts, balances, transfers and journal entries, as answered."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from cagnotte.ledger import Balance, EntryResult, TransferRecord


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
            debits_posted=balance.debits_posted,
            credits_posted=balance.credits_posted,
            debits_pending=balance.debits_pending,
            credits_pending=balance.credits_pending,
            balance_minor=balance.credit_balance,
            available_minor=balance.available,
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
            id=record.id,
            kind=record.kind,
            code=record.code,  # type: ignore[arg-type]
            debit_account_id=record.debit_account_id,
            credit_account_id=record.credit_account_id,
            asset_code=record.asset_code,
            amount_minor=record.amount,
            reference=record.reference,
            expires_at=record.expires_at,
            pending_id=record.pending_id,
            reverses_id=record.reverses_id,
            created_at=record.created_at,
        )


class EntryOut(BaseModel):
    id: uuid.UUID
    kind: str
    created_at: datetime
    transfers: list[TransferOut]

    @classmethod
    def of(cls, entry: EntryResult) -> EntryOut:
        return cls(
            id=entry.entry_id,
            kind=entry.kind,
            created_at=entry.created_at,
            transfers=[TransferOut.of(t) for t in entry.transfers],
        )
