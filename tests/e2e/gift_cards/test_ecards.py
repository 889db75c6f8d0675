"""E-cards: issued by an e-store, loaded, mailed over SMTP (caught by a local sink)."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image

from cagnotte.api.app import create_app
from cagnotte.bootstrap import bootstrap
from cagnotte.config import Settings
from tests.e2e.api.conftest import deliver_outbox
from tests.e2e.gift_cards.conftest import PROGRAM, bearer, make_merchant, post
from tests.smtp import running_sink


@pytest.fixture
def smtp_sink():
    with running_sink() as sink_and_port:
        yield sink_and_port


@pytest.fixture
def smtp_client(database, clock, smtp_sink, tmp_path):
    _sink, port = smtp_sink
    settings = Settings(
        environment="development",
        database_url=database.url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        mail_from="Café Bleu <cards@cafe.example>",
        public_url="https://cards.example",
    )
    services = bootstrap(settings, clock=clock, database=database)
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield client, services


def test_an_ecard_is_mailed_with_its_number_pin_message_and_a_qr_code(smtp_client, smtp_sink):
    client, services = smtp_client
    sink, _port = smtp_sink
    operator_key = services.merchants.ensure_operator_key()
    shop = make_merchant(client, operator_key, "Café Bleu")
    program = client.post("/v1/gift-card-programs", json=PROGRAM, headers=shop.manager).json()
    response = post(
        client,
        "/v1/gift-cards/e-cards",
        {
            "program_id": program["id"],
            "amount_minor": 5_000,
            "recipient_email": "marie@example.ca",
            "recipient_name": "Marie",
            "sender_name": "Luc",
            "message": "Bon anniversaire !",
        },
        shop.register,
        key="ecard-1",
    )
    assert response.status_code == 201, response.text
    issued = response.json()
    assert issued["card"]["kind"] == "virtual" and issued["card"]["state"] == "active"
    assert issued["card"]["balance_minor"] == 5_000
    # The request only owed the mail: the job sends it.
    assert sink.messages == []
    assert deliver_outbox(services).sent == 1
    (message,) = sink.messages
    assert message["To"] == "marie@example.ca"
    body = message.get_body(("plain",)).get_content()
    number = issued["number"]
    grouped = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    assert grouped in body and f"PIN: {issued['pin']}" in body
    assert "Bon anniversaire !" in body and "Luc sends you" in body and "50,00\u00a0CA$" in body
    assert issued["page_url"].startswith("https://cards.example/gift-cards/e/")
    assert issued["page_url"] in body
    (attachment,) = list(message.iter_attachments())
    image = Image.open(io.BytesIO(attachment.get_content()))
    assert [code.text for code in zxingcpp.read_barcodes(image)] == [number]
    spent = post(
        client,
        "/v1/gift-cards/spends",
        {"number": number, "pin": issued["pin"], "amount_minor": 1_000},
        shop.register,
    )
    assert spent.status_code == 201
    again = post(
        client,
        "/v1/gift-cards/e-cards",
        {
            "program_id": program["id"],
            "amount_minor": 5_000,
            "recipient_email": "marie@example.ca",
            "recipient_name": "Marie",
            "sender_name": "Luc",
            "message": "Bon anniversaire !",
        },
        shop.register,
        key="ecard-1",
    )
    assert again.status_code == 201 and again.json()["card"]["id"] == issued["card"]["id"]
    assert (again.json()["number"], again.json()["pin"]) == (issued["number"], issued["pin"])
    assert deliver_outbox(services).sent == 0
    assert len(sink.messages) == 1
    assert bearer  # the helpers module is shared
