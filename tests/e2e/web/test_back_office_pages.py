"""The back-office: staff sign-in by password with lockout, the dashboard, the search."""

from __future__ import annotations

from datetime import timedelta

from cagnotte.web.sessions import CUSTOMER_SESSION_COOKIE, STAFF_SESSION_COOKIE
from tests.e2e.web.conftest import (
    add_staff,
    csrf_of,
    customer_with_wallet,
    sign_in_customer,
    sign_in_staff,
)

CASHIER = "eva@cafe-bleu.example"


def test_staff_sign_in_opens_the_dashboard_of_their_merchant(client, merchant):
    add_staff(client, merchant, CASHIER)
    dashboard = sign_in_staff(client, CASHIER)
    assert dashboard.status_code == 200 and dashboard.url.path == "/back-office"
    assert "<h1>Café Bleu</h1>" in dashboard.text
    assert "Café Bleu main" in dashboard.text  # the merchant's store
    assert "Eva Pokladní (cashier)" in dashboard.text


def test_the_staff_session_cookie_is_http_only_and_scoped_to_the_back_office(client, merchant):
    add_staff(client, merchant, CASHIER)
    page = client.get("/back-office/sign-in")
    response = client.post(
        "/back-office/sign-in",
        data={
            "email": CASHIER,
            "password": "correct horse battery",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/back-office"
    cookie = next(
        header
        for header in response.headers.get_list("set-cookie")
        if header.startswith(STAFF_SESSION_COOKIE + "=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/back-office" in cookie


def test_a_wrong_password_and_an_unknown_email_get_the_same_message(client, merchant):
    add_staff(client, merchant, CASHIER)
    wrong_password = sign_in_staff(client, CASHIER, "not the password")
    unknown_email = sign_in_staff(client, "nobody@cafe-bleu.example", "not the password")
    assert wrong_password.status_code == unknown_email.status_code == 400
    message = "The e-mail or password is not right."
    assert message in wrong_password.text and message in unknown_email.text
    assert STAFF_SESSION_COOKIE not in client.cookies


def test_five_wrong_passwords_lock_the_account_for_thirty_minutes(client, merchant, clock):
    add_staff(client, merchant, CASHIER)
    for _attempt in range(5):
        assert sign_in_staff(client, CASHIER, "not the password").status_code == 400
    locked = sign_in_staff(client, CASHIER)
    assert locked.status_code == 423
    assert "locked until 5 Jan 2026, 09:30 UTC" in locked.text
    clock.advance(timedelta(minutes=29, seconds=59))
    assert sign_in_staff(client, CASHIER).status_code == 423
    clock.advance(timedelta(seconds=1))
    unlocked = sign_in_staff(client, CASHIER)
    assert unlocked.status_code == 200 and unlocked.url.path == "/back-office"


def test_the_dashboard_sends_a_visitor_without_a_session_to_sign_in(client):
    response = client.get("/back-office", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/back-office/sign-in"


def test_the_staff_sign_in_form_needs_its_csrf_token(client, merchant):
    add_staff(client, merchant, CASHIER)
    client.get("/back-office/sign-in")
    response = client.post(
        "/back-office/sign-in", data={"email": CASHIER, "password": "correct horse battery"}
    )
    assert response.status_code == 403
    assert STAFF_SESSION_COOKIE not in client.cookies


def test_staff_sign_out_needs_the_csrf_token_of_the_session(client, merchant):
    add_staff(client, merchant, CASHIER)
    dashboard = sign_in_staff(client, CASHIER)
    assert client.post("/back-office/sign-out", data={"csrf_token": "x"}).status_code == 403
    assert client.get("/back-office").url.path == "/back-office"
    signed_out = client.post("/back-office/sign-out", data={"csrf_token": csrf_of(dashboard.text)})
    assert signed_out.url.path == "/back-office/sign-in"
    assert client.get("/back-office", follow_redirects=False).status_code == 303


def test_a_search_by_name_or_phone_shows_the_customers_balances(client, merchant):
    customer_with_wallet(
        client,
        merchant,
        email="jana@example.com",
        phone="+420601123456",
        first_name="Jana",
        last_name="Nováková",
        amount_minor=50_000,
    )
    customer_with_wallet(
        client,
        merchant,
        email="petr@example.com",
        phone="+420602000111",
        first_name="Petr",
        last_name="Svoboda",
    )
    add_staff(client, merchant, CASHIER)
    sign_in_staff(client, CASHIER)
    by_name = client.get("/back-office", params={"name": "nováK"})
    assert "Jana Nováková" in by_name.text and "Wallet (CZK): 500,00\u00a0Kč" in by_name.text
    assert "Petr" not in by_name.text
    assert "1 customer found" in by_name.text
    by_phone = client.get("/back-office", params={"phone": "602 000"})
    assert "Petr Svoboda" in by_phone.text and "+420 602 000 111" in by_phone.text
    assert "Jana" not in by_phone.text
    nobody = client.get("/back-office", params={"name": "Dvořák"})
    assert "No customer matches this search." in nobody.text


def test_a_phone_search_without_digits_says_so(client, merchant):
    add_staff(client, merchant, CASHIER)
    sign_in_staff(client, CASHIER)
    response = client.get("/back-office", params={"phone": "abc"})
    assert response.status_code == 200
    assert "A phone search needs digits." in response.text


def test_staff_see_only_their_merchants_customers(client, merchant, other_merchant):
    customer_with_wallet(
        client,
        merchant,
        email="jana@example.com",
        phone="+420601123456",
        first_name="Jana",
        last_name="Nováková",
        amount_minor=50_000,
    )
    customer_with_wallet(
        client,
        other_merchant,
        email="jan@example.com",
        phone="+420603999888",
        first_name="Jan",
        last_name="Novák",
        amount_minor=12_300,
    )
    add_staff(client, other_merchant, "baker@rival.example", name="Bob Baker")
    dashboard = sign_in_staff(client, "baker@rival.example")
    assert "<h1>Rival Bakery</h1>" in dashboard.text and "Café Bleu" not in dashboard.text
    found = client.get("/back-office", params={"name": "novák"})
    assert "Jan Novák" in found.text and "123,00\u00a0Kč" in found.text
    assert "Nováková" not in found.text and "500.00" not in found.text
    by_phone = client.get("/back-office", params={"phone": "601123456"})
    assert "No customer matches this search." in by_phone.text


def test_a_staff_session_does_not_open_the_customer_page_nor_the_reverse(client, mailer, merchant):
    customer_with_wallet(
        client,
        merchant,
        email="jana@example.com",
        phone="+420601123456",
        first_name="Jana",
        last_name="Nováková",
    )
    add_staff(client, merchant, CASHIER)
    sign_in_staff(client, CASHIER)
    staff_token = client.cookies[STAFF_SESSION_COOKIE]
    assert client.get("/c", follow_redirects=False).status_code == 303
    client.cookies.set(CUSTOMER_SESSION_COOKIE, staff_token, path="/c")
    assert client.get("/c", follow_redirects=False).status_code == 303
    client.cookies.clear()
    sign_in_customer(client, mailer, "jana@example.com")
    customer_token = client.cookies[CUSTOMER_SESSION_COOKIE]
    assert client.get("/back-office", follow_redirects=False).status_code == 303
    client.cookies.set(STAFF_SESSION_COOKIE, customer_token, path="/back-office")
    assert client.get("/back-office", follow_redirects=False).status_code == 303


def test_the_staff_of_a_suspended_merchant_are_signed_out(client, merchant, operator_key):
    add_staff(client, merchant, CASHIER)
    assert sign_in_staff(client, CASHIER).url.path == "/back-office"
    suspended = client.post(
        f"/v1/merchants/{merchant.id}/status",
        json={"status": "suspended"},
        headers={"Authorization": f"Bearer {operator_key}"},
    )
    assert suspended.json()["status"] == "suspended"
    response = client.get("/back-office", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/back-office/sign-in"


def test_the_dashboard_writes_money_and_visits_for_the_merchant_s_locale(
    client, merchant, operator_key, clock
):
    changed = client.patch(
        f"/v1/merchants/{merchant.id}",
        json={"locale": "en_CA", "time_zone": "America/Toronto"},
        headers={"Authorization": f"Bearer {operator_key}"},
    )
    assert changed.status_code == 200, changed.text
    customer_with_wallet(
        client,
        merchant,
        email="jana@example.com",
        phone="+420601123456",
        first_name="Jana",
        last_name="Nováková",
        amount_minor=123_450,
    )
    add_staff(client, merchant, CASHIER)
    sign_in_staff(client, CASHIER)
    page = client.get("/back-office", params={"name": "jana"})
    assert "Wallet (CZK): CZK1,234.50" in page.text
