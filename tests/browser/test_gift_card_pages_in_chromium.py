"""The gift card back-office in a real Chromium: the nav, a card lookup, a CSV download."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.gift_cards.conftest import activate, create_program, new_cards, spend
from tests.e2e.web.conftest import STAFF_PASSWORD, add_staff

pytestmark = pytest.mark.browser


def test_a_manager_finds_a_card_and_downloads_the_liability_report(
    page, live_server, client, merchant
):
    program = create_program(client, merchant)
    (card,) = new_cards(client, merchant, program, 1)
    activate(client, merchant, card, 10_000)
    spend(client, merchant, card, 2_500)
    add_staff(client, merchant, "marie@cafe-bleu.example", role="manager")
    page.goto(f"{live_server}/back-office")
    page.get_by_label("E-mail address").fill("marie@cafe-bleu.example")
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("link", name="Find a gift card").click()
    page.get_by_label("Last four digits or the whole card number").fill(card.number[-4:])
    page.get_by_role("button", name="Find").click()
    page.get_by_role("link", name=f"…{card.number[-4:]}").click()
    expect(page.locator("#card-balance")).to_have_text("75,00\u00a0CA$")
    expect(page.locator("#card-state")).to_have_text("Active")
    expect(page.get_by_role("table")).to_contain_text("Spend")
    expect(page.locator("body")).not_to_contain_text(card.number)

    page.get_by_role("link", name="Gift card reports").click()
    expect(page.locator("#liability")).to_contain_text("75,00\u00a0CA$")
    with page.expect_download() as download_info:
        page.locator("#liability-title").locator("..").get_by_role("link", name="CSV").click()
    download = download_info.value
    assert download.suggested_filename == "gift-card-liability.csv"
    header, row = download.path().read_text(encoding="utf-8").splitlines()
    assert header.startswith("program_id,") and row.endswith(",7500")
