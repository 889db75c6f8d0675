"""Group commit on SQLite: one writer per event loop posts the entries waiting for it together.

SQLite has one writer at a time, and on the general path every entry posted
alone is a transaction of its own through SQLAlchemy in a worker thread: its
own BEGIN IMMEDIATE, its own wait for the write lock (SQLite's busy handler
sleeps 1, 2, 5, 10 … ms between tries, so the waits of parallel requests grow
into seconds), its own commit. Here each application process (its event loop)
has one writer with a sqlite3 connection of its own. An entry handed to it (a
payment, from the loop; a top-up, from a worker thread) waits in a list; the
writer takes the write lock (BEGIN IMMEDIATE), then every entry waiting, up to
BATCH_ENTRIES_MAX, posts them one after the other, each inside a SAVEPOINT of
its own (a refused entry is rolled back to its savepoint and fails alone), and
COMMITs once. Each request is answered after that commit. No timer: the
entries of a batch are those the loop received since the last one.

The writer runs its statements on the event loop itself: they take a few
hundredths of a millisecond each. A first version with a thread of its own
cost more CPU per payment (bench/sqlite_payments.py, 8 clients: 2.0 against
1.3 ms), its statements waiting for the GIL after each step while the loop was
busy.

The statements are SqliteLedgerWriter's (ledger/sqlite_backend.py), the same
as on the general path, so the checks, the errors, the idempotency answers and
the rows are the same: a key claimed earlier in the batch is seen by the
entries after it (the same key twice in a batch posts once and replays once).

Several processes on one file: the writer tries BEGIN IMMEDIATE without
waiting, and while another process writes it awaits a short pause (the loop
serves requests meanwhile, whose entries join the batch) and tries again,
until the database's busy timeout has passed; past it, the batch's requests get
an OperationalError that says busy (answered 503 with Retry-After,
db.engine.is_unavailable), none of them committed. Anything else unexpected
answers an entry None, "post it alone": the caller posts it on the general
path, which fails (or not) as it always has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cagnotte import errors, metrics
from cagnotte.db.engine import is_unavailable
from cagnotte.ledger.model import Operation
from cagnotte.ledger.sqlite_backend import SqliteLedgerWriter

logger = logging.getLogger(__name__)

# At most this many entries per transaction: the loop serves nothing else while a
# batch posts (≈ 0.1 ms an entry, measured).
BATCH_ENTRIES_MAX = 64
# The pauses between two tries of BEGIN IMMEDIATE while another process writes:
# the first short (a batch of another worker takes a millisecond or two), then
# doubling up to the longest.
BEGIN_PAUSE_FIRST_SECONDS = 0.0002
BEGIN_PAUSE_MAX_SECONDS = 0.002


@dataclass(slots=True)
class PendingEntry:
    """One entry waiting for the writer."""

    merchant_id: uuid.UUID
    entry_id: uuid.UUID
    now: datetime
    allowed: tuple[uuid.UUID, ...]
    kind: str
    idempotency_key: str | None
    request_hash: str | None
    memo: str | None
    operations: list[Operation]
    # Set on the loop: the entry's result (a dict), None ("post it alone"), or
    # the refusal raised.
    future: asyncio.Future[dict[str, Any] | None] | None = field(default=None)


class SqliteEntryBatcher:
    """One event loop's writer and its connection; entries come from the loop or threads."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        busy_timeout_seconds: float,
        entries_max: int = BATCH_ENTRIES_MAX,
    ) -> None:
        assert 1 <= entries_max <= BATCH_ENTRIES_MAX
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._connect = connect
        self._busy_timeout_seconds = busy_timeout_seconds
        self._entries_max = entries_max
        self._waiting: list[PendingEntry] = []
        self._connection: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def waiting(self) -> int:
        """How many entries wait for the writer to take them (for the tests)."""
        return len(self._waiting)

    async def post_async(self, entry: PendingEntry) -> dict[str, Any] | None:
        """The entry's result once committed, or None to post it alone; raises its refusal.

        A request cancelled before its batch begins (its client gone) withdraws
        its entry; once a batch has taken it, it lands or not with the batch.
        """
        if self._closed:
            return None  # the loop is ending: posted alone
        entry.future = self._loop.create_future()
        self._waiting.append(entry)
        if self._task is None:
            self._task = self._loop.create_task(self._run())
        return await entry.future

    def post(self, entry: PendingEntry) -> dict[str, Any] | None:
        """post_async from another thread (a worker thread's top-up): waits for the answer."""
        if self._closed or threading.get_ident() == self._loop_thread:
            return None  # blocking the loop on itself would never end: posted alone
        try:
            return asyncio.run_coroutine_threadsafe(self.post_async(entry), self._loop).result()
        except RuntimeError:
            return None  # the loop closed meanwhile

    async def close(self) -> None:
        """Let the batches waiting end, then close the connection."""
        self._closed = True
        if self._task is not None:
            await self._task
        self._forget_connection()

    # The batches ----------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while self._waiting:
                await self._post_batch()
        finally:
            self._task = None

    async def _post_batch(self) -> None:
        try:
            connection = self._connection or self._open()
            await self._begin(connection)
        except sqlite3.Error as error:
            # Busy past the timeout (or the file out of reach): nothing was written.
            self._forget_connection()
            for entry in self._take():
                _fail(entry, error)
            return
        # Those that arrived while the lock was awaited are in this batch too.
        batch = self._take()
        metrics.ledger_batch_size.observe(len(batch))
        try:
            outcomes = [_post_one(connection, entry) for entry in batch]
            connection.execute("COMMIT")
        except Exception as error:
            # Not committed: closing the connection rolls the batch back.
            if not isinstance(error, sqlite3.Error):
                logger.exception("the SQLite writer failed a batch")
            self._forget_connection()
            for entry in batch:
                _fail(entry, error)
            return
        for entry, outcome in zip(batch, outcomes, strict=True):
            assert entry.future is not None
            if entry.future.done():
                continue  # its request was cancelled meanwhile: the entry stands
            if isinstance(outcome, BaseException):
                entry.future.set_exception(outcome)
            else:
                entry.future.set_result(outcome)

    def _take(self) -> list[PendingEntry]:
        """The waiting entries of the next batch; those of requests gone are dropped."""
        taken = self._waiting[: self._entries_max]
        del self._waiting[: self._entries_max]
        return [entry for entry in taken if entry.future is not None and not entry.future.done()]

    def _open(self) -> sqlite3.Connection:
        self._connection = self._connect()
        # The writer waits for the lock itself (_begin): nothing it runs may block the loop.
        self._connection.execute("PRAGMA busy_timeout=0")
        return self._connection

    async def _begin(self, connection: sqlite3.Connection) -> None:
        deadline = time.monotonic() + self._busy_timeout_seconds
        pause = BEGIN_PAUSE_FIRST_SECONDS
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if not is_unavailable(error) or time.monotonic() + pause > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, BEGIN_PAUSE_MAX_SECONDS)

    def _forget_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(sqlite3.Error):
                connection.close()


def _post_one(connection: sqlite3.Connection, entry: PendingEntry) -> Any:
    """One entry inside its savepoint: its result, its refusal, or None (post it alone)."""
    connection.execute("SAVEPOINT entry")
    try:
        result = SqliteLedgerWriter(
            connection, entry.merchant_id, entry.entry_id, entry.now, entry.allowed
        ).post_entry(
            kind=entry.kind,
            idempotency_key=entry.idempotency_key,
            request_hash=entry.request_hash,
            memo=entry.memo,
            operations=entry.operations,
        )
    except Exception as error:
        connection.execute("ROLLBACK TO entry")
        connection.execute("RELEASE entry")
        # A refusal is the entry's answer; anything else (a bug) is posted alone,
        # where it fails as it would without the writer.
        return error if isinstance(error, errors.DomainError) else None
    connection.execute("RELEASE entry")
    return result


def _fail(entry: PendingEntry, cause: Exception) -> None:
    """Answer an entry of a batch that did not commit: busy (503), or posted alone."""
    future = entry.future
    if future is None or future.done():
        return
    if is_unavailable(cause):
        # One error per request (an exception raised in several tasks would share
        # its traceback); its cause says busy to db.engine.is_unavailable.
        error = sqlite3.OperationalError("the database was busy: the entry was not posted")
        error.__cause__ = cause
        future.set_exception(error)
    else:
        future.set_result(None)
