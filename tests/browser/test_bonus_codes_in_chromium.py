"""Bonus codes in a real Chromium: a customer redeems a code through the form, and five
wrong codes lock the feature."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.e2e.bonus_codes.conftest import CAPTCHA_ANSWER, codes_from_mail
from tests.e2e.web.conftest import code_from

pytestmark = pytest.mark.browser
# Set to a folder to keep screenshots of the pages for a person to look at.
SCREENSHOTS = os.environ.get("CAGNOTTE_SCREENSHOTS")


@pytest.fixture
def campaign_codes(client, merchant, operator_key, services, mailer):
    services.captchas.make_answer = lambda: CAPTCHA_ANSWER
    now = services.clock.now()
    owner = merchant.owner
    campaign = client.post(
        "/v1/bonus-campaigns",
        json={
            "name": "Spring bonus",
            "asset": "CZK",
            "bonus_value_minor": 25_000,
            "code_count": 3,
            "valid_from": (now - timedelta(hours=1)).isoformat(),
            "valid_to": (now + timedelta(days=30)).isoformat(),
            "notify_email": "office@cafe-bleu.example.com",
        },
        headers=owner,
    ).json()
    paid = client.post(
        "/v1/bank-payments",
        json={
            "asset": "CZK",
            "amount_minor": 75_000,
            "variable_symbol": campaign["funding"]["variable_symbol"],
        },
        headers={"Authorization": f"Bearer {operator_key}", "Idempotency-Key": str(uuid.uuid4())},
    )
    assert paid.status_code == 201, paid.text
    return codes_from_mail(mailer)


def _sign_in(page, live_server, mailer, email):
    page.goto(f"{live_server}/c/sign-in")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_label("Sign-in code").fill(code_from(mailer, email))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/c")


def _enter(page, code):
    page.get_by_label("Bonus code").fill(code)
    page.get_by_label("Text in the picture").fill(CAPTCHA_ANSWER)
    page.get_by_role("button", name="Apply the code").click()


def test_a_customer_redeems_a_code_through_the_form_and_sees_the_balance_change(
    page, live_server, mailer, customer, campaign_codes
):
    _sign_in(page, live_server, mailer, customer.email)
    page.get_by_role("link", name="Apply a bonus code").click()
    captcha = page.locator("img.captcha")
    expect(captcha).to_be_visible()
    assert page.evaluate("document.querySelector('img.captcha').naturalWidth") == 280
    _enter(page, campaign_codes[0])
    expect(page.locator("#bonus-credited")).to_contain_text("250,00\u00a0Kč")
    expect(page.locator("#bonus-balance")).to_have_text("250,00\u00a0Kč")
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/bonus-credited.png", full_page=True)

    page.get_by_role("link", name="Back to your wallet").click()
    heading = page.get_by_role("heading", name="Your Cagnotte account")
    platform = page.locator("section", has=heading)
    expect(platform.locator(".balance__amount")).to_have_text("250,00\u00a0Kč")
    expect(platform.get_by_role("table")).to_contain_text("Bonus code: Spring bonus")

    page.goto(f"{live_server}/c/bonus")
    _enter(page, campaign_codes[0])
    expect(page.get_by_role("alert")).to_have_text(
        "This code cannot be used: it is wrong, used, withdrawn or not valid at this time."
    )


def test_five_wrong_codes_in_the_form_lock_the_feature(
    page, live_server, mailer, customer, campaign_codes
):
    _sign_in(page, live_server, mailer, customer.email)
    page.goto(f"{live_server}/c/bonus")
    for _ in range(5):
        _enter(page, "WRONGCODE2")
    expect(page.locator("#bonus-locked")).to_contain_text("locked for your account until")
    expect(page.get_by_label("Bonus code")).to_have_count(0)
    page.goto(f"{live_server}/c/bonus")
    expect(page.locator("#bonus-locked")).to_be_visible()


def test_a_customer_who_cannot_read_the_picture_redeems_with_the_spoken_digits(
    page, live_server, mailer, customer, campaign_codes, services
):
    services.captchas.make_audio_answer = lambda: "482913"
    _sign_in(page, live_server, mailer, customer.email)
    page.goto(f"{live_server}/c/bonus")
    page.get_by_role("link", name="Listen to six digits instead").click()
    clip = page.locator("audio.captcha-audio")
    expect(clip).to_be_visible()
    # The page's Content-Security-Policy lets the clip load: Chromium reads its length.
    page.wait_for_function("document.querySelector('audio.captcha-audio').readyState >= 1")
    assert 5 < page.evaluate("document.querySelector('audio.captcha-audio').duration") < 15
    page.get_by_label("Bonus code").fill(campaign_codes[0])
    page.get_by_label("Digits you hear").fill("482 913")
    page.get_by_role("button", name="Apply the code").click()
    expect(page.locator("#bonus-credited")).to_contain_text("250,00\u00a0Kč")
    expect(page.locator("audio.captcha-audio")).to_be_visible()
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/bonus-audio.png", full_page=True)
