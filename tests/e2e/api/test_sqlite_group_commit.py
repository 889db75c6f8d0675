"""Group commit on SQLite through the real HTTP stack (ledger/sqlite_batcher.py).

The payments and top-ups a process serves go to its one writer, which posts
those waiting together, each in a savepoint of its own; the limit, the
idempotency and the answers are the general path's. The server runs in this
process, so its batch-size histogram is this process's.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from cagnotte.api.app import create_app
from cagnotte.bootstrap import Services, bootstrap
from cagnotte.config import Settings
from cagnotte.db.engine import Database
from tests.e2e.api.concurrency import all_at_once, running_server
from tests.e2e.api.conftest import enrol, make_merchant, top_up
from tests.e2e.api.test_concurrency import wallet_balance
from tests.e2e.api.test_group_commit import pay_ten
from tests.integration.ledger.test_group_commit import batches_seen
from tests.queries import entries_of_key


@pytest.fixture
def sqlite_server(database_url: str, services: Services) -> Iterator[str]:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's writer")
    with running_server(create_app(services)) as url:
        yield url


def test_fifty_payments_at_once_through_the_writer_let_exactly_ten_of_ten_pass(
    sqlite_server, client, merchant
):
    customer = enrol(client, merchant)
    assert top_up(client, merchant, customer["id"], 100).status_code == 201
    # One payment first, so that the accounts are known and all fifty take the hot path.
    assert pay_ten(sqlite_server, merchant, customer["id"])(httpx.Client()).status_code == 201
    batches_before, entries_before = batches_seen()

    responses = all_at_once(50, pay_ten(sqlite_server, merchant, customer["id"]))

    assert Counter(r.status_code for r in responses) == {201: 9, 422: 41}
    assert {r.json()["code"] for r in responses if r.status_code == 422} == {"insufficient_funds"}
    assert sorted(r.json()["wallet_balance_minor"] for r in responses if r.status_code == 201) == (
        list(range(0, 90, 10))
    )
    assert wallet_balance(client, merchant, customer["id"]) == 0
    batches, batched = batches_seen()
    assert batched - entries_before == 50, "every payment went through the writer"
    # Those the loop received together share a batch; how many did is the machine's.
    assert batches - batches_before <= 50


def test_twenty_parallel_retries_of_one_payment_post_it_once(sqlite_server, client, merchant):
    customer = enrol(client, merchant)
    assert top_up(client, merchant, customer["id"], 1_000).status_code == 201

    def pay(http: httpx.Client) -> httpx.Response:
        return http.post(
            f"{sqlite_server}/v1/payments",
            json={"customer_id": customer["id"], "asset": "CZK", "amount_minor": 250},
            headers={**merchant.register, "Idempotency-Key": "till-7-receipt-1"},
        )

    responses = all_at_once(20, pay)

    assert Counter(r.status_code for r in responses) == {201: 20}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    assert wallet_balance(client, merchant, customer["id"]) == 750
    with client.app.state.services.database.read() as connection:
        assert connection.execute(entries_of_key("till-7-receipt-1")).scalar() == 1


def test_top_ups_go_through_the_writer(sqlite_server, client, merchant):
    customer = enrol(client, merchant)
    assert top_up(client, merchant, customer["id"], 100).status_code == 201
    batches_before, entries_before = batches_seen()

    def top_up_ten(http: httpx.Client) -> httpx.Response:
        return http.post(
            f"{sqlite_server}/v1/wallet/top-ups",
            json={"customer_id": customer["id"], "asset": "CZK", "amount_minor": 10},
            headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
        )

    responses = all_at_once(20, top_up_ten)

    assert Counter(r.status_code for r in responses) == {201: 20}
    assert wallet_balance(client, merchant, customer["id"]) == 300
    assert batches_seen()[1] - entries_before == 20
    assert batches_seen()[0] > batches_before


@pytest.fixture
def impatient_services(database_url, clock, mailer, tmp_path) -> Iterator[Services]:
    """Services whose database waits for SQLite's write lock only a moment."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    database = Database(database_url, busy_timeout_seconds=0.2)
    settings = Settings(
        environment="development", database_url=database.url, outbox_dir=tmp_path / "outbox"
    )
    yield bootstrap(settings, clock=clock, mailer=mailer, database=database)
    database.dispose()


def test_a_payment_while_sqlite_is_locked_elsewhere_is_a_503_and_its_retry_lands_once(
    impatient_services, database_url, operator_key
):
    from fastapi.testclient import TestClient

    with TestClient(create_app(impatient_services), raise_server_exceptions=False) as client:
        merchant = make_merchant(client, operator_key, "Café Bleu")
        customer = enrol(client, merchant)
        assert top_up(client, merchant, customer["id"], 100).status_code == 201

        def pay() -> httpx.Response:
            return client.post(
                "/v1/payments",
                json={"customer_id": customer["id"], "asset": "CZK", "amount_minor": 30},
                headers={**merchant.register, "Idempotency-Key": "busy-1"},
            )

        assert pay().status_code == 201  # the accounts known: the writer's way
        holder = sqlite3.connect(impatient_services.database.sqlite_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            busy = client.post(
                "/v1/payments",
                json={"customer_id": customer["id"], "asset": "CZK", "amount_minor": 30},
                headers={**merchant.register, "Idempotency-Key": "busy-2"},
            )
        finally:
            holder.rollback()
            holder.close()

        assert busy.status_code == 503, busy.text
        assert busy.json()["code"] == "service_unavailable"
        assert int(busy.headers["Retry-After"]) > 0
        assert wallet_balance(client, merchant, customer["id"]) == 70
        retried = client.post(
            "/v1/payments",
            json={"customer_id": customer["id"], "asset": "CZK", "amount_minor": 30},
            headers={**merchant.register, "Idempotency-Key": "busy-2"},
        )
        assert retried.status_code == 201
        assert "Idempotent-Replayed" not in retried.headers
        assert wallet_balance(client, merchant, customer["id"]) == 40
