"""Prepaid wallets at the register: top-up, payment, refund, manual adjustment."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from cagnotte.api.deps import Caller, IdempotencyDep, ServicesDep
from cagnotte.api.problems import PROBLEM_RESPONSES
from cagnotte.api.schemas import (
    AdjustmentCreate,
    PaymentOut,
    RefundCreate,
    WalletEntryOut,
    WalletMovement,
)
from cagnotte.ledger import EntryResult

router = APIRouter(prefix="/v1", tags=["wallets"], responses=PROBLEM_RESPONSES)

REPLAY_HEADER = "Idempotent-Replayed"


def _mark_replay(response: Response, entry: EntryResult) -> None:
    if entry.replayed:
        response.headers[REPLAY_HEADER] = "true"


@router.post("/wallet/top-ups", status_code=status.HTTP_201_CREATED)
def top_up_wallet(
    body: WalletMovement, caller: Caller, services: ServicesDep, idempotency: IdempotencyDep,
    response: Response,
) -> WalletEntryOut:
    """Credit a customer's wallet with money paid to the merchant."""
    entry = services.wallets.top_up(
        caller, membership_id=body.customer_id, asset_code=body.asset, amount=body.amount_minor,
        reference=body.reference, idempotency=idempotency,
    )
    _mark_replay(response, entry)
    return WalletEntryOut.of(entry, body.customer_id, entry.transfers[0].credit_account_id)


@router.post("/payments", status_code=status.HTTP_201_CREATED)
def create_payment(
    body: WalletMovement, caller: Caller, services: ServicesDep, idempotency: IdempotencyDep,
    response: Response,
) -> PaymentOut:
    """Pay from the customer's wallet to the merchant: all of it, or refused."""
    entry = services.wallets.pay(
        caller, membership_id=body.customer_id, asset_code=body.asset, amount=body.amount_minor,
        reference=body.reference, idempotency=idempotency,
    )
    _mark_replay(response, entry)
    return PaymentOut.of(entry, body.customer_id, entry.transfers[0].debit_account_id)


@router.get("/payments/{payment_id}")
def get_payment(payment_id: uuid.UUID, caller: Caller, services: ServicesDep) -> PaymentOut:
    entry = services.wallets.get_payment(caller, payment_id)
    wallet_id = entry.transfers[0].debit_account_id
    wallet = services.ledger.get_account(caller.merchant_id, wallet_id)
    payment = PaymentOut.of(entry, wallet.owner_id, wallet_id)
    payment.refunded_minor = services.wallets.refunded_amount(caller, entry)
    return payment


@router.post("/payments/{payment_id}/refunds", status_code=status.HTTP_201_CREATED)
def refund_payment(
    payment_id: uuid.UUID, body: RefundCreate, caller: Caller, services: ServicesDep,
    idempotency: IdempotencyDep, response: Response,
) -> WalletEntryOut:
    """Give back (part of) a payment; refunds add up to at most the payment."""
    entry = services.wallets.refund(
        caller, payment_id=payment_id, amount=body.amount_minor, idempotency=idempotency
    )
    _mark_replay(response, entry)
    wallet_id = entry.transfers[0].credit_account_id
    wallet = services.ledger.get_account(caller.merchant_id, wallet_id)
    return WalletEntryOut.of(entry, wallet.owner_id, wallet_id)


@router.post("/adjustments", status_code=status.HTTP_201_CREATED)
def adjust_wallet(
    body: AdjustmentCreate, caller: Caller, services: ServicesDep, idempotency: IdempotencyDep,
    response: Response,
) -> WalletEntryOut:
    """A manager credits or debits a wallet by hand, with a reason (audited)."""
    entry = services.wallets.adjust(
        caller, membership_id=body.customer_id, asset_code=body.asset, amount=body.amount_minor,
        direction=body.direction, reason=body.reason, idempotency=idempotency,
    )
    _mark_replay(response, entry)
    transfer = entry.transfers[0]
    wallet_id = transfer.credit_account_id if body.direction == "credit" else (
        transfer.debit_account_id
    )
    return WalletEntryOut.of(entry, body.customer_id, wallet_id)
