"""A sign-in code is owed through the outbox, and asking for one tells no address from another.

Before the outbox, a known address waited for SMTP and an unknown one did not:
the answer's timing (or, with SMTP down, its status) said which addresses are
customers'. Now the request does the same work for both, and the job drops the
mail of an unknown address.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from sqlalchemy import event, select

from cagnotte.outbox.tables import outbox_messages
from tests.e2e.api.conftest import FlakyMailer, deliver_outbox, enrol

KNOWN = "jana@example.com"
UNKNOWN = "nobody@example.com"


@pytest.fixture
def mailer() -> FlakyMailer:
    return FlakyMailer()


@pytest.fixture
def known(client, merchant) -> str:
    enrol(client, merchant, "+420601123456", email=KNOWN)
    return KNOWN


def ask_for_code(client, email: str):
    return client.post("/v1/customer-sign-in/codes", json={"email": email})


def statements_of(services, call) -> list[str]:
    """The SQL a call sends to the database, in order (the parameters left out)."""
    sent: list[str] = []

    def record(_connection, _cursor, statement, _parameters, _context, _executemany):
        sent.append(re.sub(r"\s+", " ", statement))

    event.listen(services.database.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(services.database.engine, "before_cursor_execute", record)
    return sent


def test_asking_for_a_code_runs_the_same_statements_for_a_known_and_an_unknown_address(
    client, services, known
):
    for_known = statements_of(services, lambda: ask_for_code(client, known))
    for_unknown = statements_of(services, lambda: ask_for_code(client, UNKNOWN))
    assert for_known == for_unknown
    assert any("INSERT INTO outbox_messages" in statement for statement in for_known)


def test_smtp_down_does_not_tell_a_known_address_from_an_unknown_one(
    client, services, mailer, known
):
    mailer.down = True
    answers = [ask_for_code(client, email) for email in (known, UNKNOWN)]
    assert [answer.status_code for answer in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    assert mailer.messages == []
    mailer.down = False
    assert deliver_outbox(services).sent == 1
    assert [message["To"] for message in mailer.messages] == [known]
    assert re.search(r"code is \d{6}", mailer.messages[0].get_content())
    with services.database.read() as connection:
        outcomes = connection.execute(
            select(outbox_messages.c.recipient, outbox_messages.c.status, outbox_messages.c.body)
        ).all()
    # Neither keeps its code: one was sent, the other dropped without a word.
    assert Counter(outcomes) == Counter({(known, "sent", None): 1, (UNKNOWN, "dropped", None): 1})


def test_the_code_mailed_through_the_outbox_opens_a_session(client, services, mailer, known):
    assert ask_for_code(client, known).status_code == 202
    deliver_outbox(services)
    code = re.search(r"code is (\d{6})", mailer.messages[-1].get_content()).group(1)
    session = client.post("/v1/customer-sign-in/sessions", json={"email": known, "code": code})
    assert session.status_code == 201, session.text


@pytest.mark.parametrize(
    ("accept_language", "until"),
    [
        (None, "until 5. 1. 2026 10:10 SEČ."),
        ("fr-CA,fr;q=0.9", "until 5 janv. 2026, 10 h 10 +0100."),
        ("en-CA", "until Jan 5, 2026, 10:10\N{NARROW NO-BREAK SPACE}a.m. +0100."),
    ],
)
def test_the_code_s_end_is_written_for_the_browser_s_language(
    client, known, mailer, accept_language, until
):
    headers = {"Accept-Language": accept_language} if accept_language else {}
    response = client.post("/v1/customer-sign-in/codes", json={"email": known}, headers=headers)
    assert response.status_code == 202, response.text
    (mail,) = mailer.sent
    assert until in mail.get_content()
