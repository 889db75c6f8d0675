"""Group commit on SQLite: one writer per process posts the entries waiting for it together.

SQLite has one writer at a time, and on the general path every entry posted
alone is a transaction of its own through SQLAlchemy: its own BEGIN IMMEDIATE,
its own wait for the write lock (SQLite's busy handler sleeps 1, 2, 5, 10 … ms
between tries, so the waits of parallel requests grow into seconds), its own
commit. Here each application process has one writer thread with a sqlite3
connection of its own. An entry handed to it (from the event loop, a payment;
or from a worker thread, a top-up) waits in a queue; the writer takes the first,
takes the write lock (BEGIN IMMEDIATE), then every entry that has arrived
meanwhile, up to BATCH_ENTRIES_MAX, and posts them one after the other, each
inside a SAVEPOINT of its own (a refused entry is rolled back to its savepoint
and fails alone), then COMMITs once. Each request is answered after that
commit. No timer: an idle writer posts an entry at once, alone; a busy one
posts together what arrived while it was busy.

The statements are SqliteLedgerWriter's (ledger/sqlite_backend.py), the same
as on the general path, so the checks, the errors, the idempotency answers and
the rows are the same: a key claimed earlier in the batch is seen by the
entries after it (the same key twice in a batch posts once and replays once).

Several processes on one file: each writer retries BEGIN IMMEDIATE itself, a
short pause at a time, until the database's busy timeout has passed, rather
than through SQLite's busy handler and its growing sleeps; past it, the
batch's requests get an OperationalError that says busy (answered 503 with
Retry-After, db.engine.is_unavailable), none of them committed. Anything else
unexpected answers an entry None, "post it alone": the caller posts it on the
general path, which fails (or not) as it always has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cagnotte import errors, metrics
from cagnotte.db.engine import is_unavailable
from cagnotte.ledger.model import Operation
from cagnotte.ledger.sqlite_backend import SqliteLedgerWriter

logger = logging.getLogger(__name__)

# At most this many entries per transaction: a batch holds the write lock while
# it posts, and the others wait for it (≈ 0.1 ms an entry, measured).
BATCH_ENTRIES_MAX = 64
# The pauses between two tries of BEGIN IMMEDIATE while another process writes:
# the first short (a batch of another worker takes a millisecond or two), then
# doubling up to the longest.
BEGIN_PAUSE_FIRST_SECONDS = 0.0002
BEGIN_PAUSE_MAX_SECONDS = 0.002
THREAD_NAME = "cagnotte-sqlite-writer"


@dataclass(slots=True)
class PendingEntry:
    """One entry waiting for the writer, with the future its caller waits on."""

    merchant_id: uuid.UUID
    entry_id: uuid.UUID
    now: datetime
    allowed: tuple[uuid.UUID, ...]
    kind: str
    idempotency_key: str | None
    request_hash: str | None
    memo: str | None
    operations: list[Operation]
    # The entry's result (a dict), None ("post it alone"), or the refusal raised.
    future: Future[dict[str, Any] | None] = field(default_factory=Future)


class SqliteEntryBatcher:
    """One process's writer thread and its connection; entries come from any thread."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        busy_timeout_seconds: float,
        entries_max: int = BATCH_ENTRIES_MAX,
    ) -> None:
        assert 1 <= entries_max <= BATCH_ENTRIES_MAX
        self._connect = connect
        self._busy_timeout_seconds = busy_timeout_seconds
        self._entries_max = entries_max
        self._queue: queue.SimpleQueue[PendingEntry | None] = queue.SimpleQueue()
        self._connection: sqlite3.Connection | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        """How many entries wait for the writer to take them (for the tests)."""
        return self._queue.qsize()

    def submit(self, entry: PendingEntry) -> Future[dict[str, Any] | None]:
        """Hand an entry to the writer; its future holds the answer once committed."""
        if self._closed or threading.current_thread() is self._thread:
            entry.future.set_result(None)  # the process is ending: posted alone
        else:
            self._queue.put(entry)
        return entry.future

    def post(self, entry: PendingEntry) -> dict[str, Any] | None:
        """The entry's result once committed, or None to post it alone; raises its refusal."""
        return self.submit(entry).result()

    async def post_async(self, entry: PendingEntry) -> dict[str, Any] | None:
        """post, awaited on the event loop (no thread of the pool is held meanwhile).

        A request cancelled before the writer takes its entry (its client gone)
        withdraws it; once taken, it lands or not with its batch.
        """
        return await asyncio.wrap_future(self.submit(entry))

    def close(self) -> None:
        """Let the writer post what waits, then end it and close its connection."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()

    # The writer thread ------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                break
            self._post_batch(first)
        self._forget_connection()

    def _post_batch(self, first: PendingEntry) -> None:
        batch = [first]
        try:
            connection = self._connection or self._open()
            self._begin(connection)
        except sqlite3.Error as error:
            # Busy past the timeout (or the file out of reach): nothing was written.
            self._forget_connection()
            for entry in [first, *self._take_waiting(self._entries_max - 1)]:
                _fail(entry, error)
            return
        try:
            # Those that arrived while the lock was awaited go in this batch.
            batch += self._take_waiting(self._entries_max - 1)
            live = [entry for entry in batch if entry.future.set_running_or_notify_cancel()]
            metrics.ledger_batch_size.observe(len(live))
            outcomes = [_post_one(connection, entry) for entry in live]
            connection.execute("COMMIT")
        except Exception as error:
            # Not committed: closing the connection rolls the batch back.
            if not isinstance(error, sqlite3.Error):
                logger.exception("the SQLite writer failed a batch")
            self._forget_connection()
            for entry in batch:
                _fail(entry, error)
            return
        for entry, outcome in zip(live, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                entry.future.set_exception(outcome)
            else:
                entry.future.set_result(outcome)

    def _take_waiting(self, most: int) -> list[PendingEntry]:
        taken: list[PendingEntry] = []
        while len(taken) < most:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                break
            if entry is None:
                self._queue.put(None)  # closing: after this batch
                break
            taken.append(entry)
        return taken

    def _open(self) -> sqlite3.Connection:
        self._connection = self._connect()
        # The writer waits for the lock itself (_begin); nothing else it runs waits.
        self._connection.execute("PRAGMA busy_timeout=0")
        return self._connection

    def _begin(self, connection: sqlite3.Connection) -> None:
        deadline = time.monotonic() + self._busy_timeout_seconds
        pause = BEGIN_PAUSE_FIRST_SECONDS
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if not is_unavailable(error) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
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
    if entry.future.done() or (
        not entry.future.running() and not entry.future.set_running_or_notify_cancel()
    ):
        return
    if is_unavailable(cause):
        # One error per request (an exception raised in several threads would share
        # its traceback); its cause says busy to db.engine.is_unavailable.
        error = sqlite3.OperationalError("the database was busy: the entry was not posted")
        error.__cause__ = cause
        entry.future.set_exception(error)
    else:
        entry.future.set_result(None)
