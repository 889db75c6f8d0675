"""Attempt limits: how many tries at a secret a subject gets before it is locked.

One component for every secret that can be guessed online: staff passwords,
customer sign-in codes, gift card PINs and numbers, bonus codes. A policy says
how many attempts a subject (a staff e-mail, a card, a customer, a client
address …) may make in a window, and how long it is locked once they are
spent. The rule that makes it hold under parallel requests: an attempt is
**reserved before the secret is checked**, by one statement that counts it
and refuses it when the count is spent, committed on its own. Twenty
parallel wrong passwords therefore check at most `attempts` of them; the rest
are refused without looking at the secret, whatever the interleaving.

    attempt = limiter.reserve(scope, subject, policy)   # raises AttemptRefused
    if secret is right:
        limiter.succeeded(attempt)                       # the count starts again
    else:
        limiter.failed(attempt)                          # the last one locks

An attempt whose outcome is never recorded (the process died, the request
failed on the way) stays counted: a limit errs on the safe side. Checking the
secret (argon2, a hash look-up) happens between the two calls, outside any
write transaction; each call is one short transaction of its own, or a
statement in the caller's transaction when it passes its connection (a
success recorded in the same unit of work as what it unlocked).

The window is fixed, counted from its first attempt: once it is over, or once
a lock has run out, the next reservation starts a new window. Subjects that
are personal data (an e-mail, an address) are kept as a hash (`subject_key`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.security.tables import attempt_limits

# How often reserve(settle=…) looks again for the outcomes it waits for.
SETTLE_POLL_FIRST_SECONDS = 0.005
SETTLE_POLL_MAX_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class AttemptPolicy:
    """`attempts` tries per `window`; spent, the subject is locked for `lock`."""

    attempts: int
    window: timedelta
    lock: timedelta

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a policy allows at least one attempt")


@dataclass(frozen=True, slots=True)
class Attempt:
    """A reserved attempt: its outcome is recorded with succeeded() or failed()."""

    scope: str
    subject: str
    policy: AttemptPolicy
    # This attempt's place in its window: 1 for the first.
    number: int

    @property
    def is_last(self) -> bool:
        return self.number >= self.policy.attempts


@dataclass(frozen=True, slots=True)
class AttemptCount:
    """A subject's attempts in its current window, and the end of its lock if locked now."""

    attempts: int
    locked_until: datetime | None


class AttemptRefused(Exception):
    """The subject's attempts are spent: no attempt before `until`.

    `until` is the end of the lock; or, while the window's last attempts are
    still being checked by other requests (spent but not locked yet), the end
    of the window, the earliest a new attempt could be counted.
    """

    def __init__(self, until: datetime, *, locked: bool = True) -> None:
        super().__init__(f"attempts spent until {until.isoformat()}")
        self.until = until
        # False while the window's last attempts are still being checked.
        self.locked = locked


def subject_key(*parts: object) -> str:
    """A subject made of personal data, kept as a hash (case and spaces aside)."""
    joined = "\x1f".join(str(part).strip().lower() for part in parts)
    return hashlib.sha256(joined.encode()).hexdigest()


class AttemptLimiter:
    def __init__(self, database: Database, clock: Clock) -> None:
        self.database = database
        self.clock = clock

    def reserve(
        self,
        scope: str,
        subject: str,
        policy: AttemptPolicy,
        *,
        connection: Connection | None = None,
        settle: timedelta | None = None,
    ) -> Attempt:
        """Count one attempt now, before the secret is checked; AttemptRefused when spent.

        With `settle`, attempts spent but not locked yet (other requests are
        still checking theirs) are waited for, up to that long: a right answer
        among them starts the count again, the last wrong one locks. So parallel
        right answers are not refused for being many, and a refusal names the
        real end of the lock. Not with a borrowed connection, whose transaction
        would hold the row those outcomes are recorded on.
        """
        assert settle is None or connection is None, "settle in a transaction of its own"
        deadline = time.monotonic() + settle.total_seconds() if settle else 0.0
        delay = SETTLE_POLL_FIRST_SECONDS
        while True:
            try:
                return self._reserve_once(scope, subject, policy, connection)
            except AttemptRefused as refused:
                if refused.locked or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, SETTLE_POLL_MAX_SECONDS)

    def _reserve_once(
        self, scope: str, subject: str, policy: AttemptPolicy, connection: Connection | None
    ) -> Attempt:
        now = self.clock.now()
        with self._connection(connection) as conn:
            number = _reserve(conn, scope, subject, policy, now)
            if number is None:
                row = conn.execute(
                    select(attempt_limits.c.locked_until, attempt_limits.c.window_ends_at).where(
                        attempt_limits.c.scope == scope, attempt_limits.c.subject == subject
                    )
                ).one()
        if number is None:
            raise AttemptRefused(
                row.locked_until or row.window_ends_at, locked=bool(row.locked_until)
            )
        return Attempt(scope=scope, subject=subject, policy=policy, number=number)

    def succeeded(self, attempt: Attempt, *, connection: Connection | None = None) -> None:
        """The secret was right: the subject's count starts again."""
        with self._connection(connection) as conn:
            conn.execute(
                delete(attempt_limits).where(
                    attempt_limits.c.scope == attempt.scope,
                    attempt_limits.c.subject == attempt.subject,
                )
            )

    def failed(self, attempt: Attempt, *, connection: Connection | None = None) -> datetime | None:
        """The secret was wrong; returns the end of the lock this failure set, if it did.

        The count already holds this attempt (reserved): a failure only locks,
        once the window's attempts are all spent.
        """
        if not attempt.is_last:
            return None
        locked_until = self.clock.now() + attempt.policy.lock
        with self._connection(connection) as conn:
            locked = conn.execute(
                update(attempt_limits)
                .where(
                    attempt_limits.c.scope == attempt.scope,
                    attempt_limits.c.subject == attempt.subject,
                    attempt_limits.c.attempts >= attempt.policy.attempts,
                )
                .values(locked_until=locked_until)
            ).rowcount
        # None when a success in the meantime started the count again: nothing locked.
        return locked_until if locked else None

    def released(self, attempt: Attempt, *, connection: Connection | None = None) -> None:
        """The attempt was no guess after all (a look-up that found what it looked for).

        It stops counting; unlike succeeded(), the window's other attempts still
        count, so a subject cannot wipe its failures by mixing in right answers.
        A lock already set stays.
        """
        with self._connection(connection) as conn:
            conn.execute(
                update(attempt_limits)
                .where(
                    attempt_limits.c.scope == attempt.scope,
                    attempt_limits.c.subject == attempt.subject,
                    attempt_limits.c.attempts > 0,
                    attempt_limits.c.locked_until.is_(None),
                )
                .values(attempts=attempt_limits.c.attempts - 1)
            )

    def counts(self, scope: str, subjects: Sequence[str]) -> dict[str, AttemptCount]:
        """What is counted now for these subjects (for pages that show it); none: left out."""
        now = self.clock.now()
        if not subjects:
            return {}
        with self.database.read() as conn:
            rows = conn.execute(
                select(attempt_limits).where(
                    attempt_limits.c.scope == scope, attempt_limits.c.subject.in_(subjects)
                )
            ).all()
        counts = {}
        for row in rows:
            locked = row.locked_until is not None and row.locked_until > now
            counting = row.locked_until is None and row.window_ends_at > now and row.attempts > 0
            if locked or counting:
                counts[row.subject] = AttemptCount(
                    attempts=row.attempts, locked_until=row.locked_until if locked else None
                )
        return counts

    def locked_until(self, scope: str, subject: str) -> datetime | None:
        """The end of the subject's lock, if it is locked now (for pages that say so)."""
        now = self.clock.now()
        with self.database.read() as conn:
            until = conn.execute(
                select(attempt_limits.c.locked_until).where(
                    attempt_limits.c.scope == scope, attempt_limits.c.subject == subject
                )
            ).scalar()
        return until if until is not None and until > now else None

    def reset(self, scope: str, subject: str, *, connection: Connection | None = None) -> None:
        """Unlock a subject (an operator's or a merchant's decision)."""
        with self._connection(connection) as conn:
            conn.execute(
                delete(attempt_limits).where(
                    attempt_limits.c.scope == scope, attempt_limits.c.subject == subject
                )
            )

    def forget_spent(self) -> int:
        """Delete the rows whose window and lock are both over (a job): they limit nothing."""
        now = self.clock.now()
        with self.database.transaction() as conn:
            return conn.execute(
                delete(attempt_limits).where(
                    attempt_limits.c.window_ends_at <= now,
                    or_(
                        attempt_limits.c.locked_until.is_(None),
                        attempt_limits.c.locked_until <= now,
                    ),
                )
            ).rowcount

    def _connection(self, connection: Connection | None) -> Any:
        if connection is not None:
            return _Borrowed(connection)
        return self.database.transaction()


class _Borrowed:
    """The caller's connection, as a context manager that neither commits nor closes it."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def __enter__(self) -> Connection:
        return self.connection

    def __exit__(self, *exc: object) -> None:
        return None


def _reserve(
    connection: Connection, scope: str, subject: str, policy: AttemptPolicy, now: datetime
) -> int | None:
    """One statement: count an attempt unless the subject's are spent; its number, or None.

    A new subject inserts its row; an existing one whose window is over, or
    whose lock has run out, starts a new window at 1; otherwise the count goes
    up if it is below the policy's. The row lock that INSERT … ON CONFLICT DO
    UPDATE takes orders parallel reservations, and each sees the count the
    previous one left (PostgreSQL re-reads the newest row version; SQLite has
    one writer).
    """
    insert = pg_dialect.insert if connection.dialect.name == "postgresql" else sqlite_dialect.insert
    table = attempt_limits
    # A lock outlasts its window: while it holds, the window's end does not matter.
    starts_anew = or_(
        and_(table.c.locked_until.is_(None), table.c.window_ends_at <= now),
        table.c.locked_until <= now,
    )
    statement = insert(table).values(
        scope=scope,
        subject=subject,
        attempts=1,
        window_ends_at=now + policy.window,
        locked_until=None,
        updated_at=now,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.scope, table.c.subject],
        set_={
            "attempts": case((starts_anew, 1), else_=table.c.attempts + 1),
            "window_ends_at": case(
                (starts_anew, statement.excluded.window_ends_at), else_=table.c.window_ends_at
            ),
            "locked_until": case((starts_anew, None), else_=table.c.locked_until),
            "updated_at": statement.excluded.updated_at,
        },
        where=or_(
            starts_anew,
            and_(table.c.locked_until.is_(None), table.c.attempts < policy.attempts),
        ),
    ).returning(table.c.attempts)
    return connection.execute(statement).scalar()
