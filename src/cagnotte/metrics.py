"""The service's metrics, in the Prometheus format (GET /metrics).

Several uvicorn workers are several processes, each with its own counters. When
PROMETHEUS_MULTIPROC_DIR names a directory (`cagnotte serve --workers N` sets
one up), prometheus-client keeps every process's values in files there and
/metrics adds them up, whichever worker answers; without it, /metrics is the
answering process's own. The variable must be set before this module is first
imported: prometheus-client reads it then.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import Connection, event
from sqlalchemy.exc import SQLAlchemyError

from cagnotte.db.engine import Database

MULTIPROCESS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

http_requests = Counter(
    "cagnotte_http_requests",
    "HTTP requests answered, by route template and status.",
    ["method", "route", "status"],
)
http_request_duration = Histogram(
    "cagnotte_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ledger_entries = Counter("cagnotte_ledger_entries", "Journal entries posted, by kind.", ["kind"])
ledger_transfers = Counter(
    "cagnotte_ledger_operations",
    "Ledger operations posted (transfers, holds, posts, voids), by operation and code.",
    ["operation", "code"],
)
ledger_batch_size = Histogram(
    "cagnotte_ledger_batch_size",
    "Journal entries per batch of the group commit (one statement, one commit; PostgreSQL).",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
job_runs = Counter("cagnotte_job_runs", "Scheduled job runs, by job.", ["job"])
job_failures = Counter("cagnotte_job_failures", "Scheduled job runs that failed, by job.", ["job"])
job_skips = Counter(
    "cagnotte_job_skips",
    "Scheduled job ticks skipped because another process held the job's lock.",
    ["job"],
)
database_connections_in_use = Gauge(
    "cagnotte_database_connections_in_use",
    "Connections of the database pool checked out now (all live processes).",
    multiprocess_mode="livesum",
)

_instrumented: weakref.WeakSet[Any] = weakref.WeakSet()
# Where the entries posted inside a caller's transaction wait for its commit.
_PENDING_ENTRIES = "cagnotte_metrics_pending_entries"


def count_entry(kind: str, operations: Sequence[Any]) -> None:
    """Count a journal entry that has landed."""
    ledger_entries.labels(kind=kind).inc()
    for operation in operations:
        ledger_transfers.labels(
            operation=getattr(operation, "op", "unknown"),
            code=getattr(operation, "code", None) or "",
        ).inc()


def count_entry_at_commit(connection: Connection, kind: str, operations: Sequence[Any]) -> None:
    """Count an entry posted in a caller's transaction once (and only if) that commits."""
    connection.info.setdefault(_PENDING_ENTRIES, []).append((kind, list(operations)))


def instrument_database(database: Database) -> None:
    """Count the pool's connections in use, and the entries of committed transactions."""
    engine = database.engine
    if engine in _instrumented:
        return
    _instrumented.add(engine)

    @event.listens_for(engine, "checkout")
    def _checkout(*_arguments: Any) -> None:
        database_connections_in_use.inc()

    @event.listens_for(engine, "checkin")
    def _checkin(*_arguments: Any) -> None:
        database_connections_in_use.dec()

    @event.listens_for(engine, "commit")
    def _commit(connection: Connection) -> None:
        for kind, operations in _pending(connection):
            count_entry(kind, operations)

    @event.listens_for(engine, "rollback")
    def _rollback(connection: Connection) -> None:
        _pending(connection)


def _pending(connection: Connection) -> list[Any]:
    """The entries counted at this connection's commit, taken off it.

    A connection the database dropped (a restart) is invalidated: reading its
    `info` then raises, which inside the rollback of a lost connection would turn
    the request's 503 into a 500. Nothing is counted for it.
    """
    if connection.invalidated or connection.closed:
        return []
    try:
        return connection.info.pop(_PENDING_ENTRIES, [])
    except SQLAlchemyError:
        return []


def exposition() -> tuple[bytes, str]:
    """The metrics of every process (multiprocess mode) or of this one, and their media type."""
    if os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def process_stopped() -> None:
    """Drop this process's live gauges from the shared files (multiprocess mode)."""
    if os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE):
        multiprocess.mark_process_dead(os.getpid())
