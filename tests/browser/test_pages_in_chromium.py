"""The pages in a real Chromium against a real server: a customer and a cashier."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.web.conftest import add_staff, code_from, customer_with_wallet

pytestmark = pytest.mark.browser


def test_a_customer_signs_in_with_the_mailed_code_and_sees_balance_and_history(
    page, live_server, mailer, customer
):
    page.goto(f"{live_server}/c")
    expect(page).to_have_url(f"{live_server}/c/sign-in")
    page.get_by_label("E-mail address").fill(customer.email)
    page.get_by_role("button", name="Send me a code").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label("Sign-in code").fill(code_from(mailer, customer.email))
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{live_server}/c")
    expect(page.get_by_role("heading", name="Café Bleu")).to_be_visible()
    expect(page.locator(".balance__amount")).to_have_text("500,00\u00a0Kč")
    history = page.get_by_role("table")
    expect(history).to_contain_text("Top-up")
    expect(history).to_contain_text("+500,00\u00a0Kč")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["cagnotte_customer_session"]["httpOnly"] is True
    assert cookies["cagnotte_customer_session"]["sameSite"] == "Lax"

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server}/c/sign-in")
    page.goto(f"{live_server}/c")
    expect(page).to_have_url(f"{live_server}/c/sign-in")


def test_a_cashier_signs_in_and_finds_a_customer_with_the_balance(
    page, live_server, client, merchant
):
    customer_with_wallet(
        client,
        merchant,
        email="jana@example.com",
        phone="+420601123456",
        first_name="Jana",
        last_name="Nováková",
        amount_minor=50_000,
    )
    add_staff(client, merchant, "eva@cafe-bleu.example")
    page.goto(f"{live_server}/back-office")
    page.get_by_label("E-mail address").fill("eva@cafe-bleu.example")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("The e-mail or password is not right.")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Café Bleu", level=1)).to_be_visible()
    page.get_by_label("Name").fill("nováko")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/back-office\?name=nov"))
    row = page.get_by_role("row", name=re.compile("Jana Nováková"))
    expect(row).to_contain_text("Wallet (CZK): 500,00\u00a0Kč")
    expect(row).to_contain_text("+420 601 123 456")
