"""One voucher, twenty parallel checks naming it, through the real HTTP stack on PostgreSQL."""

from __future__ import annotations

import uuid
from collections import Counter

from cagnotte.checkout.credits import credit_account_spec
from tests.e2e.api.concurrency import all_at_once
from tests.e2e.api.conftest import enrol

COFFEE = {"sku": "COFFEE", "quantity": 1, "unit_price_minor": 80}


def test_twenty_parallel_checks_naming_one_voucher_use_it_once(
    client, merchant, services, server_url
):
    program = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={
            "kind": "stamps",
            "name": "Coffee card",
            "currency": "CZK",
            "stamp_card": {
                "size": 10,
                "reward": "fixed_discount",
                "reward_value": 500,
                "delivery": "voucher",
            },
        },
    ).json()
    member = enrol(client, merchant, "+420601300400")
    filled = client.post(
        "/v1/checks",
        json={
            "currency": "CZK",
            "customer_id": member["id"],
            "lines": [{**COFFEE, "quantity": 10}],
        },
        headers={**merchant.register, "Idempotency-Key": "fill"},
    )
    assert filled.status_code == 201, filled.text
    (voucher,) = client.get(
        f"/v1/customers/{member['id']}/credits", headers=merchant.register
    ).json()["items"]

    def use(http):
        return http.post(
            f"{server_url}/v1/checks",
            json={
                "currency": "CZK",
                "customer_id": member["id"],
                "lines": [{**COFFEE, "quantity": 4}],
                "use_vouchers": [voucher["id"]],
            },
            headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
        )

    responses = all_at_once(20, use)
    outcomes = Counter(
        r.status_code if r.status_code == 201 else r.json()["code"] for r in responses
    )
    assert outcomes == {201: 1, "credit_not_usable": 19}, outcomes
    (used,) = client.get(f"/v1/customers/{member['id']}/credits", headers=merchant.register).json()[
        "items"
    ]
    (winner,) = [r.json() for r in responses if r.status_code == 201]
    assert (used["state"], used["using_check_id"], used["used_value_minor"]) == (
        "used",
        winner["id"],
        320,
    )
    loaded = services.loyalty.program(uuid.UUID(merchant.id), uuid.UUID(program["id"]))
    account = services.ledger.open_account(
        uuid.UUID(merchant.id), credit_account_spec(loaded, uuid.UUID(member["id"]))
    )
    assert services.ledger.balance(account).credit_balance == 0
