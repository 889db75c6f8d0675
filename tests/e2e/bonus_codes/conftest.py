"""Bonus code fixtures: a merchant, a signed-in customer, a funded campaign, a known captcha."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import timedelta

import pytest

from tests.e2e.api.conftest import (  # noqa: F401  (fixtures)
    bearer,
    client,
    enrol,
    mailer,
    make_merchant,
    merchant,
    operator_key,
    other_merchant,
    server_url,
    services,
)

CAPTCHA_ANSWER = "KXT4M"


@pytest.fixture(autouse=True)
def known_captcha(services):
    services.captchas.make_answer = lambda: CAPTCHA_ANSWER


def sign_in_customer(client, mailer, merchant, email, phone):
    enrol(client, merchant, phone=phone, email=email)
    client.post("/v1/customer-sign-in/codes", json={"email": email})
    message = mailer.sent[-1]
    code = re.search(r"\b(\d{6})\b", message.get_content()).group(1)
    session = client.post("/v1/customer-sign-in/sessions", json={"email": email, "code": code})
    assert session.status_code == 201, session.text
    return bearer(session.json()["token"])


@pytest.fixture
def customer(client, mailer, merchant):
    return sign_in_customer(client, mailer, merchant, "jana@example.com", "+420601111111")


@pytest.fixture
def second_customer(client, mailer, merchant):
    return sign_in_customer(client, mailer, merchant, "petr@example.com", "+420602222222")


def campaign_body(clock, **overrides):
    body = {
        "name": "Spring bonus",
        "description": "For our regulars",
        "asset": "CZK",
        "bonus_value_minor": 20_000,
        "code_count": 5,
        "valid_from": (clock.now() - timedelta(hours=1)).isoformat(),
        "valid_to": (clock.now() + timedelta(days=30)).isoformat(),
        "notify_email": "office@cafe-bleu.example.com",
    }
    body.update(overrides)
    return body


def request_campaign(client, merchant, clock, **overrides):
    response = client.post(
        "/v1/bonus-campaigns", json=campaign_body(clock, **overrides), headers=merchant.owner
    )
    assert response.status_code == 201, response.text
    return response.json()


def pay_by_bank(client, operator_key, amount, variable_symbol, key=None):
    # Every value-moving POST needs a key: a fresh one unless the test names it.
    headers = {**bearer(operator_key), "Idempotency-Key": key or str(uuid.uuid4())}
    return client.post(
        "/v1/bank-payments",
        json={"asset": "CZK", "amount_minor": amount, "variable_symbol": variable_symbol},
        headers=headers,
    )


def codes_from_mail(mailer):
    """The plain codes from the CSV attached to the last campaign e-mail."""
    for message in reversed(mailer.sent):
        for part in message.iter_attachments():
            if part.get_filename() == "bonus-codes.csv":
                rows = list(csv.DictReader(io.StringIO(part.get_content())))
                return [row["code"] for row in rows]
    raise AssertionError("no campaign e-mail")


@pytest.fixture
def funded_campaign(client, merchant, operator_key, clock, mailer):
    campaign = request_campaign(client, merchant, clock)
    paid = pay_by_bank(client, operator_key, 100_000, campaign["funding"]["variable_symbol"])
    assert paid.status_code == 201, paid.text
    funded = client.get(f"/v1/bonus-campaigns/{campaign['id']}", headers=merchant.owner).json()
    assert funded["status"] == "active"
    return funded, codes_from_mail(mailer)


def redeem(client, customer, code):
    captcha = client.post("/v1/me/captchas", headers=customer).json()
    return client.post(
        "/v1/me/bonus-redemptions",
        json={"code": code, "captcha_id": captcha["id"], "captcha_answer": CAPTCHA_ANSWER},
        headers=customer,
    )


def platform_wallet_balance(client, customer, asset="CZK"):
    accounts = client.get("/v1/me/accounts", headers=customer).json()["items"]
    for account in accounts:
        if account["owner_type"] == "customer" and account["asset_code"] == asset:
            return account["balance"]["balance_minor"]
    return 0
