"""One runner at a time for each scheduled job, across workers and hosts.

Every uvicorn worker runs the scheduler (`--workers 2` is two schedulers), and
several hosts may serve the same database. A job runs only while its lock is
held; a process that finds it taken skips the job for this tick (the holder is
doing it now).

PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) on a connection of
its own, held while the job runs and released after. It does not wait, and it
goes away with the connection if the process dies.

SQLite has no such lock: a row of `job_locks` names the holder and the end of
its lease, written in a write transaction (SQLite has one writer at a time, so
two processes cannot both take it). A holder that died leaves the row behind;
another process takes it over once the lease has run out.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select, text, update

from cagnotte.db.engine import Database
from cagnotte.db.tables import job_locks

log = logging.getLogger("cagnotte.jobs")

# Longer than any job takes; only matters when a holder died without releasing.
LEASE_DURATION = timedelta(minutes=15)


def advisory_lock_key(name: str) -> int:
    """The advisory lock's 64-bit key of a job: the same in every process and version."""
    digest = hashlib.blake2b(f"cagnotte.job.{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class JobLocks:
    """Runs a job only if no other process (or thread) runs it now."""

    def __init__(self, database: Database, lease_duration: timedelta = LEASE_DURATION) -> None:
        self.database = database
        self.lease_duration = lease_duration
        # Names this runner in the lock rows (SQLite): a process and an object of it.
        self.holder = f"{os.getpid()}-{uuid.uuid4().hex[:16]}"

    @contextmanager
    def hold(self, name: str) -> Iterator[bool]:
        """Yields whether the lock of job `name` was taken (run it) or is held elsewhere (skip)."""
        if self.database.is_postgresql:
            with self._advisory(name) as taken:
                yield taken
        else:
            with self._lease(name) as taken:
                yield taken

    @contextmanager
    def _advisory(self, name: str) -> Iterator[bool]:
        key = advisory_lock_key(name)
        connection = self.database.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            taken = bool(
                connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
            )
            try:
                yield taken
            finally:
                if taken:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        except BaseException:
            # A lock that could not be released must not stay on a pooled
            # connection: closed for good, the session and its locks end with it.
            connection.invalidate()
            raise
        finally:
            connection.close()

    @contextmanager
    def _lease(self, name: str) -> Iterator[bool]:
        taken = self._take_lease(name)
        try:
            yield taken
        finally:
            if taken:
                with self.database.transaction() as connection:
                    connection.execute(
                        delete(job_locks).where(
                            job_locks.c.name == name, job_locks.c.holder == self.holder
                        )
                    )

    def _take_lease(self, name: str) -> bool:
        # Wall-clock time, not the services' clock: a lease is about processes,
        # and a test's clock moved by days must not end another runner's lease.
        now = datetime.now(UTC)
        ends = now + self.lease_duration
        with self.database.transaction() as connection:
            row = connection.execute(
                select(job_locks.c.holder, job_locks.c.lease_ends_at).where(
                    job_locks.c.name == name
                )
            ).first()
            if row is None:
                connection.execute(
                    insert(job_locks).values(name=name, holder=self.holder, lease_ends_at=ends)
                )
                return True
            if row.lease_ends_at > now:
                return False
            log.warning("job %s: the lease of %s ran out; taken over", name, row.holder)
            connection.execute(
                update(job_locks)
                .where(job_locks.c.name == name)
                .values(holder=self.holder, lease_ends_at=ends)
            )
            return True
