"""Checks under parallel requests through the real HTTP stack, on PostgreSQL."""

from __future__ import annotations

import uuid
from collections import Counter

from sqlalchemy import func, select

from cagnotte.checkout.tables import checks
from cagnotte.db.tables import invoice_numbers
from tests.e2e.api.concurrency import all_at_once
from tests.e2e.api.conftest import enrol

LATTE = {"sku": "LATTE", "quantity": 1, "unit_price_minor": 10_000}


def _program(client, merchant) -> dict:
    return client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={"kind": "points", "name": "Points", "currency": "CZK"},
    ).json()


def _points(services, merchant, program, member) -> int:
    loaded = services.loyalty.program(uuid.UUID(merchant.id), uuid.UUID(program["id"]))
    return services.ledger.balance(
        services.loyalty.member_account(loaded, uuid.UUID(member["id"]))
    ).credit_balance


def test_twenty_parallel_checks_spending_the_same_points_never_overspend(
    client, merchant, services, server_url
):
    program = _program(client, merchant)
    member = enrol(client, merchant, "+420601700700")
    # Ten checks of 100.00 CZK: 100 points.
    for index in range(10):
        response = client.post(
            "/v1/checks",
            json={"currency": "CZK", "customer_id": member["id"], "lines": [LATTE]},
            headers={**merchant.register, "Idempotency-Key": f"earn-{index}"},
        )
        assert response.status_code == 201, response.text
    assert _points(services, merchant, program, member) == 100

    def spend(http):
        return http.post(
            f"{server_url}/v1/checks",
            json={
                "currency": "CZK",
                "customer_id": member["id"],
                # 30 points (3.00 CZK) pay all of it: such a check earns nothing.
                "lines": [{"sku": "TEA", "quantity": 1, "unit_price_minor": 300}],
                "use_loyalty": [{"program_id": program["id"], "units": 30}],
            },
            headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
        )

    responses = all_at_once(20, spend)
    outcomes = Counter(
        r.status_code if r.status_code == 201 else r.json()["code"] for r in responses
    )
    # 100 points pay for three checks of 30, and no more, whatever the interleaving.
    assert outcomes == {201: 3, "insufficient_funds": 17}, outcomes
    assert _points(services, merchant, program, member) == 10


def test_fifty_parallel_checks_with_one_invoice_number_record_one(
    client, merchant, services, server_url
):
    _program(client, merchant)

    def commit(http):
        return http.post(
            f"{server_url}/v1/checks",
            json={"currency": "CZK", "invoice_number": "F-77", "lines": [LATTE]},
            headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
        )

    responses = all_at_once(50, commit)
    outcomes = Counter(
        r.status_code if r.status_code == 201 else r.json()["code"] for r in responses
    )
    assert outcomes == {201: 1, "invoice_reused": 49}, outcomes
    with services.database.read() as connection:
        assert connection.execute(select(func.count()).select_from(checks)).scalar_one() == 1
        assert (
            connection.execute(select(func.count()).select_from(invoice_numbers)).scalar_one() == 1
        )
