"""A gift card's daily limits count the merchant's local day, and its e-card mail writes the
amount for the merchant's locale."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.e2e.api.conftest import bearer
from tests.e2e.gift_cards.conftest import activate, create_program, new_cards, post, spend

NBSP = "\N{NO-BREAK SPACE}"


def _relocate(client, operator_key, merchant, **where) -> None:
    response = client.patch(
        f"/v1/merchants/{merchant.id}", json=where, headers=bearer(operator_key)
    )
    assert response.status_code == 200, response.text


def _limited_card(client, merchant):
    program = create_program(client, merchant, spend_amount_per_card_per_day_max_minor=3_000)
    (card,) = new_cards(client, merchant, program, 1)
    assert activate(client, merchant, card, 10_000).status_code == 201
    return card


def test_a_prague_merchant_s_card_has_a_new_day_at_23_30_utc(client, merchant, clock):
    card = _limited_card(client, merchant)
    clock.set(datetime(2026, 1, 5, 22, 30, tzinfo=UTC))  # 23:30 on the 5th in Prague
    assert spend(client, merchant, card, 3_000).status_code == 201
    assert spend(client, merchant, card, 1).json()["code"] == "daily_limit_exceeded"
    clock.set(datetime(2026, 1, 5, 23, 30, tzinfo=UTC))  # 00:30 on the 6th
    assert spend(client, merchant, card, 3_000).status_code == 201


def test_a_montreal_merchant_s_card_is_still_in_its_day_at_03_00_utc(
    client, operator_key, merchant, clock
):
    _relocate(client, operator_key, merchant, country="CA", time_zone="America/Montreal")
    card = _limited_card(client, merchant)
    clock.set(datetime(2026, 1, 5, 20, 0, tzinfo=UTC))  # 15:00 on the 5th in Montréal
    assert spend(client, merchant, card, 3_000).status_code == 201
    clock.set(datetime(2026, 1, 6, 3, 0, tzinfo=UTC))  # 22:00 on the 5th: the same day
    assert spend(client, merchant, card, 1).json()["code"] == "daily_limit_exceeded"
    clock.set(datetime(2026, 1, 6, 5, 30, tzinfo=UTC))  # 00:30 on the 6th
    assert spend(client, merchant, card, 3_000).status_code == 201


def test_the_activity_report_counts_in_the_merchant_s_day(client, operator_key, merchant, clock):
    _relocate(client, operator_key, merchant, country="CA", time_zone="America/Montreal")
    card = _limited_card(client, merchant)
    clock.set(datetime(2026, 1, 6, 3, 0, tzinfo=UTC))  # 22:00 on the 5th in Montréal
    assert spend(client, merchant, card, 1_000).status_code == 201
    report = client.get(
        "/v1/gift-card-reports/activity",
        params={"from": "2026-01-05", "to": "2026-01-06"},
        headers=merchant.manager,
    )
    assert report.status_code == 200, report.text
    body = report.json()
    rows = body["items"] if isinstance(body, dict) and "items" in body else body
    spends = [row for row in rows if row.get("spent_minor")]
    assert [row["business_date"] for row in spends] == ["2026-01-05"]


@pytest.mark.parametrize(
    ("locale", "written"),
    [("fr_CA", f"50,00{NBSP}$"), ("en_CA", "$50.00"), ("cs_CZ", f"50,00{NBSP}CA$")],
)
def test_the_ecard_mail_writes_its_amount_for_the_merchant_s_locale(
    client, operator_key, merchant, program, mailer, locale, written
):
    _relocate(client, operator_key, merchant, locale=locale)
    issued = post(
        client,
        "/v1/gift-cards/e-cards",
        {
            "program_id": program["id"],
            "amount_minor": 5_000,
            "recipient_email": "marie@example.ca",
        },
        merchant.register,
    )
    assert issued.status_code == 201, issued.text
    (mail,) = mailer.sent
    body = mail.get_body(("plain",)).get_content()
    assert f"gift card of {written}." in body
