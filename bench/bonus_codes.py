"""How long generating and storing a campaign's codes takes (target: 100 000 in < 3 s).

    python3 bench/bonus_codes.py [--codes 100000] [--rounds 3] [--database-url URL]

Without --database-url it starts a throw-away PostgreSQL cluster (bench/run.py's,
durable settings, bench/throwaway.py) and removes it afterwards. Each round
requests and funds a campaign through the services; the figure is the time of
the transaction that draws the codes, hashes them with the platform key, stores
them (COPY) and activates the campaign — what a funding request waits for.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from throwaway import throwaway_cluster

from cagnotte.bootstrap import Services, bootstrap
from cagnotte.config import Settings
from cagnotte.db.migrate import migrate
from cagnotte.db.tables import PLATFORM_MERCHANT_ID
from cagnotte.db.unit_of_work import UnitOfWork
from cagnotte.programs.bonus_codes import repository
from cagnotte.programs.bonus_codes.funding import plan_activation
from cagnotte.programs.bonus_codes.tables import bonus_codes
from cagnotte.programs.tenders import commit_plans
from cagnotte.security.hash_keys import HashKeys
from cagnotte.security.principals import Principal

ROOT = Path(__file__).resolve().parent.parent


class DiscardingMailer:
    def send(self, message) -> None:  # noqa: ANN001
        return None


def activate(
    services: Services, unit: UnitOfWork, *, campaign_id: uuid.UUID, keys: HashKeys
) -> tuple[float, list[str]]:
    """What funding does once the money is in: the campaign active, its codes drawn and
    stored (the clock starts after the campaign's lock)."""
    campaign = repository.lock_campaign(unit, campaign_id)
    started = time.perf_counter()
    commit_plans(
        services.ledger, unit, [plan_activation(campaign, unit.now)], kind="campaign_funding"
    )
    return started, services.bonus_codes.funding.issue_codes(unit, campaign, keys)


def run(database_url: str, codes: int, rounds: int) -> list[float]:
    migrate(database_url)
    services = bootstrap(
        Settings(environment="development", database_url=database_url), mailer=DiscardingMailer()
    )
    operator = Principal(merchant_id=PLATFORM_MERCHANT_ID, role="operator")
    merchant = services.merchants.create_merchant(operator, name="Bench", head_office_email=None)
    owner = operator.acting_for(merchant["id"])
    keys = services.bonus_codes.code_keys()
    timings = []
    for _round in range(rounds):
        now = services.clock.now()
        campaign = services.bonus_codes.request_campaign(
            owner,
            name="Bench campaign",
            description="",
            asset_code="CZK",
            bonus_value_minor=100,
            code_count=codes,
            valid_from=now,
            valid_to=now + timedelta(days=30),
            rest_destination="business_account",
            bank_account=None,
            notify_email=None,
        )
        campaign_id = campaign.campaign.id
        started, plain = services.units.run(
            merchant["id"],
            "bench_activation",
            functools.partial(activate, services, campaign_id=campaign_id, keys=keys),
        )
        elapsed = time.perf_counter() - started
        assert len(plain) == codes
        with services.database.read() as connection:
            stored = connection.execute(
                select(func.count())
                .select_from(bonus_codes)
                .where(bonus_codes.c.campaign_id == campaign_id)
            ).scalar()
        assert stored == codes, stored
        timings.append(elapsed)
        print(f"{codes} codes generated and stored in {elapsed:.2f} s", flush=True)
    services.close()
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url")
    arguments = parser.parse_args()
    if arguments.database_url:
        timings = run(arguments.database_url, arguments.codes, arguments.rounds)
    else:
        with throwaway_cluster("cagnotte-bench-codes-") as (url, _cluster):
            timings = run(url, arguments.codes, arguments.rounds)
    median = statistics.median(timings)
    verdict = "meets" if median < 3 else "MISSES"
    print(f"median: {median:.2f} s for {arguments.codes} codes ({verdict} the 3 s target)")
    return 0 if median < 3 else 1


if __name__ == "__main__":
    sys.exit(main())
