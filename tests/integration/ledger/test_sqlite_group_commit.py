"""Group commit on SQLite (ledger/sqlite_batcher.py): one writer per process.

SQLite only (PostgreSQL has its batcher, test_group_commit.py). The entries
waiting for the writer when it has the write lock are posted in one transaction,
each inside a SAVEPOINT of its own, so a refusal fails only its entry, and
every entry is answered after the commit. To put entries in one batch for
certain, a test holds the write lock from another connection while they queue:
the writer takes the first and waits for the lock; the others join it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select

from cagnotte import errors
from cagnotte.clock import ManualClock
from cagnotte.db.engine import Database, is_unavailable
from cagnotte.db.tables import idempotency_records, journal_entries
from cagnotte.ledger import Ledger, Transfer
from cagnotte.ledger.sqlite_batcher import SqliteEntryBatcher
from tests.integration.ledger.test_async_entries import balance, entries, pay
from tests.integration.ledger.test_group_commit import batches_seen, together
from tests.integration.ledger.test_ledger import Books, footprint

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def sqlite_url(database_url: str) -> str:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's writer")
    return database_url


class WriterLoop:
    """An event loop in a thread of its own with the ledger's SQLite writer open, as the
    API's is; entries posted alone from other threads (a top-up's way) go to it."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> WriterLoop:
        self.thread.start()
        self.run(self.ledger.open_group_commit())
        return self

    def __exit__(self, *_exc: object) -> None:
        self.run(self.ledger.close_group_commit())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()

    def start(self, work: Awaitable[T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(work, self.loop)  # type: ignore[arg-type]

    def run(self, work: Awaitable[T]) -> T:
        return self.start(work).result()

    @property
    def writer(self) -> SqliteEntryBatcher:
        writer = self.ledger._sqlite_batchers.get(self.loop)
        assert writer is not None
        return writer


@pytest.fixture
def loop(books: Books, sqlite_url: str) -> Iterator[WriterLoop]:
    books.ledger.group_commit = True
    with WriterLoop(books.ledger) as loop:
        yield loop


@pytest.fixture
def writing(books: Books, loop: WriterLoop) -> Books:
    """The books with the SQLite writer open: entries posted alone go to it."""
    return books


@contextmanager
def write_lock_held(database: Database) -> Iterator[None]:
    """Another connection (another process, as far as SQLite knows) holds the write lock."""
    holder = sqlite3.connect(database.sqlite_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


def in_one_batch(loop: WriterLoop, *payments: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Start the payments together and have the writer post them as one batch: it waits
    for the lock held here until all of them wait for it."""

    async def all_of_them() -> list[Any]:
        return await together(*(payment() for payment in payments))

    with write_lock_held(loop.ledger.database):
        outcome = loop.start(all_of_them())
        deadline = time.monotonic() + 10
        while loop.writer.waiting < len(payments):
            assert time.monotonic() < deadline, "the payments did not queue"
            time.sleep(0.005)
    return outcome.result()


def paying(books: Books, wallet, amount: int, key: str | None = None, request_hash: str = "h"):
    return lambda: pay(books, wallet, amount, key=key, request_hash=request_hash)


def test_a_batch_with_a_refused_payment_posts_the_others(
    writing: Books, loop: WriterLoop, database: Database
):
    first, poor, third = writing.wallet(), writing.wallet(), writing.wallet()
    for wallet in (first, poor, third):
        writing.fund(wallet, 100)
    batches_before, entries_before = batches_seen()
    journal_before = entries(database)

    results = in_one_batch(
        loop,
        paying(writing, first, 30, key="a"),
        paying(writing, poor, 500, key="b"),
        paying(writing, third, 40, key="c"),
    )

    assert batches_seen() == (batches_before + 1, entries_before + 3)
    assert isinstance(results[1], errors.InsufficientFunds)
    assert results[0].balances[first.id].credit_balance == 70
    assert results[2].balances[third.id].credit_balance == 60
    assert [balance(writing, wallet) for wallet in (first, poor, third)] == [70, 100, 60]
    assert entries(database) == journal_before + 2
    # The refused entry's key was rolled back with its savepoint: it may go again.
    again = loop.run(pay(writing, poor, 50, key="b"))
    assert not again.replayed
    assert balance(writing, poor) == 50


def test_payments_in_one_batch_see_each_other_in_order(writing: Books, loop: WriterLoop):
    wallet = writing.wallet()
    writing.fund(wallet, 100)
    batches_before, entries_before = batches_seen()

    results = in_one_batch(
        loop, *(paying(writing, wallet, 30, key=f"k{index}") for index in range(5))
    )

    assert batches_seen() == (batches_before + 1, entries_before + 5)
    landed = [result for result in results if not isinstance(result, Exception)]
    assert [result.balances[wallet.id].credit_balance for result in landed] == [70, 40, 10]
    assert all(isinstance(result, errors.InsufficientFunds) for result in results[3:])
    assert balance(writing, wallet) == 10


def test_twenty_retries_of_one_key_in_one_batch_post_once(
    writing: Books, loop: WriterLoop, database: Database
):
    wallet = writing.wallet()
    writing.fund(wallet, 1_000)
    journal_before = entries(database)
    batches_before, entries_before = batches_seen()

    results = in_one_batch(
        loop,
        *(paying(writing, wallet, 250, key="till-7") for _ in range(20)),
        paying(writing, wallet, 999, key="till-7", request_hash="another body"),
    )

    assert batches_seen() == (batches_before + 1, entries_before + 21)
    first, *replays, other_body = results
    assert not first.replayed
    assert all(replay.replayed for replay in replays)
    assert {replay.entry_id for replay in replays} == {first.entry_id}
    assert all(replay.transfers == first.transfers for replay in replays)
    assert isinstance(other_body, errors.IdempotencyKeyReused)
    assert balance(writing, wallet) == 750
    assert entries(database) == journal_before + 1


def test_twenty_parallel_retries_of_one_key_from_threads_post_once(
    writing: Books, database: Database
):
    # Posted alone from worker threads (a top-up's way), in whatever batches they fall.
    wallet = writing.wallet()
    writing.fund(wallet, 1_000)
    journal_before = entries(database)
    barrier = threading.Barrier(20)

    def retry(_index: int):
        barrier.wait()
        return writing.post(
            Transfer(wallet.id, writing.settlement.id, 40, "payment"),
            idempotency_key="retry",
            request_hash="h",
        )

    with ThreadPoolExecutor(max_workers=20) as threads:
        outcomes = list(threads.map(retry, range(20)))

    assert {outcome.entry_id for outcome in outcomes} == {outcomes[0].entry_id}
    assert sum(not outcome.replayed for outcome in outcomes) == 1
    assert entries(database) == journal_before + 1
    assert balance(writing, wallet) == 960
    with database.read() as connection:
        keys = connection.execute(
            select(func.count())
            .select_from(idempotency_records)
            .where(idempotency_records.c.key == "retry")
        ).scalar_one()
    assert keys == 1


def test_an_unknown_account_or_a_transfer_id_taken_fails_only_its_entry(
    writing: Books, loop: WriterLoop
):
    wallet = writing.wallet()
    writing.fund(wallet, 100)
    taken = writing.fund(writing.wallet(), 1)
    ghost = type("Ghost", (), {"id": taken.id})()

    def move(transfer: Transfer):
        return lambda: writing.ledger.post_entry_async(
            writing.merchant_id, [transfer], kind="payment"
        )

    results = in_one_batch(
        loop,
        paying(writing, ghost, 10),
        move(Transfer(wallet.id, writing.settlement.id, 5, "payment", id=taken.id)),
        paying(writing, wallet, 20),
    )

    assert isinstance(results[0], errors.AccountNotFound)
    assert isinstance(results[1], errors.TransferExists)
    assert results[2].balances[wallet.id].credit_balance == 80
    assert balance(writing, wallet) == 80


def test_a_database_busy_past_the_timeout_answers_unavailable_and_posts_nothing(
    books: Books, database: Database, sqlite_url: str, clock: ManualClock
):
    wallet = books.wallet()
    books.fund(wallet, 100)
    # A service of its own on the same file, which waits for the lock only a moment.
    impatient = Database(sqlite_url, busy_timeout_seconds=0.2)
    ledger = Ledger(impatient, clock, group_commit=True)

    def pay_thirty():
        return ledger.post_entry_async(
            books.merchant_id,
            [Transfer(wallet.id, books.settlement.id, 30, "payment")],
            kind="payment",
            idempotency_key="busy",
            request_hash="h",
        )

    try:
        with WriterLoop(ledger) as loop:
            before = footprint(database)
            with write_lock_held(database), pytest.raises(sqlite3.OperationalError) as busy:
                loop.run(pay_thirty())
            assert is_unavailable(busy.value)
            assert footprint(database) == before
            # Nothing was kept: the retry with the same key posts it, once.
            retried = loop.run(pay_thirty())
        assert not retried.replayed
        assert balance(books, wallet) == 70
    finally:
        impatient.dispose()


def test_a_request_gone_before_its_batch_begins_posts_nothing(
    writing: Books, loop: WriterLoop, database: Database
):
    wallet = writing.wallet()
    writing.fund(wallet, 100)
    journal_before = entries(database)
    withdrawn = threading.Event()

    async def first_and_abandoned() -> Any:
        first = asyncio.ensure_future(pay(writing, wallet, 10, key="first"))
        abandoned = asyncio.ensure_future(pay(writing, wallet, 20, key="abandoned"))
        # Both wait for the writer, which waits for the lock.
        while loop.writer.waiting != 2:
            await asyncio.sleep(0.005)
        abandoned.cancel()  # its client went away while it waited
        withdrawn.set()
        return await first

    with write_lock_held(database):
        pending = loop.start(first_and_abandoned())
        assert withdrawn.wait(10)
    first = pending.result()

    assert not first.replayed
    assert entries(database) == journal_before + 1
    assert balance(writing, wallet) == 90


# A crash (the process killed) before the commit -----------------------------------------

_CRASHING_SERVICE = """
import asyncio, sys, threading, time, uuid
from cagnotte.clock import SystemClock
from cagnotte.db.engine import Database
from cagnotte.ledger import Ledger, Transfer
from cagnotte.ledger import sqlite_backend

url, merchant, wallet, settlement = sys.argv[1:5]
ledger = Ledger(Database(url), SystemClock(), group_commit=True)
loop = asyncio.new_event_loop()
threading.Thread(target=loop.run_forever, daemon=True).start()
asyncio.run_coroutine_threadsafe(ledger.open_group_commit(), loop).result()
original = sqlite_backend.SqliteLedgerWriter.post_entry

def post_entry(self, **arguments):
    result = original(self, **arguments)
    if arguments["idempotency_key"] == "slow":
        # Written in the writer's open transaction, not committed: killed here
        # (the loop stands still, so the next entry waits unanswered).
        print("writing slow", flush=True)
        time.sleep(600)
    return result

sqlite_backend.SqliteLedgerWriter.post_entry = post_entry

def pay(key):
    ledger.post_entry(
        uuid.UUID(merchant),
        [Transfer(uuid.UUID(wallet), uuid.UUID(settlement), 10, "payment")],
        kind="payment",
        idempotency_key=key,
        request_hash="h",
    )
    print("answered", key, flush=True)

for key in ("one", "two"):
    pay(key)
threading.Thread(target=pay, args=("slow",), daemon=True).start()
time.sleep(0.2)
threading.Thread(target=pay, args=("queued",), daemon=True).start()
time.sleep(600)
"""


def test_a_crash_before_the_commit_loses_only_the_unanswered_entries(
    books: Books, database: Database, sqlite_url: str
):
    writing = books
    wallet = writing.wallet()
    writing.fund(wallet, 100)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    service = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _CRASHING_SERVICE,
            database.url,
            str(writing.merchant_id),
            str(wallet.id),
            str(writing.settlement.id),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    lines = []
    try:
        assert service.stdout is not None
        for line in service.stdout:
            lines.append(line.strip())
            if line.startswith("writing slow"):
                break
        time.sleep(0.3)  # "queued" waits for the writer, which holds "slow" uncommitted
    finally:
        os.killpg(service.pid, signal.SIGKILL)
        service.wait()

    assert lines == ["answered one", "answered two", "writing slow"]
    assert balance(writing, wallet) == 80
    with database.read() as connection:
        keys = connection.execute(
            select(idempotency_records.c.key, journal_entries.c.id).join(
                journal_entries,
                (journal_entries.c.merchant_id == idempotency_records.c.merchant_id)
                & (journal_entries.c.id == idempotency_records.c.entry_id),
            )
        ).all()
    assert sorted(key for key, _entry in keys) == ["one", "two"]
    # The clients retry: the answered payments replay, the others land once.
    writing.ledger.group_commit = True
    with WriterLoop(writing.ledger):
        retried = {
            key: writing.post(
                Transfer(wallet.id, writing.settlement.id, 10, "payment"),
                idempotency_key=key,
                request_hash="h",
            )
            for key in ("one", "two", "slow", "queued")
        }
    assert [retried[key].replayed for key in ("one", "two", "slow", "queued")] == [
        True,
        True,
        False,
        False,
    ]
    assert balance(writing, wallet) == 60


# The cost of an entry ----------------------------------------------------------------------


def test_an_entry_on_sqlite_costs_the_same_however_many_transfers_the_merchant_has(
    books: Books, database: Database, sqlite_url: str
):
    # Counted in SQLite's virtual machine steps (its progress handler), not in time.
    wallet = books.wallet()
    books.fund(wallet, 1_000_000)

    def pay_one(connection) -> None:
        books.ledger.post_entry(
            books.merchant_id,
            [Transfer(wallet.id, books.settlement.id, 1, "payment")],
            kind="payment",
            connection=connection,
        )

    def steps_of_one_payment() -> int:
        steps = [0]

        def count() -> int:
            steps[0] += 1
            return 0

        with database.transaction() as connection:
            driver = connection.connection.driver_connection
            driver.set_progress_handler(count, 100)
            pay_one(connection)
            driver.set_progress_handler(None, 0)
        return steps[0]

    few = steps_of_one_payment()
    with database.transaction() as connection:
        for _ in range(3_000):
            pay_one(connection)
    many = steps_of_one_payment()

    assert many < 2 * few, (few, many)
