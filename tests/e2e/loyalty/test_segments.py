"""Customer segments: filters over the directory, counted and listed live.

Four members of the café, on 1 June 2026 (the clock):

    Anna   2 checks, 600.00 CZK in all, last on 25 May, e-mail consent, born in June
    Boris  1 check, 100.00 CZK, on 1 January (five months ago)
    Chloé  no check; born in June
    Dan    1 check of 300.00 CZK on 20 May, wholly refunded
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from tests.e2e.api.conftest import enrol


def line(amount: int) -> dict:
    return {"sku": "MEAL", "quantity": 1, "unit_price_minor": amount}


@pytest.fixture
def cafe(client, merchant, clock) -> dict:
    clock.set(datetime(2026, 1, 1, 8, tzinfo=UTC))
    points = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={"kind": "points", "name": "Café points", "currency": "CZK"},
    ).json()
    anna = enrol(
        client,
        merchant,
        "+420601333000",
        first_name="Anna",
        birth_date="1990-06-12",
        consent_marketing_email=True,
    )
    boris = enrol(client, merchant, "+420601333001", first_name="Boris")
    chloe = enrol(client, merchant, "+420601333002", first_name="Chloé", birth_date="1985-06-30")
    dan = enrol(client, merchant, "+420601333003", first_name="Dan")

    def commit(key, member, amount, when) -> dict:
        response = client.post(
            "/v1/checks",
            json={
                "currency": "CZK",
                "customer_id": member["id"],
                "lines": [line(amount)],
                "occurred_at": when,
            },
            headers={**merchant.register, "Idempotency-Key": key},
        )
        assert response.status_code == 201, response.text
        return response.json()

    commit("a1", anna, 40_000, "2026-05-10T10:00:00Z")
    commit("a2", anna, 20_000, "2026-05-25T10:00:00Z")
    commit("b1", boris, 10_000, "2026-01-01T10:00:00Z")
    dans = commit("d1", dan, 30_000, "2026-05-20T10:00:00Z")
    refund = client.post(
        f"/v1/checks/{dans['id']}/refunds",
        json={},
        headers={**merchant.register, "Idempotency-Key": "d1-refund"},
    )
    assert refund.status_code == 201, refund.text
    clock.set(datetime(2026, 6, 1, 8, tzinfo=UTC))
    return {"points": points, "anna": anna, "boris": boris, "chloe": chloe, "dan": dan}


def members_of(client, merchant, definition: dict) -> set[str]:
    created = client.post(
        "/v1/segments",
        json={"name": "test", "definition": definition},
        headers=merchant.manager,
    )
    assert created.status_code == 201, created.text
    segment = created.json()
    names, cursor = set(), None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = client.get(
            f"/v1/segments/{segment['id']}/members", params=params, headers=merchant.register
        ).json()
        names |= {member["first_name"] for member in page["items"]}
        cursor = page["next_cursor"]
        if cursor is None:
            break
    counted = client.get(f"/v1/segments/{segment['id']}", headers=merchant.register).json()
    assert counted["members"] == len(names)
    return names


def test_spend_and_visits_over_a_period(client, merchant, cafe):
    assert members_of(client, merchant, {"currency": "CZK", "spend_min_minor": 50_000}) == {"Anna"}
    # The last 90 days: Boris's January check is out; Dan's refunded one spent nothing.
    assert members_of(
        client,
        merchant,
        {"currency": "CZK", "spend_min_minor": 1, "period_days": 90},
    ) == {"Anna"}
    assert members_of(client, merchant, {"visits_min": 1}) == {"Anna", "Boris"}
    assert members_of(client, merchant, {"visits_max": 0}) == {"Chloé", "Dan"}


def test_last_visit_birthday_month_consent_and_store(client, merchant, cafe):
    assert members_of(client, merchant, {"last_visit_within_days": 30}) == {"Anna"}
    # Not seen for 60 days: Boris, and those never seen (Dan's only visit was refunded).
    assert members_of(client, merchant, {"no_visit_for_days": 60}) == {"Boris", "Chloé", "Dan"}
    assert members_of(client, merchant, {"birthday_month": 6}) == {"Anna", "Chloé"}
    assert members_of(client, merchant, {"consent": "email"}) == {"Anna"}
    assert members_of(client, merchant, {"store_id": merchant.store_id, "period_days": 30}) == {
        "Anna",
        "Dan",
    }
    assert members_of(client, merchant, {"birthday_month": 6, "consent": "email"}) == {"Anna"}


def test_a_balance_in_a_program(client, merchant, cafe):
    program_id = cafe["points"]["id"]
    # Anna earned 40 + 20 points, Boris 10, Dan's 30 were taken back by the refund.
    assert members_of(client, merchant, {"program_id": program_id, "balance_min": 50}) == {"Anna"}
    assert members_of(
        client, merchant, {"program_id": program_id, "balance_min": 1, "balance_max": 10}
    ) == {"Boris"}


def test_blocked_and_erased_members_are_in_no_segment(client, merchant, cafe):
    client.post(
        f"/v1/customers/{cafe['boris']['id']}/status",
        json={"status": "blocked"},
        headers=merchant.manager,
    )
    client.post(f"/v1/customers/{cafe['chloe']['id']}/erasure", headers=merchant.manager)
    assert members_of(client, merchant, {}) == {"Anna", "Dan"}


def test_bad_definitions_and_another_merchants_program_are_refused(
    client, merchant, other_merchant, cafe
):
    for definition in (
        {"spend_min_minor": 100},  # no currency
        {"balance_min": 1},  # no program
        {"visits_min": 5, "visits_max": 1},
        {"birthday_month": 13},
        {"tier": "gold"},
    ):
        response = client.post(
            "/v1/segments",
            json={"name": "bad", "definition": definition},
            headers=merchant.manager,
        )
        assert response.status_code == 422, definition
    theirs = client.post(
        "/v1/segments",
        json={"name": "x", "definition": {"program_id": cafe["points"]["id"]}},
        headers=other_merchant.manager,
    )
    assert theirs.status_code == 404
    missing = client.get(f"/v1/segments/{uuid.uuid4()}", headers=merchant.register)
    assert missing.status_code == 404


def test_a_segment_is_renamed_changed_and_deleted(client, merchant, cafe):
    segment = client.post(
        "/v1/segments",
        json={"name": "June birthdays", "definition": {"birthday_month": 6}},
        headers=merchant.manager,
    ).json()
    changed = client.put(
        f"/v1/segments/{segment['id']}",
        json={"name": "January birthdays", "definition": {"birthday_month": 1}},
        headers=merchant.manager,
    )
    assert changed.status_code == 200 and changed.json()["name"] == "January birthdays"
    assert (
        client.get(f"/v1/segments/{segment['id']}", headers=merchant.register).json()["members"]
        == 0
    )
    listed = client.get("/v1/segments", headers=merchant.register).json()["items"]
    assert [s["name"] for s in listed] == ["January birthdays"]
    assert (
        client.delete(f"/v1/segments/{segment['id']}", headers=merchant.manager).status_code == 204
    )
    assert client.get(f"/v1/segments/{segment['id']}", headers=merchant.register).status_code == 404
    assert client.get("/v1/segments", headers=merchant.register).json()["items"] == []


def test_a_rule_for_a_segment_gives_only_to_its_members(client, merchant, cafe):
    segment = client.post(
        "/v1/segments",
        json={"name": "Regulars", "definition": {"visits_min": 2}},
        headers=merchant.manager,
    ).json()
    rule = client.post(
        f"/v1/loyalty-programs/{cafe['points']['id']}/rules",
        json={
            "name": "100 points for regulars",
            "benefit": {"kind": "fixed_bonus", "units": 100},
            "segment_ids": [segment["id"]],
        },
        headers=merchant.manager,
    )
    assert rule.status_code == 201, rule.text

    def bonus(member) -> int:
        quote = client.post(
            "/v1/checks/quotes",
            json={"currency": "CZK", "customer_id": member["id"], "lines": [line(10_000)]},
            headers=merchant.register,
        )
        assert quote.status_code == 200, quote.text
        return sum(e["units"] for e in quote.json()["effects"] if e["rule_id"] == rule.json()["id"])

    assert bonus(cafe["anna"]) == 100  # two visits
    assert bonus(cafe["boris"]) == 0  # one
    anonymous = client.post(
        "/v1/checks/quotes",
        json={"currency": "CZK", "lines": [line(10_000)]},
        headers=merchant.register,
    ).json()
    assert all(e["rule_id"] != rule.json()["id"] for e in anonymous["effects"])


@pytest.fixture
def tiered(client, merchant, clock) -> dict:
    """A tiered points program (Bronze from 0, Silver from 5 000.00 CZK, Gold from
    10 000.00 over a rolling 12 months, months local to Prague) and five members.

    On 1 June 2026 the period is July 2025 to June 2026:

        Eva    8 000.00 on 15 June 2025 (before the period), 3 000.00 on 10 March  → Bronze
        Filip  4 000.00 at 23:30 UTC on 30 June 2025 (1 July in Prague: counted)
               and 1 000.00 on 20 May: 5 000.00, the threshold itself            → Silver
        Gita   7 000.00 in February, 4 000.00 in April refunded: 7 000.00       → Silver
        Hana   10 500.00 at 22:30 UTC on 31 May (1 June in Prague)              → Gold
        Ivan   no check: Bronze, and no member of the program (no account)
    """
    from tests.e2e.loyalty.test_tiers import make_program

    clock.set(datetime(2025, 6, 1, 8, tzinfo=UTC))
    program = make_program(client, merchant)
    people = {
        name: enrol(client, merchant, f"+42060144400{n}", first_name=name)
        for n, name in enumerate(("Eva", "Filip", "Gita", "Hana", "Ivan"))
    }

    def buy(name: str, amount: int, when: datetime) -> dict:
        clock.set(when)
        response = client.post(
            "/v1/checks",
            json={"currency": "CZK", "customer_id": people[name]["id"], "lines": [line(amount)]},
            headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 201, response.text
        return response.json()

    buy("Eva", 800_000, datetime(2025, 6, 15, 10, tzinfo=UTC))
    buy("Filip", 400_000, datetime(2025, 6, 30, 23, 30, tzinfo=UTC))
    buy("Gita", 700_000, datetime(2026, 2, 1, 10, tzinfo=UTC))
    buy("Eva", 300_000, datetime(2026, 3, 10, 10, tzinfo=UTC))
    refunded = buy("Gita", 400_000, datetime(2026, 4, 1, 10, tzinfo=UTC))
    refund = client.post(
        f"/v1/checks/{refunded['id']}/refunds",
        json={},
        headers={**merchant.manager, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert refund.status_code == 201, refund.text
    buy("Filip", 100_000, datetime(2026, 5, 20, 10, tzinfo=UTC))
    buy("Hana", 1_050_000, datetime(2026, 5, 31, 22, 30, tzinfo=UTC))
    clock.set(datetime(2026, 6, 1, 8, tzinfo=UTC))
    return {"program": program, **people}


def test_members_by_their_tier_counted_as_the_check_counts_it(client, merchant, tiered):
    from tests.e2e.loyalty.test_tiers import standing

    program_id = tiered["program"]["id"]
    by_tier = {
        tier: members_of(client, merchant, {"program_id": program_id, "tier": tier})
        for tier in ("Bronze", "Silver", "Gold")
    }
    assert by_tier == {"Bronze": {"Eva", "Ivan"}, "Silver": {"Filip", "Gita"}, "Gold": {"Hana"}}
    # The member's own standing (checkout/tiers.py) says the same, with the spend.
    spends = {}
    for name in ("Eva", "Filip", "Gita", "Hana"):
        tier = standing(client, merchant, tiered[name])["tier"]
        assert name in by_tier[tier["name"]]
        spends[name] = tier["spend_minor"]
    assert spends == {"Eva": 300_000, "Filip": 500_000, "Gita": 700_000, "Hana": 1_050_000}


def test_members_of_a_program_are_those_with_its_account(client, merchant, tiered):
    program_id = tiered["program"]["id"]
    members = {"Eva", "Filip", "Gita", "Hana"}
    assert members_of(client, merchant, {"program_id": program_id, "program_member": True}) == (
        members
    )
    assert members_of(client, merchant, {"program_id": program_id, "program_member": False}) == {
        "Ivan"
    }
    assert members_of(
        client, merchant, {"program_id": program_id, "program_member": True, "tier": "Bronze"}
    ) == {"Eva"}


def test_a_tier_filter_needs_a_program_with_that_tier(client, merchant, tiered, cafe):
    for definition, code in (
        ({"tier": "Silver"}, "validation_error"),
        ({"program_member": True}, "validation_error"),
        ({"program_id": tiered["program"]["id"], "tier": "Platinum"}, "invalid_input"),
        ({"program_id": cafe["points"]["id"], "tier": "Silver"}, "invalid_input"),
    ):
        response = client.post(
            "/v1/segments", json={"name": "bad", "definition": definition}, headers=merchant.manager
        )
        assert response.status_code == 422, (definition, response.text)
        assert response.json()["code"] == code, response.text
