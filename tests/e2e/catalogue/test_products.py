"""Products: created, read, changed, deactivated, listed a page at a time, filtered."""

from __future__ import annotations

import uuid
from datetime import timedelta

from cagnotte.catalogue.fields import UNIT_PRICE_MINOR_MAX
from cagnotte.catalogue.tables import products
from tests.e2e.catalogue.conftest import (
    catalogue_rows,
    count,
    create_category,
    create_product,
    skus,
)

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["code"] == code, response.text


def test_a_manager_adds_a_product_that_the_register_then_reads(client, merchant):
    drinks = create_category(client, merchant, "Drinks")
    created = create_product(
        client,
        merchant,
        "ESP-1",
        name="Espresso",
        unit_price_minor=250,
        currency="CZK",
        category_id=drinks["id"],
        tax_free=True,
    )
    assert created["merchant_id"] == merchant.id
    assert (created["sku"], created["name"], created["unit_price_minor"], created["currency"]) == (
        "ESP-1",
        "Espresso",
        250,
        "CZK",
    )
    assert created["category_id"] == drinks["id"]
    assert created["tax_free"] is True
    assert created["members_only"] is False and created["active"] is True
    read = client.get(f"/v1/catalogue/products/{created['id']}", headers=merchant.register)
    assert read.status_code == 200 and read.json() == created


def test_a_sku_and_a_name_are_stored_without_surrounding_white_space(client, merchant):
    created = create_product(client, merchant, "  LAT-1 ", name=" Latte\u00a0")
    assert (created["sku"], created["name"]) == ("LAT-1", "Latte")


def test_a_change_names_what_changes_and_a_product_is_deactivated_not_deleted(
    client, services, merchant, clock
):
    product = create_product(client, merchant, "ESP-1", name="Espresso")
    clock.advance(timedelta(minutes=5))
    changed = client.patch(
        f"/v1/catalogue/products/{product['id']}",
        headers=merchant.manager,
        json={"unit_price_minor": 290, "active": False},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["unit_price_minor"] == 290 and changed.json()["active"] is False
    assert changed.json()["name"] == "Espresso" and changed.json()["sku"] == "ESP-1"
    assert changed.json()["updated_at"] > product["updated_at"]
    assert changed.json()["created_at"] == product["created_at"]
    deleted = client.delete(f"/v1/catalogue/products/{product['id']}", headers=merchant.owner)
    assert_problem(deleted, 405, "method_not_allowed")
    assert count(services, products) == 1
    again = client.patch(
        f"/v1/catalogue/products/{product['id']}", headers=merchant.manager, json={"active": True}
    )
    assert again.json()["active"] is True


def test_a_change_may_take_a_product_out_of_its_category(client, merchant):
    drinks = create_category(client, merchant, "Drinks")
    product = create_product(client, merchant, "ESP-1", category_id=drinks["id"])
    changed = client.patch(
        f"/v1/catalogue/products/{product['id']}",
        headers=merchant.manager,
        json={"category_id": None},
    )
    assert changed.status_code == 200 and changed.json()["category_id"] is None


def test_a_change_that_is_not_one_is_refused_and_changes_nothing(
    client, services, merchant, subtests
):
    product = create_product(client, merchant, "ESP-1")
    before = catalogue_rows(services, merchant)
    for body in (
        {},
        {"sku": "NEW-SKU"},
        {"name": None},
        {"active": None},
        {"members_only": "yes"},
        {"unit_price_minor": None},
        {"unit_price_minor": -1},
        {"unit_price_minor": 2.5},
        {"unit_price_minor": UNIT_PRICE_MINOR_MAX + 1},
        {"currency": None},
        {"currency": "czk"},
        {"name": ""},
        {"name": "x" * 201},
        {"category_id": "drinks"},
    ):
        with subtests.test(body=body):
            response = client.patch(
                f"/v1/catalogue/products/{product['id']}", headers=merchant.manager, json=body
            )
            assert_problem(response, 422, "validation_error")
            assert catalogue_rows(services, merchant) == before


def test_a_sku_is_unique_in_a_catalogue_but_not_across_merchants(
    client, services, merchant, other_merchant
):
    create_product(client, merchant, "ESP-1")
    twice = client.post(
        "/v1/catalogue/products",
        headers=merchant.manager,
        json={"sku": "ESP-1", "name": "Espresso again", "unit_price_minor": 1, "currency": "CZK"},
    )
    assert_problem(twice, 409, "product_sku_exists")
    elsewhere = create_product(client, other_merchant, "ESP-1")
    assert elsewhere["merchant_id"] == other_merchant.id
    assert count(services, products) == 2


def test_a_price_is_from_zero_to_its_maximum_in_a_currency_of_the_platform(client, merchant):
    assert create_product(client, merchant, "FREE", unit_price_minor=0)["unit_price_minor"] == 0
    top = create_product(client, merchant, "TOP", unit_price_minor=UNIT_PRICE_MINOR_MAX)
    assert top["unit_price_minor"] == UNIT_PRICE_MINOR_MAX
    own_unit = client.post(
        "/v1/assets",
        json={"code": "CAFE_POINTS", "scale": 0, "name": "Café points"},
        headers=merchant.owner,
    )
    assert own_unit.status_code == 201
    for currency in ("XYZ", "CAFE_POINTS"):
        response = client.post(
            "/v1/catalogue/products",
            headers=merchant.manager,
            json={
                "sku": f"IN-{currency}",
                "name": "Priced",
                "unit_price_minor": 100,
                "currency": currency,
            },
        )
        assert_problem(response, 422, "asset_not_found")
    for price in (-1, UNIT_PRICE_MINOR_MAX + 1, "100", 1.5, None, True):
        response = client.post(
            "/v1/catalogue/products",
            headers=merchant.manager,
            json={
                "sku": "BAD",
                "name": "Badly priced",
                "unit_price_minor": price,
                "currency": "CZK",
            },
        )
        assert_problem(response, 422, "validation_error")


def test_a_product_in_a_category_that_does_not_exist_is_refused(client, services, merchant):
    response = client.post(
        "/v1/catalogue/products",
        headers=merchant.manager,
        json={
            "sku": "ESP-1",
            "name": "Espresso",
            "unit_price_minor": 250,
            "currency": "CZK",
            "category_id": str(uuid.uuid4()),
        },
    )
    assert_problem(response, 404, "not_found")
    assert count(services, products) == 0


def test_a_sku_or_a_name_with_control_characters_is_refused(client, services, merchant, subtests):
    for sku, name in (("A\tB", "Tab"), ("line\nbreak", "Break"), ("BEL", "\u0007bell")):
        with subtests.test(sku=sku, name=name):
            response = client.post(
                "/v1/catalogue/products",
                headers=merchant.manager,
                json={"sku": sku, "name": name, "unit_price_minor": 1, "currency": "CZK"},
            )
            assert_problem(response, 422, "invalid_input")
            assert count(services, products) == 0


def test_a_members_only_product_says_so_when_read_listed_and_resolved(client, services, merchant):
    reserved = create_product(client, merchant, "VIP-1", members_only=True)
    public = create_product(client, merchant, "PUB-1")
    assert reserved["members_only"] is True and public["members_only"] is False
    listed = client.get("/v1/catalogue/products", headers=merchant.register).json()
    assert {p["sku"]: p["members_only"] for p in listed["items"]} == {"VIP-1": True, "PUB-1": False}
    facts = services.catalogue.resolve_lines(uuid.UUID(merchant.id), ["VIP-1", "PUB-1"])
    assert facts["VIP-1"].product.members_only and not facts["PUB-1"].product.members_only
    opened = client.patch(
        f"/v1/catalogue/products/{reserved['id']}",
        headers=merchant.manager,
        json={"members_only": False},
    )
    assert opened.json()["members_only"] is False


# Lists ------------------------------------------------------------------------------


def test_a_list_comes_in_sku_order_a_page_at_a_time(client, merchant):
    for sku in ("SKU-05", "SKU-01", "SKU-07", "SKU-03", "SKU-02", "SKU-06", "SKU-04"):
        create_product(client, merchant, sku)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/catalogue/products", params=params, headers=merchant.register)
        assert page.status_code == 200, page.text
        seen.extend(skus(page.json()))
        cursor, pages = page.json()["next_cursor"], pages + 1
        if cursor is None:
            break
    assert seen == [f"SKU-0{i}" for i in range(1, 8)]
    assert pages == 3


def test_a_page_that_ends_the_list_exactly_has_no_next_cursor(client, merchant):
    for sku in ("A-1", "A-2"):
        create_product(client, merchant, sku)
    page = client.get("/v1/catalogue/products", params={"limit": 2}, headers=merchant.owner)
    assert skus(page.json()) == ["A-1", "A-2"] and page.json()["next_cursor"] is None


def test_a_cursor_the_catalogue_did_not_write_is_refused(client, merchant, subtests):
    # Not base64; not a SKU cursor; an empty SKU; a SKU with a tab; a lone character.
    for cursor in ("!!!", "bm90IG91cnM", "c2t1Og", "c2t1OkEJQg", "a"):
        with subtests.test(cursor=cursor):
            response = client.get(
                "/v1/catalogue/products", params={"cursor": cursor}, headers=merchant.owner
            )
            assert_problem(response, 400, "invalid_cursor")


def test_a_list_with_bad_parameters_is_refused(client, merchant, subtests):
    for params in (
        {"limit": 0},
        {"limit": 201},
        {"limit": "ten"},
        {"q": "x" * 101},
        {"q": "a\u0000"},
        {"category_id": "drinks"},
        {"active": "maybe"},
        {"cursor": "c" * 1001},
    ):
        with subtests.test(params=params):
            response = client.get("/v1/catalogue/products", params=params, headers=merchant.owner)
            assert_problem(response, 422, "validation_error")


def test_a_list_is_filtered_by_activity_and_by_text_in_sku_or_name_in_any_case(client, merchant):
    create_product(client, merchant, "CAF-1", name="Café crème")
    create_product(client, merchant, "TEA-1", name="Green tea")
    old = create_product(client, merchant, "OLD-CAF", name="Old coffee")
    client.patch(
        f"/v1/catalogue/products/{old['id']}", json={"active": False}, headers=merchant.manager
    )

    def listed(**params) -> list[str]:
        response = client.get("/v1/catalogue/products", params=params, headers=merchant.register)
        assert response.status_code == 200, response.text
        return skus(response.json())

    assert listed(active=True) == ["CAF-1", "TEA-1"]
    assert listed(active=False) == ["OLD-CAF"]
    assert listed(q="caf") == ["CAF-1", "OLD-CAF"]
    assert listed(q="CAFÉ CRÈME") == ["CAF-1"]
    assert listed(q="tea", active=True) == ["TEA-1"]
    assert listed(q="%") == [] and listed(q="_") == []
    assert listed(q="  ") == ["CAF-1", "OLD-CAF", "TEA-1"]


def test_an_unknown_category_filters_every_product_out(client, merchant):
    create_product(client, merchant, "ESP-1")
    page = client.get(
        "/v1/catalogue/products", params={"category_id": str(uuid.uuid4())}, headers=merchant.owner
    )
    assert page.status_code == 200 and page.json() == {"items": [], "next_cursor": None}


def test_the_longest_values_the_api_accepts_fit_the_database(client, merchant):
    """Each limit is within its column (PostgreSQL refuses longer), case folding included."""
    # "ΐ" case-folds to three characters, "ß" to two.
    category = create_category(client, merchant, "ΐ" * 100)
    product = create_product(
        client,
        merchant,
        "S" * 64,
        name="ß" * 200,
        unit_price_minor=UNIT_PRICE_MINOR_MAX,
        category_id=category["id"],
    )
    assert len(product["sku"]) == 64 and len(product["name"]) == 200
    found = client.get(
        "/v1/catalogue/products", params={"q": "ss" * 50}, headers=merchant.owner
    ).json()
    assert skus(found) == ["S" * 64]
