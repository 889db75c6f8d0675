"""Promotions (earning rules) through the API, applied by the check."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.e2e.api.conftest import enrol

LATTE = {"sku": "LATTE", "quantity": 2, "unit_price_minor": 6_000}  # 120.00 CZK


def _setup(client, merchant):
    program = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={"kind": "points", "name": "Points", "currency": "CZK"},
    ).json()
    member = enrol(client, merchant, "+420601333444")
    return program, member


def _quote(client, merchant, member, **body):
    return client.post(
        "/v1/checks/quotes",
        headers=merchant.register,
        json={"currency": "CZK", "customer_id": member["id"], "lines": [LATTE], **body},
    ).json()


def _earned(quote) -> dict[str, int]:
    return {e["rule_id"]: e["units"] for e in quote["effects"] if e["kind"] == "earn"}


def test_a_first_purchase_bonus_and_double_points_add_to_the_base_rate(client, merchant):
    program, member = _setup(client, merchant)
    rules = f"/v1/loyalty-programs/{program['id']}/rules"
    bonus = client.post(
        rules,
        headers=merchant.manager,
        json={"name": "Welcome", "benefit": {"kind": "fixed_bonus", "units": 50}},
    )
    assert bonus.status_code == 201, bonus.text
    double = client.post(
        rules,
        headers=merchant.manager,
        json={
            "name": "Double points",
            "priority": 10,
            "benefit": {"kind": "multiplier", "base_rule_id": "base"},
        },
    )
    assert double.status_code == 201, double.text
    earned = _earned(_quote(client, merchant, member))
    # 120.00 CZK: 12 base points, 12 more for double points, 50 for the welcome bonus.
    assert earned == {f"base:{program['id']}": 12, double.json()["id"]: 12, bonus.json()["id"]: 50}
    listed = client.get(rules, headers=merchant.register).json()["items"]
    assert {rule["definition"]["name"] for rule in listed} == {"Welcome", "Double points"}


def test_a_minimum_basket_rule_says_what_is_missing(client, merchant):
    program, member = _setup(client, merchant)
    client.post(
        f"/v1/loyalty-programs/{program['id']}/rules",
        headers=merchant.manager,
        json={
            "name": "Big basket",
            "requirements": [{"kind": "minimum_basket", "amount_minor": 20_000}],
            "benefit": {"kind": "fixed_bonus", "units": 100},
        },
    )
    quote = _quote(client, merchant, member)
    assert sum(_earned(quote).values()) == 12
    (miss,) = quote["near_misses"]
    assert "80" in miss["message"], miss  # 80.00 CZK more to reach 200.00


def test_a_switched_off_or_out_of_period_rule_earns_nothing(client, merchant, clock):
    program, member = _setup(client, merchant)
    rules = f"/v1/loyalty-programs/{program['id']}/rules"
    later = client.post(
        rules,
        headers=merchant.manager,
        json={
            "name": "Next year",
            "active_from": datetime(2030, 1, 1, tzinfo=UTC).isoformat(),
            "benefit": {"kind": "fixed_bonus", "units": 7},
        },
    ).json()
    on = client.post(
        rules,
        headers=merchant.manager,
        json={"name": "Now", "benefit": {"kind": "fixed_bonus", "units": 5}},
    ).json()
    assert set(_earned(_quote(client, merchant, member))) == {f"base:{program['id']}", on["id"]}
    off = client.put(
        f"{rules}/{on['id']}",
        headers=merchant.manager,
        json={"name": "Now", "active": False, "benefit": {"kind": "fixed_bonus", "units": 5}},
    )
    assert off.status_code == 200, off.text
    assert set(_earned(_quote(client, merchant, member))) == {f"base:{program['id']}"}
    assert later["definition"]["name"] == "Next year"


def test_bad_rules_are_refused_with_a_clear_problem(client, merchant):
    program, _member = _setup(client, merchant)
    rules = f"/v1/loyalty-programs/{program['id']}/rules"
    for body in (
        {"name": "x", "benefit": {"kind": "kitty_percentage", "basis_points": 100}},
        {"name": "x", "benefit": {"kind": "multiplier", "base_rule_id": str(program["id"])}},
        {
            "name": "x",
            "benefit": {
                "kind": "progressive",
                "brackets": [{"from_minor": 100, "numerator": 1, "denominator": 100}],
            },
        },
        {"name": "x", "benefit": {"kind": "fixed_bonus", "units": 0}},
        {
            "name": "x",
            "windows": [{"start": "10:00"}],
            "benefit": {"kind": "fixed_bonus", "units": 1},
        },
    ):
        response = client.post(rules, headers=merchant.manager, json=body)
        assert response.status_code == 422, (body, response.text)
    assert client.get(rules, headers=merchant.manager).json()["items"] == []
    cashier = client.post(
        rules,
        headers=merchant.register,
        json={"name": "x", "benefit": {"kind": "fixed_bonus", "units": 1}},
    )
    assert cashier.status_code == 403


def test_every_rule_of_a_program_lands_as_one_transfer_and_a_refund_takes_it_all_back(
    client, merchant, services
):
    import uuid

    program, member = _setup(client, merchant)
    rules = f"/v1/loyalty-programs/{program['id']}/rules"
    for body in (
        {"name": "Welcome", "benefit": {"kind": "fixed_bonus", "units": 50}},
        {"name": "Double", "benefit": {"kind": "multiplier", "base_rule_id": "base"}},
    ):
        assert client.post(rules, headers=merchant.manager, json=body).status_code == 201
    committed = client.post(
        "/v1/checks",
        headers={**merchant.register, "Idempotency-Key": "one-transfer"},
        json={"currency": "CZK", "customer_id": member["id"], "lines": [LATTE]},
    ).json()
    earns = [e for e in committed["effects"] if e["kind"] == "earn"]
    assert sorted(e["units"] for e in earns) == [12, 12, 50]
    entry = services.ledger.entry_result(uuid.UUID(merchant.id), uuid.UUID(committed["entry_id"]))
    assert [(t.code, t.amount) for t in entry.transfers] == [("loyalty_earn", 74)]
    refund = client.post(
        f"/v1/checks/{committed['id']}/refunds",
        json={"lines": [{"index": 0, "quantity": 1}]},
        headers={**merchant.register, "Idempotency-Key": "half"},
    )
    assert refund.status_code == 201, refund.text
    loaded = services.loyalty.program(uuid.UUID(merchant.id), uuid.UUID(program["id"]))
    account = services.loyalty.member_account(loaded, uuid.UUID(member["id"]))
    # Half the check: 6 + 6 of the rated points back; the welcome bonus is check-wide.
    assert services.ledger.balance(account).credit_balance == 74 - 12
    client.post(
        f"/v1/checks/{committed['id']}/refunds",
        json={},
        headers={**merchant.register, "Idempotency-Key": "rest"},
    )
    assert services.ledger.balance(account).credit_balance == 0


def test_a_category_rule_follows_the_tree_as_it_changes(client, merchant):
    """The register keeps the category tree in memory: a move or a new parent shows at once."""
    from tests.e2e.catalogue.conftest import create_category, create_product

    program, member = _setup(client, merchant)
    drinks = create_category(client, merchant, "Drinks")
    food = create_category(client, merchant, "Food")
    tea = create_category(client, merchant, "Tea", food)
    create_product(client, merchant, "LATTE", category_id=tea["id"], unit_price_minor=6_000)
    rule = client.post(
        f"/v1/loyalty-programs/{program['id']}/rules",
        headers=merchant.manager,
        json={
            "name": "Drinks bonus",
            "scope": {"category_ids": [drinks["id"]]},
            "benefit": {"kind": "fixed_bonus", "units": 30},
        },
    )
    assert rule.status_code == 201, rule.text
    base = f"base:{program['id']}"
    assert _earned(_quote(client, merchant, member)) == {base: 12}
    moved = client.patch(
        f"/v1/catalogue/categories/{tea['id']}",
        headers=merchant.manager,
        json={"parent_id": drinks["id"]},
    )
    assert moved.status_code == 200, moved.text
    # Tea is now below Drinks: the same check earns the bonus, with no rule changed.
    assert _earned(_quote(client, merchant, member)) == {base: 12, rule.json()["id"]: 30}
    herbal = create_category(client, merchant, "Herbal", tea)
    moved_back = client.patch(
        f"/v1/catalogue/categories/{tea['id']}",
        headers=merchant.manager,
        json={"parent_id": food["id"]},
    )
    assert moved_back.status_code == 200, moved_back.text
    create_product(client, merchant, "MINT", category_id=herbal["id"], unit_price_minor=5_000)
    mint = {"sku": "MINT", "quantity": 1, "unit_price_minor": 5_000}
    assert _earned(_quote(client, merchant, member, lines=[mint])) == {base: 5}
