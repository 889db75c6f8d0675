"""The engine and its transactions, the same calls on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sqlalchemy_errors
from sqlalchemy.engine import make_url

# How long a request waits at most for a connection of the pool (PostgreSQL) or
# for the write lock (SQLite's busy timeout) before it is answered "busy" (503):
# a client retries sooner than a request would wait in a queue that does not move.
POOL_TIMEOUT_SECONDS = 10.0
BUSY_TIMEOUT_SECONDS = 10.0
# How long opening a PostgreSQL connection may take: a database out of reach is
# known quickly, rather than after the system's TCP timeout.
CONNECT_TIMEOUT_SECONDS = 5


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names (or none)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class Database:
    """The storage the services write to. `transaction()` is the unit of work."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        pool_timeout_seconds: float = POOL_TIMEOUT_SECONDS,
        busy_timeout_seconds: float = BUSY_TIMEOUT_SECONDS,
    ) -> None:
        self.url = normalise_database_url(url)
        self.pool_size = pool_size
        self.pool_timeout_seconds = pool_timeout_seconds
        self.busy_timeout_seconds = busy_timeout_seconds
        self.engine: Engine = _create_engine(
            self.url,
            pool_size=pool_size,
            pool_timeout_seconds=pool_timeout_seconds,
            busy_timeout_seconds=busy_timeout_seconds,
        )
        self.dialect = self.engine.dialect.name
        assert self.dialect in ("sqlite", "postgresql"), self.dialect
        # Opened by an application's lifespan, one per event loop (PostgreSQL only):
        # a pool's connections and tasks belong to the loop that opened them.
        self._async_pools: dict[asyncio.AbstractEventLoop, AsyncConnectionPool] = {}
        # The read transaction open in this thread (or task), which nested reads join.
        self._current_read: ContextVar[Connection | None] = ContextVar(
            f"cagnotte_read_{id(self)}", default=None
        )

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @property
    def sqlite_path(self) -> str | None:
        """The SQLite database's file (None for PostgreSQL or an in-memory database)."""
        if self.is_postgresql:
            return None
        path = make_url(self.url).database
        return path if path and path != ":memory:" else None

    def connect_sqlite(self) -> sqlite3.Connection:
        """A sqlite3 connection of its own to the file, set up as the engine's are.

        For the ledger's writer (ledger/sqlite_batcher.py), which speaks to the
        driver directly. Transactions begin where its statements say.
        """
        path = self.sqlite_path
        assert path is not None, "a SQLite file"
        connection = sqlite3.connect(
            path, timeout=self.busy_timeout_seconds, check_same_thread=False
        )
        configure_sqlite_connection(connection, self.busy_timeout_seconds)
        return connection

    @property
    def conninfo(self) -> str:
        """The URL as libpq takes it, for psycopg's own connections (PostgreSQL)."""
        return make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A read-write transaction; on SQLite it takes the write lock at once."""
        with self.engine.begin() as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction; on SQLite it does not wait for the write lock.

        A read opened while another is open in the same thread joins it: a use
        case that wraps its look-ups in one `read()` reads them on one
        connection, in one transaction and one snapshot, whatever services it
        asks. (Measured on a register's quote: 16 reads had cost 16 pool
        check-outs, BEGINs and COMMITs, most of its time.)
        """
        joined = self._current_read.get()
        if joined is not None:
            yield joined
            return
        with (
            self.engine.connect().execution_options(sqlite_read_only=True) as connection,
            connection.begin(),
        ):
            token = self._current_read.set(connection)
            try:
                yield connection
            finally:
                self._current_read.reset(token)

    @contextmanager
    def single_statement(self) -> Iterator[Connection]:
        """A connection whose every statement is its own transaction.

        For a write that is one statement (the ledger's entry function on
        PostgreSQL) this saves the BEGIN and COMMIT round trips; on SQLite it
        is an ordinary write transaction.
        """
        if not self.is_postgresql:
            with self.transaction() as connection:
                yield connection
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            yield connection

    # The event loop's own connections ------------------------------------------
    #
    # The hottest writes (a payment at a register) are one statement on
    # PostgreSQL. Sent from the event loop they need no thread of the pool and no
    # SQLAlchemy: measured, those were most of the service's CPU per payment.
    # Everything else goes through the engine above.

    async def open_async_pool(self) -> None:
        """Open the running event loop's PostgreSQL connections (none on SQLite)."""
        loop = asyncio.get_running_loop()
        if not self.is_postgresql or loop in self._async_pools:
            return
        pool = AsyncConnectionPool(
            self.conninfo,
            min_size=1,
            max_size=self.pool_size,
            open=False,
            timeout=self.pool_timeout_seconds,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_SECONDS},
            name="cagnotte-async",
        )
        await pool.open(wait=True)
        self._async_pools[loop] = pool

    async def close_async_pool(self) -> None:
        pool = self._async_pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.close()

    def has_async_pool(self) -> bool:
        """Whether the running event loop has connections of its own."""
        try:
            return asyncio.get_running_loop() in self._async_pools
        except RuntimeError:
            return False

    @asynccontextmanager
    async def async_single_statement(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """An autocommit connection of the event loop: each statement commits alone."""
        pool = self._async_pools[asyncio.get_running_loop()]
        async with pool.connection() as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()


def _create_engine(
    url: str, *, pool_size: int, pool_timeout_seconds: float, busy_timeout_seconds: float
) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        return _create_sqlite_engine(url, busy_timeout_seconds)
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout_seconds,
        pool_pre_ping=False,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    )


# WAL with synchronous=NORMAL: a commit is durable once the WAL reaches the disk
# at the next checkpoint, so a power cut (not a crash of the process: the WAL
# is in the operating system's hands) may lose the last commits. FULL syncs the
# WAL at every commit: measured (bench/sqlite_payments.py, docs/settings.md), it
# halved the payments per second even with the group commit, so NORMAL it is.
SQLITE_SYNCHRONOUS = "NORMAL"


def configure_sqlite_connection(dbapi_connection: sqlite3.Connection, busy_timeout: float) -> None:
    """The settings of every SQLite connection: WAL, durability, keys, busy timeout."""
    # SQLAlchemy (or the ledger's writer), not the driver, decides where
    # transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    cursor.close()


def _create_sqlite_engine(url: str, busy_timeout_seconds: float) -> Engine:
    engine = create_engine(
        url, connect_args={"timeout": busy_timeout_seconds, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        configure_sqlite_connection(dbapi_connection, busy_timeout_seconds)

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # SQLite has one writer at a time: a write transaction takes the lock at
        # its start, so two writers never deadlock upgrading a read lock.
        if connection.get_execution_options().get("sqlite_read_only"):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


# What the database says when it is out of reach or too busy right now, rather
# than that the request is wrong: the same request may well succeed in a moment.
# By SQLSTATE (PostgreSQL) and result code (SQLite), never by a message's text.
_UNAVAILABLE_SQLSTATE_CLASSES = (
    "08",  # connection exception
    "53",  # insufficient resources: too many connections, out of memory, disk full
    "57P",  # admin_shutdown, crash_shutdown, cannot_connect_now, database_dropped, …
)
_UNAVAILABLE_SQLSTATES = {
    "40001",  # serialization_failure, still failing after the unit of work's retries
    "40P01",  # deadlock_detected, likewise
    "55P03",  # lock_not_available (a lock timeout)
    "57014",  # query_canceled (a statement timeout)
}
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database is out of reach or busy (answer 503, retry later).

    A connection refused, reset or closed by the server (a restart), a pool with
    no free connection within its timeout, SQLite's write lock still held after
    the busy timeout, a deadlock or serialisation failure that outlived its
    retries. Anything else is a bug or a refusal of the request itself.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _says_unavailable(current):
            return True
        if isinstance(current, sqlalchemy_errors.DBAPIError) and current.orig is not None:
            current = current.orig
        else:
            current = current.__cause__
    return False


def _says_unavailable(error: BaseException) -> bool:
    if isinstance(error, sqlalchemy_errors.TimeoutError):  # no free connection in the pool
        return True
    if isinstance(error, sqlalchemy_errors.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, psycopg.Error):
        sqlstate = error.sqlstate
        if sqlstate is None:
            # Raised by the client, not the server: the connection failed or was
            # lost, or the event loop's pool had none free (psycopg_pool.PoolTimeout).
            return isinstance(error, psycopg.OperationalError)
        return sqlstate in _UNAVAILABLE_SQLSTATES or sqlstate.startswith(
            _UNAVAILABLE_SQLSTATE_CLASSES
        )
    if isinstance(error, sqlite3.OperationalError):
        code = getattr(error, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return False
