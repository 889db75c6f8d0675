"""Statistics of recorded checks: worked examples with the numbers written out.

The café's points program earns 1 point per 10.00 CZK (rounded down on the
check). Three days of checks at the register (days in the merchant's zone):

    Mon 2 March  member Éloïse  2 × 45.00 + 119.90 = 209.90  → 20 points
    Mon 2 March  anonymous      1 × 119.90                  (nothing earned)
    Tue 3 March  member Éloïse  3 × 33.33 = 99.99            →  9 points,
                                then one bean bag refunded (33.33 back, 4 points back)
    Mon 9 March  member Bruno   2 × 45.00 = 90.00             →  9 points
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from tests.e2e.api.conftest import enrol

ESPRESSO = {"sku": "ESPRESSO", "quantity": 2, "unit_price_minor": 4_500}
CAKE = {"sku": "CAKE", "quantity": 1, "unit_price_minor": 11_990}
BEANS = {"sku": "BEANS", "quantity": 3, "unit_price_minor": 3_333}


@pytest.fixture
def week(client, merchant, clock) -> dict:
    points = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={"kind": "points", "name": "Café points", "currency": "CZK"},
    ).json()
    eloise = enrol(client, merchant, "+420601555000", first_name="Éloïse")
    clock.set(datetime(2026, 3, 9, 8, tzinfo=UTC))
    bruno = enrol(client, merchant, "+420601555001", first_name="Bruno")

    def commit(key: str, when: str, lines: list, customer: dict | None = None) -> dict:
        body = {"currency": "CZK", "lines": lines, "occurred_at": when}
        if customer is not None:
            body["customer_id"] = customer["id"]
        response = client.post(
            "/v1/checks", json=body, headers={**merchant.register, "Idempotency-Key": key}
        )
        assert response.status_code == 201, response.text
        return response.json()

    commit("mon-1", "2026-03-02T09:00:00Z", [ESPRESSO, CAKE], eloise)
    commit("mon-2", "2026-03-02T10:00:00Z", [CAKE])
    beans = commit("tue-1", "2026-03-03T09:00:00Z", [BEANS], eloise)
    refund = client.post(
        f"/v1/checks/{beans['id']}/refunds",
        json={"lines": [{"index": 0, "quantity": 1}]},
        headers={**merchant.register, "Idempotency-Key": "tue-refund"},
    )
    assert refund.status_code == 201, refund.text
    commit("mon-3", "2026-03-09T09:00:00Z", [ESPRESSO], bruno)
    return {"points": points, "eloise": eloise, "bruno": bruno}


def statistics(client, merchant, **query) -> dict:
    response = client.get(
        "/v1/statistics/checks", params={"currency": "CZK", **query}, headers=merchant.manager
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_totals_of_a_period_count_every_check_and_the_refunds(client, merchant, week):
    report = statistics(client, merchant, date_from="2026-03-02", date_to="2026-03-08")
    totals = report["totals"]
    assert totals["checks"] == 3 and totals["member_checks"] == 2
    assert totals["gross_minor"] == 20_990 + 11_990 + 9_999
    assert totals["refunded_minor"] == 3_333
    assert totals["revenue_minor"] == 20_990 + 11_990 + 9_999 - 3_333 == 39_646
    assert totals["average_basket_minor"] == 13_215  # 39 646 / 3 = 13 215.33
    (program,) = totals["programs"]
    assert program == {
        "program_id": week["points"]["id"],
        "issued": 29,
        "spent": 0,
        "expired": 0,
    }
    assert report["members"] == {"members": 1, "returning_members": 0, "new_members": 0}
    assert report["groups"] == []


def test_a_table_by_day_week_month_and_store(client, merchant, week):
    by_day = statistics(client, merchant, group_by="day")
    assert [(g["key"], g["figures"]["checks"]) for g in by_day["groups"]] == [
        ("2026-03-02", 2),
        ("2026-03-03", 1),
        ("2026-03-09", 1),
    ]
    assert [g["figures"]["revenue_minor"] for g in by_day["groups"]] == [32_980, 6_666, 9_000]
    by_week = statistics(client, merchant, group_by="week")
    assert [(g["key"], g["figures"]["checks"]) for g in by_week["groups"]] == [
        ("2026-03-02", 3),
        ("2026-03-09", 1),
    ]
    assert by_week["totals"]["revenue_minor"] == 48_646
    by_month = statistics(client, merchant, group_by="month")
    assert [(g["key"], g["figures"]["checks"]) for g in by_month["groups"]] == [("2026-03-01", 4)]
    by_store = statistics(client, merchant, group_by="store")
    assert [(g["key"], g["figures"]["checks"]) for g in by_store["groups"]] == [
        (merchant.store_id, 4)
    ]


def test_filters_members_programs_and_the_returning_rate(client, merchant, week):
    anonymous = statistics(client, merchant, member="false")["totals"]
    assert anonymous["checks"] == 1 and anonymous["revenue_minor"] == 11_990
    members = statistics(client, merchant, member="true")["totals"]
    assert members["checks"] == 3 and members["revenue_minor"] == 48_646 - 11_990
    with_points = statistics(client, merchant, program_id=week["points"]["id"])["totals"]
    assert with_points["checks"] == 3  # the anonymous check earned nothing
    second_week = statistics(client, merchant, date_from="2026-03-09", date_to="2026-03-15")
    assert second_week["totals"]["checks"] == 1
    # Bruno's first check: not returning; Bruno joined that week.
    assert second_week["members"] == {"members": 1, "returning_members": 0, "new_members": 1}
    elsewhere = statistics(client, merchant, store_id=str(uuid.uuid4()))["totals"]
    assert elsewhere["checks"] == 0 and elsewhere["revenue_minor"] == 0


def test_a_returning_member_is_one_with_a_check_before_the_period(client, merchant, week):
    client.post(
        "/v1/checks",
        json={
            "currency": "CZK",
            "lines": [CAKE],
            "customer_id": week["eloise"]["id"],
            "occurred_at": "2026-03-10T09:00:00Z",
        },
        headers={**merchant.register, "Idempotency-Key": "tue-2"},
    )
    report = statistics(client, merchant, date_from="2026-03-09", date_to="2026-03-15")
    assert report["members"]["members"] == 2 and report["members"]["returning_members"] == 1


def test_a_product_filter_keeps_the_checks_with_such_a_line(client, merchant, week):
    product = client.post(
        "/v1/catalogue/products",
        json={"sku": "LATE", "name": "Late", "unit_price_minor": 100, "currency": "CZK"},
        headers=merchant.manager,
    )
    assert product.status_code == 201, product.text
    # Lines of SKUs the catalogue did not know when sold have no product: none match.
    report = statistics(client, merchant, product_id=product.json()["id"])["totals"]
    assert report["checks"] == 0 and report["product_quantity"] == 0


def test_the_export_is_the_table_with_a_total_line_in_csv_and_xlsx(client, merchant, week):
    response = client.get(
        "/v1/statistics/checks/export",
        params={"currency": "CZK", "group_by": "day", "format": "csv"},
        headers=merchant.manager,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:3] == ["group", "checks", "member_checks"]
    assert [row[:2] for row in rows[1:]] == [
        ["2026-03-02", "2"],
        ["2026-03-03", "1"],
        ["2026-03-09", "1"],
        ["total", "4"],
    ]
    assert rows[-1][rows[0].index("revenue_minor")] == "48646"
    workbook = client.get(
        "/v1/statistics/checks/export",
        params={"currency": "CZK", "format": "xlsx"},
        headers=merchant.manager,
    )
    assert workbook.status_code == 200
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    assert [cell.value for cell in sheet[2]][:2] == ["total", 4]


def test_bad_queries_are_refused_and_a_cashier_may_not_read_them(client, merchant, week):
    for query in (
        {"date_from": "2026-03-09", "date_to": "2026-03-01"},
        {"group_by": "year"},
        {"date_from": "2016-01-01", "date_to": "2026-03-01"},
    ):
        response = client.get(
            "/v1/statistics/checks", params={"currency": "CZK", **query}, headers=merchant.manager
        )
        assert response.status_code in (400, 422), (query, response.text)
    missing = client.get("/v1/statistics/checks", headers=merchant.manager)
    assert missing.status_code in (400, 422)
    register = client.get(
        "/v1/statistics/checks", params={"currency": "CZK"}, headers=merchant.register
    )
    assert register.status_code == 403 and register.json()["code"] == "forbidden"


def segment(client, merchant, definition: dict) -> str:
    response = client.post(
        "/v1/segments",
        json={"name": "statistics", "definition": definition},
        headers=merchant.manager,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_the_checks_of_a_segments_members(client, merchant, other_merchant, week):
    # Regulars (two visits or more): Éloïse alone. Her two checks: 209.90 and 99.99,
    # 33.33 refunded: 276.56 in all, 138.28 a basket; 20 + 9 points earned on them.
    regulars = segment(client, merchant, {"visits_min": 2})
    report = statistics(client, merchant, segment_id=regulars)
    totals = report["totals"]
    assert (totals["checks"], totals["member_checks"]) == (2, 2)
    assert totals["gross_minor"] == 20_990 + 9_999
    assert totals["refunded_minor"] == 3_333
    assert totals["revenue_minor"] == 27_656 and totals["average_basket_minor"] == 13_828
    assert [p["issued"] for p in totals["programs"]] == [29]
    assert report["members"]["members"] == 1
    # Few points (10 at most): Bruno, 9 points from his 90.00 on 9 March.
    few_points = segment(client, merchant, {"program_id": week["points"]["id"], "balance_max": 10})
    by_day = statistics(client, merchant, segment_id=few_points, group_by="day")
    assert [(g["key"], g["figures"]["revenue_minor"]) for g in by_day["groups"]] == [
        ("2026-03-09", 9_000)
    ]
    # Filters combine: the regulars' checks of the second week are none.
    assert (
        statistics(client, merchant, segment_id=regulars, date_from="2026-03-09")["totals"][
            "checks"
        ]
        == 0
    )
    exported = client.get(
        "/v1/statistics/checks/export",
        params={"currency": "CZK", "format": "csv", "segment_id": regulars},
        headers=merchant.manager,
    )
    assert exported.status_code == 200, exported.text
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[-1][:2] == ["total", "2"]
    assert rows[-1][rows[0].index("revenue_minor")] == "27656"


def test_a_segment_of_another_merchant_or_none_is_not_found(client, merchant, other_merchant, week):
    theirs = segment(client, other_merchant, {})
    for segment_id in (theirs, str(uuid.uuid4())):
        for path in ("/v1/statistics/checks", "/v1/statistics/checks/export"):
            response = client.get(
                path,
                params={"currency": "CZK", "segment_id": segment_id},
                headers=merchant.manager,
            )
            assert response.status_code == 404, response.text
            assert response.json()["code"] == "not_found"
