"""A crowd larger than the pool: each request holds one connection at a time, and gets 2xx or 503.

Before, a gift card operation read its program again inside its unit of work,
on a second connection, while holding the first one and the card's lock: with
every other connection of the pool held by requests queued on that lock, the
pool ran dry and the queue answered 500 after the pool's timeout. The program
is kept in memory for a few seconds, so this happened when the copy read
before the unit (while the card was looked up) had gone by the time the unit
ran — a queue longer than that, or the cache's moment; the tests make it go
at once.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

import httpx
import pytest

from cagnotte.api.app import create_app
from cagnotte.asgi import proxy_options
from cagnotte.bootstrap import bootstrap
from cagnotte.config import Settings
from cagnotte.db.engine import Database
from cagnotte.programs.gift_cards import programs_admin
from tests.connections import second_connections
from tests.e2e.api.concurrency import all_at_once, running_server
from tests.e2e.gift_cards.conftest import (
    activate,
    balance,
    create_program,
    load,
    new_cards,
    post,
    spend,
)
from tests.queries import entries_of_key

SMALL_POOL = 2  # and as many again of overflow: 4 connections for 30 requests
BURST = 30
SPEND_MINOR = 100
# Short, so that some of the burst waits longer than that for a connection: 503s.
POOL_TIMEOUT_SECONDS = 0.1


@pytest.fixture
def cold_program_cache(monkeypatch):
    """Every read of a program goes to the database (as when the cached copy just went)."""
    monkeypatch.setattr(programs_admin, "PROGRAM_CACHE_SECONDS", 0.0)


def test_card_operations_hold_one_connection_at_a_time(
    client, merchant, services, clock, cold_program_cache
):
    program = create_program(client, merchant, expiry_months=12)
    card, other = new_cards(client, merchant, program, 2)
    with second_connections(services.database) as second:
        assert activate(client, merchant, card, 10_000).status_code == 201
        assert load(client, merchant, card, 1_000).status_code == 201
        spent = spend(client, merchant, card, 3_000, key="spend-1")
        assert spent.status_code == 201
        refund = post(
            client,
            f"/v1/gift-cards/spends/{spent.json()['id']}/refunds",
            {"amount_minor": 1_000},
            merchant.register,
        )
        assert refund.status_code == 201
        transfer = post(
            client,
            "/v1/gift-cards/balance-transfers",
            {"from_card_id": card.id, "to_number": other.number},
            merchant.manager,
        )
        assert transfer.status_code == 201, transfer.text
        clock.advance(timedelta(days=400))
        assert services.gift_cards.expire_cards() == 1

    assert second == []


def test_a_burst_of_spends_larger_than_the_pool_gets_2xx_or_503_and_the_money_stays_right(
    postgres_url, client, merchant, card, clock, mailer, tmp_path, cold_program_cache
):
    settings = Settings(
        environment="development",
        database_url=postgres_url,
        outbox_dir=tmp_path / "outbox",
        database_pool_size=SMALL_POOL,
        database_pool_timeout_seconds=POOL_TIMEOUT_SECONDS,
    )
    database = Database(
        postgres_url, pool_size=SMALL_POOL, pool_timeout_seconds=POOL_TIMEOUT_SECONDS
    )
    services = bootstrap(settings, clock=clock, mailer=mailer, database=database)

    def spend_with_a_key_of_its_own(http: httpx.Client, key: str | None = None):
        return http.post(
            f"{url}/v1/gift-cards/spends",
            json={"number": card.number, "pin": card.pin, "amount_minor": SPEND_MINOR},
            headers={**merchant.register, "Idempotency-Key": key or str(uuid.uuid4())},
        )

    try:
        with running_server(create_app(services), **proxy_options(settings)) as url:
            burst = all_at_once(BURST, spend_with_a_key_of_its_own)
            statuses = Counter(response.status_code for response in burst)
            assert set(statuses) <= {201, 503}, [r.text for r in burst if r.status_code >= 500]
            busy = [response for response in burst if response.status_code == 503]
            for response in busy:
                assert response.json()["code"] == "service_unavailable"
                assert int(response.headers["Retry-After"]) > 0
            # What was answered 201 was spent, once; what was answered 503 was not.
            assert balance(client, merchant, card) == 10_000 - SPEND_MINOR * statuses[201]
            with services.database.read() as connection:
                for response in burst:
                    key = response.request.headers["Idempotency-Key"]
                    posted = connection.execute(entries_of_key(key)).scalar()
                    assert posted == (1 if response.status_code == 201 else 0), key
            # Sent again with their keys, the refused ones go through.
            with httpx.Client(timeout=30) as http:
                for response in busy:
                    key = response.request.headers["Idempotency-Key"]
                    assert spend_with_a_key_of_its_own(http, key).status_code == 201
    finally:
        database.dispose()

    assert balance(client, merchant, card) == 10_000 - SPEND_MINOR * BURST
