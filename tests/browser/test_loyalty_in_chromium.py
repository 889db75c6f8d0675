"""The customer page's loyalty part in a real Chromium: balances, stamps, expiring points, QR."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.web.conftest import code_from

pytestmark = pytest.mark.browser


def _program(client, merchant, **body) -> dict:
    response = client.post("/v1/loyalty-programs", headers=merchant.manager, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_member_sees_points_stamps_expiring_points_and_a_member_code_the_register_reads(
    page, live_server, mailer, client, merchant, customer
):
    points = _program(client, merchant, kind="points", name="Café points", currency="CZK")
    _program(
        client,
        merchant,
        kind="stamps",
        name="Coffee card",
        currency="CZK",
        stamp_card={"size": 6},
    )
    rule = client.post(
        f"/v1/loyalty-programs/{points['id']}/rules",
        headers=merchant.manager,
        json={
            "name": "Summer bonus",
            "benefit": {"kind": "fixed_bonus", "units": 40},
            "expires_after_days": 30,
        },
    )
    assert rule.status_code == 201, rule.text
    check = client.post(
        "/v1/checks",
        json={
            "currency": "CZK",
            "customer_id": customer.id,
            "lines": [{"sku": "LATTE", "quantity": 2, "unit_price_minor": 6_000}],
        },
        headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert check.status_code == 201, check.text
    stamps = sum(e["units"] for e in check.json()["effects"] if e["kind"] == "stamps")

    page.goto(f"{live_server}/c/sign-in")
    page.get_by_label("E-mail address").fill(customer.email)
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_label("Sign-in code").fill(code_from(mailer, customer.email))
    page.get_by_role("button", name="Sign in").click()

    loyalty = page.get_by_test_id("loyalty")
    card = loyalty.get_by_role("article", name="Café points")
    # 120.00 CZK at the base rate (12 points) and the 40-point bonus.
    expect(card.get_by_test_id("program-balance")).to_have_text("52 points")
    expect(card.get_by_test_id("expiring")).to_contain_text("40 points expire on")
    coffee = loyalty.get_by_role("article", name="Coffee card")
    expect(coffee.get_by_test_id("program-balance")).to_have_text(f"{stamps % 6} of 6 stamps")

    page.get_by_role("link", name="Show my member code").click()
    expect(page.get_by_test_id("member-qr")).to_be_visible()
    page.get_by_text("The code as text").click()
    token = page.get_by_test_id("member-token").inner_text()
    quote = client.post(
        "/v1/checks/quotes",
        json={
            "currency": "CZK",
            "member_token": token,
            "lines": [{"sku": "LATTE", "quantity": 1, "unit_price_minor": 6_000}],
        },
        headers=merchant.register,
    )
    assert quote.status_code == 200, quote.text
    # The register found the member by the code: it sees what their points could pay.
    (spendable,) = [s for s in quote.json()["spendable"] if s["program_id"] == points["id"]]
    assert spendable["balance_units"] == 52
