"""The e-card's page in a real Chromium: it shows the balance and a QR code that decodes
(from a screenshot) to the card's number."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from tests.e2e.api.conftest import make_merchant
from tests.e2e.gift_cards.conftest import PROGRAM, post

pytestmark = pytest.mark.browser


def test_the_ecard_page_shows_the_balance_and_a_qr_code_of_the_number(
    client, operator_key, live_server, page
):
    shop = make_merchant(client, operator_key, "Café Bleu")
    program = client.post("/v1/gift-card-programs", json=PROGRAM, headers=shop.manager).json()
    issued = post(
        client,
        "/v1/gift-cards/e-cards",
        {
            "program_id": program["id"],
            "amount_minor": 7_500,
            "recipient_email": "marie@example.ca",
            "message": "Joyeux Noël",
        },
        shop.register,
    ).json()
    spent = post(
        client,
        "/v1/gift-cards/spends",
        {"number": issued["number"], "pin": issued["pin"], "amount_minor": 1_250},
        shop.register,
    )
    assert spent.status_code == 201, spent.text
    path = issued["page_url"].split("/gift-cards/e/", 1)[1]
    response = page.goto(f"{live_server}/gift-cards/e/{path}")
    assert response is not None and response.status == 200
    assert page.get_by_test_id("balance").inner_text() == "62,50\u00a0CA$"
    assert page.get_by_test_id("number").inner_text().replace(" ", "") == issued["number"]
    assert issued["pin"] not in page.content()
    screenshot = page.get_by_test_id("qr-code").screenshot()
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(screenshot)))
    assert [code.text for code in decoded] == [issued["number"]]


def test_an_unknown_ecard_address_is_a_plain_404(live_server, page):
    response = page.goto(f"{live_server}/gift-cards/e/not-a-token")
    assert response is not None and response.status == 404
