"""Scheduled work: hold timeouts, lot expiry, campaign settlement, card expiry, mail.

`cagnotte jobs run` runs it once; `cagnotte serve` runs it on a schedule, and
delivers the mail outbox on a shorter one of its own (a sign-in code should not
wait for a campaign's settlement). Every uvicorn worker has a scheduler: each job
runs under a database lock (db/job_locks.py), so that one process at a time runs
it, and the others skip that tick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from cagnotte import metrics
from cagnotte.bootstrap import Services
from cagnotte.db.engine import is_unavailable
from cagnotte.db.job_locks import JobLocks
from cagnotte.mail import OutboxMailer

log = logging.getLogger("cagnotte.jobs")


def run_due_jobs(services: Services, locks: JobLocks | None = None) -> dict[str, int]:
    """Run every job once, each under its lock; returns how much each did.

    A job whose lock another process (a worker, a host) holds is skipped: that
    one runs it now. Its counts are then left out of the answer.
    """
    locks = locks or JobLocks(services.database)
    done: dict[str, int] = {}
    for name, job in JOBS:
        done.update(run_locked(services, locks, name, job))
    return done


def run_locked(
    services: Services, locks: JobLocks, name: str, job: Callable[[Services], dict[str, int]]
) -> dict[str, int]:
    """Run `job` if its lock is free ({} if it is not), counted in the metrics."""
    with locks.hold(name) as taken:
        if not taken:
            metrics.job_skips.labels(job=name).inc()
            return {}
        metrics.job_runs.labels(job=name).inc()
        try:
            return job(services)
        except Exception:
            metrics.job_failures.labels(job=name).inc()
            raise


def erase_inactive(services: Services) -> dict[str, int]:
    """Members inactive past the retention setting, anonymised (none when it is unset)."""
    years = services.settings.retention_years
    if years is None:
        return {}
    return {"members_erased": services.personal_data.erase_inactive(years)}


def send_birthday_messages(services: Services) -> dict[str, int]:
    """Today's birthday messages, each after the reward it tells (crm/birthday_messages.py).

    It runs after the `birthdays` job; another process may be running that one
    now, so it takes that job's lock too (skipping this tick when it is taken)
    and credits what is still due first — nothing, when the birthdays job has just
    run — so that no message is written before its reward is posted.
    """
    with JobLocks(services.database).hold("birthdays") as taken:
        if not taken:
            metrics.job_skips.labels(job="birthday_messages").inc()
            return {}
        credited = services.checkout.credit_birthdays()
        return {
            "birthdays_credited_late": credited,
            "birthday_messages_queued": services.birthday_messages.send_due(),
        }


def deliver_mail(services: Services) -> dict[str, int]:
    """Send the outbox's due mail, and wipe the development file outbox's old files."""
    delivered = services.outbox.deliver_due()
    mailer = services.mailer
    return {
        "mails_sent": delivered.sent,
        "mails_to_retry": delivered.retried,
        "mails_failed": delivered.failed,
        "mail_files_wiped": mailer.wipe_old_files() if isinstance(mailer, OutboxMailer) else 0,
    }


# The jobs, each with the name of its lock. The names are kept across versions:
# a process of the older version must find the same locks.
JOBS: tuple[tuple[str, Callable[[Services], dict[str, int]]], ...] = (
    ("holds", lambda services: {"holds_expired": services.ledger.expire_holds()}),
    ("lots", lambda services: {"lots_expired": services.ledger.expire_lots()}),
    ("gift_cards", lambda services: {"gift_cards_expired": services.gift_cards.expire_cards()}),
    (
        "bonus_campaigns",
        lambda services: {"bonus_campaigns_settled": services.bonus_codes.settle_due_campaigns()},
    ),
    (
        "bonus_code_lists",
        lambda services: {"bonus_code_lists_wiped": services.bonus_codes.wipe_old_plain_codes()},
    ),
    (
        "attempt_limits",
        lambda services: {"attempt_limits_forgotten": services.attempts.forget_spent()},
    ),
    (
        "return_window",
        lambda services: {"earnings_posted": services.checkout.post_due_earnings()},
    ),
    ("birthdays", lambda services: {"birthdays_credited": services.checkout.credit_birthdays()}),
    ("loyalty_credits", lambda services: {"credits_expired": services.checkout.expire_credits()}),
    ("birthday_messages", send_birthday_messages),
    ("retention", lambda services: erase_inactive(services)),
    ("campaigns", lambda services: {"campaign_mails_queued": services.campaigns.send_due()}),
    ("mail", deliver_mail),
)


class JobScheduler:
    """Runs the jobs every `interval_seconds`, and the mail every `mail_interval_seconds`,
    each in a background thread of its own."""

    def __init__(
        self, services: Services, interval_seconds: float, mail_interval_seconds: float = 2.0
    ) -> None:
        self.services = services
        self.locks = JobLocks(services.database)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._loop,
                args=(lambda services: run_due_jobs(services, self.locks), interval_seconds),
                name="cagnotte-jobs",
                daemon=True,
            ),
            threading.Thread(
                target=self._loop,
                args=(
                    lambda services: run_locked(services, self.locks, "mail", deliver_mail),
                    mail_interval_seconds,
                ),
                name="cagnotte-mail",
                daemon=True,
            ),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _loop(self, job: Callable[[Services], dict[str, int]], interval_seconds: float) -> None:
        while not self._stop.wait(interval_seconds):
            self.run_once(job)

    def run_once(self, job: Callable[[Services], dict[str, int]] | None = None) -> None:
        """One tick of a job (every job by default). A failed run is retried at the next tick."""
        try:
            done = (
                job(self.services) if job is not None else run_due_jobs(self.services, self.locks)
            )
            if any(done.values()):
                log.info("jobs: %s", done)
        except Exception as error:
            if not is_unavailable(error):
                log.exception("a scheduled job failed")
                return
            # Busy (SQLite's write lock held past the busy timeout) or out of reach:
            # nothing is wrong with the jobs, which run again at the next tick.
            log.warning(
                "jobs: the database is busy or out of reach (%s); retried at the next tick",
                type(error).__name__,
            )
