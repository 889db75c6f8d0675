"""Watching a database's pool: which threads took a second connection while holding one."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from cagnotte.db.engine import Database


@contextmanager
def second_connections(database: Database) -> Iterator[list[str]]:
    """The stacks of every checkout by a thread that already held a connection.

    A request that holds a connection (and the rows it locked) and waits for
    another can wait for ever when every other connection of the pool is held by
    requests queued on those rows: the pool runs dry. The list should stay empty.
    """
    held: dict[int, int] = {}
    found: list[str] = []
    lock = threading.Lock()

    def checked_out(*_args: object) -> None:
        with lock:
            thread = threading.get_ident()
            held[thread] = held.get(thread, 0) + 1
            if held[thread] > 1:
                found.append("".join(traceback.format_stack(limit=14)))

    def checked_in(*_args: object) -> None:
        with lock:
            held[threading.get_ident()] = held.get(threading.get_ident(), 1) - 1

    event.listen(database.engine, "checkout", checked_out)
    event.listen(database.engine, "checkin", checked_in)
    try:
        yield found
    finally:
        event.remove(database.engine, "checkout", checked_out)
        event.remove(database.engine, "checkin", checked_in)
