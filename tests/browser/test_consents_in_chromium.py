"""The customer page's consent buttons in a real Chromium: withdraw, and see it off."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.api.conftest import enrol
from tests.e2e.web.conftest import code_from

pytestmark = pytest.mark.browser


def test_a_customer_withdraws_consent_with_the_button_and_sees_it_off(
    page, live_server, client, mailer, merchant
):
    member = enrol(
        client, merchant, "+420601999100", email="zoe@example.com", consent_marketing_email=True
    )
    page.goto(f"{live_server}/c")
    page.get_by_label("E-mail address").fill("zoe@example.com")
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_label("Sign-in code").fill(code_from(mailer, "zoe@example.com"))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/c")

    email = page.get_by_test_id("consent-email")
    expect(email).to_contain_text("Offers by e-mail: on")
    page.get_by_role("button", name="Withdraw consent: Offers by e-mail, Café Bleu").click()
    expect(page.get_by_role("status")).to_contain_text("Offers by e-mail: withdrawn.")
    expect(page.get_by_test_id("consent-email")).to_contain_text("Offers by e-mail: off")
    expect(
        page.get_by_role("button", name="Give consent: Offers by e-mail, Café Bleu")
    ).to_be_visible()

    standing = client.get(
        f"/v1/customers/{member['id']}/consents", headers=merchant.register
    ).json()
    assert standing["current"]["email"]["granted"] is False
    latest = standing["history"][-1]
    assert (latest["channel"], latest["granted"], latest["source"]) == (
        "email",
        False,
        "customer_page",
    )
