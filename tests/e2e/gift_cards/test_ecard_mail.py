"""An e-card's mail goes through the outbox: SMTP down or a process dying strands nothing.

The money, the number and the PIN stay together: a retry with the issuing
request's Idempotency-Key answers what the first request did, the merchant sees
what became of the mail, and can have it sent again with that key.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from cagnotte.db.tables import audit_log, idempotency_records
from cagnotte.outbox.service import ATTEMPTS_MAX, retry_delay
from cagnotte.outbox.tables import outbox_messages
from cagnotte.programs.gift_cards.issuing import ECards
from cagnotte.programs.gift_cards.tables import gift_cards
from tests.e2e.api.concurrency import (
    all_at_once,
    server_url,  # noqa: F401  (a fixture)
)
from tests.e2e.api.conftest import FlakyMailer, deliver_outbox
from tests.e2e.gift_cards.conftest import post

AMOUNT = 5_000


@pytest.fixture
def mailer() -> FlakyMailer:
    return FlakyMailer()


def issue(client, merchant, program, key: str | None = "ecard-order-1", **extra):
    body = {
        "program_id": program["id"],
        "amount_minor": AMOUNT,
        "recipient_email": "marie@example.ca",
        "recipient_name": "Marie",
        "sender_name": "Luc",
        **extra,
    }
    return post(client, "/v1/gift-cards/e-cards", body, merchant.register, key)


def mails_of(client, merchant, card_id: str) -> list[dict]:
    response = client.get(f"/v1/gift-cards/{card_id}/ecard-mails", headers=merchant.register)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def balance_of(client, merchant, card_id: str) -> int:
    return client.get(f"/v1/gift-cards/{card_id}", headers=merchant.manager).json()["balance_minor"]


def grouped(number: str) -> str:
    return " ".join(number[index : index + 4] for index in range(0, len(number), 4))


def fail_for_good(services, clock) -> None:
    """Run the job through every attempt of a mail while SMTP stays down."""
    for attempt in range(1, ATTEMPTS_MAX + 1):
        deliver_outbox(services)
        clock.advance(retry_delay(attempt) if attempt < ATTEMPTS_MAX else timedelta(0))


def test_an_ecard_sold_while_smtp_is_down_is_answered_and_replayed_with_its_number_and_pin(
    client, services, merchant, program, mailer
):
    mailer.down = True
    first = issue(client, merchant, program)
    assert first.status_code == 201, first.text
    issued = first.json()
    assert issued["number"] and issued["pin"] and issued["card"]["balance_minor"] == AMOUNT
    # The retry (the first answer was lost, say) gets the same card, number and PIN.
    again = issue(client, merchant, program)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    replayed = again.json()
    assert replayed["card"]["id"] == issued["card"]["id"]
    assert (replayed["number"], replayed["pin"], replayed["page_url"]) == (
        issued["number"],
        issued["pin"],
        issued["page_url"],
    )
    assert balance_of(client, merchant, issued["card"]["id"]) == AMOUNT
    assert deliver_outbox(services).retried == 1 and mailer.messages == []
    mailer.down = False
    services.clock.advance(retry_delay(1))
    assert deliver_outbox(services).sent == 1
    (mail,) = mailer.messages
    body = mail.get_body(("plain",)).get_content()
    assert grouped(issued["number"]) in body and f"PIN: {issued['pin']}" in body
    services.clock.advance(timedelta(hours=1))
    assert deliver_outbox(services).sent == 0 and len(mailer.messages) == 1
    (state,) = mails_of(client, merchant, issued["card"]["id"])
    assert (state["status"], state["attempts"], state["recipient"]) == (
        "sent",
        2,
        "marie@example.ca",
    )


def test_a_process_dying_after_the_commit_strands_neither_the_money_nor_the_secrets(
    client, services, merchant, program, mailer, monkeypatch
):
    answer = ECards._answer
    dying = {"once": True}

    def die_once(self, caller, done):
        if dying.pop("once", False):
            raise SystemError("the process died before it answered")
        return answer(self, caller, done)

    monkeypatch.setattr(ECards, "_answer", die_once)
    lost = issue(client, merchant, program)
    assert lost.status_code == 500
    retried = issue(client, merchant, program)
    assert retried.status_code == 201, retried.text
    issued = retried.json()
    assert issued["number"] and issued["pin"]
    assert balance_of(client, merchant, issued["card"]["id"]) == AMOUNT
    assert deliver_outbox(services).sent == 1
    (mail,) = mailer.messages
    assert f"PIN: {issued['pin']}" in mail.get_body(("plain",)).get_content()


def test_neither_the_stored_answer_nor_a_sent_mail_keeps_the_number_or_the_pin(
    client, services, merchant, program
):
    issued = issue(client, merchant, program).json()
    assert deliver_outbox(services).sent == 1
    with services.database.read() as connection:
        (answer,) = connection.execute(
            select(idempotency_records.c.answer).where(idempotency_records.c.key == "ecard-order-1")
        ).one()
        kept = connection.execute(select(outbox_messages)).mappings().all()
        card = connection.execute(select(gift_cards.c.number_sealed)).scalars().all()
    stored = json.dumps(answer)
    assert issued["number"] not in stored and issued["pin"] not in stored
    assert issued["page_url"].rsplit("/", 1)[1] not in stored
    assert answer["ecard"].startswith("v2:")
    (message,) = kept
    assert message["status"] == "sent" and message["body"] is None
    assert issued["number"] not in json.dumps({k: str(v) for k, v in message.items()})
    assert [value.startswith("v2:") for value in card] == [True]


def test_a_mail_that_finally_fails_shows_in_its_state_and_the_audit_trail(
    client, services, merchant, program, mailer, clock
):
    issued = issue(client, merchant, program).json()
    card_id = issued["card"]["id"]
    assert mails_of(client, merchant, card_id)[0]["status"] == "pending"
    mailer.down = True
    fail_for_good(services, clock)
    (state,) = mails_of(client, merchant, card_id)
    assert (state["status"], state["attempts"]) == ("failed", ATTEMPTS_MAX)
    assert "SMTP server down" in state["last_error"] and state["failed_at"]
    assert state["next_attempt_at"] is None
    with services.database.read() as connection:
        body = connection.execute(select(outbox_messages.c.body)).scalar_one()
        audited = connection.execute(
            select(audit_log.c.action, audit_log.c.subject_id, audit_log.c.details).where(
                audit_log.c.action == "gift_card.ecard_mail_failed"
            )
        ).all()
    assert body is None
    assert [(action, str(subject)) for action, subject, _details in audited] == [
        ("gift_card.ecard_mail_failed", card_id)
    ]
    assert audited[0].details["recipient"] == "marie@example.ca"
    # The card and its money are untouched.
    assert balance_of(client, merchant, card_id) == AMOUNT


def test_the_merchant_has_an_ecard_mailed_again_with_the_key_it_was_issued_with(
    client, services, merchant, program, mailer, clock
):
    issued = issue(client, merchant, program).json()
    card_id = issued["card"]["id"]
    mailer.down = True
    fail_for_good(services, clock)
    mailer.down = False
    resent = client.post(
        f"/v1/gift-cards/{card_id}/ecard-mails",
        json={"idempotency_key": "ecard-order-1", "recipient_email": "marie@example.fr"},
        headers=merchant.register,
    )
    assert resent.status_code == 202, resent.text
    assert (resent.json()["status"], resent.json()["recipient"]) == ("pending", "marie@example.fr")
    assert deliver_outbox(services).sent == 1
    (mail,) = mailer.messages
    assert mail["To"] == "marie@example.fr"
    body = mail.get_body(("plain",)).get_content()
    assert grouped(issued["number"]) in body and f"PIN: {issued['pin']}" in body
    assert issued["page_url"] in body and "Luc sends you" in body
    assert [state["status"] for state in mails_of(client, merchant, card_id)] == ["sent", "failed"]
    with services.database.read() as connection:
        actions = connection.execute(
            select(audit_log.c.action).where(audit_log.c.subject_id == uuid.UUID(card_id))
        ).scalars()
        assert "gift_card.ecard_mail_resent" in list(actions)


def test_only_the_issuing_key_has_an_ecard_mailed_again(client, services, merchant, program):
    issued = issue(client, merchant, program).json()
    other = issue(client, merchant, program, key="ecard-order-2").json()
    load = post(
        client,
        "/v1/gift-cards/loads",
        {"number": issued["number"], "amount_minor": 1_000},
        merchant.register,
        "a-load",
    )
    assert load.status_code == 201
    for key in ("ecard-order-0", "ecard-order-2", "a-load"):
        refused = client.post(
            f"/v1/gift-cards/{issued['card']['id']}/ecard-mails",
            json={"idempotency_key": key},
            headers=merchant.register,
        )
        assert refused.status_code == 404 and refused.json()["code"] == "not_found", key
    assert other["card"]["id"] != issued["card"]["id"]
    assert len(mails_of(client, merchant, issued["card"]["id"])) == 1


def test_an_ecard_page_sealed_in_the_first_form_still_shows_its_number(
    client, services, merchant, program
):
    import hashlib
    import hmac

    issued = issue(client, merchant, program).json()
    token = issued["page_url"].rsplit("/", 1)[1]
    keystream = hmac.new(token.encode(), b"gift card number", hashlib.sha256).digest()
    legacy = bytes(a ^ b for a, b in zip(issued["number"].encode(), keystream, strict=False))
    with services.database.transaction() as connection:
        connection.execute(update(gift_cards).values(number_sealed=legacy.hex()))
    page = client.get(f"/gift-cards/e/{token}")
    assert page.status_code == 200 and grouped(issued["number"]) in page.text
    with services.database.transaction() as connection:
        connection.execute(update(gift_cards).values(number_sealed="v2:" + "A" * 63))
    assert client.get(f"/gift-cards/e/{token}").status_code == 404


def test_twenty_parallel_sales_with_one_key_load_one_card_owe_one_mail_and_answer_alike(
    server_url,  # noqa: F811  (the fixture imported above)
    client,
    services,
    merchant,
    program,
    mailer,
):
    """On PostgreSQL the key's row makes the others wait, then replay the first answer."""
    body = {"program_id": program["id"], "amount_minor": AMOUNT, "recipient_email": "m@example.ca"}
    headers = {**merchant.register, "Idempotency-Key": "ecard-rush-1"}
    answers = all_at_once(
        20,
        lambda http: http.post(f"{server_url}/v1/gift-cards/e-cards", json=body, headers=headers),
    )
    assert [answer.status_code for answer in answers] == [201] * 20
    issued = {
        (a.json()["card"]["id"], a.json()["number"], a.json()["pin"], a.json()["page_url"])
        for a in answers
    }
    assert len(issued) == 1
    ((card_id, number, pin, _page_url),) = issued
    assert number and pin
    active = client.get("/v1/gift-cards?state=active", headers=merchant.manager).json()["items"]
    assert [(card["id"], card["balance_minor"]) for card in active] == [(card_id, AMOUNT)]
    assert deliver_outbox(services).sent == 1
    (mail,) = mailer.messages
    assert f"PIN: {pin}" in mail.get_body(("plain",)).get_content()
