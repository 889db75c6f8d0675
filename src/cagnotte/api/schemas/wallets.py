"""Wallets: top-ups, payments, refunds, adjustments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from cagnotte.api.schemas.base import AmountMinor, AssetCode, ShortText, Strict, example
from cagnotte.api.schemas.ledger import TransferOut
from cagnotte.ledger import EntryResult


@example(
    {
        "customer_id": "5b2f8f1e-8a3c-4d61-9a57-0c2f6f0d9b11",
        "asset": "CZK",
        "amount_minor": 1250,
        "reference": "till-1/2041",
    }
)
class WalletMovement(Strict):
    customer_id: uuid.UUID
    asset: AssetCode
    amount_minor: AmountMinor
    reference: ShortText | None = Field(default=None, description="e.g. the POS receipt number")


@example({"amount_minor": 500})
class RefundCreate(Strict):
    amount_minor: AmountMinor | None = Field(default=None, description="Omit for the whole rest.")


@example(
    {
        "customer_id": "5b2f8f1e-8a3c-4d61-9a57-0c2f6f0d9b11",
        "asset": "CZK",
        "amount_minor": 2000,
        "direction": "credit",
        "reason": "Goodwill after a broken machine",
    }
)
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
            id=entry.entry_id,
            kind=entry.kind,
            customer_id=customer_id,
            asset=transfer.asset_code,
            amount_minor=transfer.amount,
            reference=transfer.reference,
            wallet_account_id=wallet_account_id,
            wallet_balance_minor=balance.credit_balance if balance else None,
            transfer=TransferOut.of(transfer),
            created_at=entry.created_at,
        )


class PaymentOut(WalletEntryOut):
    refunded_minor: int = 0
