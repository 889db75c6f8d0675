"""The engine and its transactions, the same calls on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names (or none)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class Database:
    """The storage the services write to. `transaction()` is the unit of work."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = normalise_database_url(url)
        self.pool_size = pool_size
        self.engine: Engine = _create_engine(self.url, pool_size=pool_size)
        self.dialect = self.engine.dialect.name
        assert self.dialect in ("sqlite", "postgresql"), self.dialect
        # Opened by an application's lifespan, one per event loop (PostgreSQL only):
        # a pool's connections and tasks belong to the loop that opened them.
        self._async_pools: dict[asyncio.AbstractEventLoop, AsyncConnectionPool] = {}

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A read-write transaction; on SQLite it takes the write lock at once."""
        with self.engine.begin() as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction; on SQLite it does not wait for the write lock."""
        with (
            self.engine.connect().execution_options(sqlite_read_only=True) as connection,
            connection.begin(),
        ):
            yield connection

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
        conninfo = (
            make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        pool = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=self.pool_size,
            open=False,
            kwargs={"autocommit": True},
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


def _create_engine(url: str, *, pool_size: int) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        return _create_sqlite_engine(url)
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False)


def _create_sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # SQLAlchemy, not the driver, decides where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # SQLite has one writer at a time: a write transaction takes the lock at
        # its start, so two writers never deadlock upgrading a read lock.
        if connection.get_execution_options().get("sqlite_read_only"):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
