"""The ledger under concurrent requests, on PostgreSQL (SQLite has one writer at a time).

Threads start together at a barrier; every test counts the outcomes and then
checks balances and rows, so a lost update or a doubled entry cannot hide.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from cagnotte import errors
from cagnotte.clock import ManualClock
from cagnotte.db.engine import Database
from cagnotte.db.tables import account_balances, lots, merchants, transfers
from cagnotte.ledger import (
    Account,
    AccountSpec,
    Hold,
    Ledger,
    PostHold,
    Reverse,
    Transfer,
    VoidHold,
)
from tests.queries import entries_of_key

MERCHANT_ID = uuid.UUID("00000000-0000-0000-0000-0000000000c0")


@pytest.fixture
def concurrent_ledger(postgres_url: str, clock: ManualClock) -> Iterator[Ledger]:
    database = Database(postgres_url, pool_size=60)
    with database.transaction() as connection:
        connection.execute(
            insert(merchants).values(
                id=MERCHANT_ID, name="Busy merchant", status="active", created_at=clock.now()
            )
        )
    yield Ledger(database, clock)
    database.dispose()


def warm_pool(database: Database, size: int) -> None:
    """Open `size` connections ahead, so that the threads race in the database and
    not in connecting to it."""
    connections = [database.engine.connect() for _ in range(size)]
    for connection in connections:
        connection.close()


def run_together(
    ledger: Ledger, count: int, task: Callable[[int], Any], threads: int | None = None
) -> list:
    """Run task(0) … task(count - 1) on threads released at once; results or exceptions."""
    threads = threads or count
    warm_pool(ledger.database, threads)
    barrier = threading.Barrier(threads)

    def worker(first: int) -> list:
        barrier.wait()
        outcomes = []
        for index in range(first, count, threads):
            try:
                outcomes.append(task(index))
            except Exception as error:  # noqa: BLE001 - the outcome is what is counted
                outcomes.append(error)
        return outcomes

    with ThreadPoolExecutor(max_workers=threads) as pool:
        batches = list(pool.map(worker, range(threads)))
    return [outcome for batch in batches for outcome in batch]


def kinds_of(outcomes: list) -> Counter:
    return Counter(
        type(outcome).__name__ if isinstance(outcome, Exception) else "ok" for outcome in outcomes
    )


def open_account(ledger: Ledger, purpose: str, **flags) -> Account:
    return ledger.open_account(
        MERCHANT_ID, AccountSpec("CZK", "customer", uuid.uuid4(), purpose, **flags)
    )


def open_wallet(ledger: Ledger) -> Account:
    return open_account(ledger, "wallet", debits_must_not_exceed_credits=True)


def wallet_of_a_hundred_and_a_shop(ledger: Ledger) -> tuple[Account, Account]:
    """A wallet loaded with 100 from an issuance account, and a shop to pay."""
    issuance, shop = open_account(ledger, "issuance"), open_account(ledger, "settlement")
    wallet = open_wallet(ledger)
    post(ledger, Transfer(issuance.id, wallet.id, 100, "load"))
    return wallet, shop


def post(ledger: Ledger, *operations, **options):
    return ledger.post_entry(MERCHANT_ID, list(operations), kind="test", **options)


def count_rows(ledger: Ledger, query) -> int:
    with ledger.database.read() as connection:
        return connection.execute(query).scalar_one()


def test_fifty_concurrent_debits_of_ten_from_a_wallet_of_a_hundred_let_exactly_ten_through(
    concurrent_ledger,
):
    ledger = concurrent_ledger
    wallet, shop = wallet_of_a_hundred_and_a_shop(ledger)

    outcomes = run_together(
        ledger, 50, lambda _: post(ledger, Transfer(wallet.id, shop.id, 10, "payment"))
    )

    assert kinds_of(outcomes) == {"ok": 10, "InsufficientFundsError": 40}
    assert ledger.balance(wallet).credit_balance == 0
    assert ledger.balance(shop).credit_balance == 100
    assert (
        count_rows(ledger, select(func.count()).where(transfers.c.debit_account_id == wallet.id))
        == 10
    )


@pytest.mark.parametrize("retry", ["same transfer ids", "new transfer ids"])
def test_one_request_posted_twenty_times_at_once_makes_one_entry(concurrent_ledger, retry):
    ledger = concurrent_ledger
    issuance, wallet = open_account(ledger, "issuance"), open_wallet(ledger)
    transfer = Transfer(issuance.id, wallet.id, 25, "load")

    def send(_: int):
        # A client retrying with the body it sent, or one that builds it again.
        operation = (
            transfer
            if retry == "same transfer ids"
            else Transfer(issuance.id, wallet.id, 25, "load")
        )
        return post(ledger, operation, idempotency_key="load-1", request_hash="a" * 64)

    outcomes = run_together(ledger, 20, send)

    assert kinds_of(outcomes) == {"ok": 20}
    assert len({result.entry_id for result in outcomes}) == 1
    assert sorted(result.replayed for result in outcomes) == [False] + [True] * 19
    assert count_rows(ledger, entries_of_key("load-1")) == 1
    assert (
        count_rows(ledger, select(func.count()).where(transfers.c.credit_account_id == wallet.id))
        == 1
    )
    assert ledger.balance(wallet).credit_balance == 25


def test_concurrent_resolutions_of_one_hold_let_exactly_one_through(concurrent_ledger, clock):
    ledger = concurrent_ledger
    wallet, shop = wallet_of_a_hundred_and_a_shop(ledger)
    hold = Hold(wallet.id, shop.id, 60, "auth", clock.now() + timedelta(hours=1))
    post(ledger, hold)

    def resolve(index: int):
        operation = VoidHold(hold.id) if index % 5 == 4 else PostHold(hold.id, 60 - index)
        return post(ledger, operation)

    outcomes = run_together(ledger, 20, resolve)

    assert kinds_of(outcomes) == {"ok": 1, "PendingTransferAlreadyResolvedError": 19}
    [result] = [outcome for outcome in outcomes if not isinstance(outcome, Exception)]
    [resolution] = result.transfers
    posted = resolution.amount if resolution.kind == "post" else 0
    balance = ledger.balance(wallet)
    assert (balance.debits_pending, balance.debits_posted) == (0, posted)
    assert ledger.balance(shop).credit_balance == posted
    assert count_rows(ledger, select(func.count()).where(transfers.c.pending_id == hold.id)) == 1


def test_concurrent_posts_of_one_hold_in_full_move_its_amount_once(concurrent_ledger, clock):
    ledger = concurrent_ledger
    wallet, shop = wallet_of_a_hundred_and_a_shop(ledger)
    hold = Hold(wallet.id, shop.id, 60, "auth", clock.now() + timedelta(hours=1))
    post(ledger, hold)

    outcomes = run_together(ledger, 20, lambda _: post(ledger, PostHold(hold.id)))

    assert kinds_of(outcomes) == {"ok": 1, "PendingTransferAlreadyResolvedError": 19}
    assert ledger.balance(wallet).credit_balance == 40
    assert ledger.balance(shop).credit_balance == 60


def test_concurrent_reversals_never_exceed_the_original(concurrent_ledger):
    ledger = concurrent_ledger
    wallet, shop = wallet_of_a_hundred_and_a_shop(ledger)
    payment = Transfer(wallet.id, shop.id, 100, "payment")
    post(ledger, payment)

    outcomes = run_together(ledger, 30, lambda _: post(ledger, Reverse(payment.id, 7)))

    assert kinds_of(outcomes) == {"ok": 14, "ReversalExceedsTransferError": 16}
    with ledger.database.read() as connection:
        reversed_total = connection.execute(
            select(func.sum(transfers.c.amount)).where(transfers.c.reverses_id == payment.id)
        ).scalar_one()
    assert reversed_total == 98
    assert ledger.balance(wallet).credit_balance == 98
    assert ledger.balance(shop).credit_balance == 2


def test_concurrent_full_and_partial_reversals_add_up_to_at_most_the_original(
    concurrent_ledger,
):
    ledger = concurrent_ledger
    wallet, shop = wallet_of_a_hundred_and_a_shop(ledger)
    payment = Transfer(wallet.id, shop.id, 100, "payment")
    post(ledger, payment)

    outcomes = run_together(
        ledger, 20, lambda index: post(ledger, Reverse(payment.id, None if index % 4 == 0 else 9))
    )

    accepted = [outcome for outcome in outcomes if not isinstance(outcome, Exception)]
    assert {type(outcome) for outcome in outcomes if isinstance(outcome, Exception)} <= {
        errors.ReversalExceedsTransfer
    }
    assert sum(result.transfers[0].amount for result in accepted) == 100
    assert ledger.balance(wallet).credit_balance == 100
    assert ledger.balance(shop).credit_balance == 0


def test_two_hundred_concurrent_payments_into_a_sharded_account_sum_exactly(concurrent_ledger):
    ledger = concurrent_ledger
    issuance = open_account(ledger, "issuance")
    hot = open_account(ledger, "merchant_settlement", balance_shards=16)
    wallets = [open_wallet(ledger) for _ in range(200)]
    post(ledger, *(Transfer(issuance.id, wallet.id, 1000, "load") for wallet in wallets))
    amounts = [index + 1 for index in range(200)]

    outcomes = run_together(
        ledger,
        200,
        lambda index: post(ledger, Transfer(wallets[index].id, hot.id, amounts[index], "pay")),
        threads=50,
    )

    assert kinds_of(outcomes) == {"ok": 200}
    assert ledger.balance(hot).credit_balance == sum(amounts)
    with ledger.database.read() as connection:
        shards = (
            connection.execute(
                select(account_balances.c.credits_posted).where(
                    account_balances.c.account_id == hot.id
                )
            )
            .scalars()
            .all()
        )
    assert len(shards) == 16 and sum(shards) == sum(amounts)
    assert sum(1 for credits in shards if credits > 0) > 1
    assert all(
        ledger.balance(wallet).credit_balance == 1000 - amount
        for wallet, amount in zip(wallets, amounts, strict=True)
    )


def test_a_payment_into_a_hot_account_takes_a_free_shard_rather_than_wait(concurrent_ledger):
    """Open transactions holding shards of a four-shard account do not hold up the
    next payment while a shard is free; once all four are held, the next one waits."""
    ledger = concurrent_ledger
    issuance = open_account(ledger, "issuance")
    hot = open_account(ledger, "merchant_settlement", balance_shards=4)
    wallets = [open_wallet(ledger) for _ in range(5)]
    post(ledger, *(Transfer(issuance.id, wallet.id, 1000, "load") for wallet in wallets))
    warm_pool(ledger.database, 6)

    with ExitStack() as open_transactions, ThreadPoolExecutor(max_workers=1) as pool:
        shards = []
        for wallet in wallets[:4]:
            connection = open_transactions.enter_context(ledger.database.transaction())
            # Waiting for a shard that an earlier transaction holds would fail here.
            connection.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
            result = ledger.post_entry(
                MERCHANT_ID,
                [Transfer(wallet.id, hot.id, 10, "pay")],
                kind="test",
                connection=connection,
            )
            shards.append(credit_shard(connection, result))
        fifth = pool.submit(post, ledger, Transfer(wallets[4].id, hot.id, 10, "pay"))
        time.sleep(0.5)
        fifth_waited = not fifth.done()
        open_transactions.close()
        fifth.result(timeout=10)

    assert sorted(shards) == [0, 1, 2, 3]
    assert fifth_waited
    assert ledger.balance(hot).credit_balance == 50


def credit_shard(connection, result) -> int:
    return connection.execute(
        select(transfers.c.credit_shard).where(transfers.c.id == result.transfers[0].id)
    ).scalar_one()


def test_payments_and_refunds_between_two_accounts_at_once_all_land(concurrent_ledger):
    ledger = concurrent_ledger
    issuance = open_account(ledger, "issuance")
    customer, shop = open_wallet(ledger), open_wallet(ledger)
    post(ledger, Transfer(issuance.id, customer.id, 10_000, "load"))
    post(ledger, Transfer(issuance.id, shop.id, 10_000, "load"))

    def move(index: int):
        debit, credit = (customer, shop) if index % 2 == 0 else (shop, customer)
        return post(ledger, Transfer(debit.id, credit.id, 1 + index % 7, "payment"))

    outcomes = run_together(ledger, 60, move, threads=30)

    assert kinds_of(outcomes) == {"ok": 60}
    paid = sum(1 + index % 7 for index in range(0, 60, 2))
    refunded = sum(1 + index % 7 for index in range(1, 60, 2))
    assert ledger.balance(customer).credit_balance == 10_000 - paid + refunded
    assert ledger.balance(shop).credit_balance == 10_000 + paid - refunded


def test_entries_whose_transfers_cross_each_other_all_land(concurrent_ledger):
    ledger = concurrent_ledger
    issuance = open_account(ledger, "issuance")
    first, second, third, fourth = (open_wallet(ledger) for _ in range(4))
    post(
        ledger,
        *(
            Transfer(issuance.id, wallet.id, 1000, "load")
            for wallet in (first, second, third, fourth)
        ),
    )

    def move(index: int):
        # One entry locks first/second then third/fourth, the other the reverse:
        # PostgreSQL fails one of a deadlocked pair, and the ledger runs it again.
        if index % 2 == 0:
            return post(
                ledger, Transfer(first.id, second.id, 1, "a"), Transfer(third.id, fourth.id, 1, "b")
            )
        return post(
            ledger, Transfer(fourth.id, third.id, 1, "c"), Transfer(second.id, first.id, 1, "d")
        )

    outcomes = run_together(ledger, 12, move)

    assert kinds_of(outcomes) == {"ok": 12}
    assert [ledger.balance(wallet).credit_balance for wallet in (first, second, third, fourth)] == [
        1000,
        1000,
        1000,
        1000,
    ]


def test_the_lot_expiry_job_and_payments_at_once_keep_lots_and_balance_equal(
    concurrent_ledger, clock
):
    ledger = concurrent_ledger
    issuance, shop = open_account(ledger, "issuance"), open_account(ledger, "settlement")
    wallet = open_account(ledger, "wallet", debits_must_not_exceed_credits=True, uses_lots=True)
    post(
        ledger,
        Transfer(
            issuance.id, wallet.id, 100, "load", lot_expires_at=clock.now() + timedelta(days=1)
        ),
    )
    post(ledger, Transfer(issuance.id, wallet.id, 100, "load"))
    clock.advance(timedelta(days=2))

    def act(index: int):
        if index == 0:
            return ledger.expire_lots()
        return post(ledger, Transfer(wallet.id, shop.id, 15, "payment"))

    outcomes = run_together(ledger, 16, act)

    assert set(kinds_of(outcomes)) <= {"ok", "InsufficientFundsError"}
    breakage = ledger.open_account(
        MERCHANT_ID, AccountSpec("CZK", "merchant", MERCHANT_ID, "breakage")
    )
    left = ledger.balance(wallet).credit_balance
    paid = ledger.balance(shop).credit_balance
    assert left >= 0
    assert left + paid + ledger.balance(breakage).credit_balance == 200
    with ledger.database.read() as connection:
        lots_left = connection.execute(
            select(func.sum(lots.c.remaining)).where(lots.c.account_id == wallet.id)
        ).scalar_one()
    assert lots_left == left
