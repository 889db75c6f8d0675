"""Scheduled work: hold timeouts, lot expiry, campaign settlement, card expiry.

`cagnotte jobs run` runs it once; `cagnotte serve` runs it on a schedule."""

from __future__ import annotations

import logging
import threading

from cagnotte.bootstrap import Services
from cagnotte.db.engine import is_unavailable

log = logging.getLogger("cagnotte.jobs")


def run_due_jobs(services: Services) -> dict[str, int]:
    """Run every job once; returns how much each did."""
    return {
        "holds_expired": services.ledger.expire_holds(),
        "lots_expired": services.ledger.expire_lots(),
        "gift_cards_expired": services.gift_cards.expire_cards(),
        "bonus_campaigns_settled": services.bonus_codes.settle_due_campaigns(),
        "bonus_code_lists_wiped": services.bonus_codes.wipe_old_plain_codes(),
    }


class JobScheduler:
    """Runs the jobs every `interval_seconds` in a background thread."""

    def __init__(self, services: Services, interval_seconds: int) -> None:
        self.services = services
        self.interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cagnotte-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            self.run_once()

    def run_once(self) -> None:
        """One tick: every job once. A failed run is retried at the next tick."""
        try:
            done = run_due_jobs(self.services)
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
