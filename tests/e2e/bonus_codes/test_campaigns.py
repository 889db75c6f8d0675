"""Requesting, funding and settling bonus code campaigns (the PaySec rules)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from cagnotte.config import DEVELOPMENT_BANK_ACCOUNT
from cagnotte.db.tables import account_balances, accounts, transfers
from cagnotte.jobs import run_due_jobs
from cagnotte.programs.bonus_codes.codes import CODE_ALPHABET, CODE_LENGTH
from cagnotte.programs.bonus_codes.tables import bonus_codes
from tests.e2e.bonus_codes.conftest import (
    bearer,
    codes_from_mail,
    pay_by_bank,
    redeem,
    request_campaign,
)


def test_a_request_states_the_amount_and_how_to_pay_and_generates_nothing(
    client, merchant, clock, services
):
    campaign = request_campaign(client, merchant, clock, bonus_value_minor=25_000, code_count=40)
    assert campaign["status"] == "awaiting_funding"
    assert campaign["funding"]["required_minor"] == 1_000_000
    assert campaign["funding"]["outstanding_minor"] == 1_000_000
    assert campaign["funding"]["bank_account"] == DEVELOPMENT_BANK_ACCOUNT
    assert len(campaign["funding"]["variable_symbol"]) == 10
    with services.database.read() as connection:
        assert connection.execute(select(func.count()).select_from(bonus_codes)).scalar() == 0


def test_a_bonus_is_worth_at_most_five_thousand_crowns(client, merchant, clock):
    request_campaign(client, merchant, clock, bonus_value_minor=500_000)
    response = client.post(
        "/v1/bonus-campaigns",
        json={**_body(clock), "bonus_value_minor": 500_001},
        headers=merchant.owner,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "bonus_value_too_high"


def _body(clock):
    from tests.e2e.bonus_codes.conftest import campaign_body

    return campaign_body(clock)


def test_the_rest_may_go_to_a_valid_iban_or_czech_account_only(client, merchant, clock):
    for account, valid in [
        ("CZ65 0800 0000 1920 0014 5399", True),
        ("19-2000145399/0800", True),
        ("CZ65 0800 0000 1920 0014 5390", False),
        ("19-2000145398/0800", False),
        ("not an account", False),
    ]:
        response = client.post(
            "/v1/bonus-campaigns",
            json={**_body(clock), "rest_destination": "bank", "bank_account": account},
            headers=merchant.owner,
        )
        assert (response.status_code == 201) is valid, (account, response.text)
        if not valid:
            assert response.json()["code"] == "invalid_bank_account"


def test_a_cashier_cannot_request_a_campaign(client, merchant, clock):
    response = client.post("/v1/bonus-campaigns", json=_body(clock), headers=merchant.register)
    assert response.status_code == 403


def test_partial_bank_payments_add_up_and_the_codes_come_when_fully_funded(
    client, merchant, operator_key, clock, mailer, services
):
    campaign = request_campaign(client, merchant, clock)  # 5 × 200 CZK
    symbol = campaign["funding"]["variable_symbol"]
    first = pay_by_bank(client, operator_key, 60_000, symbol)
    assert first.json()["status"] == "matched" and first.json()["to_campaign_minor"] == 60_000
    halfway = client.get(f"/v1/bonus-campaigns/{campaign['id']}", headers=merchant.owner).json()
    assert halfway["status"] == "awaiting_funding"
    assert halfway["funding"]["outstanding_minor"] == 40_000
    assert halfway["report"]["codes_issued"] == 0

    second = pay_by_bank(client, operator_key, 50_000, symbol).json()
    assert second["to_campaign_minor"] == 40_000 and second["to_business_minor"] == 10_000
    funded = client.get(f"/v1/bonus-campaigns/{campaign['id']}", headers=merchant.owner).json()
    assert funded["status"] == "active"
    assert funded["escrow_balance_minor"] == 100_000
    assert funded["report"]["codes_issued"] == 5

    codes = codes_from_mail(mailer)
    assert len(set(codes)) == 5
    assert all(len(c) == CODE_LENGTH and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert mailer.sent[-1]["To"] == "office@cafe-bleu.example.com"
    assert {p.get_filename() for p in mailer.sent[-1].iter_attachments()} == {
        "bonus-codes.csv",
        "bonus-codes.xlsx",
    }
    # The over-payment waits on the merchant's business account.
    assert _business_balance(services, merchant) == 10_000


def _business_balance(services, merchant):
    import uuid

    with services.database.read() as connection:
        return connection.execute(
            select(
                func.coalesce(
                    func.sum(account_balances.c.credits_posted - account_balances.c.debits_posted),
                    0,
                )
            )
            .join(
                accounts,
                (accounts.c.merchant_id == account_balances.c.merchant_id)
                & (accounts.c.id == account_balances.c.account_id),
            )
            .where(
                accounts.c.merchant_id == uuid.UUID(merchant.id), accounts.c.purpose == "business"
            )
        ).scalar()


def test_an_unknown_reference_is_parked_until_the_operator_assigns_it(
    client, merchant, operator_key, clock, services
):
    parked = pay_by_bank(client, operator_key, 70_000, "1234").json()
    assert parked["status"] == "unmatched" and parked["campaign_id"] is None
    listed = client.get("/v1/bank-payments?status=unmatched", headers=bearer(operator_key)).json()[
        "items"
    ]
    assert [p["id"] for p in listed] == [parked["id"]]
    merchant_try = client.get("/v1/bank-payments", headers=merchant.owner)
    assert merchant_try.status_code == 403

    assigned = client.post(
        f"/v1/bank-payments/{parked['id']}/assign",
        json={"merchant_id": merchant.id},
        headers={**bearer(operator_key), "Idempotency-Key": str(uuid.uuid4())},
    ).json()
    assert assigned["status"] == "assigned" and assigned["to_business_minor"] == 70_000
    again = client.post(
        f"/v1/bank-payments/{parked['id']}/assign",
        json={"merchant_id": merchant.id},
        headers={**bearer(operator_key), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert again.json()["code"] == "bank_payment_already_assigned"
    assert _business_balance(services, merchant) == 70_000


def test_funding_from_the_business_account_needs_the_money_there(
    client, merchant, operator_key, clock, mailer, services
):
    campaign = request_campaign(client, merchant, clock)
    url = f"/v1/bonus-campaigns/{campaign['id']}/funding/business-account"

    def fund():
        return client.post(url, headers={**merchant.owner, "Idempotency-Key": str(uuid.uuid4())})

    refused = fund()
    assert refused.status_code == 422 and refused.json()["code"] == "insufficient_funds"
    parked = pay_by_bank(client, operator_key, 150_000, None).json()
    client.post(
        f"/v1/bank-payments/{parked['id']}/assign",
        json={"merchant_id": merchant.id},
        headers={**bearer(operator_key), "Idempotency-Key": str(uuid.uuid4())},
    )
    funded = fund()
    assert funded.status_code == 200, funded.text
    assert funded.json()["status"] == "active"
    assert _business_balance(services, merchant) == 50_000
    assert len(codes_from_mail(mailer)) == 5
    twice = fund()
    assert twice.json()["code"] == "campaign_not_awaiting_funding"


def test_the_plain_codes_can_be_downloaded_once_per_format_then_only_their_ends_show(
    client, merchant, funded_campaign
):
    campaign, codes = funded_campaign
    base = f"/v1/bonus-campaigns/{campaign['id']}"
    csv_file = client.get(f"{base}/codes.csv", headers=merchant.owner)
    assert csv_file.status_code == 200
    assert sorted(line.split(",")[0] for line in csv_file.text.splitlines()[1:]) == sorted(codes)
    assert client.get(f"{base}/codes.csv", headers=merchant.owner).json()["code"] == (
        "codes_already_downloaded"
    )
    xlsx_file = client.get(f"{base}/codes.xlsx", headers=merchant.owner)
    assert xlsx_file.status_code == 200 and xlsx_file.content[:2] == b"PK"
    assert client.get(f"{base}/codes.xlsx", headers=merchant.owner).status_code == 410
    after = client.get(base, headers=merchant.owner).json()
    assert after["plain_codes_available"] is False
    masked = client.get(f"{base}/codes", headers=merchant.owner).json()["items"]
    assert sorted(m["last_characters"] for m in masked) == sorted(c[-3:] for c in codes)


def test_after_the_validity_the_unused_rest_returns_to_the_business_account(
    client, merchant, funded_campaign, customer, clock, services
):
    campaign, codes = funded_campaign
    assert redeem(client, customer, codes[0]).status_code == 201
    assert redeem(client, customer, codes[1]).status_code == 201
    clock.advance(timedelta(days=31))
    done = run_due_jobs(services)
    assert done["bonus_campaigns_settled"] == 1
    settled = client.get(f"/v1/bonus-campaigns/{campaign['id']}", headers=merchant.owner).json()
    assert settled["status"] == "settled"
    assert settled["escrow_balance_minor"] == 0
    report = settled["report"]
    assert report == {
        "codes_issued": 5,
        "codes_redeemed": 2,
        "redeemed_minor": 40_000,
        "codes_expired": 3,
        "refunded_minor": 60_000,
    }
    assert report["redeemed_minor"] + report["refunded_minor"] == settled["funding"]["funded_minor"]
    assert _business_balance(services, merchant) == 60_000
    assert run_due_jobs(services)["bonus_campaigns_settled"] == 0


def test_a_rest_for_a_bank_account_waits_as_a_payout_until_the_operator_pays_it(
    client, merchant, operator_key, clock, mailer, services
):
    campaign = request_campaign(
        client, merchant, clock, rest_destination="bank", bank_account="19-2000145399/0800"
    )
    pay_by_bank(client, operator_key, 100_000, campaign["funding"]["variable_symbol"])
    clock.advance(timedelta(days=31))
    run_due_jobs(services)
    payouts = client.get("/v1/bonus-payouts?status=pending", headers=bearer(operator_key)).json()[
        "items"
    ]
    assert len(payouts) == 1 and payouts[0]["amount_minor"] == 100_000
    mine = client.get("/v1/bonus-payouts", headers=merchant.owner).json()["items"]
    assert [p["id"] for p in mine] == [payouts[0]["id"]]
    paid = client.post(
        f"/v1/bonus-payouts/{payouts[0]['id']}/paid",
        headers={**bearer(operator_key), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert paid.json()["status"] == "paid"
    twice = client.post(
        f"/v1/bonus-payouts/{payouts[0]['id']}/paid",
        headers={**bearer(operator_key), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert twice.json()["code"] == "payout_already_paid"
    _assert_ledger_balances(services)


def test_a_stopped_campaign_refuses_its_codes_and_refunds_the_rest(
    client, merchant, funded_campaign, customer, services
):
    campaign, codes = funded_campaign
    stopped = client.post(f"/v1/bonus-campaigns/{campaign['id']}/stop", headers=merchant.owner)
    assert stopped.json()["status"] == "stopped"
    refused = redeem(client, customer, codes[0])
    assert refused.status_code == 422 and refused.json()["code"] == "code_invalid"
    run_due_jobs(services)
    settled = client.get(f"/v1/bonus-campaigns/{campaign['id']}", headers=merchant.owner).json()
    assert settled["status"] == "settled" and settled["report"]["refunded_minor"] == 100_000
    assert _business_balance(services, merchant) == 100_000


def test_an_unfunded_campaign_past_its_validity_is_cancelled_and_refunds_what_came(
    client, merchant, operator_key, clock, services
):
    campaign = request_campaign(client, merchant, clock)
    pay_by_bank(client, operator_key, 30_000, campaign["funding"]["variable_symbol"])
    clock.advance(timedelta(days=31))
    run_due_jobs(services)
    cancelled = client.get(f"/v1/bonus-campaigns/{campaign['id']}", headers=merchant.owner).json()
    assert cancelled["status"] == "cancelled" and cancelled["escrow_balance_minor"] == 0
    assert _business_balance(services, merchant) == 30_000


def test_another_merchant_sees_nothing_of_a_campaign(client, other_merchant, funded_campaign):
    campaign, _codes = funded_campaign
    base = f"/v1/bonus-campaigns/{campaign['id']}"
    assert client.get(base, headers=other_merchant.owner).status_code == 404
    assert client.get(f"{base}/codes.csv", headers=other_merchant.owner).status_code == 404
    assert client.post(f"{base}/stop", headers=other_merchant.owner).status_code == 404
    assert client.get("/v1/bonus-campaigns", headers=other_merchant.owner).json()["items"] == []


def _assert_ledger_balances(services):
    with services.database.read() as connection:
        rows = connection.execute(
            select(
                accounts.c.asset_code,
                func.sum(account_balances.c.debits_posted),
                func.sum(account_balances.c.credits_posted),
            )
            .join(
                accounts,
                (accounts.c.merchant_id == account_balances.c.merchant_id)
                & (accounts.c.id == account_balances.c.account_id),
            )
            .group_by(accounts.c.asset_code)
        ).all()
        assert rows and all(debits == credits for _asset, debits, credits in rows)
        assert connection.execute(select(func.count()).select_from(transfers)).scalar() > 0
