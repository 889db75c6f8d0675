"""The customer page: sign-in by a one-time code from the e-mail, the wallet, sign-out."""

from __future__ import annotations

import uuid
from datetime import timedelta

from cagnotte.web.sessions import CUSTOMER_SESSION_COOKIE
from tests.e2e.api.conftest import make_merchant, top_up
from tests.e2e.web.conftest import (
    code_from,
    csrf_of,
    customer_with_wallet,
    request_code,
    sign_in_customer,
)


def pay(client, merchant, customer_id, amount_minor):
    response = client.post(
        "/v1/payments",
        json={
            "customer_id": customer_id,
            "asset": "CZK",
            "amount_minor": amount_minor,
            "reference": "R-1",
        },
        headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text


def test_a_customer_signs_in_with_the_mailed_code_and_sees_balance_and_history(
    client, mailer, merchant, customer, clock
):
    clock.advance(timedelta(hours=1))
    pay(client, merchant, customer.id, 12_345)
    wallet = sign_in_customer(client, mailer, customer.email)
    assert wallet.status_code == 200
    assert wallet.url.path == "/c"
    assert "Café Bleu" in wallet.text
    assert "376,55\u00a0Kč" in wallet.text
    assert "Top-up" in wallet.text and "+500,00\u00a0Kč" in wallet.text
    assert "Payment" in wallet.text and "\u2212123,45\u00a0Kč" in wallet.text
    assert "5. 1. 2026 11:00 SEČ" in wallet.text
    assert mailer.sent[-1]["Subject"] == "Your Cagnotte sign-in code"


def test_the_session_cookie_is_http_only_same_site_lax_and_scoped_to_the_customer_page(
    client, mailer, customer
):
    code_page = request_code(client, customer.email)
    response = client.post(
        "/c/sign-in/code",
        data={
            "email": customer.email,
            "code": code_from(mailer, customer.email),
            "csrf_token": csrf_of(code_page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/c"
    cookie = next(
        header
        for header in response.headers.get_list("set-cookie")
        if header.startswith(CUSTOMER_SESSION_COOKIE + "=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/c" in cookie
    assert "Max-Age=7200" in cookie


def test_an_unknown_email_gets_the_same_answer_and_no_mail(client, mailer, customer):
    known = request_code(client, customer.email)
    unknown = request_code(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace(customer.email, "X") == unknown.text.replace(
        "nobody@example.com", "X"
    ).replace(csrf_of(unknown.text), csrf_of(known.text))
    assert [message["To"] for message in mailer.sent] == [customer.email]


def test_a_wrong_code_is_refused_and_opens_no_session(client, mailer, customer):
    code_page = request_code(client, customer.email)
    real = code_from(mailer, customer.email)
    wrong = "000000" if real != "000000" else "111111"
    response = client.post(
        "/c/sign-in/code",
        data={"email": customer.email, "code": wrong, "csrf_token": csrf_of(code_page.text)},
    )
    assert response.status_code == 400
    assert "The code is wrong or has expired." in response.text
    assert CUSTOMER_SESSION_COOKIE not in client.cookies
    assert client.get("/c", follow_redirects=False).headers["location"] == "/c/sign-in"


def test_a_code_is_refused_after_ten_minutes(client, mailer, customer, clock):
    code_page = request_code(client, customer.email)
    clock.advance(timedelta(minutes=10, seconds=1))
    response = client.post(
        "/c/sign-in/code",
        data={
            "email": customer.email,
            "code": code_from(mailer, customer.email),
            "csrf_token": csrf_of(code_page.text),
        },
    )
    assert response.status_code == 400
    assert "The code is wrong or has expired." in response.text


def test_a_code_serves_once(client, mailer, customer):
    code_page = request_code(client, customer.email)
    code = code_from(mailer, customer.email)
    first = client.post(
        "/c/sign-in/code",
        data={"email": customer.email, "code": code, "csrf_token": csrf_of(code_page.text)},
    )
    assert first.url.path == "/c"
    client.cookies.clear()
    again = client.post(
        "/c/sign-in/code",
        data={
            "email": customer.email,
            "code": code,
            "csrf_token": csrf_of(client.get("/c/sign-in").text),
        },
    )
    assert again.status_code == 400
    assert CUSTOMER_SESSION_COOKIE not in client.cookies


def test_the_wallet_sends_a_visitor_without_a_session_to_sign_in(client):
    response = client.get("/c", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/c/sign-in"


def test_a_session_ends_after_two_hours(client, mailer, customer, clock):
    assert sign_in_customer(client, mailer, customer.email).url.path == "/c"
    clock.advance(timedelta(hours=2))
    response = client.get("/c", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/c/sign-in"
    assert any(
        header.startswith(CUSTOMER_SESSION_COOKIE + '=""')
        for header in response.headers.get_list("set-cookie")
    )


def test_a_sign_in_form_without_the_csrf_token_of_its_browser_is_refused(client, mailer, customer):
    client.get("/c/sign-in")
    missing = client.post("/c/sign-in", data={"email": customer.email})
    forged = client.post("/c/sign-in", data={"email": customer.email, "csrf_token": "0" * 64})
    assert missing.status_code == forged.status_code == 403
    assert "This form has expired" in missing.text
    assert mailer.sent == []


def test_a_sign_in_csrf_token_from_another_browser_is_refused(client, services, mailer, customer):
    from fastapi.testclient import TestClient

    from cagnotte.api.app import create_app

    attacker_token = csrf_of(client.get("/c/sign-in").text)
    with TestClient(create_app(services)) as victim:
        victim.get("/c/sign-in")
        response = victim.post(
            "/c/sign-in", data={"email": customer.email, "csrf_token": attacker_token}
        )
    assert response.status_code == 403
    assert mailer.sent == []


def test_sign_out_needs_the_csrf_token_of_the_session_and_ends_it(client, mailer, customer):
    wallet = sign_in_customer(client, mailer, customer.email)
    token = client.cookies[CUSTOMER_SESSION_COOKIE]
    refused = client.post("/c/sign-out", data={"csrf_token": "0" * 64})
    assert refused.status_code == 403
    assert client.get("/c").url.path == "/c"
    signed_out = client.post(
        "/c/sign-out", data={"csrf_token": csrf_of(wallet.text)}, follow_redirects=False
    )
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/c/sign-in"
    client.cookies.set(CUSTOMER_SESSION_COOKIE, token, path="/c")
    assert client.get("/c", follow_redirects=False).status_code == 303


def test_a_customer_never_sees_another_customers_accounts(client, mailer, merchant, customer):
    other = customer_with_wallet(
        client,
        merchant,
        email="petr@example.com",
        phone="+420602000111",
        first_name="Petr",
        last_name="Svoboda",
        amount_minor=77_700,
    )
    others_accounts = client.get(
        f"/v1/customers/{other.id}/accounts", headers=merchant.owner
    ).json()["items"]
    wallet = sign_in_customer(client, mailer, customer.email)
    assert "500,00\u00a0Kč" in wallet.text
    assert "777,00\u00a0Kč" not in wallet.text
    response = client.get(f"/c/accounts/{others_accounts[0]['id']}")
    assert response.status_code == 404
    assert "777,00" not in response.text and "777.00" not in response.text
    assert "no such account" in response.text


def test_each_membership_shows_its_merchant_name(client, mailer, merchant, operator_key, customer):
    bakery = make_merchant(client, operator_key, "Rival Bakery")
    customer_with_wallet(
        client,
        bakery,
        email=customer.email,
        phone="+420601123456",
        first_name="Jana",
        last_name="Nováková",
        amount_minor=1_000,
    )
    wallet = sign_in_customer(client, mailer, customer.email)
    assert "Café Bleu" in wallet.text and "Rival Bakery" in wallet.text
    assert "10,00\u00a0Kč" in wallet.text and "500,00\u00a0Kč" in wallet.text


def test_the_history_pages_follow_the_cursor(client, mailer, merchant, customer, clock):
    for number in range(1, 8):
        clock.advance(timedelta(minutes=1))
        assert top_up(client, merchant, customer.id, number * 100).status_code == 201
    wallet = sign_in_customer(client, mailer, customer.email)
    assert wallet.text.count("Top-up") == 5
    assert "+7,00\u00a0Kč" in wallet.text and "+3,00\u00a0Kč" in wallet.text
    older = wallet.text.split('href="/c/accounts/')[1].split('"')[0].replace("&amp;", "&")
    assert "?cursor=" in older
    page = client.get("/c/accounts/" + older)
    assert page.status_code == 200
    assert (
        "+2,00\u00a0Kč" in page.text
        and "+1,00\u00a0Kč" in page.text
        and "+500,00\u00a0Kč" in page.text
    )
    assert "+3,00\u00a0Kč" not in page.text
    assert "Newest transfers" in page.text and "?cursor=" not in page.text


def test_a_broken_cursor_is_a_not_found_page_not_an_error(client, mailer, merchant, customer):
    sign_in_customer(client, mailer, customer.email)
    accounts = client.get(f"/v1/customers/{customer.id}/accounts", headers=merchant.owner).json()[
        "items"
    ]
    response = client.get(f"/c/accounts/{accounts[0]['id']}?cursor=not-a-cursor")
    assert response.status_code == 404


def test_pages_are_not_cached_nor_framed(client):
    response = client.get("/c/sign-in")
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_the_style_sheet_is_served(client):
    response = client.get("/static/cagnotte.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")


def test_a_platform_account_the_operator_blocked_is_signed_out_and_told_why_at_sign_in(
    client, mailer, customer, operator_key
):
    assert sign_in_customer(client, mailer, customer.email).url.path == "/c"
    operator = {"Authorization": f"Bearer {operator_key}"}
    (account,) = client.get(
        "/v1/platform-accounts", params={"email": customer.email}, headers=operator
    ).json()["items"]
    blocked = client.post(
        f"/v1/platform-accounts/{account['id']}/status",
        json={"status": "blocked", "reason": "Chargeback fraud"},
        headers=operator,
    )
    assert blocked.status_code == 200, blocked.text
    signed_out = client.get("/c", follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/c/sign-in"
    refused = sign_in_customer(client, mailer, customer.email)
    assert refused.status_code == 400
    assert "This platform account is blocked by the operator." in refused.text
