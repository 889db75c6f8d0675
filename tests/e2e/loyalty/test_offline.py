"""An offline register replays its checks later: once each, at their own time."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tests.e2e.api.conftest import enrol


def test_a_batch_of_a_hundred_checks_sent_twice_commits_each_once(
    client, merchant, services, clock
):
    program = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={"kind": "points", "name": "Points", "currency": "CZK"},
    ).json()
    members = [enrol(client, merchant, f"+42060180{i:04d}") for i in range(5)]
    made_at = clock.now() - timedelta(hours=3)
    batch = {
        "checks": [
            {
                "idempotency_key": f"till-7-{index}",
                "currency": "CZK",
                "customer_id": members[index % 5]["id"],
                "occurred_at": (made_at + timedelta(minutes=index)).isoformat(),
                "lines": [{"sku": "BREAD", "quantity": 1 + index % 3, "unit_price_minor": 3_500}],
            }
            for index in range(100)
        ]
    }
    first = client.post("/v1/checks/offline-batches", json=batch, headers=merchant.register)
    assert first.status_code == 200, first.text
    assert {outcome["status"] for outcome in first.json()} == {"committed"}
    balances = _balances(services, merchant, program, members)
    again = client.post("/v1/checks/offline-batches", json=batch, headers=merchant.register)
    assert {outcome["status"] for outcome in again.json()} == {"replayed"}
    assert [o["check"]["id"] for o in again.json()] == [o["check"]["id"] for o in first.json()]
    assert _balances(services, merchant, program, members) == balances
    # 1, 2 or 3 loaves of 35.00 CZK: 3, 7 or 10 points (1 per 10.00, rounded down).
    assert sum(balances) == sum(3_500 * (1 + index % 3) // 1_000 for index in range(100))
    assert sum(balances) == 34 * 3 + 33 * 7 + 33 * 10
    recorded = client.get(
        f"/v1/checks/{first.json()[7]['check']['id']}", headers=merchant.register
    ).json()
    assert recorded["occurred_at"].startswith((made_at + timedelta(minutes=7)).isoformat()[:16])


def test_a_check_made_before_a_program_started_earns_nothing_on_replay(
    client, merchant, services, clock
):
    starts = clock.now()
    client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={
            "kind": "points",
            "name": "Points",
            "currency": "CZK",
            "valid_from": starts.isoformat(),
        },
    )
    member = enrol(client, merchant, "+420601811111")
    batch = {
        "checks": [
            {
                "idempotency_key": "early",
                "currency": "CZK",
                "customer_id": member["id"],
                "occurred_at": (starts - timedelta(minutes=5)).isoformat(),
                "lines": [{"sku": "X", "quantity": 1, "unit_price_minor": 50_000}],
            },
            {
                "idempotency_key": "late",
                "currency": "CZK",
                "customer_id": member["id"],
                "occurred_at": (starts + timedelta(minutes=5)).isoformat(),
                "lines": [{"sku": "X", "quantity": 1, "unit_price_minor": 50_000}],
            },
            {
                "idempotency_key": "bad",
                "currency": "CZK",
                "customer_id": str(uuid.uuid4()),
                "occurred_at": starts.isoformat(),
                "lines": [{"sku": "X", "quantity": 1, "unit_price_minor": 100}],
            },
        ]
    }
    outcomes = client.post(
        "/v1/checks/offline-batches", json=batch, headers=merchant.register
    ).json()
    assert [o["status"] for o in outcomes] == ["committed", "committed", "refused"]
    assert outcomes[2]["code"] == "not_found"
    assert outcomes[0]["check"]["effects"] == []
    assert [e["units"] for e in outcomes[1]["check"]["effects"]] == [50]


def _balances(services, merchant, program, members) -> list[int]:
    loaded = services.loyalty.program(uuid.UUID(merchant.id), uuid.UUID(program["id"]))
    return [
        services.ledger.balance(
            services.loyalty.member_account(loaded, uuid.UUID(member["id"]))
        ).credit_balance
        for member in members
    ]
