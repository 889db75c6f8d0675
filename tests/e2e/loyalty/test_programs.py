"""Loyalty programs: the three pre-set types, options, suspension, deletion of balances."""

from __future__ import annotations

import uuid

from cagnotte.ledger import Transfer
from cagnotte.programs.loyalty.program import ProgramKind

PROGRAMS = "/v1/loyalty-programs"


def create(client, merchant, **body):
    body = {"kind": "points", "name": "Café points", "currency": "CZK", **body}
    return client.post(PROGRAMS, json=body, headers=merchant.manager)


def test_a_points_program_starts_with_the_documented_defaults(client, merchant):
    response = create(client, merchant)
    assert response.status_code == 201, response.text
    program = response.json()
    assert program["status"] == "active" and program["kind"] == "points"
    assert program["asset"].startswith("PTS-") and program["asset"] != "CZK"
    assert program["settings"]["earning"] == {"numerator": 1, "denominator": 1_000}
    assert program["settings"]["spending"]["value_numerator"] == 10
    assert program["settings"]["spending"]["share_max_basis_points"] == 10_000
    assert program["settings"]["pending_days"] == 0
    assert program["settings"]["spend_earned_in_same_check"] is False


def test_a_kitty_counts_in_its_currency_and_stamps_in_a_unit_of_their_own(client, merchant):
    kitty = create(
        client,
        merchant,
        kind="kitty",
        name="Cagnotte",
        earning={"numerator": 300, "denominator": 10_000},
    ).json()
    assert kitty["asset"] == "CZK"
    assert kitty["settings"]["earning"] == {"numerator": 300, "denominator": 10_000}
    stamps = create(
        client,
        merchant,
        kind="stamps",
        name="Coffee card",
        stamp_card={"size": 8, "reward": "percent_discount", "reward_value": 5_000},
    ).json()
    assert stamps["asset"].startswith("STP-")
    assert stamps["settings"]["stamp_card"]["size"] == 8
    listed = client.get(PROGRAMS, headers=merchant.register).json()["items"]
    assert {p["name"] for p in listed} == {"Cagnotte", "Coffee card"}


def test_options_that_contradict_each_other_are_refused(client, merchant):
    bad = create(
        client, merchant, valid_from="2027-01-01T00:00:00Z", valid_to="2026-01-01T00:00:00Z"
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"
    no_card = create(client, merchant, kind="stamps", stamp_card={"size": 1})
    assert no_card.status_code == 422
    discount = create(
        client, merchant, kind="stamps", stamp_card={"size": 5, "reward": "fixed_discount"}
    )
    assert discount.status_code == 422 and discount.json()["code"] == "invalid_input"
    assert client.get(PROGRAMS, headers=merchant.manager).json()["items"] == []


def test_a_cashier_may_read_programs_but_not_set_them_up(client, merchant):
    response = client.post(
        PROGRAMS, json={"kind": "points", "name": "x", "currency": "CZK"}, headers=merchant.register
    )
    assert response.status_code == 403 and response.json()["code"] == "forbidden"


def test_a_program_is_changed_suspended_and_resumed(client, merchant):
    program = create(client, merchant).json()
    path = f"{PROGRAMS}/{program['id']}"
    changed = client.patch(
        path,
        json={
            "name": "Points+",
            "pending_days": 14,
            "spending": {
                "value_numerator": 1,
                "value_denominator": 1,
                "share_max_basis_points": 5_000,
            },
        },
        headers=merchant.manager,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Points+"
    assert changed.json()["settings"]["pending_days"] == 14
    assert changed.json()["settings"]["spending"]["share_max_basis_points"] == 5_000
    suspended = client.post(f"{path}/suspension", headers=merchant.manager)
    assert suspended.json()["status"] == "suspended"
    again = client.post(f"{path}/suspension", headers=merchant.manager)
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert client.post(f"{path}/resumption", headers=merchant.manager).json()["status"] == (
        "active"
    )


def test_deleting_a_program_with_its_balances_expired_moves_them_to_breakage(
    client, merchant, services
):
    program_json = create(client, merchant).json()
    program = services.loyalty.get(_manager(services, merchant), uuid.UUID(program_json["id"]))
    members = [
        client.post(
            "/v1/customers", json={"phone": f"+42060111222{i}"}, headers=merchant.register
        ).json()
        for i in range(3)
    ]
    issuance = services.loyalty.issuance_account(program)
    accounts = [services.loyalty.member_account(program, uuid.UUID(m["id"])) for m in members]
    services.ledger.post_entry(
        program.merchant_id,
        [
            Transfer(issuance.id, account.id, 100 * (index + 1), "loyalty_earned")
            for index, account in enumerate(accounts)
        ],
        kind="test_earning",
    )
    deleted = client.post(
        f"{PROGRAMS}/{program.id}/deletion",
        json={"open_balances": "expired"},
        headers=merchant.manager,
    )
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["status"] == "deleted"
    assert [services.ledger.balance(a).credit_balance for a in accounts] == [0, 0, 0]
    breakage = services.ledger.find_accounts(program.merchant_id, "merchant", program.merchant_id)
    (points_breakage,) = [a for a in breakage if a.asset_code == program.asset_code]
    assert services.ledger.balance(points_breakage).credit_balance == 600
    assert (
        client.get(f"{PROGRAMS}/{program.id}", headers=merchant.manager).json()["status"]
        == "deleted"
    )
    assert client.get(PROGRAMS, headers=merchant.manager).json()["items"] == []
    gone = client.post(f"{PROGRAMS}/{program.id}/resumption", headers=merchant.manager)
    assert gone.status_code == 404


def test_deleting_with_balances_kept_leaves_them(client, merchant, services):
    program_json = create(client, merchant, kind="kitty", name="Kitty").json()
    program = services.loyalty.get(_manager(services, merchant), uuid.UUID(program_json["id"]))
    member = client.post(
        "/v1/customers", json={"phone": "+420601999888"}, headers=merchant.register
    ).json()
    account = services.loyalty.member_account(program, uuid.UUID(member["id"]))
    assert program.kind == ProgramKind.KITTY
    services.ledger.post_entry(
        program.merchant_id,
        [Transfer(services.loyalty.issuance_account(program).id, account.id, 250, "kitty")],
        kind="test_earning",
    )
    kept = client.post(
        f"{PROGRAMS}/{program.id}/deletion",
        json={"open_balances": "kept"},
        headers=merchant.manager,
    )
    assert kept.status_code == 200
    assert services.ledger.balance(account).credit_balance == 250


def _manager(services, merchant):
    return services.merchants.authenticate_key(merchant.manager["Authorization"].split()[1])
