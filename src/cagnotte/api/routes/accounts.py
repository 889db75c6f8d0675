"""Ledger accounts: balances and histories."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter

from cagnotte.api.deps import Caller, ServicesDep
from cagnotte.api.pagination import PageDep
from cagnotte.api.schemas import AccountOut, BalanceOut, TransferOut
from cagnotte.api.schemas.pages import Page
from cagnotte.bootstrap import Services
from cagnotte.db.pages import Order, PageRequest
from cagnotte.db.tables import accounts
from cagnotte.ledger import Account

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])

# A customer's accounts are a handful, read whole and paged in Python: oldest first.
ACCOUNT_ORDER = Order("accounts", (accounts.c.created_at, accounts.c.id))


def account_sort_key(account: Account) -> Sequence[Any]:
    return (account.created_at, account.id)


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


def transfer_page(services: Services, account: Account, page: PageRequest) -> Page[TransferOut]:
    return Page.of(services.ledger.history(account, page), TransferOut.of)


@router.get("/{account_id}")
def get_account(account_id: uuid.UUID, caller: Caller, services: ServicesDep) -> AccountOut:
    caller.require("cashier")
    return account_out(services, services.ledger.get_account(caller.merchant_id, account_id))


@router.get("/{account_id}/transfers")
def list_account_transfers(
    account_id: uuid.UUID,
    caller: Caller,
    services: ServicesDep,
    page: PageDep,
) -> Page[TransferOut]:
    """The account's transfers, newest first; pass next_cursor to get the next page."""
    caller.require("cashier")
    account = services.ledger.get_account(caller.merchant_id, account_id)
    return transfer_page(services, account, page)
