"""Stamp cards at the register: worked examples."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.api.conftest import enrol

COFFEE = {"sku": "COFFEE", "quantity": 1, "unit_price_minor": 5_000}
CAKE = {"sku": "CAKE", "quantity": 1, "unit_price_minor": 7_500}


def stamps_program(client, merchant, **card) -> dict:
    response = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={
            "kind": "stamps",
            "name": "Coffee card",
            "currency": "CZK",
            "stamp_card": {"size": 5, **card},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def commit(client, merchant, key, member, lines):
    response = client.post(
        "/v1/checks",
        json={"currency": "CZK", "customer_id": member["id"], "lines": lines},
        headers={**merchant.register, "Idempotency-Key": key},
    )
    assert response.status_code == 201, response.text
    return response.json()


def card_of(services, merchant, program, member) -> int:
    loaded = services.loyalty.program(uuid.UUID(merchant.id), uuid.UUID(program["id"]))
    return services.ledger.balance(
        services.loyalty.member_account(loaded, uuid.UUID(member["id"]))
    ).credit_balance


@pytest.fixture
def member(client, merchant):
    return enrol(client, merchant, "+420601900900")


def test_the_check_that_fills_the_card_gets_the_cheapest_item_free(
    client, merchant, services, member
):
    program = stamps_program(client, merchant)
    first = commit(client, merchant, "c1", member, [{**COFFEE, "quantity": 3}])
    assert [(e["kind"], e["units"]) for e in first["effects"]] == [("stamps", 3)]
    assert card_of(services, merchant, program, member) == 3
    second = commit(client, merchant, "c2", member, [{**COFFEE, "quantity": 2}, CAKE])
    kinds = [(e["kind"], e["units"], e["value_minor"]) for e in second["effects"]]
    # 3 + 3 stamps fill the card of 5: a coffee (the cheapest item) free, 1 stamp left.
    assert kinds == [("stamps", 3, 0), ("reward", 5, 5_000)]
    assert second["discount_minor"] == 5_000
    assert second["due_minor"] == 2 * 5_000 + 7_500 - 5_000
    assert card_of(services, merchant, program, member) == 1


def test_a_percentage_reward_is_spread_over_the_eligible_lines(client, merchant, services, member):
    program = stamps_program(
        client, merchant, size=2, reward="percent_discount", reward_value=1_000
    )
    answer = commit(client, merchant, "c1", member, [COFFEE, CAKE])
    (reward,) = [e for e in answer["effects"] if e["kind"] == "reward"]
    # 10 % of 125.00 CZK.
    assert reward["value_minor"] == 1_250
    assert [line["discount_minor"] for line in answer["lines"]] == [500, 750]
    assert card_of(services, merchant, program, member) == 0


def test_refunding_the_free_item_gives_the_card_back_and_takes_its_stamps(
    client, merchant, services, member
):
    program = stamps_program(client, merchant, size=2)
    answer = commit(client, merchant, "c1", member, [{**COFFEE, "quantity": 2}])
    assert card_of(services, merchant, program, member) == 0
    assert answer["due_minor"] == 5_000
    refund = client.post(
        f"/v1/checks/{answer['id']}/refunds",
        json={},
        headers={**merchant.register, "Idempotency-Key": "r"},
    )
    assert refund.status_code == 201, refund.text
    assert refund.json()["money_back_minor"] == 5_000
    # The two stamps earned are taken back, the card handed in is given back: 0 again.
    assert card_of(services, merchant, program, member) == 0


def test_a_visit_card_counts_one_stamp_a_check(client, merchant, services, member):
    program = stamps_program(
        client, merchant, size=3, counts_visits=True, reward="fixed_discount", reward_value=2_000
    )
    for key in ("v1", "v2"):
        commit(client, merchant, key, member, [{**COFFEE, "quantity": 4}])
    assert card_of(services, merchant, program, member) == 2
    third = commit(client, merchant, "v3", member, [COFFEE])
    assert third["discount_minor"] == 2_000
    assert card_of(services, merchant, program, member) == 0
