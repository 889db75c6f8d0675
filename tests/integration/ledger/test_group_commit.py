"""Group commit (ledger/batcher.py): entries that arrive together share a statement.

PostgreSQL only (SQLite keeps its own path). Entries started in one turn of the
event loop go in one batch of cagnotte_post_entries: each is posted in a
subtransaction of its own, so a refusal fails only its entry, and every entry
is answered after the batch's commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from cagnotte import errors
from cagnotte.db.engine import Database, is_unavailable
from cagnotte.ledger import Transfer
from cagnotte.ledger.batcher import APPLICATION_NAME
from tests.integration.ledger.test_async_entries import balance, entries, pay
from tests.integration.ledger.test_ledger import Books

T = TypeVar("T")


@pytest.fixture
def batched(books: Books, postgres_url: str) -> Books:
    books.ledger.group_commit = True
    return books


def on_batched_loop(books: Books, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` on a new event loop with its connections and its batcher open."""
    database = books.ledger.database

    async def main() -> T:
        await database.open_async_pool()
        await books.ledger.open_group_commit()
        try:
            return await work()
        finally:
            await books.ledger.close_group_commit()
            await database.close_async_pool()

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, main()).result()


def batches_seen() -> tuple[float, float]:
    """How many batches were sent so far in this process, and how many entries they held."""
    count = REGISTRY.get_sample_value("cagnotte_ledger_batch_size_count") or 0.0
    total = REGISTRY.get_sample_value("cagnotte_ledger_batch_size_sum") or 0.0
    return count, total


async def together(*payments: Awaitable[Any]) -> list[Any]:
    """Start the payments in one turn of the loop (one batch); their results or errors."""
    return await asyncio.gather(*payments, return_exceptions=True)


def test_a_batch_with_a_refused_payment_posts_the_others(batched: Books, database: Database):
    first, poor, third = batched.wallet(), batched.wallet(), batched.wallet()
    for wallet in (first, poor, third):
        batched.fund(wallet, 100)
    batches_before, entries_before = batches_seen()
    journal_before = entries(database)

    results = on_batched_loop(
        batched,
        lambda: together(
            pay(batched, first, 30, key="a"),
            pay(batched, poor, 500, key="b"),
            pay(batched, third, 40, key="c"),
        ),
    )

    assert batches_seen() == (batches_before + 1, entries_before + 3)
    assert isinstance(results[1], errors.InsufficientFunds)
    assert results[0].balances[first.id].credit_balance == 70
    assert results[2].balances[third.id].credit_balance == 60
    assert [balance(batched, wallet) for wallet in (first, poor, third)] == [70, 100, 60]
    assert entries(database) == journal_before + 2
    # The refused entry's key was rolled back with it: the same key may go again.
    again = on_batched_loop(batched, lambda: pay(batched, poor, 50, key="b"))
    assert not again.replayed
    assert balance(batched, poor) == 50


def test_payments_in_one_batch_see_each_other_in_order(batched: Books):
    wallet = batched.wallet()
    batched.fund(wallet, 100)

    results = on_batched_loop(
        batched,
        lambda: together(*(pay(batched, wallet, 30, key=f"k{index}") for index in range(5))),
    )

    landed = [result for result in results if not isinstance(result, Exception)]
    assert [result.balances[wallet.id].credit_balance for result in landed] == [70, 40, 10]
    assert all(isinstance(result, errors.InsufficientFunds) for result in results[3:])
    assert balance(batched, wallet) == 10


def test_parallel_retries_of_one_key_in_one_batch_post_once(batched: Books, database: Database):
    wallet = batched.wallet()
    batched.fund(wallet, 1_000)
    journal_before = entries(database)
    batches_before, entries_before = batches_seen()

    results = on_batched_loop(
        batched,
        lambda: together(
            *(pay(batched, wallet, 250, key="till-7") for _ in range(20)),
            pay(batched, wallet, 999, key="till-7", request_hash="another body"),
        ),
    )

    assert batches_seen() == (batches_before + 1, entries_before + 21)
    first, *replays, other_body = results
    assert not first.replayed
    assert all(replay.replayed for replay in replays)
    assert {replay.entry_id for replay in replays} == {first.entry_id}
    assert all(replay.transfers == first.transfers for replay in replays)
    assert isinstance(other_body, errors.IdempotencyKeyReused)
    assert balance(batched, wallet) == 750
    assert entries(database) == journal_before + 1


def test_an_unknown_account_or_a_transfer_id_taken_fails_only_its_entry(batched: Books):
    wallet = batched.wallet()
    batched.fund(wallet, 100)
    taken = batched.fund(batched.wallet(), 1)
    ghost = type("Ghost", (), {"id": taken.id})()

    def move(transfer: Transfer):
        return batched.ledger.post_entry_async(batched.merchant_id, [transfer], kind="payment")

    results = on_batched_loop(
        batched,
        lambda: together(
            pay(batched, ghost, 10),
            move(Transfer(wallet.id, batched.settlement.id, 5, "payment", id=taken.id)),
            pay(batched, wallet, 20),
        ),
    )

    assert isinstance(results[0], errors.AccountNotFound)
    assert isinstance(results[1], errors.TransferExists)
    assert results[2].balances[wallet.id].credit_balance == 80


def test_a_lost_connection_fails_only_the_unanswered_payments_and_retries_land_once(
    batched: Books, database: Database
):
    held, other, before = batched.wallet(), batched.wallet(), batched.wallet()
    for wallet in (held, other, before):
        batched.fund(wallet, 100)
    conninfo = database.conninfo

    async def scenario() -> tuple[Any, list[Any], list[Any], Any]:
        answered = await pay(batched, before, 10, key="before")
        # Another transaction holds the wallet's row: the next batch waits for it
        # in flight, and its backend is killed there, before it commits.
        async with await psycopg.AsyncConnection.connect(conninfo) as locker:
            await locker.execute(
                "SELECT 1 FROM account_balances WHERE account_id = %s FOR UPDATE", (held.id,)
            )
            in_flight = asyncio.ensure_future(
                together(pay(batched, held, 30, key="held"), pay(batched, other, 20, key="other"))
            )
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as killer:
                while True:
                    cursor = await killer.execute(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
                        " AND wait_event_type = 'Lock'",
                        (APPLICATION_NAME,),
                    )
                    row = await cursor.fetchone()
                    if row is not None:
                        break
                    await asyncio.sleep(0.01)
                await killer.execute("SELECT pg_terminate_backend(%s)", (row[0],))
                lost = await in_flight
            await locker.rollback()
        retried = await together(
            pay(batched, held, 30, key="held"), pay(batched, other, 20, key="other")
        )
        replayed = await pay(batched, before, 10, key="before")
        return answered, lost, retried, replayed

    answered, lost, retried, replayed = on_batched_loop(batched, scenario)

    assert all(isinstance(error, psycopg.OperationalError) for error in lost)
    assert all(is_unavailable(error) for error in lost)
    assert not any(result.replayed for result in retried)
    assert replayed.replayed and replayed.entry_id == answered.entry_id
    assert [balance(batched, wallet) for wallet in (held, other, before)] == [70, 80, 90]


def test_without_group_commit_no_batch_is_sent(books: Books, postgres_url: str):
    wallet = books.wallet()
    books.fund(wallet, 100)
    batches_before = batches_seen()

    results = on_batched_loop(
        books, lambda: together(pay(books, wallet, 10), pay(books, wallet, 20))
    )

    assert batches_seen() == batches_before
    assert balance(books, wallet) == 70
    assert not any(isinstance(result, Exception) for result in results)


def deadlocks(database: Database) -> int:
    with database.read() as connection:
        return connection.execute(
            text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        ).scalar_one()


def test_two_workers_batches_crossing_the_same_wallets_do_not_deadlock(
    batched: Books, database: Database
):
    # Each batch pays from both wallets, the two workers in opposite orders: without
    # the batch's locks taken up front by account, each would hold the row the
    # other's second entry waits for.
    first, second = batched.wallet(), batched.wallet()
    batched.fund(first, 10_000)
    batched.fund(second, 10_000)
    rounds = 25
    before = deadlocks(database)

    def worker(order: tuple[Any, Any]) -> list[Any]:
        async def batches() -> list[Any]:
            results: list[Any] = []
            for _ in range(rounds):
                results += await together(*(pay(batched, wallet, 1) for wallet in order))
            return results

        return on_batched_loop(batched, batches)

    with ThreadPoolExecutor(max_workers=2) as workers:
        outcomes = list(workers.map(worker, [(first, second), (second, first)]))

    assert not [
        result for results in outcomes for result in results if isinstance(result, Exception)
    ]
    assert deadlocks(database) == before
    assert balance(batched, first) == balance(batched, second) == 10_000 - 2 * rounds
