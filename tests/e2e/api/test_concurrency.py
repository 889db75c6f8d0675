"""Concurrency through the real HTTP stack, on PostgreSQL.

The app runs in a uvicorn server on a free local port, and many threads send
requests at the same moment. The balance limit holds whatever the interleaving
(the database checks it in the statement that changes the balance), and an
Idempotency-Key sent many times at once posts one payment and gives one answer.
"""

from __future__ import annotations

import uuid
from collections import Counter

import httpx

from tests.e2e.api.concurrency import all_at_once
from tests.e2e.api.conftest import enrol, top_up
from tests.queries import entries_of_key


def wallet_balance(client, merchant, customer_id) -> int:
    accounts = client.get(f"/v1/customers/{customer_id}/accounts", headers=merchant.owner).json()[
        "items"
    ]
    return next(a["balance"]["balance_minor"] for a in accounts if a["purpose"] == "wallet")


def test_fifty_concurrent_payments_of_ten_from_a_hundred_let_exactly_ten_through(
    server_url, client, merchant
):
    customer = enrol(client, merchant)
    assert top_up(client, merchant, customer["id"], 100).status_code == 201

    def pay(http: httpx.Client) -> httpx.Response:
        return http.post(
            f"{server_url}/v1/payments",
            json={"customer_id": customer["id"], "asset": "CZK", "amount_minor": 10},
            headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
        )

    responses = all_at_once(50, pay)
    assert Counter(r.status_code for r in responses) == {201: 10, 422: 40}, [
        r.text for r in responses if r.status_code not in (201, 422)
    ]
    refused = [r for r in responses if r.status_code == 422]
    assert {r.json()["code"] for r in refused} == {"insufficient_funds"}
    assert all(r.headers["content-type"].startswith("application/problem+json") for r in refused)
    balances_after = sorted(
        r.json()["wallet_balance_minor"] for r in responses if r.status_code == 201
    )
    assert balances_after == list(range(0, 100, 10))
    assert wallet_balance(client, merchant, customer["id"]) == 0


def test_one_idempotency_key_sent_twenty_times_at_once_posts_one_payment(
    server_url, client, merchant, services
):
    customer = enrol(client, merchant)
    assert top_up(client, merchant, customer["id"], 1_000).status_code == 201

    def pay(http: httpx.Client) -> httpx.Response:
        return http.post(
            f"{server_url}/v1/payments",
            json={
                "customer_id": customer["id"],
                "asset": "CZK",
                "amount_minor": 250,
                "reference": "R-42",
            },
            headers={**merchant.register, "Idempotency-Key": "till-1-receipt-42"},
        )

    responses = all_at_once(20, pay)
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.text for r in responses}) == 1, "every answer must be the first answer"
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert responses[0].json()["wallet_balance_minor"] == 750
    assert wallet_balance(client, merchant, customer["id"]) == 750
    with services.database.read() as connection:
        entries = connection.execute(entries_of_key("till-1-receipt-42")).scalar_one()
    assert entries == 1
