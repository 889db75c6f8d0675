"""Scheduled jobs under a database lock: several schedulers never run the same job at once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text, update

from cagnotte import metrics
from cagnotte.bootstrap import Services, bootstrap
from cagnotte.config import Settings
from cagnotte.db.engine import normalise_database_url
from cagnotte.db.job_locks import JobLocks, advisory_lock_key
from cagnotte.db.tables import job_locks
from cagnotte.jobs import JobScheduler, run_due_jobs


@pytest.fixture
def two_processes(database_url: str, tmp_path: Path) -> Iterator[tuple[Services, Services]]:
    """Two services over the same database, each with its own engine: two workers."""
    built = [
        bootstrap(
            Settings(
                environment="development",
                database_url=database_url,
                outbox_dir=tmp_path / f"outbox-{number}",
            )
        )
        for number in (1, 2)
    ]
    yield built[0], built[1]
    for services in built:
        services.close()


def _slow_job(runs: Counter, name: str, seconds: float):
    guard = threading.Lock()

    def run(*_arguments) -> int:
        with guard:
            runs[name] += 1
        time.sleep(seconds)
        return 0

    return run


def test_two_schedulers_ticking_together_run_each_job_once_per_tick(two_processes):
    runs: Counter = Counter()
    for services in two_processes:
        # One job long enough that the other scheduler reaches it while it runs,
        # whichever of the two started it.
        services.ledger.expire_holds = _slow_job(runs, "holds", 0.5)
        services.gift_cards.expire_cards = _slow_job(runs, "gift_cards", 1.0)
    schedulers = [JobScheduler(services, interval_seconds=3600) for services in two_processes]
    ticks = 3
    for _ in range(ticks):
        barrier = threading.Barrier(len(schedulers))

        def tick(scheduler: JobScheduler, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            scheduler.run_once()

        threads = [threading.Thread(target=tick, args=(s,)) for s in schedulers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert runs == {"holds": ticks, "gift_cards": ticks}


def test_a_job_whose_lock_another_host_holds_is_skipped_then_runs_once_it_is_free(
    postgres_url, two_processes
):
    services = two_processes[0]
    other_host = create_engine(normalise_database_url(postgres_url))
    skipped_before = metrics.job_skips.labels(job="holds")._value.get()
    try:
        with other_host.connect() as connection:
            key = advisory_lock_key("holds")
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            done = run_due_jobs(services)
            assert "holds_expired" not in done and done["lots_expired"] == 0
            assert metrics.job_skips.labels(job="holds")._value.get() == skipped_before + 1
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        assert run_due_jobs(services)["holds_expired"] == 0
    finally:
        other_host.dispose()


def test_on_sqlite_a_lease_is_held_against_others_and_taken_over_once_it_ran_out(
    database_url, two_processes
):
    if not database_url.startswith("sqlite"):
        pytest.skip("the lease rows serve SQLite")
    first, second = (JobLocks(services.database) for services in two_processes)
    with first.hold("holds") as taken:
        assert taken
        with second.hold("holds") as also_taken:
            assert not also_taken
    with second.hold("holds") as taken_after_release:
        assert taken_after_release

    # A holder that died leaves its row: the others wait for its lease to run out.
    assert first._take_lease("lots")
    with second.hold("lots") as taken:
        assert not taken
    with two_processes[0].database.transaction() as connection:
        connection.execute(
            update(job_locks)
            .where(job_locks.c.name == "lots")
            .values(lease_ends_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    with second.hold("lots") as taken:
        assert taken
