"""The ledger against a model, under random sequences of operations (hypothesis).

After every step the invariants are checked by SQL over the whole database,
and every account the example opened is compared with a model kept in Python.
Each example works for a merchant of its own; the database carries on from one
example to the next, so the global invariants also cover earlier examples.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import and_, func, insert, literal, select

from cagnotte import errors
from cagnotte.clock import ManualClock
from cagnotte.db.engine import Database
from cagnotte.db.tables import account_balances, accounts, lots, merchants, transfers
from cagnotte.ledger import (
    Account,
    AccountSpec,
    Balance,
    EntryResult,
    Hold,
    Ledger,
    PostHold,
    Reverse,
    Transfer,
    VoidHold,
)

MACHINE_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

ACCOUNT_KINDS = {
    "wallet": dict(purpose="wallet", debits_must_not_exceed_credits=True),
    "points_wallet": dict(purpose="wallet", debits_must_not_exceed_credits=True, uses_lots=True),
    "hot": dict(purpose="merchant_settlement", balance_shards=4),
    "escrow": dict(purpose="campaign_escrow", credits_must_not_exceed_debits=True),
    "plain": dict(purpose="merchant_settlement"),
}


def test_the_ledger_keeps_its_invariants_under_random_operations(
    ledger: Ledger, database: Database, clock: ManualClock
) -> None:
    run_state_machine_as_test(machine_for(ledger, database, clock), settings=MACHINE_SETTINGS)


def test_the_ledger_keeps_its_invariants_through_the_group_commit(
    ledger: Ledger, database: Database, clock: ManualClock, postgres_url: str
) -> None:
    # The same machine, each entry posted from an event loop with its batcher open:
    # cagnotte_post_entries, its per-entry subtransaction and its errors' mapping.
    ledger.group_commit = True
    with batching_loop(ledger) as post:
        run_state_machine_as_test(
            machine_for(ledger, database, clock, post=post), settings=MACHINE_SETTINGS
        )


def test_the_ledger_keeps_its_invariants_through_the_sqlite_writer(
    ledger: Ledger, database: Database, clock: ManualClock, database_url: str
) -> None:
    # The same machine, each entry posted from an event loop through the process's
    # SQLite writer (ledger/sqlite_batcher.py): its savepoints and its answers.
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's writer")
    ledger.group_commit = True
    with batching_loop(ledger) as post:
        run_state_machine_as_test(
            machine_for(ledger, database, clock, post=post), settings=MACHINE_SETTINGS
        )


@contextmanager
def batching_loop(ledger: Ledger) -> Iterator[Callable[..., EntryResult]]:
    """An event loop in a thread with its connections and batcher open; a post_entry for it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def call(work: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(work, loop).result()

    async def open_all() -> None:
        await ledger.database.open_async_pool()
        await ledger.open_group_commit()

    async def close_all() -> None:
        await ledger.close_group_commit()
        await ledger.database.close_async_pool()

    call(open_all())
    try:
        yield lambda *arguments, **options: call(ledger.post_entry_async(*arguments, **options))
    finally:
        call(close_all())
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


# The model --------------------------------------------------------------------------------


@dataclass
class ModelAccount:
    """What an account should hold: its four counters and its lots by expiry."""

    account: Account
    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0
    frozen: bool = False
    lots: dict[datetime | None, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def balance(self) -> Balance:
        return Balance(
            self.debits_posted, self.credits_posted, self.debits_pending, self.credits_pending
        )

    def refusal_as_debit(self, amount: int) -> type[errors.DomainError] | None:
        room = self.credits_posted - self.debits_posted - self.debits_pending
        if self.account.debits_must_not_exceed_credits and room < amount:
            return errors.InsufficientFunds
        return None

    def refusal_as_credit(self, amount: int) -> type[errors.DomainError] | None:
        room = self.debits_posted - self.credits_posted - self.credits_pending
        if self.account.credits_must_not_exceed_debits and room < amount:
            return errors.LimitExceeded
        return None

    def add_lot(self, amount: int, expires_at: datetime | None) -> None:
        if self.account.uses_lots:
            self.lots[expires_at] += amount

    def consume_lots(self, amount: int) -> None:
        """Soonest-expiring first, lots without an expiry last."""
        if not self.account.uses_lots:
            return
        for expires_at in sorted(self.lots, key=lambda moment: (moment is None, moment)):
            taken = min(amount, self.lots[expires_at])
            self.lots[expires_at] -= taken
            amount -= taken
        assert amount == 0, "the model spent more than its lots"

    def expired_lot_value(self, now: datetime) -> int:
        return sum(
            remaining
            for expires_at, remaining in self.lots.items()
            if expires_at is not None and expires_at <= now
        )


@dataclass
class ModelHold:
    debit: ModelAccount
    credit: ModelAccount
    amount: int
    expires_at: datetime
    resolved: bool = False


@dataclass
class ModelPosting:
    """A posted transfer that may be reversed."""

    debit: ModelAccount
    credit: ModelAccount
    amount: int
    reversed: int = 0


def refusal_of_move(
    debit: ModelAccount, credit: ModelAccount, amount: int
) -> type[errors.DomainError] | None:
    """The error the ledger must raise for this move, in its documented precedence."""
    if debit.account.id == credit.account.id:
        return errors.SameAccount
    if debit.account.asset_code != credit.account.asset_code:
        return errors.AssetMismatch
    if debit.frozen or credit.frozen:
        return errors.AccountFrozen
    return debit.refusal_as_debit(amount) or credit.refusal_as_credit(amount)


# The machine ------------------------------------------------------------------------------


def machine_for(
    ledger: Ledger,
    database: Database,
    clock: ManualClock,
    post: Callable[..., EntryResult] | None = None,
) -> type:
    """A state machine class bound to this test's ledger, database and clock.

    Entries are posted by `post` (post_entry unless given).
    """
    post = post or ledger.post_entry

    class LedgerMachine(RuleBasedStateMachine):
        accounts = Bundle("accounts")
        # Wallets that keep lots, drawn on by rules of their own so that lots,
        # holds and expiry meet often on one account.
        points_wallets = Bundle("points_wallets")
        holds = Bundle("holds")
        postings = Bundle("postings")

        def __init__(self) -> None:
            super().__init__()
            self.merchant_id = uuid.uuid4()
            with database.transaction() as connection:
                connection.execute(
                    insert(merchants).values(
                        id=self.merchant_id,
                        name="Property merchant",
                        status="active",
                        created_at=clock.now(),
                    )
                )
            self.model: dict[uuid.UUID, ModelAccount] = {}
            self.hold_model: dict[uuid.UUID, ModelHold] = {}
            self.posting_model: dict[uuid.UUID, ModelPosting] = {}
            self.idempotency_keys: dict[str, tuple[str, uuid.UUID]] = {}
            self.breakage_credits = 0
            self.issuance = self._open("plain", purpose="issuance")

        # Helpers ----------------------------------------------------------------------

        def _open(self, kind: str, asset_code: str = "CZK", **overrides) -> ModelAccount:
            options = {**ACCOUNT_KINDS[kind], **overrides}
            account = ledger.open_account(
                self.merchant_id,
                AccountSpec(asset_code, "customer", uuid.uuid4(), **options),
            )
            self.model[account.id] = ModelAccount(account)
            return self.model[account.id]

        def _post(self, operation, expected, **options):
            """Post one operation; the outcome must be the one the model expects."""
            try:
                result = post(self.merchant_id, [operation], kind="property", **options)
            except errors.DomainError as error:
                assert expected is not None, f"refused unexpectedly: {error.code}"
                assert isinstance(error, expected), f"{error.code}, expected {expected.code}"
                return None
            assert expected is None, f"accepted, expected {expected.code}"
            return result

        def _move(
            self,
            debit: ModelAccount,
            credit: ModelAccount,
            amount: int,
            *,
            lot_expires_at: datetime | None = None,
        ) -> None:
            debit.debits_posted += amount
            credit.credits_posted += amount
            debit.consume_lots(amount)
            credit.add_lot(amount, lot_expires_at)

        def _release(self, hold: ModelHold, posted: int) -> None:
            hold.resolved = True
            hold.debit.debits_pending -= hold.amount
            hold.credit.credits_pending -= hold.amount
            if posted:
                self._move(hold.debit, hold.credit, posted)

        # Rules ------------------------------------------------------------------------

        @initialize(target=accounts)
        def open_first_accounts(self):
            return multiple(self.issuance, self._open("hot"))

        @rule(
            target=points_wallets,
            lots=st.lists(
                st.tuples(st.integers(1, 200), st.none() | st.integers(0, 3 * 24 * 60)),
                max_size=3,
            ),
            reserved=st.none() | st.integers(1, 300),
            hold_minutes=st.integers(1, 6 * 24 * 60),
        )
        def open_points_wallet(self, lots, reserved, hold_minutes):
            """A wallet with lots, some expiring, and perhaps a long hold on part of them.

            The hold is kept in the model only; void_the_holds_on_a_points_wallet ends it.
            """
            wallet = self._open("points_wallet")
            for amount, minutes in lots:
                self.earn_points(wallet, amount, minutes)
            if reserved is not None:
                self.hold(wallet, self.issuance, reserved, hold_minutes)
            return wallet

        @rule(wallet=points_wallets)
        def void_the_holds_on_a_points_wallet(self, wallet):
            for hold_id, hold in list(self.hold_model.items()):
                if hold.debit is wallet:
                    self.void_hold(hold_id)

        @rule(target=accounts, wallet=points_wallets)
        def use_points_wallet_anywhere(self, wallet):
            return wallet

        @rule(
            target=postings,
            wallet=points_wallets,
            amount=st.integers(1, 200),
            minutes=st.none() | st.integers(0, 4 * 24 * 60),
        )
        def earn_points(self, wallet, amount, minutes):
            return self.fund(wallet, amount, minutes)

        @rule(
            target=holds,
            wallet=points_wallets,
            amount=st.integers(1, 200),
            minutes=st.integers(1, 6 * 24 * 60),
        )
        def hold_points(self, wallet, amount, minutes):
            return self.hold(wallet, self.issuance, amount, minutes)

        @rule(
            target=accounts,
            kind=st.sampled_from(sorted(ACCOUNT_KINDS)),
            asset_code=st.sampled_from(["CZK", "CZK", "CZK", "EUR"]),
        )
        def open_account(self, kind, asset_code):
            return self._open(kind, asset_code)

        @rule(
            target=postings,
            credit=accounts,
            amount=st.integers(1, 400),
            minutes=st.none() | st.integers(0, 4 * 24 * 60),
        )
        def fund(self, credit, amount, minutes):
            """Credit from the issuance account; on an account with lots, expiring or not."""
            lot_expires_at = None if minutes is None else clock.now() + timedelta(minutes=minutes)
            transfer = Transfer(
                self.issuance.account.id,
                credit.account.id,
                amount,
                "load",
                lot_expires_at=lot_expires_at,
            )
            expected = refusal_of_move(self.issuance, credit, amount)
            if self._post(transfer, expected) is None:
                return multiple()
            self._move(self.issuance, credit, amount, lot_expires_at=lot_expires_at)
            self.posting_model[transfer.id] = ModelPosting(self.issuance, credit, amount)
            return transfer.id

        @rule(target=postings, debit=accounts, credit=accounts, amount=st.integers(1, 300))
        def transfer(self, debit, credit, amount):
            transfer = Transfer(debit.account.id, credit.account.id, amount, "payment")
            result = self._post(transfer, refusal_of_move(debit, credit, amount))
            if result is None:
                return multiple()
            self._move(debit, credit, amount)
            for side in (debit, credit):
                if side.account.balance_shards == 1:
                    assert result.balances[side.account.id] == side.balance
            self.posting_model[transfer.id] = ModelPosting(debit, credit, amount)
            return transfer.id

        # Holds last from minutes to days, so that they overlap lots' expiry.
        @rule(
            target=holds,
            debit=accounts,
            credit=accounts,
            amount=st.integers(1, 300),
            minutes=st.integers(1, 4 * 24 * 60),
        )
        def hold(self, debit, credit, amount, minutes):
            expires_at = clock.now() + timedelta(minutes=minutes)
            hold = Hold(debit.account.id, credit.account.id, amount, "authorisation", expires_at)
            if self._post(hold, refusal_of_move(debit, credit, amount)) is None:
                return multiple()
            debit.debits_pending += amount
            credit.credits_pending += amount
            self.hold_model[hold.id] = ModelHold(debit, credit, amount, expires_at)
            return hold.id

        def _refusal_of_resolution(self, hold: ModelHold, amount: int | None):
            if clock.now() >= hold.expires_at:
                return errors.PendingTransferExpired
            if amount is not None and amount > hold.amount:
                return errors.PendingAmountExceeded
            if hold.resolved:
                return errors.PendingTransferAlreadyResolved
            return None

        @rule(target=postings, hold_id=holds, amount=st.none() | st.integers(1, 300))
        def post_hold(self, hold_id, amount):
            hold = self.hold_model[hold_id]
            posting = PostHold(hold_id, amount)
            if self._post(posting, self._refusal_of_resolution(hold, amount)) is None:
                return multiple()
            posted = hold.amount if amount is None else amount
            self._release(hold, posted)
            self.posting_model[posting.id] = ModelPosting(hold.debit, hold.credit, posted)
            return posting.id

        @rule(hold_id=holds)
        def void_hold(self, hold_id):
            hold = self.hold_model[hold_id]
            if self._post(VoidHold(hold_id), self._refusal_of_resolution(hold, None)):
                self._release(hold, 0)

        @rule(minutes=st.integers(1, 2 * 24 * 60))
        def advance_the_clock_and_run_the_expiry_jobs(self, minutes):
            clock.advance(timedelta(minutes=minutes))
            self._expire_holds()
            self._expire_lots()

        def _expire_holds(self):
            lapsed = [
                hold
                for hold in self.hold_model.values()
                if not hold.resolved and hold.expires_at <= clock.now()
            ]
            # The job also expires holds of earlier examples' merchants.
            assert ledger.expire_holds() >= len(lapsed)
            for hold in lapsed:
                self._release(hold, 0)

        def _expire_lots(self):
            now = clock.now()
            broken = 0
            for account in self.model.values():
                if not account.account.uses_lots or account.frozen:
                    continue
                available = max(account.balance.available, 0)
                # Value a hold reserves stays: posting it takes the soonest lots.
                amount = min(
                    max(account.expired_lot_value(now) - account.debits_pending, 0), available
                )
                account.debits_posted += amount
                account.consume_lots(amount)
                broken += amount
            self.breakage_credits += broken
            # The job also runs for earlier examples' merchants.
            assert (ledger.expire_lots() > 0) or broken == 0

        @rule(target=postings, original_id=postings, amount=st.none() | st.integers(1, 300))
        def reverse(self, original_id, amount):
            original = self.posting_model[original_id]
            rest = original.amount - original.reversed
            reversal_amount = rest if amount is None else amount
            expected = (
                errors.ReversalExceedsTransfer
                if reversal_amount <= 0 or reversal_amount > rest
                else refusal_of_move(original.credit, original.debit, reversal_amount)
            )
            reversal = Reverse(original_id, amount)
            if self._post(reversal, expected) is None:
                return multiple()
            original.reversed += reversal_amount
            self._move(original.credit, original.debit, reversal_amount)
            self.posting_model[reversal.id] = ModelPosting(
                original.credit, original.debit, reversal_amount
            )
            return reversal.id

        @rule(account=accounts, frozen=st.booleans())
        def freeze_or_thaw(self, account, frozen):
            with database.transaction() as connection:
                ledger.set_frozen(connection, self.merchant_id, [account.account.id], frozen)
            account.frozen = frozen

        @rule(
            key=st.sampled_from(["first", "second", "third"]),
            debit=accounts,
            credit=accounts,
            amount=st.integers(1, 100),
        )
        def post_with_an_idempotency_key(self, key, debit, credit, amount):
            request_hash = hashlib.sha256(
                f"{debit.account.id}>{credit.account.id}:{amount}".encode()
            ).hexdigest()
            known = self.idempotency_keys.get(key)
            if known is not None:
                expected = None if known[0] == request_hash else errors.IdempotencyKeyReused
            else:
                expected = refusal_of_move(debit, credit, amount)
            result = self._post(
                Transfer(debit.account.id, credit.account.id, amount, "payment"),
                expected,
                idempotency_key=key,
                request_hash=request_hash,
            )
            if result is None:
                return
            if known is not None:
                assert result.replayed and result.entry_id == known[1]
                return
            assert not result.replayed
            self._move(debit, credit, amount)
            self.idempotency_keys[key] = (request_hash, result.entry_id)

        # Invariants -------------------------------------------------------------------

        @invariant()
        def debits_equal_credits_for_every_asset(self):
            with database.read() as connection:
                rows = connection.execute(
                    select(
                        accounts.c.asset_code,
                        func.sum(account_balances.c.debits_posted),
                        func.sum(account_balances.c.credits_posted),
                        func.sum(account_balances.c.debits_pending),
                        func.sum(account_balances.c.credits_pending),
                    )
                    .select_from(account_balances.join(accounts, _account_of_balance()))
                    .group_by(accounts.c.asset_code)
                ).all()
            for asset_code, debits, credits, debits_pending, credits_pending in rows:
                assert debits == credits, asset_code
                assert debits_pending == credits_pending, asset_code

        @invariant()
        def no_account_crosses_its_limit(self):
            c = account_balances.c
            with database.read() as connection:
                crossing = connection.execute(
                    select(func.count()).where(
                        (
                            c.debits_must_not_exceed_credits
                            & (c.debits_posted + c.debits_pending > c.credits_posted)
                        )
                        | (
                            c.credits_must_not_exceed_debits
                            & (c.credits_posted + c.credits_pending > c.debits_posted)
                        )
                    )
                ).scalar_one()
            assert crossing == 0

        @invariant()
        def stored_counters_equal_counters_rebuilt_from_the_transfers(self):
            with database.read() as connection:
                stored = {
                    (row.account_id, row.shard): (
                        row.debits_posted,
                        row.credits_posted,
                        row.debits_pending,
                        row.credits_pending,
                    )
                    for row in connection.execute(select(account_balances)).all()
                }
                rebuilt = rebuild_counters(connection)
            for key, counters in stored.items():
                assert counters == rebuilt.get(key, (0, 0, 0, 0)), key
            assert set(rebuilt) <= set(stored)

        @invariant()
        def the_model_and_the_ledger_agree(self):
            with database.read() as connection:
                balances = {
                    row.account_id: Balance(*(int(value) for value in row[1:]))
                    for row in connection.execute(
                        select(
                            account_balances.c.account_id,
                            func.sum(account_balances.c.debits_posted),
                            func.sum(account_balances.c.credits_posted),
                            func.sum(account_balances.c.debits_pending),
                            func.sum(account_balances.c.credits_pending),
                        )
                        .where(account_balances.c.merchant_id == self.merchant_id)
                        .group_by(account_balances.c.account_id)
                    ).all()
                }
                breakage = connection.execute(
                    select(func.sum(account_balances.c.credits_posted))
                    .select_from(account_balances.join(accounts, _account_of_balance()))
                    .where(
                        accounts.c.merchant_id == self.merchant_id, accounts.c.purpose == "breakage"
                    )
                ).scalar_one()
            for account_id, account in self.model.items():
                assert balances[account_id] == account.balance, account.account.purpose
            assert (breakage or 0) == self.breakage_credits

        @invariant()
        def lots_hold_what_the_model_says(self):
            with database.read() as connection:
                stored = defaultdict(int)
                for account_id, expires_at, remaining in connection.execute(
                    select(lots.c.account_id, lots.c.expires_at, func.sum(lots.c.remaining))
                    .where(lots.c.merchant_id == self.merchant_id)
                    .group_by(lots.c.account_id, lots.c.expires_at)
                ).all():
                    stored[account_id, expires_at] += int(remaining)
            expected = {
                (account_id, expires_at): remaining
                for account_id, account in self.model.items()
                for expires_at, remaining in account.lots.items()
            }
            assert {key: value for key, value in stored.items() if value} == {
                key: value for key, value in expected.items() if value
            }
            for account in self.model.values():
                if account.account.uses_lots:
                    assert sum(account.lots.values()) == account.balance.credit_balance

    return LedgerMachine


def _account_of_balance():
    return and_(
        accounts.c.merchant_id == account_balances.c.merchant_id,
        accounts.c.id == account_balances.c.account_id,
    )


def rebuild_counters(connection) -> dict[tuple[uuid.UUID, int], tuple[int, int, int, int]]:
    """Every (account, shard)'s four counters summed from the transfers table.

    Posted: regular transfers and posted holds. Pending: holds with no
    resolution (a transfer whose pending_id names them).
    """
    resolution = transfers.alias("resolution")
    unresolved = (
        ~select(literal(1))
        .where(
            resolution.c.merchant_id == transfers.c.merchant_id,
            resolution.c.pending_id == transfers.c.id,
        )
        .exists()
    )
    sides = {
        # counter index: (account column, shard column, condition)
        0: (
            transfers.c.debit_account_id,
            transfers.c.debit_shard,
            transfers.c.kind.in_(("regular", "post")),
        ),
        1: (
            transfers.c.credit_account_id,
            transfers.c.credit_shard,
            transfers.c.kind.in_(("regular", "post")),
        ),
        2: (
            transfers.c.debit_account_id,
            transfers.c.debit_shard,
            (transfers.c.kind == "pending") & unresolved,
        ),
        3: (
            transfers.c.credit_account_id,
            transfers.c.credit_shard,
            (transfers.c.kind == "pending") & unresolved,
        ),
    }
    rebuilt: dict[tuple[uuid.UUID, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for index, (account_column, shard_column, condition) in sides.items():
        for account_id, shard, total in connection.execute(
            select(account_column, shard_column, func.sum(transfers.c.amount))
            .where(condition)
            .group_by(account_column, shard_column)
        ).all():
            rebuilt[account_id, shard][index] = int(total)
    return {key: tuple(counters) for key, counters in rebuilt.items()}
