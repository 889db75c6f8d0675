"""The birthday job: a fixed birthday bonus credited on the day, once a year, without a check.

The café gives 100 points on a member's birthday. The clock starts on Monday
5 January 2026, 09:00 UTC.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cagnotte.checkout.tables import loyalty_birthday_credits
from cagnotte.jobs import JOBS
from tests.e2e.api.conftest import enrol
from tests.e2e.loyalty.test_checks import commit, earned


@pytest.fixture
def points(client, merchant) -> dict:
    response = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={"kind": "points", "name": "Café points", "currency": "CZK"},
    )
    assert response.status_code == 201, response.text
    program = response.json()
    rule = client.post(
        f"/v1/loyalty-programs/{program['id']}/rules",
        headers=merchant.manager,
        json={
            "name": "Happy birthday",
            "requirements": [{"kind": "birthday"}],
            "benefit": {"kind": "fixed_bonus", "units": 100},
        },
    )
    assert rule.status_code == 201, rule.text
    return program


def run_birthday_job(services) -> int:
    (job,) = [job for name, job in JOBS if name == "birthdays"]
    return job(services)["birthdays_credited"]


def points_of(services, merchant, program: dict, member: dict) -> int:
    loaded = services.loyalty.program(uuid.UUID(merchant.id), uuid.UUID(program["id"]))
    account = services.loyalty.member_account(loaded, uuid.UUID(member["id"]))
    return services.ledger.balance(account).credit_balance


def test_the_job_credits_a_birthday_once_however_often_it_runs(
    client, merchant, points, services, clock
):
    today = enrol(client, merchant, "+420601555501", birth_date="1990-01-05")
    tomorrow = enrol(client, merchant, "+420601555502", birth_date="1990-01-06")
    assert run_birthday_job(services) == 1
    assert run_birthday_job(services) == 0  # the second run finds it credited
    assert points_of(services, merchant, points, today) == 100
    assert points_of(services, merchant, points, tomorrow) == 0
    # A check on the birthday earns its base points only: the job paid the bonus.
    answer = commit(client, merchant, "birthday-check", customer_id=today["id"]).json()
    assert earned(answer) == 20
    assert points_of(services, merchant, points, today) == 120
    clock.advance(timedelta(days=1))
    assert run_birthday_job(services) == 1
    assert points_of(services, merchant, points, tomorrow) == 100
    # The next year, once again.
    clock.set(datetime(2027, 1, 5, 8, tzinfo=UTC))
    assert run_birthday_job(services) == 1 and run_birthday_job(services) == 0
    assert points_of(services, merchant, points, today) == 220
    with services.database.read() as connection:
        rows = connection.execute(
            select(loyalty_birthday_credits.c.year, func.count())
            .group_by(loyalty_birthday_credits.c.year)
            .order_by(loyalty_birthday_credits.c.year)
        ).all()
    assert [tuple(row) for row in rows] == [(2026, 2), (2027, 1)]


def test_a_29_february_birthday_is_credited_on_28_february_in_other_years(
    client, merchant, points, services, clock
):
    leapling = enrol(client, merchant, "+420601555503", birth_date="1992-02-29")
    clock.set(datetime(2026, 2, 28, 10, tzinfo=UTC))
    assert run_birthday_job(services) == 1
    clock.set(datetime(2026, 3, 1, 10, tzinfo=UTC))
    assert run_birthday_job(services) == 0
    clock.set(datetime(2028, 2, 28, 10, tzinfo=UTC))  # a leap year: not yet
    assert run_birthday_job(services) == 0
    clock.set(datetime(2028, 2, 29, 10, tzinfo=UTC))
    assert run_birthday_job(services) == 1 and run_birthday_job(services) == 0
    assert points_of(services, merchant, points, leapling) == 200


def test_a_birthday_bonus_with_a_budget_gives_at_most_what_is_left(client, merchant, services):
    program = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={"kind": "points", "name": "Café points", "currency": "CZK"},
    ).json()
    rule = client.post(
        f"/v1/loyalty-programs/{program['id']}/rules",
        headers=merchant.manager,
        json={
            "name": "Happy birthday",
            "requirements": [{"kind": "birthday"}],
            "benefit": {"kind": "fixed_bonus", "units": 100},
            "budget_units": 150,
        },
    )
    assert rule.status_code == 201, rule.text
    members = [
        enrol(client, merchant, f"+42060155560{n}", birth_date="1985-01-05") for n in range(3)
    ]
    # 150 points in the budget: 100, then the 50 left, then nothing.
    assert run_birthday_job(services) == 2
    assert sorted(points_of(services, merchant, program, member) for member in members) == [
        0,
        50,
        100,
    ]
    assert run_birthday_job(services) == 0
