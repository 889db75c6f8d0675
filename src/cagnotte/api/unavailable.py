"""A database out of reach or too busy is a 503 with Retry-After, never a 500.

A restart of PostgreSQL, a pool with no free connection within its timeout,
SQLite's write lock held past the busy timeout: the request was not wrong and
nothing of it was kept (its transaction rolled back), so the client is told to
send it again shortly — with the same Idempotency-Key, which replays the first
answer if the first attempt did commit before the connection was lost.

Such errors come in bursts (every request in flight fails at once), so they are
logged as one warning line now and then with a count, not a stack trace each.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import exc as sqlalchemy_errors

from cagnotte import errors
from cagnotte.api.problems import RETRY_AFTER_SECONDS, problem_response
from cagnotte.db.engine import is_unavailable

log = logging.getLogger("cagnotte.api")

# Answered with a page (for a browser) rather than a problem (for a program).
API_PATHS = ("/v1/", "/healthz", "/openapi.json", "/docs", "/redoc")
# At most one warning line per this many seconds while the database stays away.
REPORT_INTERVAL_SECONDS = 30.0

# The exceptions a database call raises: SQLAlchemy's, psycopg's (the event
# loop's connections, their pool), and sqlite3's when it is used directly.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sqlalchemy_errors.DBAPIError,
    sqlalchemy_errors.TimeoutError,
    psycopg.Error,
    sqlite3.Error,
)

UnavailablePage = Callable[[Request], Response]


class UnavailableReport:
    """Logs 'the database is unavailable' once, then once per interval with a count."""

    def __init__(self, interval_seconds: float = REPORT_INTERVAL_SECONDS) -> None:
        self.interval_seconds = interval_seconds
        self._lock = threading.Lock()
        self._last_logged = float("-inf")
        self._unlogged = 0

    def record(self, error: BaseException, where: str) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last_logged < self.interval_seconds:
                self._unlogged += 1
                return
            more, self._unlogged, self._last_logged = self._unlogged, 0, now
        since = f" ({more} more since the last report)" if more else ""
        log.warning("database unavailable at %s: %s%s", where, _one_line(error), since)


def install_unavailable_handlers(app: FastAPI, page: UnavailablePage) -> None:
    """Answer a database out of reach or busy with 503: a problem, or `page` for the pages."""
    report = UnavailableReport()

    async def _database_error(request: Request, error: Exception) -> Response:
        if not is_unavailable(error):
            raise error  # a bug: the 500 handler logs it with its trace
        report.record(error, f"{request.method} {request.url.path}")
        if request.url.path.startswith(API_PATHS):
            return problem_response(
                503, errors.ServiceUnavailable.code, errors.ServiceUnavailable.message
            )
        response = page(request)
        response.headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
        return response

    for error_class in DATABASE_ERRORS:
        app.add_exception_handler(error_class, _database_error)


def _one_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"
