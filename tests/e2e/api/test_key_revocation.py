"""A revoked API key stops working in every process, not only in the one that revoked it.

Each process keeps the keys it has checked in memory for a while. Two services
over one database stand for two processes (they share nothing but the database):
on PostgreSQL the second hears of the revocation through LISTEN/NOTIFY. The
cache is made long here, so that only that word can explain the key's refusal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from cagnotte.bootstrap import Services, bootstrap
from cagnotte.config import Settings
from cagnotte.db.engine import Database
from tests.e2e.api.conftest import MerchantSetup

CACHE_SECONDS = 300
HEARD_WITHIN_SECONDS = 5.0


@pytest.fixture
def other_process(postgres_url, clock, mailer, tmp_path) -> Iterator[Services]:
    """Services of their own over the same database, listening as an application does."""
    database = Database(postgres_url, pool_size=2)
    settings = Settings(
        environment="development",
        database_url=postgres_url,
        outbox_dir=tmp_path / "outbox",
        api_key_cache_seconds=CACHE_SECONDS,
    )
    services = bootstrap(settings, clock=clock, mailer=mailer, database=database)
    services.merchants.watch_revocations()
    assert services.merchants._revocations.wait_until_listening(HEARD_WITHIN_SECONDS)
    yield services
    services.merchants.stop_watching_revocations()
    database.dispose()


def refused_within(services: Services, secret: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if services.merchants.authenticate_key(secret) is None:
            return True
        time.sleep(0.02)
    return False


def test_a_key_revoked_by_one_process_is_refused_by_another(
    client, merchant: MerchantSetup, other_process
):
    keys = client.get("/v1/api-keys", headers=merchant.owner).json()["items"]
    manager_key = next(key for key in keys if key["role"] == "manager")
    # The other process has checked the key and keeps it in memory.
    assert other_process.merchants.authenticate_key(merchant.manager_key) is not None
    assert other_process.merchants.authenticate_key(merchant.manager_key) is not None

    revoked = client.post(f"/v1/api-keys/{manager_key['id']}/revoke", headers=merchant.owner)
    assert revoked.status_code == 200, revoked.text

    assert refused_within(other_process, merchant.manager_key, HEARD_WITHIN_SECONDS)
    # The owner's key, not revoked, still works there.
    assert other_process.merchants.authenticate_key(merchant.owner_key) is not None


def test_a_merchant_suspended_by_one_process_is_refused_by_another(
    client, merchant: MerchantSetup, operator_key, other_process
):
    assert other_process.merchants.authenticate_key(merchant.register_key) is not None

    suspended = client.post(
        f"/v1/merchants/{merchant.id}/status",
        json={"status": "suspended"},
        headers={"Authorization": f"Bearer {operator_key}"},
    )
    assert suspended.status_code == 200, suspended.text

    assert refused_within(other_process, merchant.register_key, HEARD_WITHIN_SECONDS)


def test_a_listener_whose_connection_was_lost_listens_again(
    client, merchant: MerchantSetup, other_process
):
    assert other_process.merchants.authenticate_key(merchant.manager_key) is not None
    with other_process.database.transaction() as connection:
        cut = connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        ).all()
    # Both processes' listeners (the test client's application listens too).
    assert cut and all(terminated for (terminated,) in cut)
    keys = client.get("/v1/api-keys", headers=merchant.owner).json()["items"]
    manager_key = next(key for key in keys if key["role"] == "manager")

    revoked = client.post(f"/v1/api-keys/{manager_key['id']}/revoke", headers=merchant.owner)
    assert revoked.status_code == 200, revoked.text

    assert refused_within(other_process, merchant.manager_key, HEARD_WITHIN_SECONDS)
    assert other_process.merchants._revocations.wait_until_listening(HEARD_WITHIN_SECONDS)
