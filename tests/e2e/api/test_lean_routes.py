"""The lean hot path (api/lean.py): well-formed payments skip the dependency solving.

A well-formed request is served by the lean way; every other one goes FastAPI's
general way and gets the answer it always got. The OpenAPI of the lean routes is
byte for byte the one that shipped before them (openapi_lean_routes.json, made
from the code before api/lean.py).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from cagnotte.api.lean import LEAN_ANSWERS
from tests.e2e.api.conftest import bearer, enrol, top_up

SHIPPED_OPENAPI = Path(__file__).parent / "openapi_lean_routes.json"
LEAN_PATHS = ("/v1/payments", "/v1/wallet/top-ups")


def test_the_lean_routes_openapi_is_the_one_that_shipped(client):
    document = client.get("/openapi.json").json()
    paths = {path: document["paths"][path] for path in LEAN_PATHS}

    assert json.dumps(paths, sort_keys=True, indent=1) + "\n" == SHIPPED_OPENAPI.read_text()


@pytest.fixture
def customer_id(client, merchant) -> str:
    customer = enrol(client, merchant)
    assert top_up(client, merchant, customer["id"], 1_000).status_code == 201
    return customer["id"]


def payment(customer_id: str, amount: int = 100) -> dict[str, object]:
    return {"customer_id": customer_id, "asset": "CZK", "amount_minor": amount}


def test_a_well_formed_payment_and_its_replay_go_the_lean_way(client, merchant, customer_id):
    headers = {**merchant.register, "Idempotency-Key": "till-9"}
    before = LEAN_ANSWERS["count"]

    first = client.post("/v1/payments", json=payment(customer_id, 300), headers=headers)
    again = client.post("/v1/payments", json=payment(customer_id, 300), headers=headers)
    other = client.post("/v1/payments", json=payment(customer_id, 301), headers=headers)

    assert LEAN_ANSWERS["count"] == before + 3
    assert first.status_code == again.status_code == 201
    assert first.json()["wallet_balance_minor"] == 700
    assert again.text == first.text and again.headers["Idempotent-Replayed"] == "true"
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
    assert top_up(client, merchant, customer_id, 5).status_code == 201
    assert LEAN_ANSWERS["count"] == before + 4


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"drop": "Idempotency-Key"}, 400, "idempotency_key_required"),
        ({"Idempotency-Key": "k" * 151}, 422, "validation_error"),
        ({"Authorization": "Bearer not-a-key"}, 401, "unauthenticated"),
        ({"drop": "Authorization"}, 401, "unauthenticated"),
        ({"Authorization": "Basic abc"}, 401, "unauthenticated"),
        ({"body": {"asset": "CZK", "amount_minor": 100}}, 422, "validation_error"),
        ({"body": {"customer_id": "x", "asset": "CZK", "amount_minor": -1}}, 422, None),
        ({"raw": b"{not json"}, 422, "validation_error"),
        ({"Cagnotte-Merchant-Id": "not-a-uuid"}, 403, "forbidden"),
    ],
)
def test_any_other_request_goes_the_general_way_and_gets_its_usual_answer(
    client, merchant, customer_id, change, status, code
):
    headers = {
        **merchant.register,
        "Idempotency-Key": str(uuid.uuid4()),
        "Content-Type": "application/json",
    }
    change = dict(change)
    headers.pop(change.pop("drop", ""), None)
    body = change.pop("body", payment(customer_id))
    content = change.pop("raw", json.dumps(body).encode())
    headers.update(change)
    before = LEAN_ANSWERS["count"]

    response = client.post("/v1/payments", content=content, headers=headers)

    assert LEAN_ANSWERS["count"] == before
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["code"] == code
    balances = client.get(f"/v1/customers/{customer_id}/accounts", headers=merchant.owner).json()[
        "items"
    ]
    assert [a["balance"]["balance_minor"] for a in balances if a["purpose"] == "wallet"] == [1_000]


def test_a_body_of_another_media_type_goes_the_general_way(client, merchant, customer_id):
    headers = {
        **merchant.register,
        "Idempotency-Key": str(uuid.uuid4()),
        "Content-Type": "text/plain",
    }
    before = LEAN_ANSWERS["count"]

    response = client.post(
        "/v1/payments", content=json.dumps(payment(customer_id)), headers=headers
    )

    assert LEAN_ANSWERS["count"] == before
    assert response.status_code == 422, response.text


def test_the_operator_acting_for_a_merchant_goes_the_general_way(
    client, merchant, customer_id, operator_key
):
    headers = {
        **bearer(operator_key),
        "Cagnotte-Merchant-Id": merchant.id,
        "Idempotency-Key": str(uuid.uuid4()),
    }
    before = LEAN_ANSWERS["count"]

    response = client.post("/v1/payments", json=payment(customer_id), headers=headers)

    assert LEAN_ANSWERS["count"] == before
    assert response.status_code in (201, 403), response.text
