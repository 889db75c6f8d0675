"""Tiers: the rate rises with the member's spend over a period, from the crossing purchase on.

The café's points program earns 1 point per 10.00 CZK (base rate) and has three
tiers over a rolling 12 months: Bronze from 0, Silver from 5 000.00 CZK and Gold
from 10 000.00 CZK. A tiered promotion adds 1 point per 10.00 CZK at Silver and
2 at Gold (Bronze earns nothing more).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.api.conftest import enrol
from tests.e2e.loyalty.test_checks import commit

LEVELS = [
    {"name": "Bronze", "spend_min_minor": 0},
    {"name": "Silver", "spend_min_minor": 500_000},
    {"name": "Gold", "spend_min_minor": 1_000_000},
]


def make_program(client, merchant, period: str = "rolling_12_months") -> dict:
    response = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={
            "kind": "points",
            "name": "Café points",
            "currency": "CZK",
            "tiers": {"period": period, "levels": LEVELS},
        },
    )
    assert response.status_code == 201, response.text
    program = response.json()
    rule = client.post(
        f"/v1/loyalty-programs/{program['id']}/rules",
        headers=merchant.manager,
        json={
            "name": "Tier bonus",
            "benefit": {
                "kind": "tiered_rate",
                "tiers": [
                    {"tier": "Silver", "numerator": 1, "denominator": 1_000},
                    {"tier": "Gold", "numerator": 2, "denominator": 1_000},
                ],
            },
        },
    )
    assert rule.status_code == 201, rule.text
    program["tier_rule_id"] = rule.json()["id"]
    return program


@pytest.fixture
def member(client, merchant) -> dict:
    return enrol(client, merchant, "+420601555333", first_name="Eloise")


def buy(client, merchant, member, amount_minor: int) -> dict:
    response = commit(
        client,
        merchant,
        str(uuid.uuid4()),
        customer_id=member["id"],
        lines=[{"sku": "CATERING", "quantity": 1, "unit_price_minor": amount_minor}],
    )
    assert response.status_code == 201, response.text
    return response.json()


def earned_by_rule(answer: dict) -> dict[str, int]:
    return {e["rule_id"]: e["units"] for e in answer["effects"] if e["kind"] == "earn"}


def standing(client, merchant, member) -> dict:
    response = client.get(f"/v1/customers/{member['id']}/loyalty", headers=merchant.register)
    assert response.status_code == 200, response.text
    (program,) = response.json()["items"]
    return program


def test_the_purchase_that_crosses_a_threshold_already_earns_at_the_new_tier(
    client, merchant, member
):
    program = make_program(client, merchant)
    base, bonus = f"base:{program['id']}", program["tier_rule_id"]
    # 4 900.00 CZK at Bronze: 490 base points, no tier bonus.
    first = buy(client, merchant, member, 490_000)
    assert earned_by_rule(first) == {base: 490}
    assert standing(client, merchant, member)["tier"] == {
        "name": "Bronze",
        "spend_minor": 490_000,
        "next_tier": "Silver",
        "next_tier_missing_minor": 10_000,
    }
    # 200.00 CZK takes the spend to 5 100.00: this check earns at Silver (20 + 20).
    second = buy(client, merchant, member, 20_000)
    assert earned_by_rule(second) == {base: 20, bonus: 20}
    assert "tier Silver" in [e for e in second["effects"] if e["rule_id"] == bonus][0]["reason"]
    tier = standing(client, merchant, member)["tier"]
    assert (tier["name"], tier["spend_minor"], tier["next_tier_missing_minor"]) == (
        "Silver",
        510_000,
        490_000,
    )
    # The next near miss says how far Gold is.
    third = buy(client, merchant, member, 10_000)
    assert earned_by_rule(third) == {base: 10, bonus: 10}
    assert any("to reach Gold" in miss["message"] for miss in third["near_misses"])


def test_a_refund_takes_the_spend_back_and_the_tier_with_it(client, merchant, member):
    program = make_program(client, merchant)
    base = f"base:{program['id']}"
    buy(client, merchant, member, 490_000)
    crossing = buy(client, merchant, member, 20_000)
    refund = client.post(
        f"/v1/checks/{crossing['id']}/refunds",
        json={},
        headers={**merchant.register, "Idempotency-Key": "refund-crossing"},
    )
    assert refund.status_code == 201, refund.text
    assert standing(client, merchant, member)["tier"]["name"] == "Bronze"
    assert standing(client, merchant, member)["tier"]["spend_minor"] == 490_000
    # The 40 points of the refunded check went back with it: 490 are left.
    assert standing(client, merchant, member)["balance_units"] == 490
    assert earned_by_rule(buy(client, merchant, member, 5_000)) == {base: 5}


def test_a_rolling_year_forgets_the_spend_of_thirteen_months_ago(client, merchant, member, clock):
    program = make_program(client, merchant)
    base = f"base:{program['id']}"
    buy(client, merchant, member, 600_000)  # January 2026: Silver
    assert standing(client, merchant, member)["tier"]["name"] == "Silver"
    clock.set(datetime(2026, 12, 31, 12, tzinfo=UTC))  # still within the 12 months
    assert standing(client, merchant, member)["tier"]["name"] == "Silver"
    clock.set(datetime(2027, 1, 1, 12, tzinfo=UTC))  # February 2026 to January 2027
    assert standing(client, merchant, member)["tier"] == {
        "name": "Bronze",
        "spend_minor": 0,
        "next_tier": "Silver",
        "next_tier_missing_minor": 500_000,
    }
    assert earned_by_rule(buy(client, merchant, member, 10_000)) == {base: 10}


def test_a_calendar_year_starts_again_on_the_first_of_january(client, merchant, member, clock):
    program = make_program(client, merchant, period="calendar_year")
    bonus = program["tier_rule_id"]
    clock.set(datetime(2026, 12, 20, 12, tzinfo=UTC))
    buy(client, merchant, member, 600_000)
    assert earned_by_rule(buy(client, merchant, member, 10_000))[bonus] == 10  # Silver
    clock.advance(timedelta(days=12))  # 1 January 2027
    assert standing(client, merchant, member)["tier"]["name"] == "Bronze"
    assert bonus not in earned_by_rule(buy(client, merchant, member, 10_000))


def test_a_tiered_rate_names_tiers_its_program_has(client, merchant):
    program = make_program(client, merchant)
    response = client.post(
        f"/v1/loyalty-programs/{program['id']}/rules",
        headers=merchant.manager,
        json={
            "name": "Platinum bonus",
            "benefit": {
                "kind": "tiered_rate",
                "tiers": [{"tier": "Platinum", "numerator": 3, "denominator": 1_000}],
            },
        },
    )
    assert response.status_code == 422 and response.json()["code"] == "invalid_input"
    bad_ladder = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={
            "kind": "points",
            "name": "Bad",
            "currency": "CZK",
            "tiers": {"levels": [{"name": "Silver", "spend_min_minor": 100}]},
        },
    )
    assert bad_ladder.status_code == 422 and bad_ladder.json()["code"] == "invalid_input"


def test_the_customer_page_shows_the_tier(client, merchant, services, mailer):
    from tests.e2e.web.conftest import sign_in_customer

    make_program(client, merchant)
    member = enrol(client, merchant, "+420601555444", email="tiers@example.com")
    buy(client, merchant, member, 510_000)
    page = sign_in_customer(client, mailer, "tiers@example.com")
    assert page.status_code == 200
    (tier,) = re.findall(r'data-testid="tier">([^<]*)<', page.text)
    # 5 100.00 CZK spent: 4 900.00 CZK more to Gold.
    assert tier.startswith("Tier: Silver · 4") and tier.endswith("900.00 CZK more to Gold")


def test_twenty_parallel_checks_of_one_member_count_every_crossing_once(
    client, merchant, member, server_url
):
    from tests.e2e.api.concurrency import all_at_once

    program = make_program(client, merchant)
    bonus = program["tier_rule_id"]

    def purchase(http):
        return http.post(
            f"{server_url}/v1/checks",
            json={
                "currency": "CZK",
                "customer_id": member["id"],
                "lines": [{"sku": "CATERING", "quantity": 1, "unit_price_minor": 30_000}],
            },
            headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
        )

    responses = all_at_once(20, purchase)
    assert [r.status_code for r in responses] == [201] * 20
    # 20 × 300.00 CZK: whatever the order, the 17th check crosses 5 000.00, so exactly
    # four checks (the 17th to the 20th) earn the Silver bonus of 30 points.
    bonuses = [earned_by_rule(r.json()).get(bonus, 0) for r in responses]
    assert sorted(bonuses) == [0] * 16 + [30] * 4
    assert standing(client, merchant, member)["tier"]["spend_minor"] == 600_000
