"""E-mail campaigns to a segment, over SMTP to a sink on loopback.

Four members of the segment "everyone": Anna and Boris consent to marketing
e-mail, Chloé does not, Dan consents but has no address. Only Anna and Boris
are recipients; the second of them unsubscribes before their turn.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from cagnotte.api.app import create_app
from cagnotte.bootstrap import bootstrap
from cagnotte.config import Settings
from cagnotte.crm import campaigns as campaigns_module
from tests.e2e.api.conftest import make_merchant
from tests.smtp import running_sink

BODY = "Hello {{ first_name }},\nYou have {{ balances['Café points'] }} points at {{ merchant }}."


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
        client.post(
            "/v1/loyalty-programs",
            headers=merchant.manager,
            json={"kind": "points", "name": "Café points", "currency": "CZK"},
        )
        people = {}
        for name, phone, mail, consent in (
            ("Anna", "+420601222000", "anna@example.com", True),
            ("Boris", "+420601222001", "boris@example.com", True),
            ("Chloé", "+420601222002", "chloe@example.com", False),
            ("Dan", "+420601222003", None, True),
        ):
            body = {"phone": phone, "first_name": name, "consent_marketing_email": consent}
            if mail:
                body["email"] = mail
            people[name] = client.post("/v1/customers", json=body, headers=merchant.register).json()
        segment = client.post(
            "/v1/segments",
            json={"name": "everyone", "definition": {}},
            headers=merchant.manager,
        ).json()
        yield client, services, merchant, people, segment


def create(client, merchant, segment, **extra) -> dict:
    response = client.post(
        "/v1/campaigns",
        json={
            "name": "June news",
            "segment_id": segment["id"],
            "subject": "{{ first_name }}, June at {{ merchant }}",
            "body": BODY,
            **extra,
        },
        headers=merchant.manager,
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_preview_and_test_send_render_one_members_mail(world, sink):
    client, services, merchant, people, segment = world
    campaign = create(client, merchant, segment)
    preview = client.get(
        f"/v1/campaigns/{campaign['id']}/preview",
        params={"customer_id": people["Anna"]["id"]},
        headers=merchant.manager,
    ).json()
    assert preview["subject"] == "Anna, June at Café Bleu"
    assert preview["body"].startswith("Hello Anna,\nYou have 0 points at Café Bleu.")
    assert "https://cafe.example/u/cgu1." in preview["body"]
    sent = client.post(
        f"/v1/campaigns/{campaign['id']}/test-sends",
        json={"customer_id": people["Anna"]["id"], "email": "owner@cafe.example"},
        headers=merchant.manager,
    )
    assert sent.status_code == 202, sent.text
    services.outbox.deliver_due()
    handler, _port = sink
    (mail,) = handler.messages
    assert (
        mail["To"] == "owner@cafe.example" and mail["Subject"] == "[test] Anna, June at Café Bleu"
    )


def test_a_send_goes_only_to_consenting_members_once_each_across_an_interruption(
    world, sink, monkeypatch, clock
):
    client, services, merchant, people, segment = world
    handler, _port = sink
    monkeypatch.setattr(campaigns_module, "RATE_BURST", 1)  # one mail per run at first
    campaign = create(client, merchant, segment, rate_per_hour=1)
    started = client.post(f"/v1/campaigns/{campaign['id']}/send", headers=merchant.manager)
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "sending"
    assert started.json()["recipients"]["pending"] == 2  # Anna and Boris only
    again = client.post(f"/v1/campaigns/{campaign['id']}/send", headers=merchant.manager)
    assert again.status_code == 409

    assert services.campaigns.send_due() == 1  # one of them: the rate allows one so far
    assert services.campaigns.send_due() == 0
    # The process stops here; another one (new services on the same database) goes on.
    services.outbox.deliver_due()
    (first,) = [m["To"] for m in handler.messages]
    other = "Boris" if first == "anna@example.com" else "Anna"
    # The other withdraws before their turn, from a link of an earlier mail.
    token = services.consents.unsubscribe_token(
        uuid.UUID(merchant.id), uuid.UUID(people[other]["id"])
    )
    assert client.post(f"/u/{token}").status_code == 200
    restarted = bootstrap(services.settings, clock=clock, database=services.database)
    clock.advance(timedelta(hours=2))  # the rate allows two more now
    assert restarted.campaigns.send_due() == 0
    restarted.outbox.deliver_due()
    assert [m["To"] for m in handler.messages] == [first]  # each once, the other never
    report = client.get(f"/v1/campaigns/{campaign['id']}", headers=merchant.manager).json()
    assert report["status"] == "sent"
    assert report["recipients"] == {
        "pending": 0,
        "queued": 0,
        "sent": 1,
        "failed": 0,
        "unsubscribed": 1,
    }
    (mail,) = handler.messages
    assert mail["List-Unsubscribe"].startswith("<https://cafe.example/v1/unsubscribe/cgu1.")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_template_that_cannot_render_is_refused(world):
    client, _services, merchant, _people, segment = world
    for body in ("{{ nobody }}", "{% for %}", "{{ ''.__class__.__mro__ }}"):
        response = client.post(
            "/v1/campaigns",
            json={"name": "x", "segment_id": segment["id"], "subject": "s", "body": body},
            headers=merchant.manager,
        )
        assert response.status_code == 422, (body, response.text)


def test_a_cashier_may_not_run_campaigns(world):
    client, _services, merchant, _people, segment = world
    response = client.post(
        "/v1/campaigns",
        json={"name": "x", "segment_id": segment["id"], "subject": "s", "body": "b"},
        headers=merchant.register,
    )
    assert response.status_code == 403
