"""Bad input gets a clear 4xx problem with a stable code, never a 500, and writes nothing.

Each test sets up one merchant with a customer whose wallet holds money and a
payment, then sends a family of bad requests. For every one the answer is an
RFC 9457 problem (application/problem+json) with the expected status and code,
and the rows of transfers, journal entries, memberships and the catalogue are as
before.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cagnotte.bootstrap import Services
from cagnotte.catalogue.tables import product_categories, products
from cagnotte.db.pages import CURSOR_LENGTH_MAX
from cagnotte.db.tables import journal_entries, memberships, transfers
from cagnotte.money import AMOUNT_MINOR_MAX
from tests.e2e.api.conftest import MerchantSetup, bearer, enrol, top_up

PROBLEM = "application/problem+json"
INVALID = (422, "validation_error")

BAD_AMOUNTS: list[Any] = [
    "100",
    "1e3",
    "",
    10.5,
    10.0,
    1e3,
    True,
    False,
    None,
    [100],
    {"minor": 100},
    -1,
    0,
    -(2**63),
    2**63,
    2**64,
    10**30,
]
MALFORMED_UUIDS: list[Any] = [
    "not-a-uuid",
    "",
    "00000000-0000-0000-0000-00000000000g",
    "1234",
    1234,
    None,
    True,
    str(uuid.uuid4()) + "0",
    "' OR 1=1 --",
]
BAD_PHONES = [
    "abc",
    "123",
    "+420 000 000 000",
    "+999 123 456 789",
    "+42060112345678901234",
    "☎☎☎☎☎☎",
    "601 12",
    "+420 601 123 45a",
]


@pytest.fixture
def shop(client: TestClient, merchant: MerchantSetup) -> dict[str, str]:
    """A customer with 1 000 on the wallet and a payment of 300 from it."""
    customer = enrol(client, merchant)
    assert top_up(client, merchant, customer["id"], 1_000).status_code == 201
    payment = client.post(
        "/v1/payments",
        json={"customer_id": customer["id"], "asset": "CZK", "amount_minor": 300},
        headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert payment.status_code == 201
    return {
        "customer_id": customer["id"],
        "payment_id": payment.json()["id"],
        "account_id": payment.json()["wallet_account_id"],
    }


def written_rows(services: Services) -> dict[str, int]:
    with services.database.read() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (transfers, journal_entries, memberships, products, product_categories)
        }


def assert_refused(response, expected: tuple[int, str]) -> None:
    status, code = expected
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body = response.json()
    assert body["code"] == code and body["status"] == status, body
    assert body["type"].startswith("https://") and body["title"], body


def keyed(request: dict) -> dict:
    """The request with an Idempotency-Key, unless it names one: every value-moving POST
    requires one, and these tests are about what the body holds."""
    headers = {"Idempotency-Key": str(uuid.uuid4()), **request.get("headers", {})}
    return {**request, "headers": headers}


def refuse_all(client, services, subtests, requests, expected=INVALID) -> None:
    """Send each request; each is refused with `expected` and writes nothing."""
    for label, request in requests:
        with subtests.test(case=label):
            before = written_rows(services)
            assert_refused(client.request(**keyed(request)), expected)
            assert written_rows(services) == before


def wallet_balance(client, merchant, customer_id) -> int:
    accounts = client.get(f"/v1/customers/{customer_id}/accounts", headers=merchant.owner).json()[
        "items"
    ]
    return next(a["balance"]["balance_minor"] for a in accounts if a["purpose"] == "wallet")


def value_moving_bodies(shop: dict[str, str]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """A valid body for each route that moves value, and the key to send it with."""
    movement = {"customer_id": shop["customer_id"], "asset": "CZK", "amount_minor": 100}
    return {
        "top-up": ("/v1/wallet/top-ups", "register", movement),
        "payment": ("/v1/payments", "register", movement),
        "refund": (f"/v1/payments/{shop['payment_id']}/refunds", "register", {"amount_minor": 100}),
        "adjustment": (
            "/v1/adjustments",
            "manager",
            {**movement, "direction": "credit", "reason": "a valid reason"},
        ),
    }


# Amounts -------------------------------------------------------------------------


def test_an_amount_that_is_not_a_positive_64_bit_integer_is_refused(
    client, services, merchant, shop, subtests
):
    requests = []
    for route, (path, caller, body) in value_moving_bodies(shop).items():
        for amount in BAD_AMOUNTS:
            if route == "refund" and amount is None:
                continue  # No amount on a refund means: the whole rest.
            requests.append(
                (
                    f"{route} amount_minor={amount!r}",
                    {
                        "method": "POST",
                        "url": path,
                        "json": {**body, "amount_minor": amount},
                        "headers": getattr(merchant, caller),
                    },
                )
            )
        if route != "refund":
            requests.append(
                (
                    f"{route} without amount_minor",
                    {
                        "method": "POST",
                        "url": path,
                        "json": {k: v for k, v in body.items() if k != "amount_minor"},
                        "headers": getattr(merchant, caller),
                    },
                )
            )
    refuse_all(client, services, subtests, requests)
    assert wallet_balance(client, merchant, shop["customer_id"]) == 700


def test_an_amount_written_as_a_huge_json_number_is_refused(
    client, services, merchant, shop, subtests
):
    movement = f'"customer_id": "{shop["customer_id"]}", "asset": "CZK"'
    requests = [
        (
            f"amount {text}",
            {
                "method": "POST",
                "url": "/v1/payments",
                "content": f'{{{movement}, "amount_minor": {text}}}'.encode(),
                "headers": {**merchant.register, "Content-Type": "application/json"},
            },
        )
        for text in (
            "9223372036854775808",
            "1" + "0" * 400,
            "1e400",
            "-0",
            "NaN",
            "Infinity",
            "0x10",
            "1_000",
        )
    ]
    refuse_all(client, services, subtests, requests)


def test_a_credit_that_would_overflow_a_balance_is_refused(client, services, merchant):
    customer = enrol(client, merchant, "+420603000111")
    first = top_up(client, merchant, customer["id"], AMOUNT_MINOR_MAX)
    assert first.status_code == 201, first.text
    assert first.json()["wallet_balance_minor"] == AMOUNT_MINOR_MAX
    before = written_rows(services)
    assert_refused(
        top_up(client, merchant, customer["id"], AMOUNT_MINOR_MAX), (422, "amount_overflow")
    )
    assert_refused(top_up(client, merchant, customer["id"], 1), (422, "amount_overflow"))
    assert written_rows(services) == before
    assert wallet_balance(client, merchant, customer["id"]) == AMOUNT_MINOR_MAX


def test_the_largest_amounts_are_refused_by_the_rules_not_by_a_crash(
    client, services, merchant, shop, subtests
):
    payment = {"customer_id": shop["customer_id"], "asset": "CZK", "amount_minor": AMOUNT_MINOR_MAX}
    refuse_all(
        client,
        services,
        subtests,
        [
            (
                "payment of 2**63-1",
                {
                    "method": "POST",
                    "url": "/v1/payments",
                    "json": payment,
                    "headers": merchant.register,
                },
            ),
            (
                "adjustment debit of 2**63-1",
                {
                    "method": "POST",
                    "url": "/v1/adjustments",
                    "json": {**payment, "direction": "debit", "reason": "too much"},
                    "headers": merchant.manager,
                },
            ),
        ],
        expected=(422, "insufficient_funds"),
    )
    refuse_all(
        client,
        services,
        subtests,
        [
            (
                "refund of 2**63-1",
                {
                    "method": "POST",
                    "url": f"/v1/payments/{shop['payment_id']}/refunds",
                    "json": {"amount_minor": AMOUNT_MINOR_MAX},
                    "headers": merchant.register,
                },
            ),
        ],
        expected=(422, "reversal_exceeds_transfer"),
    )


def test_the_longest_values_the_api_accepts_fit_the_database(client, operator_key, merchant):
    """Each limit of the API is within its column (PostgreSQL refuses what is longer)."""
    longest = "L" * 200
    merchant_made = client.post(
        "/v1/merchants", json={"name": longest}, headers=bearer(operator_key)
    )
    assert merchant_made.status_code == 201, merchant_made.text
    created = [
        client.post(
            "/v1/stores", json={"name": longest, "address": "A" * 500}, headers=merchant.owner
        ),
        client.post(
            "/v1/terminals",
            json={"store_id": merchant.store_id, "kind": "kiosk", "name": longest},
            headers=merchant.owner,
        ),
        client.post(
            "/v1/assets",
            json={"code": "L" * 24, "scale": 8, "name": "N" * 100},
            headers=merchant.owner,
        ),
        client.post(
            "/v1/staff",
            json={"email": "longest@example.com", "name": longest, "role": "cashier"},
            headers=merchant.owner,
        ),
        client.post(
            "/v1/api-keys", json={"name": longest, "role": "cashier"}, headers=merchant.owner
        ),
        client.post(
            "/v1/customers",
            headers=merchant.owner,
            json={
                "phone": "+420731000111",
                "first_name": "F" * 100,
                "last_name": "L" * 100,
                "address": "A" * 500,
                "email": "e" * 64 + "@example.com",
            },
        ),
    ]
    for response in created:
        assert response.status_code == 201, response.text
    customer_id = created[-1].json()["id"]
    for path, key, body in (
        (
            "/v1/wallet/top-ups",
            "t" * 150,
            {
                "customer_id": customer_id,
                "asset": "CZK",
                "amount_minor": 1_000,
                "reference": "R" * 200,
            },
        ),
        (
            "/v1/payments",
            "p" * 150,
            {
                "customer_id": customer_id,
                "asset": "CZK",
                "amount_minor": 10,
                "reference": "R" * 200,
            },
        ),
    ):
        response = client.post(
            path, json=body, headers={**merchant.register, "Idempotency-Key": key}
        )
        assert response.status_code == 201, response.text
    # The operator's bank payment derives its ledger key from the client's.
    bank = client.post(
        "/v1/bank-payments",
        json={"asset": "CZK", "amount_minor": 1},
        headers={**bearer(operator_key), "Idempotency-Key": "b" * 150},
    )
    assert bank.status_code == 201, bank.text


def test_a_gift_card_program_change_must_name_a_control_and_keep_its_settings(
    client, services, merchant, subtests
):
    program = client.post(
        "/v1/gift-card-programs",
        headers=merchant.manager,
        json={
            "name": "Card",
            "asset": "CAD",
            "load_min_minor": 500,
            "load_max_minor": 50_000,
            "balance_max_minor": 100_000,
        },
    ).json()
    path = f"/v1/gift-card-programs/{program['id']}"
    refuse_all(
        client,
        services,
        subtests,
        [
            (
                f"PATCH {body}",
                {"method": "PATCH", "url": path, "json": body, "headers": merchant.manager},
            )
            for body in (
                {},
                {"reloadable": None},
                {"invoice_required": None},
                {"balance_max_minor": None},
                {"pin_attempts_max": None},
            )
        ],
    )
    lifted = client.patch(
        path, json={"expiry_months": None, "reloadable": False}, headers=merchant.manager
    )
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["reloadable"] is False and lifted.json()["expiry_months"] is None


# Assets and identifiers ------------------------------------------------------------


def test_an_unknown_or_malformed_asset_is_refused(client, services, merchant, shop, subtests):
    requests = []
    for route, (path, caller, body) in value_moving_bodies(shop).items():
        if route == "refund":
            continue
        requests.append(
            (
                f"{route} asset=NOPE",
                {
                    "method": "POST",
                    "url": path,
                    "json": {**body, "asset": "NOPE"},
                    "headers": getattr(merchant, caller),
                },
            )
        )
    refuse_all(client, services, subtests, requests, expected=(422, "asset_not_found"))
    malformed = []
    for asset in ("czk", "", "C", "CZK ", "C" * 25, 203, None, ["CZK"], "CZK\u0000"):
        malformed.append(
            (
                f"payment asset={asset!r}",
                {
                    "method": "POST",
                    "url": "/v1/payments",
                    "json": {"customer_id": shop["customer_id"], "asset": asset, "amount_minor": 1},
                    "headers": merchant.register,
                },
            )
        )
    refuse_all(client, services, subtests, malformed)


def test_a_malformed_identifier_is_refused(client, services, merchant, shop, subtests):
    requests = []
    for route, (path, caller, body) in value_moving_bodies(shop).items():
        if route == "refund":
            continue
        for bad in MALFORMED_UUIDS:
            requests.append(
                (
                    f"{route} customer_id={bad!r}",
                    {
                        "method": "POST",
                        "url": path,
                        "json": {**body, "customer_id": bad},
                        "headers": getattr(merchant, caller),
                    },
                )
            )
    for bad in ("not-a-uuid", "1234", "00000000-0000-0000-0000-00000000000g", "%00", "%27--"):
        for method, template in (
            ("GET", "/v1/customers/{}"),
            ("PATCH", "/v1/customers/{}"),
            ("GET", "/v1/accounts/{}"),
            ("GET", "/v1/accounts/{}/transfers"),
            ("GET", "/v1/payments/{}"),
            ("POST", "/v1/payments/{}/refunds"),
            ("GET", "/v1/stores/{}"),
            ("GET", "/v1/merchants/{}"),
            ("POST", "/v1/api-keys/{}/revoke"),
        ):
            requests.append(
                (
                    f"{method} {template.format(bad)}",
                    {
                        "method": method,
                        "url": template.format(bad),
                        "json": {},
                        "headers": merchant.owner,
                    },
                )
            )
    requests.append(
        (
            "terminal store_id=1",
            {
                "method": "POST",
                "url": "/v1/terminals",
                "headers": merchant.owner,
                "json": {"store_id": 1, "kind": "register", "name": "Till"},
            },
        )
    )
    refuse_all(client, services, subtests, requests)


def test_an_identifier_that_names_nothing_is_not_found(client, services, merchant, shop, subtests):
    nobody = str(uuid.uuid4())
    requests = [
        (
            f"{route} for nobody",
            {
                "method": "POST",
                "url": path,
                "json": {**body, "customer_id": nobody},
                "headers": getattr(merchant, caller),
            },
        )
        for route, (path, caller, body) in value_moving_bodies(shop).items()
        if route != "refund"
    ]
    requests.append(
        (
            "refund of no payment",
            {
                "method": "POST",
                "url": f"/v1/payments/{nobody}/refunds",
                "json": {},
                "headers": merchant.register,
            },
        )
    )
    # A top-up is a journal entry, not a payment.
    top_up_id = top_up(client, merchant, shop["customer_id"], 5).json()["id"]
    requests.append(
        (
            "refund of a top-up",
            {
                "method": "POST",
                "url": f"/v1/payments/{top_up_id}/refunds",
                "json": {},
                "headers": merchant.register,
            },
        )
    )
    refuse_all(client, services, subtests, requests, expected=(404, "not_found"))


# Bodies ----------------------------------------------------------------------------


def test_unknown_fields_are_refused(client, services, merchant, shop, subtests):
    requests = [
        (
            f"{route} with an unknown field",
            {
                "method": "POST",
                "url": path,
                "json": {**body, "amount_major": 1},
                "headers": getattr(merchant, caller),
            },
        )
        for route, (path, caller, body) in value_moving_bodies(shop).items()
    ]
    for method, path, body in (
        ("POST", "/v1/customers", {"phone": "+420604000111", "vip": True}),
        ("PATCH", f"/v1/customers/{shop['customer_id']}", {"status": "blocked"}),
        ("PATCH", f"/v1/customers/{shop['customer_id']}", {"phone": "+420604000112"}),
        ("POST", "/v1/stores", {"name": "Store", "merchant_id": str(uuid.uuid4())}),
        ("POST", "/v1/api-keys", {"name": "k", "role": "cashier", "secret": "mine"}),
    ):
        requests.append(
            (
                f"{method} {path} {sorted(body)}",
                {"method": method, "url": path, "json": body, "headers": merchant.owner},
            )
        )
    refuse_all(client, services, subtests, requests)
    assert (
        client.get(f"/v1/customers/{shop['customer_id']}", headers=merchant.owner).json()["status"]
        == "active"
    )


def test_wrong_types_and_nulls_in_bodies_are_refused(client, services, merchant, shop, subtests):
    customer = f"/v1/customers/{shop['customer_id']}"
    cases = [
        ("POST", "/v1/customers", {"phone": 420601123456}),
        ("POST", "/v1/customers", {"phone": ["+420601123456"]}),
        ("POST", "/v1/customers", {"phone": "+420605000111", "accept_terms": "maybe"}),
        ("POST", "/v1/customers", {"phone": "+420605000112", "birth_date": "31/12/1990"}),
        ("POST", "/v1/customers", {"phone": "+420605000113", "birth_date": "1990-02-30"}),
        ("POST", "/v1/customers", {"phone": "+420605000114", "email": "not an e-mail"}),
        ("POST", "/v1/customers", {"phone": "+420605000115", "first_name": 7}),
        ("PATCH", customer, {"consent_marketing_email": None}),
        ("PATCH", customer, {"consent_marketing_sms": "nope"}),
        ("PATCH", customer, {"birth_date": 19900101}),
        ("POST", f"{customer}/status", {"status": None}),
        ("POST", f"{customer}/status", {"status": "deleted"}),
        ("POST", "/v1/stores", {"name": None}),
        ("POST", "/v1/stores", {"name": "   "}),
        ("POST", "/v1/assets", {"code": "PTS", "scale": "0", "name": "Points"}),
        ("POST", "/v1/assets", {"code": "PTS", "scale": 1.0, "name": "Points"}),
        ("POST", "/v1/assets", {"code": "PTS", "scale": 9, "name": "Points"}),
        ("POST", "/v1/assets", {"code": "PTS", "scale": -1, "name": "Points"}),
        ("POST", "/v1/staff", {"email": "s@example.com", "name": "S", "role": "admin"}),
        (
            "POST",
            "/v1/staff",
            {"email": "s@example.com", "name": "S", "role": "cashier", "password": "short"},
        ),
        ("POST", "/v1/api-keys", {"name": "k", "role": "operator"}),
        ("POST", "/v1/terminals", {"store_id": str(uuid.uuid4()), "kind": "atm", "name": "T"}),
        (
            "POST",
            "/v1/adjustments",
            {
                "customer_id": shop["customer_id"],
                "asset": "CZK",
                "amount_minor": 1,
                "direction": "sideways",
                "reason": "because",
            },
        ),
        (
            "POST",
            "/v1/adjustments",
            {
                "customer_id": shop["customer_id"],
                "asset": "CZK",
                "amount_minor": 1,
                "direction": "credit",
                "reason": "  ",
            },
        ),
        (
            "POST",
            "/v1/payments",
            {
                "customer_id": shop["customer_id"],
                "asset": "CZK",
                "amount_minor": 1,
                "reference": 12345,
            },
        ),
    ]
    refuse_all(
        client,
        services,
        subtests,
        [
            (
                f"{method} {path} {body}",
                {"method": method, "url": path, "json": body, "headers": merchant.owner},
            )
            for method, path, body in cases
        ],
    )


def test_huge_strings_are_refused(client, services, merchant, shop, subtests):
    huge = "x" * 100_000
    movement = {"customer_id": shop["customer_id"], "asset": "CZK", "amount_minor": 1}
    cases = [
        ("/v1/payments", {**movement, "reference": huge}),
        ("/v1/payments", {**movement, "asset": "C" * 10_000}),
        ("/v1/adjustments", {**movement, "direction": "credit", "reason": huge}),
        ("/v1/customers", {"phone": "1" * 10_000}),
        ("/v1/customers", {"phone": "+420606000111", "first_name": huge}),
        ("/v1/customers", {"phone": "+420606000112", "address": huge}),
        ("/v1/customers", {"email": "a" * 10_000 + "@example.com"}),
        ("/v1/stores", {"name": huge}),
        ("/v1/stores", {"name": "Store", "address": huge}),
        ("/v1/assets", {"code": "BIG", "scale": 0, "name": "n" * 101}),
        ("/v1/staff", {"email": "big@example.com", "name": huge, "role": "cashier"}),
        ("/v1/terminals", {"store_id": merchant.store_id, "kind": "kiosk", "name": huge}),
    ]
    requests = [
        (
            f"{path} {sorted(k for k, v in body.items() if len(str(v)) > 100)}",
            {
                "method": "POST",
                "url": path,
                "json": body,
                "headers": merchant.manager if path == "/v1/adjustments" else merchant.owner,
            },
        )
        for path, body in cases
    ]
    requests.append(
        (
            "search by a huge name",
            {
                "method": "GET",
                "url": "/v1/customers",
                "params": {"name": "n" * 101},
                "headers": merchant.owner,
            },
        )
    )
    requests.append(
        (
            "an Idempotency-Key of 151 characters",
            {
                "method": "POST",
                "url": "/v1/payments",
                "json": movement,
                "headers": {**merchant.register, "Idempotency-Key": "k" * 151},
            },
        )
    )
    requests.append(
        (
            f"a cursor of {CURSOR_LENGTH_MAX + 1} characters",
            {
                "method": "GET",
                "url": f"/v1/accounts/{shop['account_id']}/transfers",
                "params": {"cursor": "c" * (CURSOR_LENGTH_MAX + 1)},
                "headers": merchant.owner,
            },
        )
    )
    refuse_all(client, services, subtests, requests)


def test_text_with_a_nul_character_is_refused(client, services, merchant, shop, subtests):
    movement = {"customer_id": shop["customer_id"], "asset": "CZK", "amount_minor": 1}
    cases = [
        ("/v1/payments", {**movement, "reference": "R-\u00001"}),
        ("/v1/customers", {"phone": "+420607000111", "first_name": "Nu\u0000ll"}),
        ("/v1/stores", {"name": "Store\u0000"}),
        ("/v1/assets", {"code": "NUL", "scale": 0, "name": "\u0000"}),
        ("/v1/staff", {"email": "nul@example.com", "name": "N\u0000", "role": "cashier"}),
        ("/v1/merchants", {"name": "Merchant\u0000"}),
    ]
    requests = [
        (f"{path} {body}", {"method": "POST", "url": path, "json": body, "headers": merchant.owner})
        for path, body in cases
    ]
    requests.append(
        (
            "PATCH a last name",
            {
                "method": "PATCH",
                "url": f"/v1/customers/{shop['customer_id']}",
                "json": {"last_name": "\u0000"},
                "headers": merchant.owner,
            },
        )
    )
    requests.append(
        (
            "search",
            {
                "method": "GET",
                "url": "/v1/customers",
                "params": {"name": "a\u0000"},
                "headers": merchant.owner,
            },
        )
    )
    requests.append(
        (
            "a lone surrogate",
            {
                "method": "POST",
                "url": "/v1/stores",
                "content": b'{"name": "a\\ud800"}',
                "headers": {**merchant.owner, "Content-Type": "application/json"},
            },
        )
    )
    refuse_all(client, services, subtests, requests)


def test_a_body_that_is_not_json_or_not_an_object_is_refused(
    client, services, merchant, shop, subtests
):
    requests = []
    for route, (path, caller, body) in value_moving_bodies(shop).items():
        headers = getattr(merchant, caller)
        for label, content in (
            ("truncated JSON", b'{"amount_minor": 1'),
            ("a trailing comma", b'{"amount_minor": 1,}'),
            ("an empty body", b""),
            ("null", b"null"),
            ("a list", b"[]"),
            ("a string", b'"x"'),
            ("a number", b"100"),
            ("single quotes", b"{'amount_minor': 1}"),
        ):
            if route == "refund" and content == b"":
                continue  # An empty refund body is no body: refused below as not JSON.
            requests.append(
                (
                    f"{route}: {label}",
                    {
                        "method": "POST",
                        "url": path,
                        "content": content,
                        "headers": {**headers, "Content-Type": "application/json"},
                    },
                )
            )
        for content_type in (
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/xml",
        ):
            requests.append(
                (
                    f"{route}: sent as {content_type}",
                    {
                        "method": "POST",
                        "url": path,
                        "content": str(body).encode(),
                        "headers": {**headers, "Content-Type": content_type},
                    },
                )
            )
    refuse_all(client, services, subtests, requests)
    undecodable = [
        (
            f"{route}: bytes that are not UTF-8",
            {
                "method": "POST",
                "url": path,
                "content": b'{"amount_minor": "\xff\xfe\xcd"}',
                "headers": {**getattr(merchant, caller), "Content-Type": "application/json"},
            },
        )
        for route, (path, caller, _body) in value_moving_bodies(shop).items()
    ]
    for label, request in undecodable:
        with subtests.test(case=label):
            before = written_rows(services)
            response = client.request(**keyed(request))
            assert response.status_code in (400, 422), response.text
            assert response.headers["content-type"].startswith(PROBLEM)
            assert response.json()["code"] in ("malformed_body", "validation_error")
            assert written_rows(services) == before


def test_an_invalid_phone_number_is_refused(client, services, merchant, subtests):
    requests = []
    for phone in BAD_PHONES:
        requests.append(
            (
                f"enrol {phone!r}",
                {
                    "method": "POST",
                    "url": "/v1/customers",
                    "json": {"phone": phone},
                    "headers": merchant.register,
                },
            )
        )
    too_short_or_long = [
        (
            f"enrol {p!r}",
            {
                "method": "POST",
                "url": "/v1/customers",
                "json": {"phone": p},
                "headers": merchant.register,
            },
        )
        for p in ("", "12", "+1", "+" + "4" * 40, "\u0000" * 5)
    ]
    refuse_all(client, services, subtests, requests, expected=(422, "invalid_phone"))
    refuse_all(client, services, subtests, too_short_or_long)
    refuse_all(
        client,
        services,
        subtests,
        [
            (
                "enrol with neither phone nor e-mail",
                {
                    "method": "POST",
                    "url": "/v1/customers",
                    "json": {"first_name": "Nobody"},
                    "headers": merchant.register,
                },
            ),
            (
                "enrol with a null phone and e-mail",
                {
                    "method": "POST",
                    "url": "/v1/customers",
                    "json": {"phone": None, "email": None},
                    "headers": merchant.register,
                },
            ),
            (
                "search by a phone without digits",
                {
                    "method": "GET",
                    "url": "/v1/customers",
                    "params": {"phone": "abc"},
                    "headers": merchant.register,
                },
            ),
        ],
        expected=(422, "invalid_input"),
    )


# Pagination --------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _json(values: list) -> str:
    return _b64(json.dumps(values).encode())


def test_an_invalid_pagination_cursor_is_refused(
    client, services, merchant, shop, subtests, mailer
):
    some_id = str(uuid.uuid4())
    moment = "2026-01-05T09:00:00+00:00"
    cursors = [
        "!!!",
        "not base64 at all",
        "a",
        _b64(b"no JSON"),
        _b64(b'"a string"'),
        _b64(b'{"transfers": 1}'),
        _b64(b"[]"),
        _json(["transfers", "2026-01-05T09:00:00", some_id]),  # naive: no time zone
        _json(["transfers", "yesterday", some_id]),
        _json(["transfers", moment, "not-a-uuid"]),
        _json(["transfers", moment, some_id, "extra"]),
        _json(["transfers", 1767603600, some_id]),
        _json(["transfers", moment, None]),
        _json(["checks", moment, some_id]),  # another list's cursor
        _b64(b"\xff\xfe|\x00"),
        _json(["transfers", "0001-01-01T00:00:00+14:00", some_id]),  # before year 1 in UTC
        _json(["transfers", "9999-12-31T23:59:59-14:00", some_id]),  # after year 9999 in UTC
    ]
    url = f"/v1/accounts/{shop['account_id']}/transfers"
    refuse_all(
        client,
        services,
        subtests,
        [
            (
                f"cursor {cursor!r}",
                {
                    "method": "GET",
                    "url": url,
                    "params": {"cursor": cursor},
                    "headers": merchant.owner,
                },
            )
            for cursor in cursors
        ],
        expected=(400, "invalid_cursor"),
    )
    refuse_all(
        client,
        services,
        subtests,
        [
            (
                f"limit {limit!r}",
                {
                    "method": "GET",
                    "url": url,
                    "params": {"limit": limit},
                    "headers": merchant.owner,
                },
            )
            for limit in (0, -1, 201, "ten", 1.5, 2**64)
        ]
        + [
            (
                f"customer search limit {limit!r}",
                {
                    "method": "GET",
                    "url": "/v1/customers",
                    "params": {"limit": limit},
                    "headers": merchant.owner,
                },
            )
            for limit in (0, 201, "all")
        ],
    )
    # A good cursor still pages.
    first = client.get(url, params={"limit": 1}, headers=merchant.owner).json()
    second = client.get(
        url, params={"limit": 1, "cursor": first["next_cursor"]}, headers=merchant.owner
    ).json()
    assert len(first["items"]) == len(second["items"]) == 1
    assert first["items"][0]["id"] != second["items"][0]["id"]


def test_a_customer_with_an_invalid_cursor_is_refused(client, services, merchant, mailer):
    enrol(client, merchant, "+420608000111", email="carla@example.com")
    customer = client.get(
        "/v1/customers", params={"phone": "608000111"}, headers=merchant.owner
    ).json()["items"][0]
    account = top_up(client, merchant, customer["id"], 10).json()["wallet_account_id"]
    client.post("/v1/customer-sign-in/codes", json={"email": "carla@example.com"})
    code = mailer.sent[-1].get_content().split("code is ")[1][:6]
    token = client.post(
        "/v1/customer-sign-in/sessions", json={"email": "carla@example.com", "code": code}
    ).json()["token"]
    response = client.get(
        f"/v1/me/accounts/{account}/transfers",
        params={"cursor": "!!!"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_refused(response, (400, "invalid_cursor"))


# Customer sign-in ---------------------------------------------------------------------


def test_bad_sign_in_requests_are_refused(client, services, subtests):
    refuse_all(
        client,
        services,
        subtests,
        [
            (f"codes {body}", {"method": "POST", "url": "/v1/customer-sign-in/codes", "json": body})
            for body in (
                {},
                {"email": "nope"},
                {"email": None},
                {"email": "a@b.c", "extra": 1},
                {"email": "x" * 400 + "@example.com"},
            )
        ]
        + [
            (
                f"sessions {body}",
                {"method": "POST", "url": "/v1/customer-sign-in/sessions", "json": body},
            )
            for body in (
                {"email": "a@example.com"},
                {"email": "a@example.com", "code": "1"},
                {"email": "a@example.com", "code": 123456},
                {"email": "a@example.com", "code": "1" * 13},
            )
        ],
    )
    refuse_all(
        client,
        services,
        subtests,
        [
            (
                "a code for nobody",
                {
                    "method": "POST",
                    "url": "/v1/customer-sign-in/sessions",
                    "json": {"email": "nobody@example.com", "code": "123456"},
                },
            ),
        ],
        expected=(401, "one_time_code_invalid"),
    )


# The catalogue ---------------------------------------------------------------------


def test_bad_catalogue_bodies_and_identifiers_are_refused(client, services, merchant, subtests):
    shelf = client.post(
        "/v1/catalogue/categories", json={"name": "Shelf"}, headers=merchant.manager
    ).json()
    product = client.post(
        "/v1/catalogue/products",
        headers=merchant.manager,
        json={"sku": "ESP-1", "name": "Espresso", "unit_price_minor": 250, "currency": "CZK"},
    ).json()
    good = {"sku": "NEW-1", "name": "New", "unit_price_minor": 100, "currency": "CZK"}
    huge = "x" * 100_000
    cases = [
        ("POST", "/v1/catalogue/products", {**good, "price": 1}),
        ("POST", "/v1/catalogue/products", {**good, "merchant_id": str(uuid.uuid4())}),
        ("POST", "/v1/catalogue/products", {k: v for k, v in good.items() if k != "currency"}),
        ("POST", "/v1/catalogue/products", {**good, "sku": None}),
        ("POST", "/v1/catalogue/products", {**good, "sku": "   "}),
        ("POST", "/v1/catalogue/products", {**good, "sku": "S" * 65}),
        ("POST", "/v1/catalogue/products", {**good, "sku": "S\u0000"}),
        ("POST", "/v1/catalogue/products", {**good, "name": huge}),
        ("POST", "/v1/catalogue/products", {**good, "unit_price_minor": "100"}),
        ("POST", "/v1/catalogue/products", {**good, "unit_price_minor": 2**63}),
        ("POST", "/v1/catalogue/products", {**good, "currency": "C" * 25}),
        ("POST", "/v1/catalogue/products", {**good, "members_only": "true"}),
        ("POST", "/v1/catalogue/products", {**good, "tax_free": 1}),
        ("POST", "/v1/catalogue/products", {**good, "category_id": "shelf"}),
        ("PATCH", f"/v1/catalogue/products/{product['id']}", {"sku": "ESP-2"}),
        ("PATCH", f"/v1/catalogue/products/{product['id']}", {"active": None}),
        ("PATCH", f"/v1/catalogue/products/{product['id']}", {"name": "N\u0000"}),
        ("POST", "/v1/catalogue/categories", {"name": "Hot/Cold"}),
        ("POST", "/v1/catalogue/categories", {"name": "C" * 101}),
        ("POST", "/v1/catalogue/categories", {"name": "Shelf", "parent_id": 7}),
        ("POST", "/v1/catalogue/categories", {"name": "\u0000"}),
        ("PATCH", f"/v1/catalogue/categories/{shelf['id']}", {}),
        ("PATCH", f"/v1/catalogue/categories/{shelf['id']}", {"name": None}),
        ("PATCH", f"/v1/catalogue/categories/{shelf['id']}", {"parent": None}),
    ]
    requests = [
        (
            f"{method} {path} {str(body)[:80]}",
            {"method": method, "url": path, "json": body, "headers": merchant.manager},
        )
        for method, path, body in cases
    ]
    for bad in ("not-a-uuid", "1234", "%00", "%27--"):
        for method, template in (
            ("GET", "/v1/catalogue/products/{}"),
            ("PATCH", "/v1/catalogue/products/{}"),
            ("PATCH", "/v1/catalogue/categories/{}"),
        ):
            requests.append(
                (
                    f"{method} {template.format(bad)}",
                    {
                        "method": method,
                        "url": template.format(bad),
                        "json": {"name": "X"},
                        "headers": merchant.manager,
                    },
                )
            )
    requests.append(
        (
            "a list with a huge search",
            {
                "method": "GET",
                "url": "/v1/catalogue/products",
                "params": {"q": "q" * 101},
                "headers": merchant.register,
            },
        )
    )
    refuse_all(client, services, subtests, requests)
    refuse_all(
        client,
        services,
        subtests,
        [
            (
                "a product for no category",
                {
                    "method": "POST",
                    "url": "/v1/catalogue/products",
                    "headers": merchant.manager,
                    "json": {**good, "category_id": str(uuid.uuid4())},
                },
            ),
            (
                "a change of no product",
                {
                    "method": "PATCH",
                    "url": f"/v1/catalogue/products/{uuid.uuid4()}",
                    "headers": merchant.manager,
                    "json": {"active": False},
                },
            ),
        ],
        expected=(404, "not_found"),
    )
    refuse_all(
        client,
        services,
        subtests,
        [
            (
                "an import sent as JSON",
                {
                    "method": "POST",
                    "url": "/v1/catalogue/imports",
                    "json": {"file": "sku,name"},
                    "headers": merchant.manager,
                },
            ),
        ],
        expected=(415, "import_format_unsupported"),
    )
