"""Customers redeeming codes: captcha, one use, lockout, validity, probing."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tests.e2e.bonus_codes.conftest import (
    CAPTCHA_ANSWER,
    codes_from_mail,
    pay_by_bank,
    platform_wallet_balance,
    redeem,
    request_campaign,
)


def test_a_valid_code_credits_the_wallet_and_shows_in_history_with_the_campaign_name(
    client, customer, funded_campaign
):
    campaign, codes = funded_campaign
    response = redeem(client, customer, codes[0].lower()[:5] + " " + codes[0][5:])
    assert response.status_code == 201, response.text
    assert response.json()["amount_minor"] == 20_000
    assert response.json()["wallet_balance_minor"] == 20_000
    assert platform_wallet_balance(client, customer) == 20_000
    account_id = response.json()["wallet_account_id"]
    history = client.get(f"/v1/me/accounts/{account_id}/transfers", headers=customer).json()
    assert [(t["code"], t["reference"], t["amount_minor"]) for t in history["items"]] == [
        ("bonus_code", "Spring bonus", 20_000)
    ]


def test_a_code_works_once(client, customer, second_customer, funded_campaign):
    _campaign, codes = funded_campaign
    assert redeem(client, customer, codes[0]).status_code == 201
    again = redeem(client, second_customer, codes[0])
    assert again.status_code == 422 and again.json()["code"] == "code_invalid"
    assert platform_wallet_balance(client, second_customer) == 0


def test_wrong_used_and_withdrawn_codes_get_one_and_the_same_answer(
    client, merchant, customer, second_customer, funded_campaign
):
    campaign, codes = funded_campaign
    redeem(client, second_customer, codes[0])
    wrong = redeem(client, customer, "ABCDEFGHJK")
    used = redeem(client, customer, codes[0])
    client.post(f"/v1/bonus-campaigns/{campaign['id']}/stop", headers=merchant.owner)
    withdrawn = redeem(client, customer, codes[1])
    malformed = redeem(client, customer, "x")
    answers = {(r.status_code, r.text) for r in (wrong, used, withdrawn, malformed)}
    assert len(answers) == 1
    assert wrong.json()["code"] == "code_invalid"


def test_five_wrong_codes_lock_the_feature_for_a_day_even_for_a_right_code(
    client, customer, funded_campaign, clock, mailer, merchant
):
    from tests.e2e.bonus_codes.conftest import sign_in_customer

    _campaign, codes = funded_campaign
    for _ in range(5):
        assert redeem(client, customer, "WRONGCODE2").json()["code"] == "code_invalid"
    locked = redeem(client, customer, codes[0])
    assert locked.status_code == 423 and locked.json()["code"] == "locked_out"
    until = (clock.now() + timedelta(hours=24)).date().isoformat()
    assert locked.json()["locked_until"].startswith(until)
    assert "until" in locked.json()["detail"]
    assert client.get("/v1/me/bonus-lock", headers=customer).json()["locked"] is True
    clock.advance(timedelta(hours=23, minutes=59))
    # Sessions last two hours: sign in again a day later.
    customer = sign_in_customer(client, mailer, merchant, "jana@example.com", "+420601111111")
    assert redeem(client, customer, codes[0]).json()["code"] == "locked_out"
    clock.advance(timedelta(minutes=2))
    assert redeem(client, customer, codes[0]).status_code == 201
    assert platform_wallet_balance(client, customer) == 20_000


def test_four_wrong_codes_do_not_lock(client, customer, funded_campaign):
    _campaign, codes = funded_campaign
    for _ in range(4):
        redeem(client, customer, "WRONGCODE2")
    assert redeem(client, customer, codes[0]).status_code == 201


def test_the_lock_is_per_customer(client, customer, second_customer, funded_campaign):
    _campaign, codes = funded_campaign
    for _ in range(5):
        redeem(client, customer, "WRONGCODE2")
    assert redeem(client, second_customer, codes[0]).status_code == 201


def test_one_address_with_many_accounts_cannot_walk_the_code_space(
    client, mailer, merchant, funded_campaign
):
    from tests.e2e.bonus_codes.conftest import sign_in_customer

    _campaign, codes = funded_campaign
    attempts = 0
    for n in range(5):
        customer = sign_in_customer(
            client, mailer, merchant, f"walker{n}@example.com", f"+42060333333{n}"
        )
        for _ in range(4):
            response = redeem(client, customer, "WRONGCODE2")
            attempts += 1
    assert attempts == 20
    fresh = sign_in_customer(client, mailer, merchant, "walker9@example.com", "+420603333339")
    refused = redeem(client, fresh, codes[0])
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_attempts"
    assert response.json()["code"] == "code_invalid"


def test_a_code_outside_its_validity_says_so(
    client, merchant, operator_key, clock, mailer, customer
):
    from tests.e2e.bonus_codes.conftest import sign_in_customer

    campaign = request_campaign(
        client,
        merchant,
        clock,
        valid_from=(clock.now() + timedelta(days=2)).isoformat(),
        valid_to=(clock.now() + timedelta(days=9)).isoformat(),
    )
    pay_by_bank(client, operator_key, 100_000, campaign["funding"]["variable_symbol"])
    codes = codes_from_mail(mailer)
    early = redeem(client, customer, codes[0])
    assert early.status_code == 422 and early.json()["code"] == "code_not_valid_now"
    assert "valid from" in early.json()["detail"]
    clock.advance(timedelta(days=3))
    customer = sign_in_customer(client, mailer, merchant, "jana@example.com", "+420601111111")
    assert redeem(client, customer, codes[0]).status_code == 201
    clock.advance(timedelta(days=7))
    customer = sign_in_customer(client, mailer, merchant, "jana@example.com", "+420601111111")
    late = redeem(client, customer, codes[1])
    assert late.json()["code"] == "code_not_valid_now"
    # Outside the validity is no wrong entry: no lock after five of them.
    for _ in range(5):
        redeem(client, customer, codes[2])
    assert client.get("/v1/me/bonus-lock", headers=customer).json()["locked"] is False


def test_the_captcha_must_be_right_fresh_and_used_once(client, customer, funded_campaign, clock):
    _campaign, codes = funded_campaign
    captcha = client.post("/v1/me/captchas", headers=customer).json()
    assert captcha["image"].startswith("data:image/png;base64,")
    wrong = client.post(
        "/v1/me/bonus-redemptions",
        json={"code": codes[0], "captcha_id": captcha["id"], "captcha_answer": "NOPE1"},
        headers=customer,
    )
    assert wrong.json()["code"] == "captcha_invalid"
    reused = client.post(
        "/v1/me/bonus-redemptions",
        json={"code": codes[0], "captcha_id": captcha["id"], "captcha_answer": CAPTCHA_ANSWER},
        headers=customer,
    )
    assert reused.json()["code"] == "captcha_invalid"
    stale = client.post("/v1/me/captchas", headers=customer).json()
    clock.advance(timedelta(minutes=6))
    expired = client.post(
        "/v1/me/bonus-redemptions",
        json={"code": codes[0], "captcha_id": stale["id"], "captcha_answer": CAPTCHA_ANSWER},
        headers=customer,
    )
    assert expired.json()["code"] == "captcha_invalid"
    unknown = client.post(
        "/v1/me/bonus-redemptions",
        json={"code": codes[0], "captcha_id": str(uuid.uuid4()), "captcha_answer": "X"},
        headers=customer,
    )
    assert unknown.json()["code"] == "captcha_invalid"
    assert platform_wallet_balance(client, customer) == 0
    assert redeem(client, customer, codes[0]).status_code == 201


def test_a_captcha_of_another_customer_is_refused(
    client, customer, second_customer, funded_campaign
):
    _campaign, codes = funded_campaign
    captcha = client.post("/v1/me/captchas", headers=customer).json()
    response = client.post(
        "/v1/me/bonus-redemptions",
        json={"code": codes[0], "captcha_id": captcha["id"], "captcha_answer": CAPTCHA_ANSWER},
        headers=second_customer,
    )
    assert response.json()["code"] == "captcha_invalid"


def test_only_a_signed_in_active_customer_may_redeem(client, customer, funded_campaign, services):
    _campaign, codes = funded_campaign
    anonymous = client.post(
        "/v1/me/bonus-redemptions",
        json={"code": codes[0], "captcha_id": str(uuid.uuid4()), "captcha_answer": "X"},
    )
    assert anonymous.status_code == 401
    from sqlalchemy import update

    from cagnotte.db.tables import customers

    with services.database.transaction() as connection:
        connection.execute(update(customers).values(status="blocked"))
    blocked = redeem(client, customer, codes[0])
    assert blocked.status_code == 409 and blocked.json()["code"] == "customer_blocked"
