"""A funded campaign's codes are owed by mail through the outbox, and composed when sent.

The outbox row holds no code: the job builds the files from the plain codes
still kept. The merchant sees what became of the mail; one that finally fails
is in the audit trail.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from cagnotte.db.tables import audit_log
from cagnotte.outbox.service import ATTEMPTS_MAX, retry_delay
from cagnotte.outbox.tables import outbox_messages
from tests.e2e.api.conftest import FlakyMailer, deliver_outbox
from tests.e2e.bonus_codes.conftest import codes_from_mail, pay_by_bank, request_campaign


@pytest.fixture
def mailer() -> FlakyMailer:
    return FlakyMailer()


def funded(client, merchant, operator_key, clock) -> dict:
    campaign = request_campaign(client, merchant, clock)
    paid = pay_by_bank(client, operator_key, 100_000, campaign["funding"]["variable_symbol"])
    assert paid.status_code == 201, paid.text
    return campaign


def codes_mails(client, merchant, campaign) -> list[dict]:
    response = client.get(
        f"/v1/bonus-campaigns/{campaign['id']}/codes-mails", headers=merchant.manager
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_the_codes_mail_is_owed_by_the_funding_and_sent_by_the_job(
    client, services, merchant, operator_key, clock, mailer
):
    campaign = funded(client, merchant, operator_key, clock)
    (owed,) = codes_mails(client, merchant, campaign)
    assert (owed["status"], owed["recipient"]) == ("pending", "office@cafe-bleu.example.com")
    assert mailer.messages == []
    with services.database.read() as connection:
        (body,) = connection.execute(select(outbox_messages.c.body)).one()
    assert body is None  # the codes are never copied into the outbox
    assert deliver_outbox(services).sent == 1
    codes = codes_from_mail(mailer)
    assert len(codes) == 5
    (sent,) = codes_mails(client, merchant, campaign)
    assert (sent["status"], sent["attempts"]) == ("sent", 1)
    # The download still serves the same codes (the mail took nothing).
    download = client.get(f"/v1/bonus-campaigns/{campaign['id']}/codes.csv", headers=merchant.owner)
    assert download.status_code == 200 and all(code in download.text for code in codes)


def test_a_codes_mail_that_finally_fails_is_shown_and_audited(
    client, services, merchant, operator_key, clock, mailer
):
    campaign = funded(client, merchant, operator_key, clock)
    mailer.down = True
    for attempt in range(1, ATTEMPTS_MAX + 1):
        deliver_outbox(services)
        if attempt < ATTEMPTS_MAX:
            clock.advance(retry_delay(attempt))
    (failed,) = codes_mails(client, merchant, campaign)
    assert (failed["status"], failed["attempts"]) == ("failed", ATTEMPTS_MAX)
    with services.database.read() as connection:
        audited = connection.execute(
            select(audit_log.c.subject_id).where(
                audit_log.c.action == "bonus_campaign.codes_mail_failed"
            )
        ).scalars()
        assert list(audited) == [uuid.UUID(campaign["id"])]
    # The codes can still be downloaded.
    download = client.get(f"/v1/bonus-campaigns/{campaign['id']}/codes.csv", headers=merchant.owner)
    assert download.status_code == 200


def test_a_codes_mail_is_dropped_once_both_files_were_downloaded_and_fails_once_codes_are_wiped(
    client, services, merchant, operator_key, clock, mailer
):
    downloaded = funded(client, merchant, operator_key, clock)
    for file_format in ("csv", "xlsx"):
        response = client.get(
            f"/v1/bonus-campaigns/{downloaded['id']}/codes.{file_format}",
            headers=merchant.owner,
        )
        assert response.status_code == 200
    wiped = funded(client, merchant, operator_key, clock)
    clock.advance(timedelta(days=8))
    assert services.bonus_codes.wipe_old_plain_codes() == 1
    done = deliver_outbox(services)
    assert (done.sent, done.dropped, done.failed) == (0, 1, 1)
    assert mailer.messages == []
    assert codes_mails(client, merchant, downloaded)[0]["status"] == "dropped"
    (gone,) = codes_mails(client, merchant, wiped)
    assert gone["status"] == "failed" and "wiped" in gone["last_error"]
