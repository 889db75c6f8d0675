"""Customers redeeming codes: captcha, one use, lockout, validity, probing."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from cagnotte import errors
from cagnotte.db.tables import customers
from cagnotte.programs.bonus_codes.tables import bonus_codes
from tests.e2e.bonus_codes.conftest import (
    CAPTCHA_ANSWER,
    bearer,
    codes_from_mail,
    enrol,
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


def test_a_code_outside_its_validity_answers_exactly_like_a_wrong_code_and_counts(
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
    wrong = redeem(client, customer, "WRONGCODE2")
    early = redeem(client, customer, codes[0])
    # A guesser who hits a code of next week learns nothing from the answer.
    assert (early.status_code, early.content) == (wrong.status_code, wrong.content)
    assert early.json()["code"] == "code_invalid"
    # And it counts: with the wrong code, five attempts lock the feature.
    for _ in range(3):
        assert redeem(client, customer, codes[0]).content == wrong.content
    locked = redeem(client, customer, codes[0])
    assert locked.status_code == 423 and locked.json()["code"] == "locked_out"
    assert client.get("/v1/me/bonus-lock", headers=customer).json()["locked"] is True
    clock.advance(timedelta(days=3))
    customer = sign_in_customer(client, mailer, merchant, "jana@example.com", "+420601111111")
    assert redeem(client, customer, codes[0]).status_code == 201
    clock.advance(timedelta(days=7))
    customer = sign_in_customer(client, mailer, merchant, "jana@example.com", "+420601111111")
    late = redeem(client, customer, codes[1])
    assert (late.status_code, late.content) == (wrong.status_code, wrong.content)
    assert platform_wallet_balance(client, customer) == 20_000


def test_a_right_code_starts_the_count_of_wrong_codes_again(client, customer, funded_campaign):
    _campaign, codes = funded_campaign
    for code in codes[:2]:
        for _ in range(4):
            assert redeem(client, customer, "WRONGCODE2").json()["code"] == "code_invalid"
        assert redeem(client, customer, code).status_code == 201
    assert client.get("/v1/me/bonus-lock", headers=customer).json()["locked"] is False
    assert platform_wallet_balance(client, customer) == 40_000


def test_a_wrong_captcha_is_no_attempt_at_a_code(client, customer, funded_campaign):
    """The code is not looked up behind a wrong captcha, so it tells nothing and costs nothing."""
    _campaign, codes = funded_campaign
    for _ in range(4):
        assert redeem(client, customer, "WRONGCODE2").json()["code"] == "code_invalid"
    for _ in range(3):
        captcha = client.post("/v1/me/captchas", headers=customer).json()
        wrong_captcha = client.post(
            "/v1/me/bonus-redemptions",
            json={"code": codes[0], "captcha_id": captcha["id"], "captcha_answer": "NOPE1"},
            headers=customer,
        )
        assert wrong_captcha.json()["code"] == "captcha_invalid"
    assert redeem(client, customer, codes[0]).status_code == 201


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
    captcha = client.post("/v1/me/captchas", headers=customer).json()
    with services.database.transaction() as connection:
        connection.execute(update(customers).values(status="blocked"))
    blocked = client.post(
        "/v1/me/bonus-redemptions",
        json={"code": codes[0], "captcha_id": captcha["id"], "captcha_answer": CAPTCHA_ANSWER},
        headers=customer,
    )
    assert blocked.status_code == 409 and blocked.json()["code"] == "customer_blocked"


def membership_at(client, customer, merchant) -> dict:
    memberships = client.get("/v1/me", headers=customer).json()["memberships"]
    return next(m for m in memberships if m["merchant_id"] == merchant.id)


def set_member_status(client, merchant, membership_id, status):
    response = client.post(
        f"/v1/customers/{membership_id}/status", json={"status": status}, headers=merchant.manager
    )
    assert response.status_code == 200, response.text


def test_a_member_blocked_by_the_campaigns_merchant_cannot_redeem_its_codes(
    client, merchant, customer, funded_campaign
):
    _campaign, codes = funded_campaign
    membership = membership_at(client, customer, merchant)
    set_member_status(client, merchant, membership["id"], "blocked")
    refused = redeem(client, customer, codes[0])
    assert refused.status_code == 409 and refused.json()["code"] == "customer_blocked"
    assert "membership" in refused.json()["detail"] and "blocked" in refused.json()["detail"]
    assert platform_wallet_balance(client, customer) == 0
    set_member_status(client, merchant, membership["id"], "active")
    assert redeem(client, customer, codes[0]).status_code == 201
    assert platform_wallet_balance(client, customer) == 20_000


def test_a_member_blocked_by_another_merchant_still_redeems_this_merchants_codes(
    client, merchant, other_merchant, customer, funded_campaign
):
    _campaign, codes = funded_campaign
    elsewhere = enrol(client, other_merchant, phone="+420601111111")
    set_member_status(client, other_merchant, elsewhere["id"], "blocked")
    assert redeem(client, customer, codes[0]).status_code == 201


def test_a_platform_account_the_operator_blocked_cannot_redeem(
    client, operator_key, customer, funded_campaign, services
):
    _campaign, codes = funded_campaign
    customer_id = uuid.UUID(client.get("/v1/me", headers=customer).json()["customer_id"])
    captcha = services.captchas.issue(customer_id, "192.0.2.1")
    blocked = client.post(
        f"/v1/platform-accounts/{customer_id}/status",
        json={"status": "blocked", "reason": "Codes bought from a fraudster"},
        headers=bearer(operator_key),
    )
    assert blocked.status_code == 200, blocked.text
    refused = client.post(
        "/v1/me/bonus-redemptions",
        json={"code": codes[0], "captcha_id": str(captcha.id), "captcha_answer": CAPTCHA_ANSWER},
        headers=customer,
    )
    assert refused.status_code == 409 and refused.json()["code"] == "customer_blocked"
    # Whoever calls the service (a page, a job), the account is refused before the code.
    with pytest.raises(errors.CustomerBlocked, match="platform account"):
        services.bonus_codes.redeem(
            customer_id,
            code=codes[0],
            captcha_id=captcha.id,
            captcha_answer=CAPTCHA_ANSWER,
            client_address="10.0.0.1",
        )
    with services.database.read() as connection:
        redeemed = connection.execute(
            select(bonus_codes.c.redeemed_at).where(bonus_codes.c.redeemed_at.is_not(None))
        ).all()
    assert redeemed == []
