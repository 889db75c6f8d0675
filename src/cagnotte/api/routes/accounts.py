"""Ledger accounts: balances and histories."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from cagnotte.api.deps import Caller, ServicesDep
from cagnotte.api.schemas import AccountOut, BalanceOut, TransferOut, TransferPage
from cagnotte.bootstrap import Services
from cagnotte.ledger import Account

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])


def account_out(services: Services, account: Account) -> AccountOut:
    return AccountOut(
        id=account.id,
        merchant_id=account.merchant_id,
        asset_code=account.asset_code,
        owner_type=account.owner_type,
        owner_id=account.owner_id,
        purpose=account.purpose,
        debits_must_not_exceed_credits=account.debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=account.credits_must_not_exceed_debits,
        frozen=account.frozen,
        created_at=account.created_at,
        balance=BalanceOut.of(services.ledger.balance(account)),
    )


def transfer_page(
    services: Services, account: Account, cursor: str | None, limit: int
) -> TransferPage:
    records, next_cursor = services.ledger.history(account, cursor=cursor, limit=limit)
    return TransferPage(items=[TransferOut.of(r) for r in records], next_cursor=next_cursor)


@router.get("/{account_id}")
def get_account(account_id: uuid.UUID, caller: Caller, services: ServicesDep) -> AccountOut:
    caller.require("cashier")
    return account_out(services, services.ledger.get_account(caller.merchant_id, account_id))


@router.get("/{account_id}/transfers")
def list_account_transfers(
    account_id: uuid.UUID,
    caller: Caller,
    services: ServicesDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TransferPage:
    """The account's transfers, newest first; pass next_cursor to get the next page."""
    caller.require("cashier")
    account = services.ledger.get_account(caller.merchant_id, account_id)
    return transfer_page(services, account, cursor, limit)
