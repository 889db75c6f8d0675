"""The return window: points earned stay pending for 14 days, then the job posts them.

The café's points program earns 1 point per 10.00 CZK and keeps what a check
earns pending for 14 days (`pending_days`). The check of two espressos
(2 × 45.00) and a cake (119.90) earns 20 points: 9 on the espressos and 11 on
the cake (largest remainder).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from cagnotte.db.tables import lots
from cagnotte.jobs import JOBS
from tests.e2e.api.conftest import enrol
from tests.e2e.loyalty.test_checks import check, commit, earned

WINDOW = timedelta(days=14)


@pytest.fixture
def points(client, merchant) -> dict:
    response = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={"kind": "points", "name": "Café points", "currency": "CZK", "pending_days": 14},
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def member(client, merchant) -> dict:
    return enrol(client, merchant, "+420601555111", first_name="Eloise")


def balance_of(services, merchant, program: dict, member: dict):
    caller = services.merchants.authenticate_key(merchant.manager["Authorization"].split()[1])
    prog = services.loyalty.get(caller, uuid.UUID(program["id"]))
    account = services.loyalty.member_account(prog, uuid.UUID(member["id"]))
    return services.ledger.balance(account), account


def run_window_job(services) -> int:
    (job,) = [job for name, job in JOBS if name == "return_window"]
    return job(services)["earnings_posted"]


def refund(client, merchant, check_id: str, key: str, lines=None):
    body = {"lines": lines} if lines else {}
    response = client.post(
        f"/v1/checks/{check_id}/refunds",
        json=body,
        headers={**merchant.register, "Idempotency-Key": key},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_points_earned_in_the_window_are_pending_and_cannot_be_spent(
    client, merchant, points, member, services, clock
):
    answer = commit(client, merchant, "earn", customer_id=member["id"])
    assert answer.status_code == 201, answer.text
    (earn,) = [e for e in answer.json()["effects"] if e["kind"] == "earn"]
    assert earn["units"] == 20
    assert earn["pending_until"] == (clock.now() + WINDOW).isoformat().replace("+00:00", "Z")
    balance, _account = balance_of(services, merchant, points, member)
    assert (balance.credits_pending, balance.credit_balance, balance.available) == (20, 0, 0)
    quote = check(client, merchant, customer_id=member["id"]).json()
    assert quote["spendable"][0]["balance_units"] == 0
    refused = commit(
        client,
        merchant,
        "spend",
        customer_id=member["id"],
        use_loyalty=[{"program_id": points["id"], "units": 10}],
    )
    assert refused.status_code == 422 and refused.json()["code"] == "insufficient_funds"
    # Nothing is due yet: the job posts nothing.
    clock.advance(WINDOW - timedelta(seconds=1))
    assert run_window_job(services) == 0
    assert balance_of(services, merchant, points, member)[0].credits_pending == 20


def test_a_refund_within_the_window_voids_the_hold_and_takes_nothing_else(
    client, merchant, points, member, services, clock
):
    first = commit(client, merchant, "first", customer_id=member["id"]).json()
    clock.advance(WINDOW)
    assert run_window_job(services) == 1
    second = commit(client, merchant, "second", customer_id=member["id"]).json()
    assert earned(second) == 20
    assert balance_of(services, merchant, points, member)[0].credits_pending == 20
    # The cake of the second check: its 11 of the 20 points are voided; 9 stay held.
    cake = refund(client, merchant, second["id"], "cake", [{"index": 1, "quantity": 1}])
    assert cake["kept_off_refund_minor"] == 0 and cake["money_back_minor"] == 11_990
    balance, _account = balance_of(services, merchant, points, member)
    assert (balance.credit_balance, balance.credits_pending) == (20, 9)
    rest = refund(client, merchant, second["id"], "rest")
    assert rest["kept_off_refund_minor"] == 0 and rest["money_back_minor"] == 9_000
    balance, _account = balance_of(services, merchant, points, member)
    # The first check's 20 points were not touched; nothing is pending any more.
    assert (balance.credit_balance, balance.credits_pending) == (20, 0)
    clock.advance(WINDOW)
    assert run_window_job(services) == 0
    assert balance_of(services, merchant, points, member)[0].credit_balance == 20
    assert first["id"] != second["id"]


def test_after_the_window_the_job_posts_once_and_a_refund_takes_back_as_usual(
    client, merchant, points, member, services, clock
):
    answer = commit(client, merchant, "earn", customer_id=member["id"]).json()
    # A partial refund within the window: the cake's 11 points never arrive.
    refund(client, merchant, answer["id"], "cake", [{"index": 1, "quantity": 1}])
    clock.advance(WINDOW)
    assert run_window_job(services) == 1
    assert run_window_job(services) == 0  # posted once
    balance, _account = balance_of(services, merchant, points, member)
    assert (balance.credit_balance, balance.credits_pending, balance.available) == (9, 0, 9)
    spent = commit(
        client,
        merchant,
        "spend",
        customer_id=member["id"],
        lines=[{"sku": "TEA", "quantity": 1, "unit_price_minor": 200}],
        use_loyalty=[{"program_id": points["id"], "units": 5}],
    )
    assert spent.status_code == 201, spent.text
    assert balance_of(services, merchant, points, member)[0].credit_balance == 4
    # The espressos refunded after the window: their 9 points taken back; the 5
    # already spent (0.50 CZK) are kept off the 90.00 returned.
    espressos = refund(client, merchant, answer["id"], "espressos")
    assert espressos["money_back_minor"] == 9_000
    assert espressos["kept_off_refund_minor"] == 50
    assert balance_of(services, merchant, points, member)[0].credit_balance == 0


def test_temporary_points_held_for_the_window_keep_their_expiry_once_posted(
    client, merchant, points, member, services, clock
):
    rule = client.post(
        f"/v1/loyalty-programs/{points['id']}/rules",
        headers=merchant.manager,
        json={
            "name": "Spring bonus",
            "benefit": {"kind": "fixed_bonus", "units": 50},
            "expires_after_days": 30,
        },
    )
    assert rule.status_code == 201, rule.text
    bought = clock.now()
    answer = commit(client, merchant, "earn", customer_id=member["id"]).json()
    assert earned(answer) == 70
    clock.advance(WINDOW)
    assert run_window_job(services) == 2  # the base points and the bonus: two holds
    balance, account = balance_of(services, merchant, points, member)
    assert balance.credit_balance == 70
    with services.database.read() as connection:
        held_lots = connection.execute(
            select(lots.c.remaining, lots.c.expires_at)
            .where(lots.c.account_id == account.id)
            .order_by(lots.c.remaining)
        ).all()
    assert [(row.remaining, row.expires_at) for row in held_lots] == [
        (20, None),
        (50, bought + timedelta(days=30)),
    ]
    clock.advance(timedelta(days=17))
    assert services.ledger.expire_lots() == 1
    assert balance_of(services, merchant, points, member)[0].credit_balance == 20


def test_the_customer_page_shows_points_pending_until_the_window_ends(
    client, merchant, points, services, clock, mailer
):
    from tests.e2e.web.conftest import sign_in_customer

    member = enrol(client, merchant, "+420601555222", email="eloise@example.com")
    commit(client, merchant, "earn", customer_id=member["id"])
    page = sign_in_customer(client, mailer, "eloise@example.com")
    assert page.status_code == 200, page.text
    # Bought on 5 January 2026: spendable from 19 January.
    assert "20 points pending until" in page.text and ">2026-01-19</time>" in page.text
    assert "0 points" in page.text
    clock.advance(WINDOW)
    run_window_job(services)
    page = sign_in_customer(client, mailer, "eloise@example.com")  # the session has lapsed
    assert "pending until" not in page.text and "20 points" in page.text
