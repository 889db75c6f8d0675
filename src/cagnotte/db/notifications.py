"""PostgreSQL LISTEN/NOTIFY: word from the other processes that something they cache changed.

A process that keeps something in memory (the API keys it has checked) listens
on a channel; a transaction that changes it sends a notification on that
channel, which PostgreSQL delivers to every listener when — and only if — the
transaction commits. SQLite has one process, so there is nothing to tell.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg import sql
from sqlalchemy import Connection, text

from cagnotte.db.engine import CONNECT_TIMEOUT_SECONDS, Database

log = logging.getLogger("cagnotte.db")

# How often the listening thread looks up from waiting (to see whether it should stop).
POLL_SECONDS = 0.5
# How long it waits before it connects again after its connection was lost.
RECONNECT_SECONDS = 1.0


def notify(connection: Connection, channel: str, payload: str = "") -> None:
    """Tell the listeners of `channel`, when this transaction commits (PostgreSQL only)."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
        )


class Listener:
    """Listens on one channel, on a connection of its own, in a background thread.

    `on_message` gets the payload of each notification. `on_gap` is called
    whenever notifications may have been missed: when the listener has just
    (re)connected, and when its connection is lost. While `listening` is False,
    what the notifications keep fresh must not be trusted.
    """

    def __init__(
        self,
        database: Database,
        channel: str,
        *,
        on_message: Callable[[str], None],
        on_gap: Callable[[], None],
    ) -> None:
        assert database.is_postgresql
        self.conninfo = database.conninfo
        self.channel = channel
        self.on_message = on_message
        self.on_gap = on_gap
        self._listening = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"cagnotte-listen-{channel}", daemon=True
        )

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end; it does within POLL_SECONDS, closing its connection."""
        self._stop.set()

    def wait_until_listening(self, timeout_seconds: float) -> bool:
        """Whether the listener is listening, waiting for it at most this long."""
        return self._listening.wait(timeout_seconds)

    def _run(self) -> None:
        reported = False
        while not self._stop.is_set():
            try:
                self._listen()
                reported = False
            except psycopg.Error as error:
                if self._stop.is_set():
                    break
                if not reported:  # once per outage, not at every attempt
                    log.warning("not listening on %s: %s", self.channel, error)
                    reported = True
            finally:
                if self._listening.is_set():
                    self._listening.clear()
                    self.on_gap()
            self._stop.wait(RECONNECT_SECONDS)

    def _listen(self) -> None:
        with psycopg.connect(
            self.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
        ) as connection:
            connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self._listening.set()
            self.on_gap()  # what changed while nobody was listening
            while not self._stop.is_set():
                for notification in connection.notifies(timeout=POLL_SECONDS):
                    self.on_message(notification.payload)
