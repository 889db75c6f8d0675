"""Entries posted from an event loop (Ledger.post_entry_async), on SQLite and PostgreSQL.

On PostgreSQL they go through the loop's own connections; on SQLite, and on a
loop that opened none, through post_entry in a worker thread. Same rules either way.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from cagnotte import errors
from cagnotte.db.engine import Database
from cagnotte.db.tables import journal_entries
from cagnotte.ledger import EntryResult, Transfer
from tests.integration.ledger.test_ledger import Books, footprint

T = TypeVar("T")


def on_event_loop(database: Database, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` on a new event loop that has opened its connections, as the API's does.

    The loop runs in a thread of its own: the browser tests' Playwright keeps a
    loop running in the main thread for the whole session.
    """

    async def main() -> T:
        await database.open_async_pool()
        try:
            assert database.has_async_pool() == database.is_postgresql
            return await work()
        finally:
            await database.close_async_pool()

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, main()).result()


def pay(books: Books, wallet, amount: int, key: str | None = None, request_hash: str = "h"):
    return books.ledger.post_entry_async(
        books.merchant_id,
        [Transfer(wallet.id, books.settlement.id, amount, "payment")],
        kind="payment",
        idempotency_key=key,
        request_hash=request_hash if key else None,
    )


def balance(books: Books, account) -> int:
    return books.ledger.balance(account).credit_balance


def entries(database: Database) -> int:
    with database.read() as connection:
        return connection.execute(select(func.count()).select_from(journal_entries)).scalar_one()


def test_a_payment_from_the_event_loop_lands_and_reports_the_wallet_balance(books, database):
    wallet = books.wallet()
    books.fund(wallet, 1_000)

    result: EntryResult = on_event_loop(database, lambda: pay(books, wallet, 300))

    assert not result.replayed
    assert result.balances[wallet.id].credit_balance == 700
    assert balance(books, wallet) == 700
    assert books.ledger.balance(books.settlement).credit_balance == 300
    assert books.ledger.entry_result(books.merchant_id, result.entry_id).transfers[0].amount == 300


def test_a_payment_beyond_the_balance_is_refused_and_writes_nothing(books, database):
    wallet = books.wallet()
    books.fund(wallet, 100)
    before = footprint(database)

    with pytest.raises(errors.InsufficientFunds):
        on_event_loop(database, lambda: pay(books, wallet, 101))

    assert footprint(database) == before


def test_a_frozen_wallet_refuses_a_payment_from_the_event_loop(books, database):
    wallet = books.wallet()
    books.fund(wallet, 100)
    with database.transaction() as connection:
        books.ledger.set_frozen(connection, books.merchant_id, [wallet.id], frozen=True)

    with pytest.raises(errors.AccountFrozen):
        on_event_loop(database, lambda: pay(books, wallet, 10))

    assert balance(books, wallet) == 100


def test_the_same_key_replays_the_first_answer_and_another_body_is_refused(books, database):
    wallet = books.wallet()
    books.fund(wallet, 1_000)

    async def twice_then_other_body():
        first = await pay(books, wallet, 250, key="till-1")
        again = await pay(books, wallet, 250, key="till-1")
        with pytest.raises(errors.IdempotencyKeyReused):
            await pay(books, wallet, 999, key="till-1", request_hash="other")
        return first, again

    first, again = on_event_loop(database, twice_then_other_body)

    assert again.replayed and not first.replayed
    assert again.entry_id == first.entry_id
    assert balance(books, wallet) == 750


def test_an_unknown_account_is_refused_from_the_event_loop(books, database):
    ghost = type("Ghost", (), {"id": uuid.uuid4()})()

    with pytest.raises(errors.AccountNotFound):
        on_event_loop(database, lambda: pay(books, ghost, 10))


# On one event loop, many at once (PostgreSQL: the loop's pool of connections) ----------


def test_fifty_concurrent_debits_of_ten_from_a_hundred_let_exactly_ten_through(
    postgres_url, books, database
):
    wallet = books.wallet()
    books.fund(wallet, 100)

    async def fifty_at_once():
        return await asyncio.gather(
            *(pay(books, wallet, 10) for _ in range(50)), return_exceptions=True
        )

    outcomes = on_event_loop(database, fifty_at_once)

    assert sum(isinstance(outcome, EntryResult) for outcome in outcomes) == 10
    assert all(isinstance(outcome, EntryResult | errors.InsufficientFunds) for outcome in outcomes)
    assert balance(books, wallet) == 0


def test_one_key_sent_twenty_times_at_once_posts_once(postgres_url, books, database):
    wallet = books.wallet()
    books.fund(wallet, 1_000)
    entries_before = entries(database)

    async def twenty_at_once():
        return await asyncio.gather(*(pay(books, wallet, 40, key="retry") for _ in range(20)))

    outcomes = on_event_loop(database, twenty_at_once)

    assert {outcome.entry_id for outcome in outcomes} == {outcomes[0].entry_id}
    assert sum(not outcome.replayed for outcome in outcomes) == 1
    assert entries(database) == entries_before + 1
    assert balance(books, wallet) == 960
