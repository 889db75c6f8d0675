"""PIN lockout, no leaks through errors, invoice numbers, daily limits, alerts, transfers."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from cagnotte.db.tables import account_balances
from tests.e2e.gift_cards.conftest import (
    MerchantSetup,
    activate,
    balance,
    bearer,
    create_program,
    load,
    new_cards,
    post,
    spend,
)


def inquiry(client, merchant, number, pin):
    return post(
        client,
        "/v1/gift-cards/balance-inquiries",
        {"number": number, "pin": pin},
        merchant.register,
    )


def test_wrong_number_wrong_pin_and_another_merchants_card_get_the_same_answer(
    client, merchant, other_merchant, card
):
    wrong_pin = inquiry(client, merchant, card.number, "0000" if card.pin != "0000" else "1111")
    unknown = inquiry(client, merchant, "4000000000000002", card.pin)
    elsewhere = inquiry(client, other_merchant, card.number, card.pin)
    answers = [
        (r.status_code, r.json()["code"], r.json()["title"])
        for r in (wrong_pin, unknown, elsewhere)
    ]
    assert answers == [(422, "gift_card_invalid", answers[0][2])] * 3


def test_the_configured_wrong_pins_lock_the_card_for_the_configured_time(
    client, merchant, card, clock
):
    wrong = "0000" if card.pin != "0000" else "1111"
    for _ in range(3):
        assert inquiry(client, merchant, card.number, wrong).json()["code"] == "gift_card_invalid"
    locked = inquiry(client, merchant, card.number, card.pin)
    assert locked.json()["code"] == "gift_card_invalid"
    view = client.get(f"/v1/gift-cards/{card.id}", headers=merchant.manager).json()
    assert view["locked_until"] is not None
    clock.advance(timedelta(minutes=29))
    assert inquiry(client, merchant, card.number, card.pin).status_code == 422
    clock.advance(timedelta(minutes=2))
    assert inquiry(client, merchant, card.number, card.pin).status_code == 200


def test_a_right_pin_resets_the_count_of_wrong_ones(client, merchant, card):
    wrong = "0000" if card.pin != "0000" else "1111"
    for _ in range(2):
        inquiry(client, merchant, card.number, wrong)
    assert inquiry(client, merchant, card.number, card.pin).status_code == 200
    for _ in range(2):
        inquiry(client, merchant, card.number, wrong)
    assert inquiry(client, merchant, card.number, card.pin).status_code == 200


def test_a_manager_can_lift_a_lockout(client, merchant, card):
    wrong = "0000" if card.pin != "0000" else "1111"
    for _ in range(3):
        inquiry(client, merchant, card.number, wrong)
    client.post(f"/v1/gift-cards/{card.id}/unlock", headers=merchant.manager)
    assert inquiry(client, merchant, card.number, card.pin).status_code == 200


def test_an_invoice_number_serves_once_per_merchant(client, merchant, other_merchant):
    program = create_program(client, merchant, invoice_required=True)
    first, second = new_cards(client, merchant, program, 2)
    missing = activate(client, merchant, first, 1_000)
    assert missing.json()["code"] == "invoice_required"
    assert activate(client, merchant, first, 1_000, invoice_number="INV-1").status_code == 201
    reused = activate(client, merchant, second, 1_000, invoice_number="INV-1")
    assert reused.status_code == 409 and reused.json()["code"] == "invoice_reused"
    spend_reused = spend(client, merchant, first, 100, invoice_number="INV-1")
    assert spend_reused.json()["code"] == "invoice_reused"
    assert balance(client, merchant, first) == 1_000
    assert spend(client, merchant, first, 100, invoice_number="INV-2").status_code == 201
    other_program = create_program(client, other_merchant, invoice_required=True)
    (elsewhere,) = new_cards(client, other_merchant, other_program, 1)
    assert (
        activate(client, other_merchant, elsewhere, 1_000, invoice_number="INV-1").status_code
        == 201
    )


def test_daily_limits_count_loads_and_spends_per_card_per_utc_day(client, merchant, clock):
    program = create_program(
        client,
        merchant,
        loads_per_card_per_day_max=2,
        spend_amount_per_card_per_day_max_minor=3_000,
    )
    (card,) = new_cards(client, merchant, program, 1)
    assert activate(client, merchant, card, 5_000).status_code == 201
    assert load(client, merchant, card, 1_000).status_code == 201
    third = load(client, merchant, card, 1_000)
    assert third.json()["code"] == "daily_limit_exceeded"
    assert spend(client, merchant, card, 2_000).status_code == 201
    assert spend(client, merchant, card, 1_001).json()["code"] == "daily_limit_exceeded"
    clock.advance(timedelta(days=1))
    assert load(client, merchant, card, 1_000).status_code == 201
    assert spend(client, merchant, card, 3_000).status_code == 201


def test_one_operation_may_not_exceed_the_program_maximum(client, merchant):
    program = create_program(client, merchant, operation_amount_max_minor=2_000)
    (card,) = new_cards(client, merchant, program, 1)
    assert activate(client, merchant, card, 2_001).json()["code"] == "operation_amount_exceeded"
    assert activate(client, merchant, card, 2_000).status_code == 201
    assert spend(client, merchant, card, 2_001).json()["code"] == "operation_amount_exceeded"


def test_a_balance_transfer_moves_everything_and_closes_the_old_card(
    client, merchant, program, card, services
):
    spend(client, merchant, card, 2_500)
    (new_card,) = new_cards(client, merchant, program, 1)
    response = post(
        client,
        "/v1/gift-cards/balance-transfers",
        {"from_card_id": card.id, "to_number": new_card.number},
        merchant.manager,
    )
    assert response.status_code == 201, response.text
    assert response.json()["transfer_in"]["balance_after_minor"] == 7_500
    old = client.get(f"/v1/gift-cards/{card.id}", headers=merchant.manager).json()
    new = client.get(f"/v1/gift-cards/{new_card.id}", headers=merchant.manager).json()
    assert (old["state"], old["balance_minor"], old["replaced_by"]) == ("closed", 0, new["id"])
    assert (new["state"], new["balance_minor"]) == ("active", 7_500)
    old_history = client.get(
        f"/v1/gift-cards/{card.id}/operations", headers=merchant.manager
    ).json()["items"]
    new_history = client.get(
        f"/v1/gift-cards/{new_card.id}/operations", headers=merchant.manager
    ).json()["items"]
    assert "transfer_out" in [operation["kind"] for operation in old_history]
    assert "transfer_in" in [operation["kind"] for operation in new_history]
    assert spend(client, merchant, card, 100).json()["code"] == "gift_card_closed"
    assert spend(client, merchant, new_card, 7_500).status_code == 201
    assert_ledger_balances(services)


def test_a_register_transfers_with_the_old_cards_number_and_pin(client, merchant, program, card):
    (new_card,) = new_cards(client, merchant, program, 1)
    response = post(
        client,
        "/v1/gift-cards/balance-transfers",
        {"from_number": card.number, "from_pin": card.pin, "to_number": new_card.number},
        merchant.register,
    )
    assert response.status_code == 201, response.text
    assert balance(client, merchant, new_card) == 10_000


def assert_ledger_balances(services) -> None:
    """All posted debits equal all posted credits, and so do the pending ones."""
    with services.database.read() as connection:
        debits, credits = connection.execute(
            select(
                func.sum(account_balances.c.debits_posted),
                func.sum(account_balances.c.credits_posted),
            )
        ).one()
        pending_debits, pending_credits = connection.execute(
            select(
                func.sum(account_balances.c.debits_pending),
                func.sum(account_balances.c.credits_pending),
            )
        ).one()
    assert debits == credits
    assert pending_debits == pending_credits


def test_refunds_and_transfers_keep_debits_equal_to_credits(
    client, merchant, program, card, services
):
    spent = spend(client, merchant, card, 4_000).json()
    post(
        client,
        f"/v1/gift-cards/spends/{spent['id']}/refunds",
        {"amount_minor": 1_500},
        merchant.register,
    )
    held = post(
        client,
        "/v1/gift-cards/authorisations",
        {"number": card.number, "pin": card.pin, "amount_minor": 1_000},
        merchant.register,
    )
    assert held.status_code == 201
    post(client, f"/v1/gift-cards/authorisations/{held.json()['id']}/void", {}, merchant.register)
    (new_card,) = new_cards(client, merchant, program, 1)
    post(
        client,
        "/v1/gift-cards/balance-transfers",
        {"from_card_id": card.id, "to_number": new_card.number},
        merchant.manager,
    )
    assert balance(client, merchant, new_card) == 7_500
    assert_ledger_balances(services)


def rule(client, merchant, **body):
    response = client.post("/v1/gift-card-alert-rules", json=body, headers=merchant.manager)
    assert response.status_code == 201, response.text
    return response.json()


def alerts(client, merchant, kind=None):
    path = "/v1/gift-card-alerts" + (f"?kind={kind}" if kind else "")
    return client.get(path, headers=merchant.manager).json()["items"]


def test_alert_rules_raise_stored_listed_and_mailed_alerts(client, operator_key, services, mailer):
    shop = make_merchant_with_contacts(client, operator_key)
    program = create_program(client, shop)
    rule(
        client,
        shop,
        kind="large_load",
        threshold_minor=20_000,
        notify_head_office=True,
        notify_store_manager=True,
    )
    rule(client, shop, kind="wrong_pins", threshold_count=2)
    rule(client, shop, kind="card_velocity", threshold_count=3, window_minutes=10)
    rule(client, shop, kind="balance_transfer")
    rule(client, shop, kind="manual_adjustment")
    first, second = new_cards(client, shop, program, 2)
    activate(client, shop, first, 25_000)
    wrong = "0000" if first.pin != "0000" else "1111"
    for _ in range(2):
        inquiry(client, shop, first.number, wrong)
    for _ in range(3):
        spend(client, shop, first, 100)
    client.post(
        f"/v1/gift-cards/{first.id}/adjustments",
        json={"amount_minor": 100, "direction": "credit", "reason": "till error"},
        headers={**shop.manager, "Idempotency-Key": str(uuid.uuid4())},
    )
    post(
        client,
        "/v1/gift-cards/balance-transfers",
        {"from_card_id": first.id, "to_number": second.number},
        shop.manager,
    )
    kinds = sorted(alert["kind"] for alert in alerts(client, shop))
    assert kinds == [
        "balance_transfer",
        "card_velocity",
        "large_load",
        "manual_adjustment",
        "wrong_pins",
    ]
    large = alerts(client, shop, "large_load")[0]
    assert large["mailed_to"] == ["hq@cafe.example", "store@cafe.example"]
    subjects = [(m["To"], m["Subject"]) for m in mailer.sent]
    assert ("store@cafe.example", "Gift card alert: large_load") in subjects
    assert ("hq@cafe.example", "Gift card alert: wrong_pins") in subjects


def test_many_cards_checked_from_one_terminal_raise_one_alert(client, merchant, program):
    rule(client, merchant, kind="terminal_card_checks", threshold_count=3, window_minutes=5)
    for index in range(5):
        inquiry(client, merchant, f"40000000000000{index:02d}", "1234")
    raised = alerts(client, merchant, "terminal_card_checks")
    assert len(raised) == 1
    assert raised[0]["terminal_id"] == merchant.register_id


def make_merchant_with_contacts(client, operator_key):
    response = client.post(
        "/v1/merchants",
        json={"name": "Café Vert", "head_office_email": "hq@cafe.example"},
        headers=bearer(operator_key),
    )
    owner = bearer(response.json()["owner_key"]["secret"])
    store = client.post(
        "/v1/stores", json={"name": "Main", "manager_email": "store@cafe.example"}, headers=owner
    ).json()
    register = client.post(
        "/v1/terminals",
        json={"store_id": store["id"], "kind": "register", "name": "Till"},
        headers=owner,
    ).json()
    manager = client.post(
        "/v1/api-keys", json={"name": "m", "role": "manager"}, headers=owner
    ).json()
    return MerchantSetup(
        id=response.json()["id"],
        owner_key=response.json()["owner_key"]["secret"],
        store_id=store["id"],
        register_id=register["id"],
        register_key=register["api_key"]["secret"],
        manager_key=manager["secret"],
    )


def test_a_balance_transfer_from_another_merchants_card_is_not_found(
    client, merchant, other_merchant, program, card
):
    rival_program = create_program(client, other_merchant)
    (rival_card,) = new_cards(client, other_merchant, rival_program, 1)
    assert activate(client, other_merchant, rival_card, 5_000).status_code == 201
    response = post(
        client,
        "/v1/gift-cards/balance-transfers",
        {"from_card_id": rival_card.id, "to_number": card.number},
        merchant.manager,
    )
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found"
    assert balance(client, other_merchant, rival_card) == 5_000
    assert balance(client, merchant, card) == 10_000
