"""Programs, batches, activation, loads, spends, balance inquiries, two-phase spends, refunds."""

from __future__ import annotations

import io
from datetime import timedelta

from openpyxl import load_workbook

from cagnotte.programs.gift_cards.numbers import luhn_valid
from tests.e2e.gift_cards.conftest import (
    activate,
    balance,
    create_program,
    load,
    new_cards,
    post,
    spend,
)


def test_a_batch_is_printed_once_with_luhn_numbers_and_pins(client, merchant, program):
    cards = new_cards(client, merchant, program, 5)
    assert len(cards) == 5
    assert all(len(c.number) == 16 and luhn_valid(c.number) for c in cards)
    assert all(c.pin and len(c.pin) == 4 for c in cards)
    assert len({c.number for c in cards}) == 5
    batch_id = client.get(f"/v1/gift-cards/{cards[0].id}", headers=merchant.manager).json()[
        "batch_id"
    ]
    again = client.post(f"/v1/gift-card-batches/{batch_id}/export", headers=merchant.manager)
    assert again.status_code == 409
    assert again.json()["code"] == "batch_already_exported"
    states = client.get(f"/v1/gift-card-batches/{batch_id}", headers=merchant.manager).json()
    assert states["cards_by_state"] == {"inactive": 5}


def test_a_batch_exports_as_xlsx_for_the_printer(client, merchant, program):
    batch = client.post(
        f"/v1/gift-card-programs/{program['id']}/batches",
        json={"card_count": 3},
        headers=merchant.manager,
    ).json()
    export = client.post(
        f"/v1/gift-card-batches/{batch['id']}/export?format=xlsx", headers=merchant.manager
    )
    assert export.status_code == 200
    sheet = load_workbook(io.BytesIO(export.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("sequence", "card_id", "number", "pin")
    assert [row[0] for row in rows[1:]] == [1, 2, 3]
    assert all(luhn_valid(str(row[2])) for row in rows[1:])


def test_a_program_number_format_has_its_prefix_and_length(client, merchant):
    program = create_program(
        client,
        merchant,
        number_length=19,
        number_prefix="603456",
        pin_required=False,
        number_luhn=False,
    )
    (card,) = new_cards(client, merchant, program, 1)
    assert card.number.startswith("603456") and len(card.number) == 19
    assert card.pin is None


def test_activation_with_a_load_puts_the_amount_on_the_card(client, merchant, program):
    (card,) = new_cards(client, merchant, program, 1)
    response = activate(client, merchant, card, 2_500)
    assert response.status_code == 201, response.text
    assert response.json()["balance_after_minor"] == 2_500
    assert balance(client, merchant, card) == 2_500
    # Named by its number alone, an active card gets the answer of no card (no oracle).
    again = activate(client, merchant, card, 2_500)
    assert again.status_code == 422 and again.json()["code"] == "gift_card_invalid"


def test_an_inactive_card_takes_no_spend(client, merchant, program):
    (card,) = new_cards(client, merchant, program, 1)
    response = spend(client, merchant, card, 100)
    assert response.status_code == 409
    assert response.json()["code"] == "gift_card_inactive"


def test_a_reload_adds_to_the_balance_within_the_limits(client, merchant, card):
    assert load(client, merchant, card, 5_000).json()["balance_after_minor"] == 15_000
    below = load(client, merchant, card, 499)
    assert below.json()["code"] == "load_out_of_range"
    above = load(client, merchant, card, 50_001)
    assert above.json()["code"] == "load_out_of_range"
    assert load(client, merchant, card, 50_000).status_code == 201
    full = load(client, merchant, card, 40_000)
    assert full.json()["code"] == "balance_limit_exceeded"
    assert balance(client, merchant, card) == 65_000


def test_a_card_of_a_program_without_reloads_refuses_a_second_load(client, merchant):
    program = create_program(client, merchant, reloadable=False)
    (card,) = new_cards(client, merchant, program, 1)
    assert activate(client, merchant, card, 1_000).status_code == 201
    response = load(client, merchant, card, 1_000)
    # A load names the card by its number alone: a card it may not load is no card to it.
    assert response.status_code == 422
    assert response.json()["code"] == "gift_card_invalid"
    assert balance(client, merchant, card) == 1_000


def test_a_partial_spend_leaves_the_rest_on_the_card(client, merchant, card):
    response = spend(client, merchant, card, 3_000)
    assert response.status_code == 201, response.text
    assert response.json()["balance_after_minor"] == 7_000
    assert response.json()["rest_due_minor"] == 0
    assert balance(client, merchant, card) == 7_000


def test_spending_more_than_the_balance_is_refused(client, merchant, card):
    response = spend(client, merchant, card, 10_001)
    assert response.status_code == 422
    assert response.json()["code"] == "insufficient_funds"
    assert balance(client, merchant, card) == 10_000


def test_spending_more_takes_what_is_there_when_asked_and_reports_the_rest(client, merchant, card):
    response = spend(client, merchant, card, 12_500, take_what_is_there=True)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["amount_minor"] == 10_000
    assert body["requested_minor"] == 12_500
    assert body["rest_due_minor"] == 2_500
    assert balance(client, merchant, card) == 0
    empty = spend(client, merchant, card, 100, take_what_is_there=True)
    assert empty.json()["code"] == "insufficient_funds"


def test_a_retried_spend_replays_and_another_body_is_refused(client, merchant, card):
    first = spend(client, merchant, card, 1_000, key="spend-1")
    again = spend(client, merchant, card, 1_000, key="spend-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = spend(client, merchant, card, 1_001, key="spend-1")
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    assert balance(client, merchant, card) == 9_000


def test_a_balance_inquiry_needs_the_number_and_the_pin(client, merchant, card):
    response = post(
        client,
        "/v1/gift-cards/balance-inquiries",
        {"number": card.number, "pin": card.pin},
        merchant.register,
    )
    assert response.status_code == 200, response.text
    assert response.json()["balance_minor"] == 10_000
    assert response.json()["number_last4"] == card.number[-4:]
    assert "number" not in response.json()


def test_a_two_phase_spend_holds_then_captures_part(client, merchant, card):
    held = post(
        client,
        "/v1/gift-cards/authorisations",
        {"number": card.number, "pin": card.pin, "amount_minor": 4_000},
        merchant.register,
    )
    assert held.status_code == 201, held.text
    card_view = client.get(f"/v1/gift-cards/{card.id}", headers=merchant.manager).json()
    assert card_view["balance_minor"] == 10_000 and card_view["available_minor"] == 6_000
    captured = post(
        client,
        f"/v1/gift-cards/authorisations/{held.json()['id']}/capture",
        {"amount_minor": 3_000},
        merchant.register,
    )
    assert captured.status_code == 201, captured.text
    assert captured.json()["balance_after_minor"] == 7_000
    card_view = client.get(f"/v1/gift-cards/{card.id}", headers=merchant.manager).json()
    assert card_view["available_minor"] == 7_000


def test_a_voided_authorisation_releases_the_hold(client, merchant, card):
    held = post(
        client,
        "/v1/gift-cards/authorisations",
        {"number": card.number, "pin": card.pin, "amount_minor": 4_000},
        merchant.register,
    ).json()
    voided = post(client, f"/v1/gift-cards/authorisations/{held['id']}/void", {}, merchant.register)
    assert voided.status_code == 201, voided.text
    assert (
        client.get(f"/v1/gift-cards/{card.id}", headers=merchant.manager).json()["available_minor"]
        == 10_000
    )


def test_an_authorisation_lapses_after_its_time(client, merchant, card, services, clock):
    held = post(
        client,
        "/v1/gift-cards/authorisations",
        {"number": card.number, "pin": card.pin, "amount_minor": 4_000},
        merchant.register,
    ).json()
    clock.advance(timedelta(minutes=61))
    assert services.ledger.expire_holds() == 1
    late = post(
        client, f"/v1/gift-cards/authorisations/{held['id']}/capture", {}, merchant.register
    )
    assert late.status_code == 409
    assert (
        client.get(f"/v1/gift-cards/{card.id}", headers=merchant.manager).json()["available_minor"]
        == 10_000
    )


def test_refunds_of_a_spend_add_up_to_at_most_the_spend(client, merchant, card):
    spent = spend(client, merchant, card, 6_000).json()
    first = post(
        client,
        f"/v1/gift-cards/spends/{spent['id']}/refunds",
        {"amount_minor": 2_000},
        merchant.register,
    )
    assert first.status_code == 201, first.text
    assert first.json()["balance_after_minor"] == 6_000
    too_much = post(
        client,
        f"/v1/gift-cards/spends/{spent['id']}/refunds",
        {"amount_minor": 4_001},
        merchant.register,
    )
    assert too_much.json()["code"] == "reversal_exceeds_transfer"
    rest = post(client, f"/v1/gift-cards/spends/{spent['id']}/refunds", {}, merchant.register)
    assert rest.status_code == 201 and rest.json()["amount_minor"] == 4_000
    assert balance(client, merchant, card) == 10_000


def test_a_refund_of_a_capture_goes_back_to_the_card(client, merchant, card):
    held = post(
        client,
        "/v1/gift-cards/authorisations",
        {"number": card.number, "pin": card.pin, "amount_minor": 4_000},
        merchant.register,
    ).json()
    captured = post(
        client, f"/v1/gift-cards/authorisations/{held['id']}/capture", {}, merchant.register
    ).json()
    refund = post(client, f"/v1/gift-cards/spends/{captured['id']}/refunds", {}, merchant.register)
    assert refund.status_code == 201, refund.text
    assert balance(client, merchant, card) == 10_000


def test_a_frozen_card_takes_nothing_until_unfrozen(client, merchant, card):
    frozen = client.post(f"/v1/gift-cards/{card.id}/freeze", headers=merchant.manager)
    assert frozen.status_code == 200 and frozen.json()["state"] == "frozen"
    assert spend(client, merchant, card, 100).json()["code"] == "gift_card_frozen"
    # Without a PIN, a frozen card gets the answer of no card (no oracle).
    assert load(client, merchant, card, 1_000).json()["code"] == "gift_card_invalid"
    thawed = client.post(f"/v1/gift-cards/{card.id}/unfreeze", headers=merchant.manager)
    assert thawed.json()["state"] == "active"
    assert spend(client, merchant, card, 100).status_code == 201


def test_a_closed_card_stays_closed(client, merchant, card):
    closed = client.post(f"/v1/gift-cards/{card.id}/close", headers=merchant.manager)
    assert closed.json()["state"] == "closed"
    assert spend(client, merchant, card, 100).json()["code"] == "gift_card_closed"
    unfreeze = client.post(f"/v1/gift-cards/{card.id}/unfreeze", headers=merchant.manager)
    assert unfreeze.json()["code"] == "gift_card_closed"


def test_a_cashier_may_not_freeze_or_adjust_a_card(client, merchant, card):
    response = client.post(f"/v1/gift-cards/{card.id}/freeze", headers=merchant.register)
    assert response.status_code == 403


def test_a_card_expires_n_months_after_activation_and_its_rest_breaks(
    client, merchant, services, clock
):
    program = create_program(client, merchant, expiry_months=12)
    (card,) = new_cards(client, merchant, program, 1)
    activated = activate(client, merchant, card, 8_000)
    assert activated.status_code == 201
    spend(client, merchant, card, 3_000)
    view = client.get(f"/v1/gift-cards/{card.id}", headers=merchant.manager).json()
    assert view["expires_at"].startswith("2027-01-05")
    clock.advance(timedelta(days=364))
    assert services.gift_cards.expire_cards() == 0
    clock.advance(timedelta(days=2))
    assert services.gift_cards.expire_cards() == 1
    view = client.get(f"/v1/gift-cards/{card.id}", headers=merchant.manager).json()
    assert view["state"] == "closed" and view["closed_reason"] == "expired"
    assert view["balance_minor"] == 0
    report = client.get(
        "/v1/gift-card-reports/activity?from=2027-01-01&to=2027-01-31",
        headers=merchant.manager,
    ).json()
    assert sum(row["breakage_minor"] for row in report) == 5_000


def test_a_retried_activation_without_a_load_replays_its_first_answer(client, merchant, program):
    # An activation without a load writes no journal entry: its answer is kept
    # all the same, so the retry gets it instead of "the card is active already".
    (card,) = new_cards(client, merchant, program, 1)
    body = {"number": card.number}
    first = post(client, "/v1/gift-cards/activations", body, merchant.register, "activate-1")
    again = post(client, "/v1/gift-cards/activations", body, merchant.register, "activate-1")
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    other = post(
        client,
        "/v1/gift-cards/activations",
        {"number": card.number, "amount_minor": 1},
        merchant.register,
        "activate-1",
    )
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    operations = client.get(f"/v1/gift-cards/{card.id}/operations", headers=merchant.manager)
    assert [operation["kind"] for operation in operations.json()["items"]] == ["activation"]
    assert balance(client, merchant, card) == 0
