"""Promotions on a stamps program: double stamps on Tuesdays, a worked example.

The coffee card has 5 stamps, one per coffee; a full card gives the cheapest
item free. The promotion gives one more stamp per coffee on Tuesdays (local
time). The clock starts on Monday 5 January 2026, 09:00 UTC.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.e2e.api.conftest import enrol
from tests.e2e.loyalty.test_stamps import COFFEE, card_of, commit, stamps_program


@pytest.fixture
def member(client, merchant):
    return enrol(client, merchant, "+420601900901")


def double_stamps_on_tuesdays(client, merchant, program: dict) -> dict:
    response = client.post(
        f"/v1/loyalty-programs/{program['id']}/rules",
        headers=merchant.manager,
        json={
            "name": "Double stamps on Tuesdays",
            "windows": [{"days_of_week": [2]}],
            "benefit": {"kind": "extra_stamps", "stamps": 1},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_double_stamps_on_tuesdays_fill_the_card_sooner(client, merchant, services, member, clock):
    program = stamps_program(client, merchant)
    rule = double_stamps_on_tuesdays(client, merchant, program)
    # Monday: 2 coffees, 2 stamps.
    monday = commit(client, merchant, "mon", member, [{**COFFEE, "quantity": 2}])
    assert [(e["kind"], e["units"]) for e in monday["effects"]] == [("stamps", 2)]
    assert card_of(services, merchant, program, member) == 2
    # Tuesday: 1 coffee, 1 stamp and 1 more from the promotion: 4 on the card.
    clock.advance(timedelta(days=1))
    tuesday = commit(client, merchant, "tue", member, [COFFEE])
    assert [(e["kind"], e["units"], e["rule_id"]) for e in tuesday["effects"]] == [
        ("stamps", 1, None),
        ("stamps", 1, rule["id"]),
    ]
    assert card_of(services, merchant, program, member) == 4
    # The next Tuesday: 1 coffee gives 2 stamps, 6 ≥ 5 fills the card: that coffee
    # is free and 1 stamp carries over.
    clock.advance(timedelta(days=7))
    filled = commit(client, merchant, "tue-2", member, [COFFEE])
    kinds = [(e["kind"], e["units"], e["value_minor"]) for e in filled["effects"]]
    assert kinds == [("stamps", 1, 0), ("stamps", 1, 0), ("reward", 5, 5_000)]
    assert filled["due_minor"] == 0
    assert card_of(services, merchant, program, member) == 1
    # A refund of the Tuesday check takes both of its stamps back.
    refund = client.post(
        f"/v1/checks/{tuesday['id']}/refunds",
        json={},
        headers={**merchant.register, "Idempotency-Key": "refund-tuesday"},
    )
    assert refund.status_code == 201, refund.text
    # The card holds 1 of the 2 by now: that one is taken back.
    assert card_of(services, merchant, program, member) == 0


def test_a_stamps_program_takes_extra_stamps_only_and_a_points_program_none(client, merchant):
    program = stamps_program(client, merchant)
    bonus = client.post(
        f"/v1/loyalty-programs/{program['id']}/rules",
        headers=merchant.manager,
        json={"name": "Bonus", "benefit": {"kind": "fixed_bonus", "units": 3}},
    )
    assert bonus.status_code == 422 and bonus.json()["code"] == "invalid_input"
    points = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={"kind": "points", "name": "Points", "currency": "CZK"},
    ).json()
    extra = client.post(
        f"/v1/loyalty-programs/{points['id']}/rules",
        headers=merchant.manager,
        json={"name": "Extra", "benefit": {"kind": "extra_stamps", "stamps": 1}},
    )
    assert extra.status_code == 422 and extra.json()["code"] == "invalid_input"
