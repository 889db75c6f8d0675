"""Page fixtures: the API fixtures (services over sqlite and postgresql, a merchant),
plus staff members, customers with money, and signing in as a browser would."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.e2e.api.conftest import (  # noqa: F401  (fixtures, made visible to these tests)
    MerchantSetup,
    RecordingMailer,
    client,
    enrol,
    mailer,
    make_merchant,
    merchant,
    operator_key,
    other_merchant,
    server_url,
    services,
    top_up,
)

STAFF_PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_CODE = re.compile(r"code is (\d{6})")


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def code_from(mailer: RecordingMailer, email: str) -> str:
    """The sign-in code of the newest message sent to this address."""
    for message in reversed(mailer.sent):
        if message["To"] == email:
            match = _CODE.search(message.get_content())
            assert match, message.get_content()
            return match.group(1)
    raise AssertionError(f"no mail to {email}")


@dataclass
class WalletCustomer:
    id: str
    email: str
    name: str


def customer_with_wallet(
    client: TestClient,
    merchant: MerchantSetup,
    *,
    email: str,
    phone: str,
    first_name: str,
    last_name: str,
    amount_minor: int = 0,
) -> WalletCustomer:
    customer = enrol(
        client, merchant, phone=phone, email=email, first_name=first_name, last_name=last_name
    )
    if amount_minor:
        assert top_up(client, merchant, customer["id"], amount_minor).status_code == 201
    return WalletCustomer(customer["id"], email, f"{first_name} {last_name}")


def add_staff(
    client: TestClient,
    merchant: MerchantSetup,
    email: str,
    *,
    name: str = "Eva Pokladní",
    role: str = "cashier",
    password: str = STAFF_PASSWORD,
) -> str:
    response = client.post(
        "/v1/staff",
        json={"email": email, "name": name, "role": role, "password": password},
        headers=merchant.owner,
    )
    assert response.status_code == 201, response.text
    return email


def request_code(client: TestClient, email: str):
    page = client.get("/c/sign-in")
    return client.post("/c/sign-in", data={"email": email, "csrf_token": csrf_of(page.text)})


def sign_in_customer(client: TestClient, mailer: RecordingMailer, email: str):
    """Ask for a code, read it from the mail, send it: the answer is the wallet page."""
    code_page = request_code(client, email)
    assert code_page.status_code == 200, code_page.text
    return client.post(
        "/c/sign-in/code",
        data={
            "email": email,
            "code": code_from(mailer, email),
            "csrf_token": csrf_of(code_page.text),
        },
    )


def sign_in_staff(client: TestClient, email: str, password: str = STAFF_PASSWORD):
    page = client.get("/back-office/sign-in")
    return client.post(
        "/back-office/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
    )


@pytest.fixture
def customer(client: TestClient, merchant: MerchantSetup) -> WalletCustomer:
    """Jana, with 500.00 CZK on her wallet at Café Bleu."""
    return customer_with_wallet(
        client,
        merchant,
        email="jana@example.com",
        phone="+420601123456",
        first_name="Jana",
        last_name="Nováková",
        amount_minor=50_000,
    )
