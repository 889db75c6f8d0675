"""Resellers, registration to a member with the profile bonus, reports and their exports."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from tests.e2e.gift_cards.conftest import (
    activate,
    balance,
    bearer,
    create_program,
    load,
    new_cards,
    post,
    spend,
)


def make_reseller(client, merchant, program_ids):
    response = client.post(
        "/v1/gift-card-resellers",
        json={"name": "Gift Card Mall", "program_ids": program_ids},
        headers=merchant.owner,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["api_key"]["role"] == "reseller"
    return body, bearer(body["api_key"]["secret"])


def test_a_reseller_activates_and_loads_only_its_programs(client, merchant):
    sold = create_program(client, merchant, name="Mall card")
    private = create_program(client, merchant, name="Store only")
    reseller, key = make_reseller(client, merchant, [sold["id"]])
    (mall_card,) = new_cards(client, merchant, sold, 1)
    (store_card,) = new_cards(client, merchant, private, 1)
    activated = post(
        client,
        "/v1/gift-cards/activations",
        {"number": mall_card.number, "amount_minor": 5_000},
        key,
    )
    assert activated.status_code == 201, activated.text
    assert activated.json()["reseller_id"] == reseller["id"]
    assert (
        post(
            client, "/v1/gift-cards/loads", {"number": mall_card.number, "amount_minor": 2_000}, key
        ).status_code
        == 201
    )
    refused = post(
        client,
        "/v1/gift-cards/activations",
        {"number": store_card.number, "amount_minor": 5_000},
        key,
    )
    assert refused.json()["code"] == "gift_card_invalid"
    spent = post(
        client,
        "/v1/gift-cards/spends",
        {"number": mall_card.number, "pin": mall_card.pin, "amount_minor": 100},
        key,
    )
    assert spent.status_code == 403
    assert client.get("/v1/customers?q=x", headers=key).status_code in (403, 404, 422)
    assert [p["id"] for p in client.get("/v1/gift-card-programs", headers=key).json()["items"]] == [
        sold["id"]
    ]
    settlement = client.get(
        f"/v1/gift-card-resellers/{reseller['id']}/settlement?from=2026-01-01&to=2026-01-31",
        headers=key,
    )
    assert settlement.status_code == 200, settlement.text
    (row,) = settlement.json()
    assert (row["activations"], row["loads"], row["total_minor"]) == (1, 1, 7_000)
    as_csv = client.get(
        f"/v1/gift-card-resellers/{reseller['id']}/settlement?from=2026-01-01&to=2026-01-31"
        "&format=csv",
        headers=merchant.manager,
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert list(csv.DictReader(io.StringIO(as_csv.text)))[0]["total_minor"] == "7000"


def test_a_registered_card_with_a_complete_profile_earns_the_bonus_once(client, merchant):
    program = create_program(client, merchant, profile_bonus_minor=1_000)
    first, second = new_cards(client, merchant, program, 2)
    activate(client, merchant, first, 5_000)
    activate(client, merchant, second, 5_000)
    customer = client.post(
        "/v1/customers", json={"phone": "+420601555111"}, headers=merchant.register
    ).json()
    registered = post(
        client,
        "/v1/gift-cards/registrations",
        {"customer_id": customer["id"], "number": first.number, "pin": first.pin},
        merchant.register,
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["membership_id"] == customer["id"]
    assert balance(client, merchant, first) == 5_000
    early = post(
        client,
        "/v1/gift-cards/profile-bonuses",
        {"customer_id": customer["id"], "card_id": first.id},
        merchant.register,
    )
    assert early.json()["code"] == "profile_incomplete"
    client.patch(
        f"/v1/customers/{customer['id']}",
        json={"first_name": "Anna", "last_name": "Nová", "email": "anna@example.cz"},
        headers=merchant.register,
    )
    bonus = post(
        client,
        "/v1/gift-cards/profile-bonuses",
        {"customer_id": customer["id"], "card_id": first.id},
        merchant.register,
    )
    assert bonus.status_code == 201, bonus.text
    assert balance(client, merchant, first) == 6_000
    post(
        client,
        "/v1/gift-cards/registrations",
        {"customer_id": customer["id"], "number": second.number, "pin": second.pin},
        merchant.register,
    )
    assert balance(client, merchant, second) == 5_000
    again = post(
        client,
        "/v1/gift-cards/profile-bonuses",
        {"customer_id": customer["id"], "card_id": second.id},
        merchant.register,
    )
    assert again.json()["code"] == "profile_bonus_already_given"
    cards = client.get(
        f"/v1/gift-cards?customer_id={customer['id']}", headers=merchant.register
    ).json()["items"]
    assert {c["id"] for c in cards} == {first.id, second.id}


def test_a_card_registered_to_one_member_cannot_be_taken_by_another(client, merchant, card):
    one = client.post(
        "/v1/customers", json={"phone": "+420601555111"}, headers=merchant.register
    ).json()
    two = client.post(
        "/v1/customers", json={"phone": "+420601555222"}, headers=merchant.register
    ).json()
    body = {"number": card.number, "pin": card.pin}
    assert (
        post(
            client,
            "/v1/gift-cards/registrations",
            {"customer_id": one["id"], **body},
            merchant.register,
        ).status_code
        == 201
    )
    taken = post(
        client,
        "/v1/gift-cards/registrations",
        {"customer_id": two["id"], **body},
        merchant.register,
    )
    assert taken.json()["code"] == "gift_card_already_registered"


def test_reports_show_liability_and_activity_per_store_and_day(client, merchant, program):
    first, second = new_cards(client, merchant, program, 2)
    activate(client, merchant, first, 10_000)
    activate(client, merchant, second, 4_000)
    load(client, merchant, second, 1_000)
    spent = spend(client, merchant, first, 3_000).json()
    post(
        client,
        f"/v1/gift-cards/spends/{spent['id']}/refunds",
        {"amount_minor": 500},
        merchant.register,
    )
    liability = client.get("/v1/gift-card-reports/liability", headers=merchant.manager).json()
    assert liability == [
        {
            "program_id": program["id"],
            "program_name": program["name"],
            "asset": "CAD",
            "cards_inactive": 0,
            "cards_active": 2,
            "cards_frozen": 0,
            "cards_closed": 0,
            "outstanding_minor": 12_500,
        }
    ]
    activity = client.get(
        "/v1/gift-card-reports/activity?from=2026-01-05&to=2026-01-05", headers=merchant.manager
    ).json()
    assert len(activity) == 1
    row = activity[0]
    assert row["store_id"] == merchant.store_id
    assert (row["loaded_minor"], row["spent_minor"], row["refunded_minor"]) == (15_000, 3_000, 500)
    workbook = client.get(
        "/v1/gift-card-reports/activity?from=2026-01-05&to=2026-01-05&format=xlsx",
        headers=merchant.manager,
    )
    rows = list(load_workbook(io.BytesIO(workbook.content)).active.iter_rows(values_only=True))
    assert rows[0][0] == "business_date" and rows[1][5] == 15_000
    liability_csv = client.get(
        "/v1/gift-card-reports/liability?format=csv", headers=merchant.manager
    )
    assert "outstanding_minor" in liability_csv.text.splitlines()[0]


def test_batch_activation_of_a_range_and_of_a_list_with_a_load(client, merchant, program):
    batch = client.post(
        f"/v1/gift-card-programs/{program['id']}/batches",
        json={"card_count": 6},
        headers=merchant.manager,
    ).json()
    export = (
        client.post(f"/v1/gift-card-batches/{batch['id']}/export", headers=merchant.manager)
        .text.strip()
        .splitlines()[1:]
    )
    numbers = [line.split(",")[2] for line in export]
    ranged = post(
        client,
        f"/v1/gift-card-batches/{batch['id']}/activations",
        {"sequence_from": 2, "sequence_to": 3, "load_minor": 2_500},
        merchant.manager,
    )
    assert ranged.status_code == 201, ranged.text
    assert len(ranged.json()["activated"]) == 2 and ranged.json()["loaded_minor"] == 5_000
    listed = post(
        client,
        f"/v1/gift-card-batches/{batch['id']}/activations",
        {"numbers": [numbers[0], numbers[2]]},
        merchant.manager,
    ).json()
    assert len(listed["activated"]) == 1 and len(listed["skipped"]) == 1
    whole = post(
        client,
        f"/v1/gift-card-batches/{batch['id']}/activations",
        {"load_minor": 1_000},
        merchant.manager,
    ).json()
    assert len(whole["activated"]) == 3 and len(whole["skipped"]) == 3
    states = client.get(f"/v1/gift-card-batches/{batch['id']}", headers=merchant.manager).json()
    assert states["cards_by_state"] == {"active": 6}
    cashier = post(
        client, f"/v1/gift-card-batches/{batch['id']}/activations", {}, merchant.register
    )
    assert cashier.status_code == 403
