"""The operator blocks and unblocks a customer's platform account: "active means active".

A blocked platform account signs in nowhere (its open sessions stop working
too), gets no member token, and every account it has is frozen: no register
takes a payment from it or credits it, at any merchant. Unblocked, it thaws,
except at a merchant that has blocked the membership itself. Only the operator
may do it, with a reason kept in the audit trail. (Bonus codes:
tests/e2e/bonus_codes/test_redemption.py.)
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import select

from cagnotte.db.tables import PLATFORM_MERCHANT_ID, audit_log
from tests.e2e.api.conftest import bearer, enrol, top_up

JANA_PHONE = "+420601111111"
JANA_EMAIL = "jana@example.com"


def sign_in(client, mailer, email: str = JANA_EMAIL):
    """Ask for a one-time code, read it from the mail, and open a session: the answer."""
    client.post("/v1/customer-sign-in/codes", json={"email": email})
    code = re.search(r"\b(\d{6})\b", mailer.sent[-1].get_content()).group(1)
    return client.post("/v1/customer-sign-in/sessions", json={"email": email, "code": code})


def platform_account(client, operator_key, **query) -> dict:
    found = client.get("/v1/platform-accounts", params=query, headers=bearer(operator_key))
    assert found.status_code == 200, found.text
    (account,) = found.json()["items"]
    return account


def set_platform_status(client, operator_key, account_id, status, reason="Card fraud reported"):
    return client.post(
        f"/v1/platform-accounts/{account_id}/status",
        json={"status": status, "reason": reason},
        headers=bearer(operator_key),
    )


def pay(client, merchant, membership_id, amount):
    return client.post(
        "/v1/payments",
        json={"customer_id": membership_id, "asset": "CZK", "amount_minor": amount},
        headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
    )


def test_the_operator_finds_an_account_and_blocks_it_with_a_reason_kept_in_the_audit_trail(
    client, operator_key, merchant, services, clock
):
    enrol(client, merchant, phone=JANA_PHONE, email=JANA_EMAIL)
    by_phone = platform_account(client, operator_key, phone="601 111 111")
    assert platform_account(client, operator_key, email="Jana@Example.com") == by_phone
    assert by_phone["status"] == "active" and by_phone["phone"] == JANA_PHONE
    nobody = client.get(
        "/v1/platform-accounts", params={"phone": "+420 602 999 999"}, headers=bearer(operator_key)
    )
    assert nobody.json() == {"items": [], "next_cursor": None}

    blocked = set_platform_status(client, operator_key, by_phone["id"], "blocked")
    assert blocked.status_code == 200, blocked.text
    assert blocked.json()["status"] == "blocked"
    clock.advance(timedelta(minutes=5))
    unblocked = set_platform_status(
        client, operator_key, by_phone["id"], "active", reason="Cleared by the bank"
    )
    assert unblocked.json()["status"] == "active"

    with services.database.read() as connection:
        trail = connection.execute(
            select(audit_log.c.action, audit_log.c.actor, audit_log.c.details)
            .where(
                audit_log.c.merchant_id == PLATFORM_MERCHANT_ID,
                audit_log.c.subject_id == uuid.UUID(by_phone["id"]),
            )
            .order_by(audit_log.c.created_at)
        ).all()
    assert [(row.action, row.details) for row in trail] == [
        ("platform_account.blocked", {"reason": "Card fraud reported"}),
        ("platform_account.active", {"reason": "Cleared by the bank"}),
    ]
    assert all(row.actor.startswith("key:") for row in trail)


def test_only_the_operator_blocks_and_only_with_a_reason(client, operator_key, merchant):
    enrol(client, merchant, phone=JANA_PHONE, email=JANA_EMAIL)
    account = platform_account(client, operator_key, email=JANA_EMAIL)
    for headers in (merchant.owner, merchant.manager, merchant.register):
        refused = client.post(
            f"/v1/platform-accounts/{account['id']}/status",
            json={"status": "blocked", "reason": "I do not like them"},
            headers=headers,
        )
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        looked_up = client.get(
            "/v1/platform-accounts", params={"email": JANA_EMAIL}, headers=headers
        )
        assert looked_up.status_code == 403 and looked_up.json()["code"] == "forbidden"
    no_reason = client.post(
        f"/v1/platform-accounts/{account['id']}/status",
        json={"status": "blocked", "reason": "  "},
        headers=bearer(operator_key),
    )
    assert no_reason.status_code == 422
    unknown = set_platform_status(
        client, operator_key, "00000000-0000-0000-0000-00000000abcd", "blocked"
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    assert platform_account(client, operator_key, email=JANA_EMAIL)["status"] == "active"


def test_a_blocked_account_cannot_sign_in_and_its_open_session_stops_working(
    client, operator_key, merchant, mailer
):
    enrol(client, merchant, phone=JANA_PHONE, email=JANA_EMAIL)
    session = bearer(sign_in(client, mailer).json()["token"])
    account = platform_account(client, operator_key, email=JANA_EMAIL)
    assert set_platform_status(client, operator_key, account["id"], "blocked").status_code == 200

    for method, path in [
        ("GET", "/v1/me"),
        ("GET", "/v1/me/accounts"),
        ("POST", f"/v1/me/member-tokens?merchant_id={merchant.id}"),
        ("POST", "/v1/me/captchas"),
    ]:
        refused = client.request(method, path, headers=session)
        assert refused.status_code == 409, (path, refused.text)
        assert refused.json()["code"] == "customer_blocked"
        assert "platform account" in refused.json()["detail"]
    again = sign_in(client, mailer)
    assert again.status_code == 409 and again.json()["code"] == "customer_blocked"

    set_platform_status(client, operator_key, account["id"], "active")
    assert client.get("/v1/me", headers=session).status_code == 200
    token = sign_in(client, mailer)
    assert token.status_code == 201, token.text
    member_token = client.post(
        f"/v1/me/member-tokens?merchant_id={merchant.id}",
        headers=bearer(token.json()["token"]),
    )
    assert member_token.status_code == 201, member_token.text


def test_a_blocked_account_pays_nowhere_and_is_credited_nowhere(
    client, operator_key, merchant, other_merchant
):
    here = enrol(client, merchant, phone=JANA_PHONE, email=JANA_EMAIL)
    there = enrol(client, other_merchant, phone=JANA_PHONE)
    for shop, member in ((merchant, here), (other_merchant, there)):
        assert top_up(client, shop, member["id"], 1_000).status_code == 201
    account = platform_account(client, operator_key, phone=JANA_PHONE)
    set_platform_status(client, operator_key, account["id"], "blocked")

    for shop, member in ((merchant, here), (other_merchant, there)):
        payment = pay(client, shop, member["id"], 100)
        assert payment.status_code == 409 and payment.json()["code"] == "customer_blocked"
        credit = top_up(client, shop, member["id"], 100)
        assert credit.json()["code"] == "customer_blocked"
        check = client.post(
            "/v1/checks",
            json={
                "currency": "CZK",
                "customer_id": member["id"],
                "lines": [{"sku": "LATTE", "quantity": 1, "unit_price_minor": 6_000}],
            },
            headers={**shop.register, "Idempotency-Key": f"check-{member['id']}"},
        )
        assert check.status_code == 409 and check.json()["code"] == "customer_blocked"
    # The merchants still see their member as they left them.
    assert client.get(f"/v1/customers/{here['id']}", headers=merchant.owner).json()["status"] == (
        "active"
    )

    set_platform_status(client, operator_key, account["id"], "active")
    for shop, member in ((merchant, here), (other_merchant, there)):
        payment = pay(client, shop, member["id"], 100)
        assert payment.status_code == 201, payment.text
        assert payment.json()["wallet_balance_minor"] == 900


def test_unblocking_keeps_frozen_what_a_merchant_blocked_and_the_other_way_round(
    client, operator_key, merchant, other_merchant
):
    here = enrol(client, merchant, phone=JANA_PHONE, email=JANA_EMAIL)
    there = enrol(client, other_merchant, phone=JANA_PHONE)
    for shop, member in ((merchant, here), (other_merchant, there)):
        assert top_up(client, shop, member["id"], 1_000).status_code == 201
    account = platform_account(client, operator_key, phone=JANA_PHONE)

    def member_status(shop, member, status):
        response = client.post(
            f"/v1/customers/{member['id']}/status", json={"status": status}, headers=shop.manager
        )
        assert response.status_code == 200, response.text

    # The merchant blocks, the operator blocks and unblocks: still the merchant's block.
    member_status(merchant, here, "blocked")
    set_platform_status(client, operator_key, account["id"], "blocked")
    set_platform_status(client, operator_key, account["id"], "active")
    assert pay(client, merchant, here["id"], 100).json()["code"] == "customer_blocked"
    assert pay(client, other_merchant, there["id"], 100).status_code == 201
    # The operator blocks, a merchant unblocks its member: still the operator's block.
    set_platform_status(client, operator_key, account["id"], "blocked")
    member_status(merchant, here, "active")
    assert pay(client, merchant, here["id"], 100).json()["code"] == "customer_blocked"
    set_platform_status(client, operator_key, account["id"], "active")
    assert pay(client, merchant, here["id"], 100).status_code == 201
