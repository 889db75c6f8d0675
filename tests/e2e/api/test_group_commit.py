"""Group commit through the real HTTP stack, on PostgreSQL.

Payments that arrive while a batch is in flight go together in the next one
(ledger/batcher.py); the limit, the idempotency and the answers are today's.
The server runs in this process, so its batch-size histogram is this process's.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from cagnotte.api.app import create_app
from cagnotte.asgi import proxy_options
from cagnotte.bootstrap import Services, bootstrap
from cagnotte.config import Settings
from tests.e2e.api.concurrency import all_at_once, running_server
from tests.e2e.api.conftest import enrol, top_up
from tests.e2e.api.test_concurrency import wallet_balance
from tests.integration.ledger.test_group_commit import batches_seen


def pay_ten(server_url: str, merchant, customer_id: str):
    def pay(http: httpx.Client) -> httpx.Response:
        return http.post(
            f"{server_url}/v1/payments",
            json={"customer_id": customer_id, "asset": "CZK", "amount_minor": 10},
            headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
        )

    return pay


def test_fifty_payments_at_once_go_in_shared_batches_and_exactly_ten_of_ten_pass(
    server_url, client, merchant
):
    customer = enrol(client, merchant)
    assert top_up(client, merchant, customer["id"], 100).status_code == 201
    # One payment first, so that the accounts are known and all fifty take the hot path.
    assert (
        pay_ten(server_url, merchant, customer["id"])(httpx.Client(timeout=30)).status_code == 201
    )
    batches_before, entries_before = batches_seen()

    responses = all_at_once(50, pay_ten(server_url, merchant, customer["id"]))

    assert Counter(r.status_code for r in responses) == {201: 9, 422: 41}
    assert {r.json()["code"] for r in responses if r.status_code == 422} == {"insufficient_funds"}
    assert sorted(r.json()["wallet_balance_minor"] for r in responses if r.status_code == 201) == (
        list(range(0, 90, 10))
    )
    assert wallet_balance(client, merchant, customer["id"]) == 0
    batches, batched = batches_seen()
    assert batched - entries_before == 50, "every payment went through the batcher"
    assert batches - batches_before < 50, "some payments shared a batch"


@pytest.fixture
def services_without_group_commit(database, clock, mailer, tmp_path) -> Iterator[Services]:
    settings = Settings(
        environment="development",
        database_url=database.url,
        outbox_dir=tmp_path / "outbox",
        ledger_group_commit=False,
    )
    services = bootstrap(settings, clock=clock, mailer=mailer, database=database)
    mailer.outbox = services.outbox
    yield services


def test_with_group_commit_off_each_payment_goes_alone(
    postgres_url, services_without_group_commit, client, merchant
):
    customer = enrol(client, merchant)
    assert top_up(client, merchant, customer["id"], 100).status_code == 201
    app = create_app(services_without_group_commit)
    with running_server(app, **proxy_options(services_without_group_commit.settings)) as url:
        batches_before = batches_seen()
        responses = all_at_once(20, pay_ten(url, merchant, customer["id"]))
        assert batches_seen() == batches_before

    assert Counter(r.status_code for r in responses) == {201: 10, 422: 10}
    assert wallet_balance(client, merchant, customer["id"]) == 0
