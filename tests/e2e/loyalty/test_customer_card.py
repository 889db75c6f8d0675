"""The customer card: a member's figures from the ledger and the checks, right after refunds.

Worked example. The café runs a points program (1 point per 10.00 CZK) and a
coffee card of 5 stamps (the cheapest coffee free). Éloïse:

    check 1  3 coffees (150.00)            → 15 points, 3 stamps
    check 2  2 coffees + a cake (175.00)   → stamps 3 + 3 = 6: the card of 5 is full, a
                                             coffee (the cheapest item) free (−50.00),
                                             125.00 paid → 12 points, 1 stamp left
    check 3  a cake (75.00), wholly refunded
    a wallet top-up of 200.00
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.e2e.api.conftest import enrol, top_up

COFFEE = {"sku": "COFFEE", "quantity": 1, "unit_price_minor": 5_000}
CAKE = {"sku": "CAKE", "quantity": 1, "unit_price_minor": 7_500}


@pytest.fixture
def eloise(client, merchant) -> dict:
    return enrol(client, merchant, "+420601777000", first_name="Éloïse")


def program(client, merchant, **body) -> dict:
    response = client.post(
        "/v1/loyalty-programs", headers=merchant.manager, json={"currency": "CZK", **body}
    )
    assert response.status_code == 201, response.text
    return response.json()


def commit(client, merchant, key, member, lines) -> dict:
    response = client.post(
        "/v1/checks",
        json={"currency": "CZK", "customer_id": member["id"], "lines": lines},
        headers={**merchant.register, "Idempotency-Key": key},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_the_card_adds_up_visits_spending_programs_and_credits(client, merchant, eloise, clock):
    points = program(client, merchant, kind="points", name="Café points")
    card_program = program(
        client, merchant, kind="stamps", name="Coffee card", stamp_card={"size": 5}
    )
    commit(client, merchant, "c1", eloise, [{**COFFEE, "quantity": 3}])
    clock.advance(timedelta(minutes=5))
    second = commit(client, merchant, "c2", eloise, [{**COFFEE, "quantity": 2}, CAKE])
    assert second["discount_minor"] == 5_000
    clock.advance(timedelta(minutes=5))
    cake = commit(client, merchant, "c3", eloise, [CAKE])
    refund = client.post(
        f"/v1/checks/{cake['id']}/refunds",
        json={},
        headers={**merchant.register, "Idempotency-Key": "r3"},
    )
    assert refund.status_code == 201, refund.text
    top_up(client, merchant, eloise["id"], 20_000)

    response = client.get(f"/v1/customers/{eloise['id']}/card", headers=merchant.register)
    assert response.status_code == 200, response.text
    card = response.json()
    assert card["customer"]["id"] == eloise["id"]
    assert card["customer"]["first_name"] == "Éloïse"
    (spending,) = card["spending"]
    assert spending["currency"] == "CZK"
    assert spending["visits"] == 2  # the wholly refunded check is no visit
    assert spending["total_spent_minor"] == 15_000 + 12_500
    assert spending["refunded_minor"] == 7_500
    assert spending["average_basket_minor"] == 13_750
    standings = {p["program_id"]: p for p in card["programs"]}
    assert standings[points["id"]]["balance_units"] == 15 + 12
    assert standings[points["id"]]["rewards_received"] == 0
    coffee = standings[card_program["id"]]
    assert coffee["stamps_on_card"] == 1 and coffee["card_size"] == 5
    assert coffee["rewards_received"] == 1 and coffee["rewards_value_minor"] == 5_000
    assert card["wallets"] == [{"asset_code": "CZK", "available_minor": 20_000}]
    assert card["gift_cards"] == []
    assert [c["id"] for c in card["recent_checks"]][0] == cake["id"]
    assert len(card["recent_checks"]) == 3


def test_a_member_with_nothing_yet_has_an_empty_card(client, merchant, eloise):
    card = client.get(f"/v1/customers/{eloise['id']}/card", headers=merchant.register).json()
    assert card["spending"] == [] and card["wallets"] == [] and card["recent_checks"] == []


def test_another_merchants_member_has_no_card_here(client, merchant, other_merchant, eloise):
    response = client.get(f"/v1/customers/{eloise['id']}/card", headers=other_merchant.register)
    assert response.status_code == 404 and response.json()["code"] == "not_found"
