"""Schemathesis over the whole OpenAPI: no 500s, and every answer is documented.

Each test loads the schema from the ASGI app over a fresh database (SQLite and
PostgreSQL) and generates a few examples per operation, called with a real
merchant owner key or, separately, the operator key. An identifier that is a
valid UUID is pointed at a real object (the customer, its wallet, a payment, a
gift card …) so that the examples reach the code behind the 404, not only the
404 itself. The owner's run adds schemathesis' coverage phase (boundary values,
wrong types, missing fields); the operator's run only fuzzes, to stay quick.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from cagnotte.api.app import create_app
from tests.e2e.api.conftest import bearer, enrol, top_up

EXAMPLES_PER_OPERATION = 15
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
MERCHANT_HEADER = "Cagnotte-Merchant-Id"
BATCH_CARDS_MAX = 5_000
BATCH_CARDS_FUZZED_MAX = 20


@dataclass
class Targets:
    """Real objects of one merchant that generated identifiers are pointed at."""

    merchant_id: str
    ids: dict[str, str]

    def aim(self, case: Any, *, merchant_header: str | None) -> None:
        """Swap every well-formed id in the case for a real one; leave malformed ones."""
        for name, value in (case.path_parameters or {}).items():
            if name in self.ids and _is_uuid(value):
                case.path_parameters[name] = self.ids[name]
        if isinstance(case.body, dict):
            for name in (
                "customer_id",
                "store_id",
                "program_id",
                "card_id",
                "category_id",
                "parent_id",
            ):
                if _is_uuid(case.body.get(name)):
                    case.body[name] = self.ids[name]
            # A batch hashes a PIN per card: thousands of cards take seconds by design.
            count = case.body.get("card_count")
            if type(count) is int and BATCH_CARDS_FUZZED_MAX < count <= BATCH_CARDS_MAX:
                case.body["card_count"] = BATCH_CARDS_FUZZED_MAX
        if case.headers and _is_uuid(case.headers.get(MERCHANT_HEADER)):
            if merchant_header is None:
                del case.headers[MERCHANT_HEADER]
            else:
                case.headers[MERCHANT_HEADER] = merchant_header


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


@pytest.fixture
def api_schema(services):
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(services))


@pytest.fixture
def fuzzing_schema(services):
    """The same schema without the coverage phase, for the second caller."""
    config = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(services), config=config)


@pytest.fixture
def targets(client, merchant, services) -> Targets:
    """A customer with a well-filled wallet and a payment, a store, a key to revoke,
    a gift card program with an active card and a spend, an alert rule, a reseller,
    a bonus campaign waiting for its funds, and a catalogue category with a product."""
    customer = enrol(client, merchant, email="fuzz@example.com")
    assert top_up(client, merchant, customer["id"], 10**12).status_code == 201
    payment = client.post(
        "/v1/payments",
        json={"customer_id": customer["id"], "asset": "CZK", "amount_minor": 10**9},
        headers={**merchant.register, "Idempotency-Key": "fuzz-payment"},
    ).json()
    spare_key = client.post(
        "/v1/api-keys", json={"name": "spare", "role": "cashier"}, headers=merchant.owner
    ).json()
    program = client.post(
        "/v1/gift-card-programs",
        headers=merchant.manager,
        json={
            "name": "Fuzz card",
            "asset": "CAD",
            "load_min_minor": 1,
            "load_max_minor": 10**9,
            "balance_max_minor": 10**12,
        },
    ).json()
    batch = client.post(
        f"/v1/gift-card-programs/{program['id']}/batches",
        json={"card_count": 3},
        headers=merchant.manager,
    ).json()
    export = client.post(f"/v1/gift-card-batches/{batch['id']}/export", headers=merchant.manager)
    card = next(csv.DictReader(io.StringIO(export.text)))
    client.post(
        "/v1/gift-cards/activations",
        headers={**merchant.register, "Idempotency-Key": "fuzz-activation"},
        json={"number": card["number"], "amount_minor": 10**6},
    )
    spend = client.post(
        "/v1/gift-cards/spends",
        headers={**merchant.register, "Idempotency-Key": "fuzz-spend"},
        json={"number": card["number"], "pin": card["pin"], "amount_minor": 1_000},
    ).json()
    rule = client.post(
        "/v1/gift-card-alert-rules",
        headers=merchant.manager,
        json={"kind": "large_load", "threshold_minor": 10**6},
    ).json()
    reseller = client.post(
        "/v1/gift-card-resellers",
        headers=merchant.owner,
        json={"name": "Fuzz Mall", "program_ids": [program["id"]]},
    ).json()
    now = services.clock.now()
    campaign = client.post(
        "/v1/bonus-campaigns",
        headers=merchant.owner,
        json={
            "name": "Fuzz bonus",
            "bonus_value_minor": 1_000,
            "code_count": 3,
            "valid_from": now.isoformat(),
            "valid_to": (now + timedelta(days=30)).isoformat(),
        },
    ).json()
    category = client.post(
        "/v1/catalogue/categories", json={"name": "Fuzz shelf"}, headers=merchant.manager
    ).json()
    product = client.post(
        "/v1/catalogue/products",
        headers=merchant.manager,
        json={
            "sku": "FUZZ-1",
            "name": "Fuzz",
            "unit_price_minor": 100,
            "currency": "CZK",
            "category_id": category["id"],
        },
    ).json()
    return Targets(
        merchant_id=merchant.id,
        ids={
            "customer_id": customer["id"],
            "account_id": payment["wallet_account_id"],
            "payment_id": payment["id"],
            "store_id": merchant.store_id,
            "merchant_id": merchant.id,
            "key_id": spare_key["id"],
            "program_id": program["id"],
            "batch_id": batch["id"],
            "card_id": card["card_id"],
            "operation_id": spend["id"],
            "rule_id": rule["id"],
            "reseller_id": reseller["id"],
            "campaign_id": campaign["id"],
            "category_id": category["id"],
            "parent_id": category["id"],
            "product_id": product["id"],
        },
    )


schema = schemathesis.pytest.from_fixture("api_schema")
fuzzing_only = schemathesis.pytest.from_fixture("fuzzing_schema")


@schema.parametrize()
@FUZZ_SETTINGS
def test_the_api_answers_a_merchant_owner_as_documented(case, targets, merchant):
    targets.aim(case, merchant_header=None)
    case.call_and_validate(headers=merchant.owner, checks=CHECKS)


@fuzzing_only.parametrize()
@FUZZ_SETTINGS
def test_the_api_answers_the_operator_as_documented(case, targets, operator_key):
    targets.aim(case, merchant_header=targets.merchant_id)
    case.call_and_validate(headers=bearer(operator_key), checks=CHECKS)
