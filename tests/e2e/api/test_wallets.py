"""Wallet payments at the register, refunds, adjustments, idempotency."""

from __future__ import annotations

import uuid

from tests.e2e.api.conftest import enrol, top_up


def pay(client, merchant, customer_id, amount, key=None, asset="CZK"):
    # Every value-moving POST needs a key: a fresh one unless the test names it.
    headers = {**merchant.register, "Idempotency-Key": key or str(uuid.uuid4())}
    return client.post(
        "/v1/payments",
        json={
            "customer_id": customer_id,
            "asset": asset,
            "amount_minor": amount,
            "reference": "R-1",
        },
        headers=headers,
    )


def wallet_balance(client, merchant, customer_id, asset="CZK"):
    accounts = client.get(f"/v1/customers/{customer_id}/accounts", headers=merchant.owner).json()[
        "items"
    ]
    wallets = [a for a in accounts if a["purpose"] == "wallet" and a["asset_code"] == asset]
    return wallets[0]["balance"]["balance_minor"] if wallets else 0


def test_a_payment_takes_the_amount_from_the_wallet(client, merchant):
    customer = enrol(client, merchant)
    assert top_up(client, merchant, customer["id"], 50_000).status_code == 201
    response = pay(client, merchant, customer["id"], 12_345)
    assert response.status_code == 201, response.text
    assert response.json()["wallet_balance_minor"] == 50_000 - 12_345
    assert wallet_balance(client, merchant, customer["id"]) == 37_655


def test_a_payment_beyond_the_balance_is_refused_and_moves_nothing(client, merchant):
    customer = enrol(client, merchant)
    top_up(client, merchant, customer["id"], 1_000)
    response = pay(client, merchant, customer["id"], 1_001)
    assert response.status_code == 422
    assert response.json()["code"] == "insufficient_funds"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert wallet_balance(client, merchant, customer["id"]) == 1_000


def test_the_same_idempotency_key_replays_the_first_answer(client, merchant):
    customer = enrol(client, merchant)
    top_up(client, merchant, customer["id"], 1_000)
    first = pay(client, merchant, customer["id"], 300, key="pay-1")
    again = pay(client, merchant, customer["id"], 300, key="pay-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert wallet_balance(client, merchant, customer["id"]) == 700


def test_the_same_idempotency_key_with_another_body_is_a_conflict(client, merchant):
    customer = enrol(client, merchant)
    top_up(client, merchant, customer["id"], 1_000)
    pay(client, merchant, customer["id"], 300, key="pay-1")
    response = pay(client, merchant, customer["id"], 301, key="pay-1")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert wallet_balance(client, merchant, customer["id"]) == 700


def test_refunds_add_up_to_at_most_the_payment(client, merchant):
    customer = enrol(client, merchant)
    top_up(client, merchant, customer["id"], 1_000)
    payment = pay(client, merchant, customer["id"], 600).json()
    first = client.post(
        f"/v1/payments/{payment['id']}/refunds",
        json={"amount_minor": 200},
        headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert first.status_code == 201 and first.json()["wallet_balance_minor"] == 600
    too_much = client.post(
        f"/v1/payments/{payment['id']}/refunds",
        json={"amount_minor": 401},
        headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert too_much.json()["code"] == "reversal_exceeds_transfer"
    rest = client.post(
        f"/v1/payments/{payment['id']}/refunds",
        json={},
        headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert rest.status_code == 201 and rest.json()["amount_minor"] == 400
    assert wallet_balance(client, merchant, customer["id"]) == 1_000
    fetched = client.get(f"/v1/payments/{payment['id']}", headers=merchant.register).json()
    assert fetched["refunded_minor"] == 600 and fetched["customer_id"] == customer["id"]


def test_a_blocked_customer_cannot_pay(client, merchant):
    customer = enrol(client, merchant)
    top_up(client, merchant, customer["id"], 1_000)
    blocked = client.post(
        f"/v1/customers/{customer['id']}/status",
        json={"status": "blocked"},
        headers=merchant.manager,
    )
    assert blocked.json()["status"] == "blocked"
    response = pay(client, merchant, customer["id"], 100)
    assert response.json()["code"] == "customer_blocked"
    assert wallet_balance(client, merchant, customer["id"]) == 1_000


def test_a_cashier_may_not_adjust_and_a_manager_may_with_an_audit_record(
    client, merchant, services
):
    customer = enrol(client, merchant)
    body = {
        "customer_id": customer["id"],
        "asset": "CZK",
        "amount_minor": 500,
        "direction": "credit",
        "reason": "goodwill after a broken coffee machine",
    }
    refused = client.post(
        "/v1/adjustments",
        json=body,
        headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    done = client.post(
        "/v1/adjustments",
        json=body,
        headers={**merchant.manager, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert done.status_code == 201 and done.json()["wallet_balance_minor"] == 500
    from sqlalchemy import select

    from cagnotte.db.tables import audit_log

    with services.database.read() as connection:
        actions = connection.execute(
            select(audit_log.c.action, audit_log.c.details).where(
                audit_log.c.action == "wallet.adjusted"
            )
        ).all()
    assert len(actions) == 1 and actions[0].details["reason"].startswith("goodwill")
