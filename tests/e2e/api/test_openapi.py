"""The OpenAPI document keeps the conventions a generated client relies on.

Short unique snake_case operation ids, a tag and the callers' roles on every
operation, an example for every request body, problems declared under the
media type the server sends, the merchant header a string and only where the
operator may act for a merchant, and a required Idempotency-Key (with the
Idempotent-Replayed answer header) on every request that moves value.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from cagnotte.api.openapi import ACCESS
from cagnotte.api.problems import PROBLEM_MEDIA_TYPE
from tests.e2e.api.conftest import bearer, enrol, top_up

METHODS = ("get", "post", "put", "patch", "delete")
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# Every route that moves value: each requires an Idempotency-Key.
VALUE_MOVING = {
    ("post", "/v1/wallet/top-ups"),
    ("post", "/v1/payments"),
    ("post", "/v1/payments/{payment_id}/refunds"),
    ("post", "/v1/adjustments"),
    ("post", "/v1/checks"),
    ("post", "/v1/checks/{check_id}/refunds"),
    ("post", "/v1/gift-card-batches/{batch_id}/activations"),
    ("post", "/v1/gift-cards/e-cards"),
    ("post", "/v1/gift-cards/activations"),
    ("post", "/v1/gift-cards/loads"),
    ("post", "/v1/gift-cards/spends"),
    ("post", "/v1/gift-cards/spends/{operation_id}/refunds"),
    ("post", "/v1/gift-cards/authorisations"),
    ("post", "/v1/gift-cards/authorisations/{operation_id}/capture"),
    ("post", "/v1/gift-cards/authorisations/{operation_id}/void"),
    ("post", "/v1/gift-cards/balance-transfers"),
    ("post", "/v1/gift-cards/{card_id}/adjustments"),
    ("post", "/v1/bonus-campaigns/{campaign_id}/funding/business-account"),
    ("post", "/v1/bank-payments"),
    ("post", "/v1/bank-payments/{payment_id}/assign"),
    ("post", "/v1/bonus-payouts/{payout_id}/paid"),
}


@pytest.fixture
def document(client) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def operations(document: dict[str, Any]):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]]


def _has_example(document: dict[str, Any], media: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media:
        return True
    schema = _resolve(document, media.get("schema", {}))
    return bool(schema.get("examples") or schema.get("example"))


def test_every_operation_has_a_unique_snake_case_id_and_a_tag(document):
    ids = [operation["operationId"] for _method, _path, operation in operations(document)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for method, path, operation in operations(document):
        assert SNAKE_CASE.match(operation["operationId"]), (method, path)
        assert len(operation["operationId"]) <= 48, operation["operationId"]
        assert operation.get("tags"), (method, path)
    assert "create_payment" in ids


def test_every_request_body_has_an_example(document):
    missing = [
        (method, path, media_type)
        for method, path, operation in operations(document)
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items()
        if media_type == "application/json" and not _has_example(document, media)
    ]
    assert not missing, missing


def test_every_operation_says_who_may_call_it(document):
    for method, path, operation in operations(document):
        operation_id = operation["operationId"]
        assert operation_id in ACCESS, f"declare {operation_id} in api/openapi.py ACCESS"
        assert operation["x-roles"] == ACCESS[operation_id].roles, operation_id
        assert "Callers: " in operation["description"], (method, path)
    payment = document["paths"]["/v1/payments"]["post"]
    assert payment["x-roles"] == ["cashier", "manager", "owner", "operator"]
    assert document["paths"]["/v1/merchants"]["post"]["x-roles"] == ["operator"]


def test_problems_are_declared_under_the_media_type_sent_with_their_schema(document):
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "code"} <= set(problem["required"])
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if status[0] in "45":
                assert list(response["content"]) == [PROBLEM_MEDIA_TYPE], (method, path, status)
                schema = response["content"][PROBLEM_MEDIA_TYPE]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_each_operation_lists_only_the_statuses_it_can_return(document):
    def statuses(method: str, path: str) -> set[str]:
        return {s for s in document["paths"][path][method]["responses"] if s[0] in "45"}

    # A read of a list: no body, no id, no conflict; 400 for a cursor it did not give, 422
    # for a limit out of range (or a malformed merchant header).
    assert statuses("get", "/v1/stores") == {"400", "401", "403", "422", "503"}
    assert statuses("get", "/v1/merchants") == {"400", "401", "403", "422", "503"}
    # By id: 404 too, and 422 for a malformed id.
    assert statuses("get", "/v1/payments/{payment_id}") == {"401", "403", "404", "422", "503"}
    # A payment: its body, its key, and what its use case refuses.
    assert statuses("post", "/v1/payments") == {
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "422",
        "503",
    }
    # Without a credential: no 401.
    assert "401" not in statuses("post", "/v1/customer-sign-in/codes")
    assert "410" not in statuses("post", "/v1/payments")
    assert "410" in statuses("get", "/v1/bonus-campaigns/{campaign_id}/codes.{file_format}")


def test_the_merchant_header_is_a_string_and_only_where_the_operator_acts_for_a_merchant(
    document,
):
    for method, path, operation in operations(document):
        headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
        access = ACCESS[operation["operationId"]]
        assert ("Cagnotte-Merchant-Id" in headers) == access.acts_for_merchant, (method, path)
        if "Cagnotte-Merchant-Id" in headers:
            types = {
                option.get("type") for option in headers["Cagnotte-Merchant-Id"]["schema"]["anyOf"]
            }
            assert types == {"string", "null"}, (method, path)
            assert "format" not in str(headers["Cagnotte-Merchant-Id"]["schema"])


def test_every_value_moving_post_requires_an_idempotency_key_and_documents_the_replay(
    document,
):
    found = set()
    for method, path, operation in operations(document):
        keys = [p for p in operation.get("parameters", []) if p["name"] == "Idempotency-Key"]
        if not keys:
            continue
        found.add((method, path))
        assert keys[0]["required"] is True, (method, path)
        success = [r for s, r in operation["responses"].items() if s.startswith("2")]
        assert all("Idempotent-Replayed" in r.get("headers", {}) for r in success), path
    assert found == VALUE_MOVING


def test_a_value_moving_post_without_an_idempotency_key_is_refused_and_moves_nothing(
    client, merchant
):
    customer = enrol(client, merchant)
    assert top_up(client, merchant, customer["id"], 5_000).status_code == 201
    refused = client.post(
        "/v1/payments",
        json={"customer_id": customer["id"], "asset": "CZK", "amount_minor": 1_000},
        headers=merchant.register,
    )
    assert refused.status_code == 400
    assert refused.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert refused.json()["code"] == "idempotency_key_required"
    accounts = client.get(
        f"/v1/customers/{customer['id']}/accounts", headers=merchant.register
    ).json()["items"]
    assert [a["balance"]["available_minor"] for a in accounts] == [5_000]


def test_the_operator_names_a_merchant_by_its_id_as_text(client, merchant, operator_key):
    acting = client.get(
        "/v1/stores", headers={**bearer(operator_key), "Cagnotte-Merchant-Id": merchant.id}
    )
    assert acting.status_code == 200, acting.text
    assert [s["id"] for s in acting.json()["items"]] == [merchant.store_id]
    malformed = client.get(
        "/v1/stores", headers={**bearer(operator_key), "Cagnotte-Merchant-Id": "not-a-merchant"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["code"] == "invalid_input"
    unknown = client.get(
        "/v1/stores",
        headers={**bearer(operator_key), "Cagnotte-Merchant-Id": str(uuid.uuid4())},
    )
    assert unknown.status_code == 404
