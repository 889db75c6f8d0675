"""Caps per customer, limits on goods, promotion budgets and member facts, through the API.

Each counter is kept by the commit; the numbers the tests expect are worked out
in their comments. The parallel tests run on PostgreSQL through a real server.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

from tests.e2e.api.concurrency import all_at_once
from tests.e2e.api.conftest import enrol

LATTE = {"sku": "LATTE", "quantity": 1, "unit_price_minor": 10_000}  # 100.00 CZK: 10 base points


def _program(client, merchant) -> dict:
    response = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={"kind": "points", "name": "Points", "currency": "CZK"},
    )
    assert response.status_code == 201, response.text
    return response.json()


def _rule(client, merchant, program, **definition) -> dict:
    response = client.post(
        f"/v1/loyalty-programs/{program['id']}/rules",
        headers=merchant.manager,
        json={"name": "Promotion", **definition},
    )
    assert response.status_code == 201, response.text
    return response.json()


def _check(client, merchant, member, lines=(LATTE,), key=None, path="/v1/checks"):
    response = client.post(
        path,
        json={"currency": "CZK", "customer_id": member["id"], "lines": list(lines)},
        headers={**merchant.register, "Idempotency-Key": key or str(uuid.uuid4())},
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def _by_rule(answer) -> dict[str, int]:
    earned: dict[str, int] = {}
    for effect in answer["effects"]:
        if effect["kind"] == "earn":
            earned[effect["rule_id"]] = earned.get(effect["rule_id"], 0) + effect["units"]
    return earned


def _refund(client, merchant, check) -> None:
    response = client.post(
        f"/v1/checks/{check['id']}/refunds",
        json={},
        headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text


BONUS = {"kind": "fixed_bonus", "units": 50}


def test_a_once_a_day_bonus_gives_once_a_day_and_again_the_next_day(client, merchant, clock):
    program = _program(client, merchant)
    member = enrol(client, merchant, "+420601500001")
    rule = _rule(client, merchant, program, benefit=BONUS, per_customer={"per_day_times_max": 1})
    assert _by_rule(_check(client, merchant, member)).get(rule["id"]) == 50
    second = _check(client, merchant, member)
    assert rule["id"] not in _by_rule(second)
    assert _by_rule(second)[f"base:{program['id']}"] == 10  # the base rate is not capped
    # The quote knows the counter too.
    quoted = _check(client, merchant, member, path="/v1/checks/quotes")
    assert rule["id"] not in _by_rule(quoted)
    clock.advance(timedelta(days=1))
    assert _by_rule(_check(client, merchant, member)).get(rule["id"]) == 50


def test_a_daily_amount_cap_cuts_the_award_and_a_refund_gives_the_room_back(
    client, merchant, clock
):
    program = _program(client, merchant)
    member = enrol(client, merchant, "+420601500002")
    # 1 point per 1.00 CZK: 100 points a latte, at most 150 a day.
    rule = _rule(
        client,
        merchant,
        program,
        benefit={"kind": "fixed_rate", "numerator": 1, "denominator": 100},
        per_customer={"per_day_amount_max": 150},
    )
    first = _check(client, merchant, member)
    assert _by_rule(first)[rule["id"]] == 100
    assert _by_rule(_check(client, merchant, member))[rule["id"]] == 50  # 150 - 100
    assert rule["id"] not in _by_rule(_check(client, merchant, member))
    # The first check is refunded: its 100 points come off the day's counter.
    _refund(client, merchant, first)
    assert _by_rule(_check(client, merchant, member))[rule["id"]] == 100
    # A monthly cap counts across the days of the month.
    other = _rule(
        client,
        merchant,
        program,
        name="Monthly",
        benefit=BONUS,
        per_customer={"per_month_times_max": 2},
    )
    got = []
    for _day in range(3):
        got.append(_by_rule(_check(client, merchant, member)).get(other["id"], 0))
        clock.advance(timedelta(days=1))
    assert got == [50, 50, 0]  # the 5th, 6th and 7th of January
    clock.set(clock.now().replace(month=2, day=1))
    assert _by_rule(_check(client, merchant, member))[other["id"]] == 50


def test_a_limit_on_goods_earns_on_so_many_units_a_day(client, merchant):
    program = _program(client, merchant)
    member = enrol(client, merchant, "+420601500003")
    product = client.post(
        "/v1/catalogue/products",
        headers=merchant.manager,
        json={"sku": "BEANS", "name": "Beans", "unit_price_minor": 10_000, "currency": "CZK"},
    )
    assert product.status_code == 201, product.text
    rule = _rule(
        client,
        merchant,
        program,
        scope={"product_ids": [product.json()["id"]]},
        benefit={"kind": "fixed_rate", "numerator": 1, "denominator": 100},
        goods_limit={"per_day_quantity_max": 3},
    )
    beans = {"sku": "BEANS", "quantity": 2, "unit_price_minor": 10_000}
    # Two bags earn 200 points; of the next two, one bag is left of the day's three.
    assert _by_rule(_check(client, merchant, member, [beans]))[rule["id"]] == 200
    assert _by_rule(_check(client, merchant, member, [beans]))[rule["id"]] == 100
    assert rule["id"] not in _by_rule(_check(client, merchant, member, [beans]))


def _budget_left(services, merchant, rule) -> int:
    budgets = services.loyalty.budget_accounts(uuid.UUID(merchant.id), [uuid.UUID(rule["id"])])
    return budgets[uuid.UUID(rule["id"])].left_units


def test_a_budget_pays_its_promotion_until_it_is_spent_and_a_refund_gives_it_back(
    client, merchant, services
):
    program = _program(client, merchant)
    member = enrol(client, merchant, "+420601500004")
    rule = _rule(client, merchant, program, benefit=BONUS, budget_units=120)
    assert _budget_left(services, merchant, rule) == 120
    first = _check(client, merchant, member)
    assert _by_rule(first)[rule["id"]] == 50
    assert _by_rule(_check(client, merchant, member))[rule["id"]] == 50
    third = _check(client, merchant, member)
    assert _by_rule(third)[rule["id"]] == 20  # what was left
    assert "budget" in [e for e in third["effects"] if e["rule_id"] == rule["id"]][0]["reason"]
    assert rule["id"] not in _by_rule(_check(client, merchant, member))
    assert _budget_left(services, merchant, rule) == 0
    _refund(client, merchant, first)
    assert _budget_left(services, merchant, rule) == 50
    # Raised to 300 in all: 70 were given (50 + 20), so 230 are left.
    changed = client.put(
        f"/v1/loyalty-programs/{program['id']}/rules/{rule['id']}",
        headers=merchant.manager,
        json={"name": "Promotion", "benefit": BONUS, "budget_units": 300},
    )
    assert changed.status_code == 200, changed.text
    assert _budget_left(services, merchant, rule) == 230
    # Taken away: what is left goes back, and the promotion gives without a limit.
    client.put(
        f"/v1/loyalty-programs/{program['id']}/rules/{rule['id']}",
        headers=merchant.manager,
        json={"name": "Promotion", "benefit": BONUS},
    )
    assert _budget_left(services, merchant, rule) == 0
    assert _by_rule(_check(client, merchant, member))[rule["id"]] == 50


def test_first_purchase_and_complete_profile_bonuses_read_the_member(client, merchant):
    program = _program(client, merchant)
    first = _rule(
        client,
        merchant,
        program,
        name="Welcome",
        requirements=[{"kind": "first_purchase"}],
        benefit=BONUS,
    )
    profile = _rule(
        client,
        merchant,
        program,
        name="Profile",
        requirements=[{"kind": "profile_complete"}],
        benefit={"kind": "fixed_bonus", "units": 7},
    )
    bare = enrol(client, merchant, "+420601500005")
    complete = enrol(
        client,
        merchant,
        "+420601500006",
        first_name="Ann",
        last_name="Lee",
        email="ann@example.com",
        birth_date="1990-05-01",
    )
    answer = _by_rule(_check(client, merchant, bare))
    assert answer.get(first["id"]) == 50 and profile["id"] not in answer
    assert first["id"] not in _by_rule(_check(client, merchant, bare))
    answer = _by_rule(_check(client, merchant, complete))
    assert answer.get(first["id"]) == 50 and answer.get(profile["id"]) == 7


def test_fifty_parallel_checks_never_draw_a_budget_beyond_what_it_holds(
    client, merchant, services, server_url
):
    program = _program(client, merchant)
    rule = _rule(
        client, merchant, program, benefit={"kind": "fixed_bonus", "units": 30}, budget_units=100
    )
    members = [enrol(client, merchant, f"+4206015100{index:02d}") for index in range(25)]

    def commit(http, counter=iter(range(50))):
        member = members[next(counter) % len(members)]
        return http.post(
            f"{server_url}/v1/checks",
            json={"currency": "CZK", "customer_id": member["id"], "lines": [LATTE]},
            headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
        )

    responses = all_at_once(50, commit)
    assert Counter(r.status_code for r in responses) == {201: 50}
    given = sorted(_by_rule(r.json()).get(rule["id"], 0) for r in responses)
    # 100 units: three checks get 30, one gets the 10 left, the others nothing.
    assert [units for units in given if units] == [10, 30, 30, 30]
    assert _budget_left(services, merchant, rule) == 0


def test_twenty_parallel_checks_of_one_member_get_a_once_a_day_bonus_once(
    client, merchant, server_url
):
    program = _program(client, merchant)
    member = enrol(client, merchant, "+420601520000")
    rule = _rule(client, merchant, program, benefit=BONUS, per_customer={"per_day_times_max": 1})

    def commit(http):
        return http.post(
            f"{server_url}/v1/checks",
            json={"currency": "CZK", "customer_id": member["id"], "lines": [LATTE]},
            headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
        )

    responses = all_at_once(20, commit)
    assert Counter(r.status_code for r in responses) == {201: 20}
    assert sum(_by_rule(r.json()).get(rule["id"], 0) for r in responses) == 50
