"""Which database errors mean "busy or out of reach, try again" (503) and which are bugs (500).

Real errors, raised by real databases: recognised by SQLSTATE, SQLite result
code or exception type, never by the text of a message.
"""

from __future__ import annotations

import socket
import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from cagnotte.db.engine import Database, is_unavailable


def raised_by(action) -> BaseException:
    with pytest.raises(Exception) as caught:
        action()
    return caught.value


def test_sqlite_locked_past_the_busy_timeout_is_unavailable(tmp_path):
    path = tmp_path / "busy.db"
    database = Database(f"sqlite:///{path}", busy_timeout_seconds=0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:

        def write() -> None:
            with database.transaction() as connection:
                connection.execute(text("SELECT 1"))

        error = raised_by(write)
    finally:
        holder.rollback()
        holder.close()
        database.dispose()

    assert isinstance(error, DBAPIError)
    assert is_unavailable(error)


def test_a_pool_with_no_free_connection_within_its_timeout_is_unavailable(postgres_url):
    database = Database(postgres_url, pool_size=1, pool_timeout_seconds=0.05)
    first = database.engine.connect()
    second = database.engine.connect()  # the overflow
    try:
        error = raised_by(database.engine.connect)
    finally:
        first.close()
        second.close()
        database.dispose()

    assert isinstance(error, PoolTimeout)
    assert is_unavailable(error)


def test_a_refused_connection_is_unavailable(postgres_url):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    url = make_url(postgres_url).set(port=closed_port).render_as_string(hide_password=False)
    database = Database(url)
    try:
        error = raised_by(database.engine.connect)
    finally:
        database.dispose()

    assert is_unavailable(error)


def test_a_connection_ended_by_the_server_is_unavailable(postgres_url):
    database = Database(postgres_url)
    try:
        with database.engine.connect() as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
            with database.engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                other.commit()
            error = raised_by(lambda: connection.execute(text("SELECT 1")))
    finally:
        database.dispose()

    assert is_unavailable(error)


def test_a_broken_statement_or_a_broken_constraint_is_a_bug_not_unavailability(database):
    def bad_sql() -> None:
        with database.transaction() as connection:
            connection.execute(text("SELECT * FROM no_such_table"))

    def duplicate() -> None:
        with database.transaction() as connection:
            connection.execute(text("CREATE TEMPORARY TABLE once (id INTEGER PRIMARY KEY)"))
            connection.execute(text("INSERT INTO once VALUES (1)"))
            connection.execute(text("INSERT INTO once VALUES (1)"))

    broken = raised_by(bad_sql)
    doubled = raised_by(duplicate)

    assert isinstance(broken, SQLAlchemyError) and not is_unavailable(broken)
    assert isinstance(doubled, IntegrityError) and not is_unavailable(doubled)
    assert not is_unavailable(ValueError("not a database error"))
