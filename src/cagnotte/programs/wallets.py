"""Merchant wallets: prepaid money a customer keeps with one merchant.

A cashier tops a wallet up (the customer paid the merchant), a register takes a
payment from it and can refund it, a manager can adjust it with a reason.

Accounts, per merchant and asset:
- the customer's `wallet` (owner the membership): never below zero;
- the merchant's `wallet_funding`: the other side of every top-up, unlimited;
- the merchant's `settlement`: where payments land, a hot account spread over
  shards so that concurrent payments do not queue on one row;
- the merchant's `adjustments`: the other side of manual corrections.

Errors: not_found, asset_not_found, insufficient_funds, customer_blocked,
reversal_exceeds_transfer, idempotency_key_reused, forbidden.

Every top-up, payment and refund is told to the merchant's webhook endpoints
(`webhooks.emit`, in the entry's transaction). When the merchant has none, a
movement stays the one-statement entry of `commit_plan_alone`; when it has one,
it takes a unit of work, so that the event lands with the entry or not at all.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from sqlalchemy import func, select

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.clock import Clock
from cagnotte.crm.service import CustomerService
from cagnotte.db.engine import Database
from cagnotte.db.tables import assets, transfers
from cagnotte.db.unit_of_work import Idempotency, UnitOfWork, UnitsOfWork
from cagnotte.ledger import AccountSpec, EntryResult, Ledger, Reverse, Transfer
from cagnotte.ledger.model import Account
from cagnotte.programs.tenders import Plan, commit_plan_alone, commit_plan_alone_async
from cagnotte.security.principals import Principal
from cagnotte.webhooks.service import WebhookService, emit

SETTLEMENT_SHARDS = 16


class WalletService:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        ledger: Ledger,
        customers: CustomerService,
        units: UnitsOfWork | None = None,
        *,
        webhooks: WebhookService | None = None,
    ) -> None:
        self.database = database
        self.webhooks = webhooks
        self.units = units or UnitsOfWork(database, clock)
        self.clock = clock
        self.ledger = ledger
        self.customers = customers
        self._assets: dict[str, uuid.UUID | None] = {}
        self._assets_lock = threading.Lock()

    # Accounts ----------------------------------------------------------------

    def wallet_account(
        self, merchant_id: uuid.UUID, membership_id: uuid.UUID, asset_code: str
    ) -> Account:
        """The customer's wallet in this asset, opened (frozen if blocked) on first use."""
        self._require_asset(merchant_id, asset_code)
        spec = _wallet_spec(membership_id, asset_code)
        if self.customers.is_known(merchant_id, membership_id):
            return self.ledger.open_account(merchant_id, spec)
        status = self.customers.require_membership(merchant_id, membership_id)
        account = self.ledger.open_account(merchant_id, spec)
        if status == "blocked" and not account.frozen:
            with self.database.transaction() as connection:
                self.ledger.set_frozen(connection, merchant_id, [account.id], frozen=True)
        return account

    def merchant_account(self, merchant_id: uuid.UUID, asset_code: str, purpose: str) -> Account:
        spec = _merchant_spec(merchant_id, asset_code, purpose)
        return self.ledger.open_account(merchant_id, spec)

    def _known_accounts(
        self, merchant_id: uuid.UUID, membership_id: uuid.UUID, asset_code: str, purpose: str
    ) -> tuple[Account, Account] | None:
        """The wallet and the merchant's account, if both are known without a query."""
        if asset_code not in self._assets or not self.customers.is_known(
            merchant_id, membership_id
        ):
            return None
        self._require_asset(merchant_id, asset_code)  # known: no query
        wallet = self.ledger.cached_account(merchant_id, _wallet_spec(membership_id, asset_code))
        other = self.ledger.cached_account(
            merchant_id, _merchant_spec(merchant_id, asset_code, purpose)
        )
        return None if wallet is None or other is None else (wallet, other)

    def _require_asset(self, merchant_id: uuid.UUID, asset_code: str) -> None:
        if asset_code not in self._assets:
            with self.database.read() as connection:
                row = connection.execute(
                    select(assets.c.merchant_id).where(assets.c.code == asset_code)
                ).first()
            if row is None:
                raise errors.AssetNotFound()
            with self._assets_lock:
                self._assets[asset_code] = row.merchant_id
        owner = self._assets[asset_code]
        if owner is not None and owner != merchant_id:
            raise errors.AssetNotFound()

    # Use cases -----------------------------------------------------------------

    def top_up(
        self,
        caller: Principal,
        *,
        membership_id: uuid.UUID,
        asset_code: str,
        amount: int,
        reference: str | None,
        idempotency: Idempotency,
    ) -> EntryResult:
        """Credit the wallet with money the customer paid the merchant."""
        caller.require("cashier")
        wallet = self.wallet_account(caller.merchant_id, membership_id, asset_code)
        funding = self.merchant_account(caller.merchant_id, asset_code, "wallet_funding")
        plan = Plan(
            "wallet",
            (Transfer(funding.id, wallet.id, amount, "wallet_top_up", reference),),
            amount=amount,
        )
        event = _movement(membership_id, asset_code, amount, reference)
        return self._commit(caller, plan, "wallet_top_up", idempotency, ("wallet.top_up", event))

    def pay(
        self,
        caller: Principal,
        *,
        membership_id: uuid.UUID,
        asset_code: str,
        amount: int,
        reference: str | None,
        idempotency: Idempotency,
    ) -> EntryResult:
        """Take a payment from the customer's wallet to the merchant (one round trip)."""
        caller.require("cashier")
        accounts = self.payment_accounts(caller.merchant_id, membership_id, asset_code)
        plan = self.plan_payment(accounts, amount, reference)
        event = _movement(membership_id, asset_code, amount, reference)
        return self._commit(caller, plan, "wallet_payment", idempotency, ("wallet.payment", event))

    def payment_accounts(
        self, merchant_id: uuid.UUID, membership_id: uuid.UUID, asset_code: str
    ) -> WalletAccounts:
        """The accounts a payment from this wallet moves between, opened if need be.

        Opened before a unit of work begins (an account is opened in a
        transaction of its own, which must not wait for the unit's write lock).
        """
        return WalletAccounts(
            wallet=self.wallet_account(merchant_id, membership_id, asset_code),
            settlement=self.merchant_account(merchant_id, asset_code, "settlement"),
        )

    @staticmethod
    def plan_payment(accounts: WalletAccounts, amount: int, reference: str | None) -> Plan:
        """The wallet as a tender: pay `amount` of a check or a sale from it.

        Nothing is checked here that the ledger does not check when the entry
        posts (the balance, a frozen wallet): the plan is only the transfer.
        """
        transfer = Transfer(
            accounts.wallet.id, accounts.settlement.id, amount, "wallet_payment", reference
        )
        return Plan("wallet", (transfer,), amount=amount)

    async def pay_async(
        self,
        caller: Principal,
        *,
        membership_id: uuid.UUID,
        asset_code: str,
        amount: int,
        reference: str | None,
        idempotency: Idempotency,
    ) -> EntryResult:
        """pay, awaited on the event loop: the register's hot path.

        With the wallet and the settlement account known, the payment is one
        awaited statement (Ledger.post_entry_async). A first payment, which may
        have to open accounts, runs as pay in a worker thread.
        """
        caller.require("cashier")
        accounts = self._known_accounts(caller.merchant_id, membership_id, asset_code, "settlement")
        # A merchant with webhook endpoints needs the event written with the entry.
        if accounts is None or self._told(caller.merchant_id):
            return await anyio.to_thread.run_sync(
                functools.partial(
                    self.pay,
                    caller,
                    membership_id=membership_id,
                    asset_code=asset_code,
                    amount=amount,
                    reference=reference,
                    idempotency=idempotency,
                )
            )
        wallet, settlement = accounts
        plan = self.plan_payment(WalletAccounts(wallet, settlement), amount, reference)
        with _frozen_wallet_means_blocked_customer():
            return await commit_plan_alone_async(
                self.ledger,
                caller.merchant_id,
                plan,
                kind="wallet_payment",
                idempotency=idempotency,
            )

    def refund(
        self,
        caller: Principal,
        *,
        payment_id: uuid.UUID,
        amount: int | None,
        idempotency: Idempotency,
    ) -> EntryResult:
        """Give (part of) a payment back to the wallet it came from."""
        caller.require("cashier")
        payment = self.get_payment(caller, payment_id)
        transfer = payment.transfers[0]
        plan = Plan("wallet", (Reverse(transfer.id, amount, code="wallet_refund"),))
        event = {
            "payment_id": str(payment_id),
            "asset": transfer.asset_code,
            "amount_minor": transfer.amount if amount is None else amount,
        }
        return self._commit(caller, plan, "wallet_refund", idempotency, ("wallet.refund", event))

    def adjust(
        self,
        caller: Principal,
        *,
        membership_id: uuid.UUID,
        asset_code: str,
        amount: int,
        direction: str,
        reason: str,
        idempotency: Idempotency,
    ) -> EntryResult:
        """A manager's correction, with a reason, in the audit log."""
        caller.require("manager")
        assert direction in ("credit", "debit")
        wallet = self.wallet_account(caller.merchant_id, membership_id, asset_code)
        adjustments = self.merchant_account(caller.merchant_id, asset_code, "adjustments")
        debit, credit = (adjustments, wallet) if direction == "credit" else (wallet, adjustments)
        transfer = Transfer(debit.id, credit.id, amount, f"manual_{direction}", reason[:200])

        def work(unit: UnitOfWork) -> EntryResult:
            result = self.ledger.post_entry(
                caller.merchant_id,
                [transfer],
                kind="manual_adjustment",
                memo=reason,
                unit=unit,
            )
            record_audit(
                unit.connection,
                caller.merchant_id,
                caller.actor,
                "wallet.adjusted",
                membership_id,
                {
                    "asset": asset_code,
                    "amount": amount,
                    "direction": direction,
                    "reason": reason,
                    "entry_id": str(result.entry_id),
                },
                unit.now,
            )
            return result

        return self.units.run(
            caller.merchant_id,
            "manual_adjustment",
            work,
            idempotency=idempotency,
            replay=self.ledger.replayed_entry,
        )

    def get_payment(self, caller: Principal, payment_id: uuid.UUID) -> EntryResult:
        caller.require("cashier")
        entry = self.ledger.entry_result(caller.merchant_id, payment_id)
        if entry.kind != "wallet_payment":
            raise errors.NotFound("No such payment.")
        return entry

    def refunded_amount(self, caller: Principal, payment: EntryResult) -> int:
        with self.database.read() as connection:
            return int(
                connection.execute(
                    select(func.coalesce(func.sum(transfers.c.amount), 0)).where(
                        transfers.c.merchant_id == caller.merchant_id,
                        transfers.c.reverses_id == payment.transfers[0].id,
                    )
                ).scalar_one()
            )

    def _told(self, merchant_id: uuid.UUID) -> bool:
        return self.webhooks is not None and self.webhooks.subscribed(merchant_id)

    def _commit(
        self,
        caller: Principal,
        plan: Plan,
        kind: str,
        idempotency: Idempotency,
        event: tuple[str, dict[str, Any]],
    ) -> EntryResult:
        if not self._told(caller.merchant_id):
            with _frozen_wallet_means_blocked_customer():
                return commit_plan_alone(
                    self.ledger, caller.merchant_id, plan, kind=kind, idempotency=idempotency
                )
        event_type, data = event

        def work(unit: UnitOfWork) -> EntryResult:
            result = self.ledger.post_entry(
                caller.merchant_id, plan.operations, kind=kind, unit=unit
            )
            emit(
                unit.connection,
                caller.merchant_id,
                event_type,
                {
                    **data,
                    "entry_id": str(result.entry_id),
                    "amount_minor": result.transfers[0].amount,
                },
                now=unit.now,
            )
            return result

        with _frozen_wallet_means_blocked_customer():
            return self.units.run(
                caller.merchant_id,
                kind,
                work,
                idempotency=idempotency,
                replay=self.ledger.replayed_entry,
            )


@dataclass(frozen=True, slots=True)
class WalletAccounts:
    """A customer's wallet and the merchant's account a payment from it lands on."""

    wallet: Account
    settlement: Account


@contextmanager
def _frozen_wallet_means_blocked_customer() -> Iterator[None]:
    # Blocking a customer freezes their wallets; the register is told why.
    try:
        yield
    except errors.AccountFrozen:
        raise errors.CustomerBlocked() from None


def _wallet_spec(membership_id: uuid.UUID, asset_code: str) -> AccountSpec:
    return AccountSpec(
        asset_code=asset_code,
        owner_type="membership",
        owner_id=membership_id,
        purpose="wallet",
        debits_must_not_exceed_credits=True,
    )


def _merchant_spec(merchant_id: uuid.UUID, asset_code: str, purpose: str) -> AccountSpec:
    shards = SETTLEMENT_SHARDS if purpose in ("settlement", "wallet_funding") else 1
    return AccountSpec(
        asset_code=asset_code,
        owner_type="merchant",
        owner_id=merchant_id,
        purpose=purpose,
        balance_shards=shards,
    )


def _movement(
    membership_id: uuid.UUID, asset_code: str, amount: int, reference: str | None
) -> dict[str, Any]:
    """What a webhook says of a top-up or a payment (the entry's id is added once posted)."""
    return {
        "customer_id": str(membership_id),
        "asset": asset_code,
        "amount_minor": amount,
        "reference": reference,
    }
