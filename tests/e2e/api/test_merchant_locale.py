"""A merchant's locale: its country reads its customers' phones, its zone says when its day
begins, and both are checked when the operator or the owner sets them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from tests.e2e.api.conftest import bearer, enrol, make_merchant

LATTE = {"sku": "LATTE", "quantity": 1, "unit_price_minor": 10_000}


def _relocate(client, operator_key, merchant, **where) -> dict:
    response = client.patch(
        f"/v1/merchants/{merchant.id}", json=where, headers=bearer(operator_key)
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def quebec(client, operator_key):
    merchant = make_merchant(client, operator_key, "Café Montréal")
    _relocate(
        client,
        operator_key,
        merchant,
        country="CA",
        locale="fr-CA",
        time_zone="America/Montreal",
    )
    return merchant


# Creating and changing where a merchant is ------------------------------------------


def test_a_merchant_made_without_a_locale_is_in_prague(client, operator_key):
    response = client.post("/v1/merchants", json={"name": "Kavárna"}, headers=bearer(operator_key))
    assert response.status_code == 201, response.text
    made = response.json()
    assert (made["country"], made["locale"], made["time_zone"]) == (
        "CZ",
        "cs_CZ",
        "Europe/Prague",
    )


def test_a_merchant_named_in_canada_gets_the_country_s_locale_and_main_zone(client, operator_key):
    response = client.post(
        "/v1/merchants", json={"name": "Maple", "country": "ca"}, headers=bearer(operator_key)
    )
    assert response.status_code == 201, response.text
    made = response.json()
    assert (made["country"], made["locale"], made["time_zone"]) == (
        "CA",
        "en_CA",
        "America/Toronto",
    )
    read = client.get(f"/v1/merchants/{made['id']}", headers=bearer(operator_key)).json()
    assert read["time_zone"] == "America/Toronto"


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ({"country": "XX"}, "unknown_country"),
        ({"locale": "xx_YY"}, "unknown_locale"),
        ({"locale": "not a locale"}, "unknown_locale"),
        ({"time_zone": "Mars/Olympus_Mons"}, "unknown_time_zone"),
        ({"time_zone": "../../etc/passwd"}, "unknown_time_zone"),
        ({"country": "RU"}, "unknown_time_zone"),  # several zones: the operator names one
    ],
)
def test_an_unknown_country_locale_or_zone_is_refused_with_its_code(
    client, operator_key, merchant, where, code
):
    created = client.post(
        "/v1/merchants", json={"name": "Nowhere", **where}, headers=bearer(operator_key)
    )
    assert created.status_code == 422, created.text
    assert created.json()["code"] == code
    if "country" in where and code == "unknown_time_zone":
        return  # a country of several zones is fine on its own once a zone is set
    changed = client.patch(f"/v1/merchants/{merchant.id}", json=where, headers=merchant.owner)
    assert changed.status_code == 422, changed.text
    assert changed.json()["code"] == code
    kept = client.get(f"/v1/merchants/{merchant.id}", headers=merchant.owner).json()
    assert (kept["country"], kept["locale"], kept["time_zone"]) == ("CZ", "cs_CZ", "Europe/Prague")


def test_the_owner_changes_its_own_merchant_s_zone_and_a_manager_may_not(client, merchant):
    refused = client.patch(
        f"/v1/merchants/{merchant.id}", json={"time_zone": "UTC"}, headers=merchant.manager
    )
    assert refused.status_code == 403
    changed = client.patch(
        f"/v1/merchants/{merchant.id}",
        json={"time_zone": "America/Montreal", "locale": "fr_CA"},
        headers=merchant.owner,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["country"], changed.json()["locale"], changed.json()["time_zone"]) == (
        "CZ",
        "fr_CA",
        "America/Montreal",
    )


# Phones read in the merchant's country --------------------------------------------------


def test_a_quebec_merchant_enrols_514_555_0100_as_a_canadian_number(client, quebec):
    member = enrol(client, quebec, "514 555 0100")
    assert member["phone"] == "+15145550100"
    # Found again however it is written, national or international.
    for typed in ("(514) 555-0100", "+1 514 555 0100", "5145550100"):
        again = client.post("/v1/customers", json={"phone": typed}, headers=quebec.register)
        assert again.status_code == 200, again.text
        assert again.json()["id"] == member["id"]
    found = client.get(
        "/v1/customers", params={"phone": "514-555-0100"}, headers=quebec.register
    ).json()
    found = found["items"] if isinstance(found, dict) else found
    assert [customer["id"] for customer in found] == [member["id"]]


def test_a_czech_merchant_still_reads_777_123_456_and_every_merchant_takes_e164(
    client, merchant, quebec
):
    assert enrol(client, merchant, "777 123 456")["phone"] == "+420777123456"
    assert enrol(client, quebec, "+420 777 123 456")["phone"] == "+420777123456"
    assert enrol(client, merchant, "+1 514 555 0101")["phone"] == "+15145550101"
    # A Czech national number is no Canadian one.
    refused = client.post("/v1/customers", json={"phone": "777 123 456"}, headers=quebec.register)
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_phone"


def test_the_register_names_a_quebec_member_by_their_national_number(client, quebec):
    member = enrol(client, quebec, "+15145550100")
    response = client.post(
        "/v1/checks",
        json={"currency": "CZK", "customer_phone": "514 555 0100", "lines": [LATTE]},
        headers={**quebec.register, "Idempotency-Key": "by-phone"},
    )
    assert response.status_code == 201, response.text
    check = client.get(f"/v1/checks/{response.json()['id']}", headers=quebec.register).json()
    assert check["membership_id"] == member["id"]


# The merchant's day -----------------------------------------------------------------------


def _points_program(client, merchant) -> dict:
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
        json={"name": "Promotion", "benefit": {"kind": "fixed_bonus", "units": 50}, **definition},
    )
    assert response.status_code == 201, response.text
    return response.json()


def _bonus(client, merchant, member, rule, *, commit: bool = True) -> int:
    response = client.post(
        "/v1/checks" if commit else "/v1/checks/quotes",
        json={"currency": "CZK", "customer_id": member["id"], "lines": [LATTE]},
        headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code in (200, 201), response.text
    return sum(
        effect["units"]
        for effect in response.json()["effects"]
        if effect["kind"] == "earn" and effect["rule_id"] == rule["id"]
    )


def test_a_prague_merchant_s_day_begins_at_23_00_utc_in_winter(client, merchant, clock):
    program = _points_program(client, merchant)
    member = enrol(client, merchant, "+420601700001")
    rule = _rule(client, merchant, program, per_customer={"per_day_times_max": 1})
    clock.set(datetime(2026, 1, 5, 22, 30, tzinfo=UTC))  # 23:30 on the 5th in Prague
    assert _bonus(client, merchant, member, rule) == 50
    clock.set(datetime(2026, 1, 5, 23, 30, tzinfo=UTC))  # 00:30 on the 6th: a new day
    assert _bonus(client, merchant, member, rule) == 50
    clock.set(datetime(2026, 1, 6, 22, 0, tzinfo=UTC))  # 23:00 on the 6th: the same day
    assert _bonus(client, merchant, member, rule) == 0


def test_a_montreal_merchant_s_day_goes_on_until_05_00_utc(client, quebec, clock):
    program = _points_program(client, quebec)
    member = enrol(client, quebec, "+15145550102")
    rule = _rule(client, quebec, program, per_customer={"per_day_times_max": 1})
    clock.set(datetime(2026, 1, 5, 20, 0, tzinfo=UTC))  # 15:00 on the 5th in Montréal
    assert _bonus(client, quebec, member, rule) == 50
    clock.set(datetime(2026, 1, 6, 3, 0, tzinfo=UTC))  # 22:00 on the 5th: still that day
    assert _bonus(client, quebec, member, rule) == 0
    clock.set(datetime(2026, 1, 6, 5, 30, tzinfo=UTC))  # 00:30 on the 6th
    assert _bonus(client, quebec, member, rule) == 50


def test_a_monthly_cap_starts_again_at_the_merchant_s_first_of_the_month(client, quebec, clock):
    program = _points_program(client, quebec)
    member = enrol(client, quebec, "+15145550103")
    rule = _rule(client, quebec, program, per_customer={"per_month_times_max": 1})
    clock.set(datetime(2026, 2, 1, 3, 0, tzinfo=UTC))  # 22:00 on 31 January in Montréal
    assert _bonus(client, quebec, member, rule) == 50
    clock.set(datetime(2026, 2, 1, 4, 0, tzinfo=UTC))  # 23:00 on 31 January
    assert _bonus(client, quebec, member, rule) == 0
    clock.set(datetime(2026, 2, 1, 6, 0, tzinfo=UTC))  # 01:00 on 1 February
    assert _bonus(client, quebec, member, rule) == 50


def test_a_happy_hour_is_the_merchant_s_local_hour(client, merchant, quebec, clock):
    """17:00–19:00 local: 22:30 UTC is 17:30 in Montréal and 23:30 in Prague."""
    windows = [{"start": "17:00", "end": "19:00"}]
    prague_rule = _rule(client, merchant, _points_program(client, merchant), windows=windows)
    quebec_rule = _rule(client, quebec, _points_program(client, quebec), windows=windows)
    prague_member = enrol(client, merchant, "+420601700002")
    quebec_member = enrol(client, quebec, "+15145550104")
    clock.set(datetime(2026, 1, 5, 22, 30, tzinfo=UTC))
    assert _bonus(client, quebec, quebec_member, quebec_rule, commit=False) == 50
    assert _bonus(client, merchant, prague_member, prague_rule, commit=False) == 0
    clock.set(datetime(2026, 1, 5, 16, 30, tzinfo=UTC))  # 17:30 in Prague, 11:30 in Montréal
    assert _bonus(client, merchant, prague_member, prague_rule, commit=False) == 50
    assert _bonus(client, quebec, quebec_member, quebec_rule, commit=False) == 0


def test_the_check_statistics_count_the_merchant_s_days(client, quebec):
    """A check at 03:00 UTC on the 6th is on the 5th in Montréal, for the table and the filter."""
    for key, when in (("late", "2026-01-06T03:00:00Z"), ("next", "2026-01-06T15:00:00Z")):
        response = client.post(
            "/v1/checks",
            json={"currency": "CZK", "lines": [LATTE], "occurred_at": when},
            headers={**quebec.register, "Idempotency-Key": key},
        )
        assert response.status_code == 201, response.text
    by_day = client.get(
        "/v1/statistics/checks",
        params={"currency": "CZK", "group_by": "day"},
        headers=quebec.manager,
    )
    assert by_day.status_code == 200, by_day.text
    assert [(g["key"], g["figures"]["checks"]) for g in by_day.json()["groups"]] == [
        ("2026-01-05", 1),
        ("2026-01-06", 1),
    ]
    the_5th = client.get(
        "/v1/statistics/checks",
        params={"currency": "CZK", "date_from": "2026-01-05", "date_to": "2026-01-05"},
        headers=quebec.manager,
    ).json()
    assert the_5th["totals"]["checks"] == 1
