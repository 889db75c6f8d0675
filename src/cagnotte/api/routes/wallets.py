"""Prepaid wallets at the register: top-up, payment, refund, manual adjustment."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status
from starlette.concurrency import run_in_threadpool

from cagnotte.api.deps import Caller, ServicesDep, ValueMoveDep
from cagnotte.api.lean import LeanValueMoveRoute
from cagnotte.api.schemas import (
    AdjustmentCreate,
    PaymentOut,
    RefundCreate,
    WalletEntryOut,
    WalletMovement,
)
from cagnotte.ledger import EntryResult

router = APIRouter(prefix="/v1", tags=["wallets"])

REPLAY_HEADER = "Idempotent-Replayed"


def _created(answer: WalletEntryOut, entry: EntryResult) -> Response:
    """201 with the answer serialised once, marked when it replays the first one.

    The value-moving routes below are the hot path (every payment at every
    register). They are `async def` and hand the service call, which waits for
    the database, to the thread pool once; returning a ready Response skips
    FastAPI's second validation of the answer (another thread-pool hop). The
    `response_model` of each route still documents the answer in the OpenAPI.
    """
    headers = {REPLAY_HEADER: "true"} if entry.replayed else None
    return Response(
        answer.model_dump_json(),
        status_code=status.HTTP_201_CREATED,
        media_type="application/json",
        headers=headers,
    )


async def top_up_wallet(body: WalletMovement, move: ValueMoveDep) -> Response:
    """Credit a customer's wallet with money paid to the merchant."""
    entry = await run_in_threadpool(
        move.services.wallets.top_up,
        move.caller,
        membership_id=body.customer_id,
        asset_code=body.asset,
        amount=body.amount_minor,
        reference=body.reference,
        idempotency=move.idempotency,
    )
    return _created(
        WalletEntryOut.of(entry, body.customer_id, entry.transfers[0].credit_account_id), entry
    )


# The register's hot path: a well-formed request skips FastAPI's general dependency
# solving (api/lean.py); the route, and so the OpenAPI, is the same.
router.add_api_route(
    "/wallet/top-ups",
    top_up_wallet,
    methods=["POST"],
    status_code=status.HTTP_201_CREATED,
    response_model=WalletEntryOut,
    route_class_override=LeanValueMoveRoute,
)


async def create_payment(body: WalletMovement, move: ValueMoveDep) -> Response:
    """Pay from the customer's wallet to the merchant: all of it, or refused."""
    entry = await move.services.wallets.pay_async(
        move.caller,
        membership_id=body.customer_id,
        asset_code=body.asset,
        amount=body.amount_minor,
        reference=body.reference,
        idempotency=move.idempotency,
    )
    return _created(
        PaymentOut.of(entry, body.customer_id, entry.transfers[0].debit_account_id), entry
    )


router.add_api_route(
    "/payments",
    create_payment,
    methods=["POST"],
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentOut,
    route_class_override=LeanValueMoveRoute,
)


@router.get("/payments/{payment_id}")
def get_payment(payment_id: uuid.UUID, caller: Caller, services: ServicesDep) -> PaymentOut:
    entry = services.wallets.get_payment(caller, payment_id)
    wallet_id = entry.transfers[0].debit_account_id
    wallet = services.ledger.get_account(caller.merchant_id, wallet_id)
    payment = PaymentOut.of(entry, wallet.owner_id, wallet_id)
    payment.refunded_minor = services.wallets.refunded_amount(caller, entry)
    return payment


@router.post(
    "/payments/{payment_id}/refunds",
    status_code=status.HTTP_201_CREATED,
    response_model=WalletEntryOut,
)
def refund_payment(payment_id: uuid.UUID, body: RefundCreate, move: ValueMoveDep) -> Response:
    """Give back (part of) a payment; refunds add up to at most the payment."""
    entry = move.services.wallets.refund(
        move.caller,
        payment_id=payment_id,
        amount=body.amount_minor,
        idempotency=move.idempotency,
    )
    wallet_id = entry.transfers[0].credit_account_id
    wallet = move.services.ledger.get_account(move.caller.merchant_id, wallet_id)
    return _created(WalletEntryOut.of(entry, wallet.owner_id, wallet_id), entry)


@router.post("/adjustments", status_code=status.HTTP_201_CREATED, response_model=WalletEntryOut)
def adjust_wallet(body: AdjustmentCreate, move: ValueMoveDep) -> Response:
    """A manager credits or debits a wallet by hand, with a reason (audited)."""
    entry = move.services.wallets.adjust(
        move.caller,
        membership_id=body.customer_id,
        asset_code=body.asset,
        amount=body.amount_minor,
        direction=body.direction,
        reason=body.reason,
        idempotency=move.idempotency,
    )
    transfer = entry.transfers[0]
    wallet_id = (
        transfer.credit_account_id if body.direction == "credit" else (transfer.debit_account_id)
    )
    return _created(WalletEntryOut.of(entry, body.customer_id, wallet_id), entry)
