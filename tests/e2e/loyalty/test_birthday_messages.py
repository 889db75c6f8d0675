"""The birthday message: one e-mail on the member's birthday, once a year, over SMTP to a
sink on loopback, telling the reward the loyalty rules credited that day.

The café gives 100 points on a member's birthday. The clock starts on Monday
5 January 2026, 09:00 UTC (10:00 in Prague). Anna (born 5 January) consents to
marketing e-mail; Boris (born 5 January too) does not; Chloé consents and is born
on 6 January.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cagnotte.api.app import create_app
from cagnotte.bootstrap import bootstrap
from cagnotte.config import Settings
from cagnotte.crm.tables import birthday_messages
from cagnotte.jobs import JOBS, run_due_jobs
from cagnotte.outbox.tables import outbox_messages
from tests.e2e.api.conftest import enrol, make_merchant
from tests.smtp import running_sink

BODY = (
    "Dear {{ first_name }},\n"
    "{% if reward %}Your present: {{ reward }}.{% else %}No present this year.{% endif %}\n"
    "You now hold {{ balances['Café points'] }} points."
)


@pytest.fixture
def sink():
    with running_sink() as sink_and_port:
        yield sink_and_port


@pytest.fixture
def world(database, clock, sink, tmp_path):
    _handler, port = sink
    settings = Settings(
        environment="development",
        database_url=database.url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        mail_from="Café Bleu <news@cafe.example>",
        public_url="https://cafe.example",
        outbox_dir=tmp_path / "outbox",
    )
    services = bootstrap(settings, clock=clock, database=database)
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        operator = services.merchants.ensure_operator_key()
        merchant = make_merchant(client, operator, "Café Bleu")
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
            },
        )
        assert rule.status_code == 201, rule.text
        people = {
            name: enrol(
                client,
                merchant,
                phone,
                first_name=name,
                email=f"{name.lower()}@example.com",
                birth_date=born,
                consent_marketing_email=consent,
            )
            for name, phone, born, consent in (
                ("Anna", "+420601888000", "1990-01-05", True),
                ("Boris", "+420601888001", "1991-01-05", False),
                ("Chloé", "+420601888002", "1992-01-06", True),
            )
        }
        yield client, services, merchant, people


def turn_on(client, merchant, **message):
    response = client.patch(
        f"/v1/merchants/{merchant.id}",
        json={"birthday_message": {"enabled": True, **message}},
        headers=merchant.owner,
    )
    assert response.status_code == 200, response.text
    return response.json()


def run_message_job(services) -> int:
    (job,) = [job for name, job in JOBS if name == "birthday_messages"]
    return job(services).get("birthday_messages_queued", 0)


def delivered(services, sink) -> list:
    services.outbox.deliver_due()
    handler, _port = sink
    return handler.messages


def test_a_consenting_member_gets_one_mail_a_year_with_the_reward_of_the_day(world, sink, clock):
    client, services, merchant, _people = world
    settings = turn_on(client, merchant, subject="Happy birthday, {{ first_name }}!", body=BODY)
    assert settings["birthday_message_enabled"] is True
    # Only the message job runs: it credits the reward first, so the mail tells it.
    assert run_message_job(services) == 1
    (mail,) = delivered(services, sink)
    assert mail["To"] == "anna@example.com"  # not Boris: no consent; not Chloé: tomorrow
    assert mail["Subject"] == "Happy birthday, Anna!"
    text = mail.get_content()
    assert "Your present: 100\N{NO-BREAK SPACE}" in text and "(Café points)" in text
    assert "You now hold 100 points." in text
    assert "https://cafe.example/u/cgu1." in text
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # A rerun, and the whole jobs' run, send nothing more.
    assert run_message_job(services) == 0
    assert run_due_jobs(services).get("birthday_messages_queued") == 0
    assert len(delivered(services, sink)) == 1
    # The next day, Chloé's turn; Anna's is over.
    clock.advance(timedelta(days=1))
    assert run_message_job(services) == 1
    assert [m["To"] for m in delivered(services, sink)][1:] == ["chloé@example.com"]
    # The next year, Anna again, with that year's reward.
    clock.set(datetime(2027, 1, 5, 8, tzinfo=UTC))
    assert run_message_job(services) == 1 and run_message_job(services) == 0
    latest = delivered(services, sink)[-1]
    assert latest["To"] == "anna@example.com"
    assert "You now hold 200 points." in latest.get_content()
    with services.database.read() as connection:
        years = connection.execute(
            select(birthday_messages.c.year, func.count())
            .group_by(birthday_messages.c.year)
            .order_by(birthday_messages.c.year)
        ).all()
    assert [tuple(row) for row in years] == [(2026, 2), (2027, 1)]


def test_the_default_template_wishes_and_tells_the_reward(world, sink):
    client, services, merchant, _people = world
    turn_on(client, merchant)
    assert run_message_job(services) == 1
    (mail,) = delivered(services, sink)
    assert mail["Subject"] == "Happy birthday, Anna!"
    text = mail.get_content()
    assert "Everyone at Café Bleu wishes you a very happy birthday!" in text
    assert "we have added 100\N{NO-BREAK SPACE}" in text


def test_a_merchant_that_has_not_turned_it_on_sends_nothing(world, sink):
    client, services, merchant, _people = world
    assert run_message_job(services) == 0
    turn_on(client, merchant)
    client.patch(
        f"/v1/merchants/{merchant.id}",
        json={"birthday_message": {"enabled": False}},
        headers=merchant.owner,
    )
    assert run_message_job(services) == 0
    assert delivered(services, sink) == []


def test_no_mail_to_the_blocked_the_erased_the_withdrawn_or_those_without_an_address(world, sink):
    client, services, merchant, people = world
    turn_on(client, merchant)
    blocked = client.post(
        f"/v1/customers/{people['Anna']['id']}/status",
        json={"status": "blocked"},
        headers=merchant.manager,
    )
    assert blocked.status_code == 200, blocked.text
    for phone, extra in (
        ("+420601888010", {"email": "dan@example.com"}),  # erased below
        ("+420601888011", {}),  # no address
        ("+420601888012", {"email": "eve@example.com"}),  # withdraws below
    ):
        member = enrol(
            client,
            merchant,
            phone,
            birth_date="1980-01-05",
            consent_marketing_email=True,
            **extra,
        )
        if phone.endswith("10"):
            client.post(f"/v1/customers/{member['id']}/erasure", headers=merchant.manager)
        if phone.endswith("12"):
            client.post(
                f"/v1/customers/{member['id']}/consents",
                json={"email": False},
                headers=merchant.register,
            )
    assert run_message_job(services) == 0
    assert delivered(services, sink) == []


def test_a_29_february_birthday_is_wished_on_28_february_in_other_years(world, sink, clock):
    client, services, merchant, _people = world
    turn_on(client, merchant)
    enrol(
        client,
        merchant,
        "+420601888020",
        first_name="Léa",
        email="lea@example.com",
        birth_date="1992-02-29",
        consent_marketing_email=True,
    )
    clock.set(datetime(2026, 2, 28, 10, tzinfo=UTC))
    assert run_message_job(services) == 1
    clock.set(datetime(2026, 3, 1, 10, tzinfo=UTC))
    assert run_message_job(services) == 0
    clock.set(datetime(2028, 2, 28, 10, tzinfo=UTC))  # a leap year: not yet
    assert run_message_job(services) == 0
    clock.set(datetime(2028, 2, 29, 10, tzinfo=UTC))
    assert run_message_job(services) == 1
    assert [m["To"] for m in delivered(services, sink)] == ["lea@example.com"] * 2


def test_the_day_is_the_merchants_local_day(world, sink, clock):
    client, services, merchant, _people = world
    turn_on(client, merchant)
    # 23:30 UTC on 4 January is already 5 January in Prague.
    clock.set(datetime(2026, 1, 4, 23, 30, tzinfo=UTC))
    assert run_message_job(services) == 1
    (mail,) = delivered(services, sink)
    assert mail["To"] == "anna@example.com"


@pytest.mark.parametrize(
    "message",
    [
        {"body": "{{ nobody }}"},
        {"body": "{% for %}"},
        {"subject": "{{ ''.__class__.__mro__ }}"},
        {"subject": ""},
        {"body": ""},
        {"enabled": None},
        {"enabled": "yes"},
        {"colour": "blue"},
    ],
)
def test_a_bad_birthday_message_is_refused_and_changes_nothing(world, message):
    client, _services, merchant, _people = world
    response = client.patch(
        f"/v1/merchants/{merchant.id}",
        json={"birthday_message": {"enabled": True, **message}},
        headers=merchant.owner,
    )
    assert response.status_code == 422, response.text
    read = client.get(f"/v1/merchants/{merchant.id}", headers=merchant.owner).json()
    assert read["birthday_message_enabled"] is False and read["birthday_message_body"] is None


def test_twenty_parallel_runs_write_each_message_once(world, postgres_url):
    client, services, merchant, people = world
    turn_on(client, merchant)
    services.checkout.credit_birthdays()
    runs = 20
    barrier = threading.Barrier(runs)
    counts: list[int] = []

    def run() -> None:
        barrier.wait()
        counts.append(services.birthday_messages.send_due())

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(counts) == [0] * (runs - 1) + [1]
    with services.database.read() as connection:
        mails = connection.execute(
            select(func.count()).where(
                outbox_messages.c.kind == "birthday_mail",
                outbox_messages.c.reference_id == uuid.UUID(people["Anna"]["id"]),
            )
        ).scalar_one()
    assert mails == 1
