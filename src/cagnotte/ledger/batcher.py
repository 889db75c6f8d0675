"""Group commit on PostgreSQL: the entries that arrive together share one round trip.

Each worker process (each event loop) has one EntryBatcher with a connection of
its own. An entry handed to it while no batch is in flight goes at once, alone;
those that arrive while a batch is in flight wait for it and then go together,
as the next batch: no timer, so an idle service answers as fast as before and
a busy one sends many entries per statement. A batch is one call of
cagnotte_post_entries on an autocommit connection: one statement, one
transaction, one commit and one WAL flush for all its entries, each in a
subtransaction of its own (so a refused entry fails alone). psycopg returns the
answer only once the server is ready for the next query, which is after the
commit (durable, with synchronous_commit on): nobody is answered before the
commit that holds their entry.

A batch that fails as a whole answers each waiting entry with None, "post it
alone" (a deadlock between batches, anything unexpected): none of it committed,
and the caller posts it as it would without the batcher, errors and retries
included. A lost connection instead fails the batch's entries with an
OperationalError (answered 503): whether the commit happened is unknown, which
their Idempotency-Keys make safe to retry (a committed entry replays). The next
batch opens a new connection.

Measured (bench/run.py): most of a payment's cost on PostgreSQL is the round
trip and the WAL flush of its own commit; shared by a batch, they no longer
limit the payments per second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import psycopg

from cagnotte import metrics

# At most this many entries per batch. Each entry is a subtransaction that writes,
# so it takes a transaction id; PostgreSQL keeps 64 of them per backend in shared
# memory (PGPROC_MAX_CACHED_SUBXIDS) and beyond that every other session's
# snapshot must look subtransactions up in pg_subtrans: a known slowdown for all.
BATCH_ENTRIES_MAX = 64
# Seen in pg_stat_activity (and used by the tests to find the batcher's backend).
APPLICATION_NAME = "cagnotte-batcher"
CONNECT_TIMEOUT_SECONDS = 5
_POST_ENTRIES = "SELECT cagnotte_post_entries(%s::jsonb)"


class EntryBatcher:
    """One event loop's gatherer of journal entries, over one connection of its own."""

    def __init__(self, conninfo: str, *, entries_max: int = BATCH_ENTRIES_MAX) -> None:
        assert 1 <= entries_max <= BATCH_ENTRIES_MAX
        self._conninfo = conninfo
        self._entries_max = entries_max
        self._waiting: list[tuple[str, asyncio.Future[dict[str, Any] | None]]] = []
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def post(self, entry_json: str) -> dict[str, Any] | None:
        """Post one entry (cagnotte_post_entries' object, as JSON) with the next batch.

        Returns {"result": …} or {"error": …} as cagnotte_post_entries answers for
        it, or None when the batch failed as a whole: then nothing of the entry
        was committed and the caller posts it alone. Raises psycopg's
        OperationalError when the connection was lost with the entry in flight.
        """
        if self._closed:
            return None  # the loop is ending: posted alone, like a refused batch
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((entry_json, future))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        # A request cancelled meanwhile (its client gone) cancels only its future:
        # its entry is in the batch and lands, or not, with the others.
        return await future

    async def close(self) -> None:
        """Let the batches in flight end, then close the connection."""
        self._closed = True
        if self._task is not None:
            await self._task
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _run(self) -> None:
        # Runs while entries wait: those that arrived during a batch are the next.
        try:
            while self._waiting:
                batch = self._waiting[: self._entries_max]
                del self._waiting[: self._entries_max]
                await self._post_batch(batch)
        finally:
            self._task = None

    async def _post_batch(self, batch: list[tuple[str, asyncio.Future[Any]]]) -> None:
        metrics.ledger_batch_size.observe(len(batch))
        entries = "[" + ",".join(entry for entry, _future in batch) + "]"
        try:
            connection = await self._connect()
            cursor = await connection.execute(_POST_ENTRIES, (entries,), prepare=True)
            row = await cursor.fetchone()
        except psycopg.Error as error:
            if self._connection is None or self._connection.broken or self._connection.closed:
                await self._forget_connection()
                for _entry, future in batch:
                    _settle(future, exception=_lost(error))
                return
            # Refused as a whole (a deadlock with another batch, anything unexpected):
            # rolled back whole, so each entry may go alone.
            for _entry, future in batch:
                _settle(future, result=None)
            return
        except BaseException as error:
            # Cancelled (the loop is ending) or a bug: the waiting requests are told.
            await self._forget_connection()
            for _entry, future in batch:
                _settle(future, exception=_lost(error))
            raise
        assert row is not None
        answers = row[0]
        assert len(answers) == len(batch)
        for (_entry, future), answer in zip(batch, answers, strict=True):
            _settle(future, result=answer)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._connection is None:
            self._connection = await psycopg.AsyncConnection.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                application_name=APPLICATION_NAME,
            )
        return self._connection

    async def _forget_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                await connection.close()


def entry_json(parameters: dict[str, Any]) -> str:
    """cagnotte_post_entries' object for one entry, from cagnotte_post_entry's arguments.

    The operations are already JSON (the same text cagnotte_post_entry takes);
    they are spliced in, not decoded and encoded again.
    """
    head = json.dumps(
        {
            "merchant_id": str(parameters["merchant_id"]),
            "entry_id": str(parameters["entry_id"]),
            "kind": parameters["kind"],
            "idempotency_key": parameters["idempotency_key"],
            "request_hash": parameters["request_hash"],
            "memo": parameters["memo"],
            "now": parameters["now"].isoformat(),
            "allowed": parameters["allowed"],
        }
    )
    return head[:-1] + ', "operations": ' + parameters["operations"] + "}"


def _settle(
    future: asyncio.Future[Any],
    *,
    result: dict[str, Any] | None = None,
    exception: BaseException | None = None,
) -> None:
    if future.done():
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)


def _lost(cause: BaseException) -> psycopg.OperationalError:
    # One error per request (an exception raised in several tasks would share its
    # traceback); without a SQLSTATE, so it is answered 503 (db.engine.is_unavailable).
    error = psycopg.OperationalError(
        "the connection to the database was lost with the entry in flight"
    )
    error.__cause__ = cause
    return error
