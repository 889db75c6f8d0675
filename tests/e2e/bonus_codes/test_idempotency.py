"""Retried requests that move value: the first answer comes back, the money moves once."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from cagnotte.db.tables import account_balances, accounts, transfers
from cagnotte.jobs import run_due_jobs
from cagnotte.programs.bonus_codes.tables import bank_payments
from tests.e2e.bonus_codes.conftest import bearer, codes_from_mail, pay_by_bank, request_campaign


def business_balance(services, merchant):
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


def transfers_with_code(services, code):
    with services.database.read() as connection:
        return connection.execute(
            select(func.count()).select_from(transfers).where(transfers.c.code == code)
        ).scalar()


def recorded_bank_payments(services):
    with services.database.read() as connection:
        return connection.execute(select(func.count()).select_from(bank_payments)).scalar()


def campaign_mails(mailer):
    return [message for message in mailer.sent if message["Subject"].startswith("Bonus codes")]


def test_a_retried_bank_payment_replays_its_first_answer_and_posts_once(
    client, merchant, operator_key, clock, services
):
    campaign = request_campaign(client, merchant, clock)
    symbol = campaign["funding"]["variable_symbol"]
    first = pay_by_bank(client, operator_key, 60_000, symbol, key="bank-statement-7")
    assert first.status_code == 201, first.text
    again = pay_by_bank(client, operator_key, 60_000, symbol, key="bank-statement-7")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert recorded_bank_payments(services) == 1
    assert transfers_with_code(services, "campaign_funding") == 1
    halfway = client.get(f"/v1/bonus-campaigns/{campaign['id']}", headers=merchant.owner).json()
    assert halfway["funding"]["funded_minor"] == 60_000


def test_a_retried_bank_payment_that_completes_the_funds_issues_and_mails_the_codes_once(
    client, merchant, operator_key, clock, mailer, services
):
    campaign = request_campaign(client, merchant, clock)
    symbol = campaign["funding"]["variable_symbol"]
    first = pay_by_bank(client, operator_key, 100_000, symbol, key="bank-statement-8")
    again = pay_by_bank(client, operator_key, 100_000, symbol, key="bank-statement-8")
    assert again.json() == first.json()
    assert len(campaign_mails(mailer)) == 1
    funded = client.get(f"/v1/bonus-campaigns/{campaign['id']}", headers=merchant.owner).json()
    assert funded["status"] == "active" and funded["report"]["codes_issued"] == 5
    assert funded["escrow_balance_minor"] == 100_000


def test_a_bank_payment_key_reused_with_another_body_is_refused(
    client, merchant, other_merchant, operator_key, clock, services
):
    campaign = request_campaign(client, merchant, clock)
    other = request_campaign(client, other_merchant, clock)
    symbol = campaign["funding"]["variable_symbol"]
    assert pay_by_bank(client, operator_key, 60_000, symbol, key="k-1").status_code == 201
    for amount, reference in [
        (70_000, symbol),
        (60_000, other["funding"]["variable_symbol"]),
        (60_000, None),
    ]:
        reused = pay_by_bank(client, operator_key, amount, reference, key="k-1")
        assert reused.status_code == 409, (amount, reference, reused.text)
        assert reused.json()["code"] == "idempotency_key_reused"
    assert recorded_bank_payments(services) == 1
    untouched = client.get(f"/v1/bonus-campaigns/{other['id']}", headers=other_merchant.owner)
    assert untouched.json()["funding"]["funded_minor"] == 0


def test_a_retried_funding_from_the_business_account_replays_the_campaign_and_pays_once(
    client, merchant, operator_key, clock, mailer, services
):
    campaign = request_campaign(client, merchant, clock)
    parked = pay_by_bank(client, operator_key, 150_000, None).json()
    client.post(
        f"/v1/bank-payments/{parked['id']}/assign",
        json={"merchant_id": merchant.id},
        headers={**bearer(operator_key), "Idempotency-Key": str(uuid.uuid4())},
    )
    url = f"/v1/bonus-campaigns/{campaign['id']}/funding/business-account"
    headers = {**merchant.owner, "Idempotency-Key": "fund-spring"}
    first = client.post(url, headers=headers)
    assert first.status_code == 200, first.text
    again = client.post(url, headers=headers)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.json()["status"] == "active"
    assert business_balance(services, merchant) == 50_000
    assert len(campaign_mails(mailer)) == 1
    without_key = client.post(url, headers=merchant.owner)
    assert without_key.json()["code"] == "idempotency_key_required"
    another_key = client.post(url, headers={**merchant.owner, "Idempotency-Key": "fund-again"})
    assert another_key.json()["code"] == "campaign_not_awaiting_funding"


def test_a_retried_assignment_replays_its_first_answer_and_moves_the_money_once(
    client, merchant, operator_key, clock, services
):
    parked = pay_by_bank(client, operator_key, 70_000, "1234").json()
    url = f"/v1/bank-payments/{parked['id']}/assign"
    headers = {**bearer(operator_key), "Idempotency-Key": "assign-1234"}
    first = client.post(url, json={"merchant_id": merchant.id}, headers=headers)
    assert first.status_code == 200, first.text
    again = client.post(url, json={"merchant_id": merchant.id}, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert business_balance(services, merchant) == 70_000
    reused = client.post(url, json={"merchant_id": str(uuid.uuid4())}, headers=headers)
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"


def test_a_payment_assigned_to_a_campaign_funds_it_and_its_codes_come(
    client, merchant, operator_key, clock, mailer, services
):
    campaign = request_campaign(client, merchant, clock)
    parked = pay_by_bank(client, operator_key, 120_000, "99").json()
    assigned = client.post(
        f"/v1/bank-payments/{parked['id']}/assign",
        json={"campaign_id": campaign["id"]},
        headers={**bearer(operator_key), "Idempotency-Key": str(uuid.uuid4())},
    ).json()
    assert assigned["status"] == "assigned" and assigned["campaign_id"] == campaign["id"]
    assert assigned["to_campaign_minor"] == 100_000 and assigned["to_business_minor"] == 20_000
    funded = client.get(f"/v1/bonus-campaigns/{campaign['id']}", headers=merchant.owner).json()
    assert funded["status"] == "active"
    assert len(codes_from_mail(mailer)) == 5
    assert business_balance(services, merchant) == 20_000


def test_a_payment_cannot_be_assigned_to_a_merchant_that_does_not_exist(
    client, operator_key, services
):
    parked = pay_by_bank(client, operator_key, 70_000, "1234").json()
    refused = client.post(
        f"/v1/bank-payments/{parked['id']}/assign",
        json={"merchant_id": str(uuid.uuid4())},
        headers={**bearer(operator_key), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert refused.status_code == 404 and refused.json()["code"] == "not_found"
    listed = client.get("/v1/bank-payments?status=unmatched", headers=bearer(operator_key))
    assert [p["id"] for p in listed.json()["items"]] == [parked["id"]]


def test_a_retried_payout_record_replays_its_first_answer_and_pays_once(
    client, merchant, operator_key, clock, services
):
    campaign = request_campaign(
        client, merchant, clock, rest_destination="bank", bank_account="19-2000145399/0800"
    )
    pay_by_bank(client, operator_key, 100_000, campaign["funding"]["variable_symbol"])
    clock.advance(timedelta(days=31))
    run_due_jobs(services)
    (payout,) = client.get("/v1/bonus-payouts", headers=bearer(operator_key)).json()["items"]
    url = f"/v1/bonus-payouts/{payout['id']}/paid"
    headers = {**bearer(operator_key), "Idempotency-Key": "payout-1"}
    first = client.post(url, headers=headers)
    assert first.status_code == 200 and first.json()["status"] == "paid"
    again = client.post(url, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert transfers_with_code(services, "bank_payout") == 1
