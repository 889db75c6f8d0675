"""Who may do what: managers and owners configure, cashiers and registers read.

Another merchant's product or category gets the answer of one that does not exist.
"""

from __future__ import annotations

import uuid

from tests.e2e.api.conftest import bearer
from tests.e2e.catalogue.conftest import (
    catalogue_rows,
    create_category,
    create_product,
    csv_file,
    skus,
)
from tests.e2e.catalogue.test_products import assert_problem

ROWS = [("NEW-1", "New", "Drinks", "1", "CZK", "", "", "")]


def configuring_requests(product: dict, category: dict) -> list[tuple[str, str, dict]]:
    return [
        (
            "POST",
            "/v1/catalogue/products",
            {"json": {"sku": "MINE", "name": "Mine", "unit_price_minor": 0, "currency": "CZK"}},
        ),
        ("PATCH", f"/v1/catalogue/products/{product['id']}", {"json": {"unit_price_minor": 1}}),
        ("PATCH", f"/v1/catalogue/products/{product['id']}", {"json": {"active": False}}),
        ("POST", "/v1/catalogue/categories", {"json": {"name": "Mine"}}),
        ("PATCH", f"/v1/catalogue/categories/{category['id']}", {"json": {"name": "Mine"}}),
        (
            "POST",
            "/v1/catalogue/imports",
            {"content": csv_file(ROWS), "headers": {"Content-Type": "text/csv"}},
        ),
    ]


def reading_requests(product: dict) -> list[str]:
    return [
        "/v1/catalogue/products",
        f"/v1/catalogue/products/{product['id']}",
        "/v1/catalogue/categories",
        "/v1/catalogue/categories/tree",
    ]


def test_a_cashier_or_a_register_reads_the_catalogue_and_changes_nothing(
    client, services, merchant, cashier
):
    category = create_category(client, merchant, "Drinks")
    product = create_product(client, merchant, "ESP-1", category_id=category["id"])
    before = catalogue_rows(services, merchant)
    for headers in (cashier, merchant.register):
        for path in reading_requests(product):
            assert client.get(path, headers=headers).status_code == 200, path
        for method, path, request in configuring_requests(product, category):
            request_headers = {**headers, **request.get("headers", {})}
            sent = {k: v for k, v in request.items() if k != "headers"}
            response = client.request(method, path, headers=request_headers, **sent)
            assert_problem(response, 403, "forbidden")
    assert catalogue_rows(services, merchant) == before


def test_a_manager_an_owner_and_the_operator_for_the_merchant_configure_it(
    client, merchant, operator_key
):
    acting = {**bearer(operator_key), "Cagnotte-Merchant-Id": merchant.id}
    for index, headers in enumerate((merchant.manager, merchant.owner, acting)):
        category = client.post(
            "/v1/catalogue/categories", json={"name": f"Shelf {index}"}, headers=headers
        )
        assert category.status_code == 201, category.text
        product = client.post(
            "/v1/catalogue/products",
            headers=headers,
            json={
                "sku": f"SKU-{index}",
                "name": "Thing",
                "unit_price_minor": 100,
                "currency": "CZK",
                "category_id": category.json()["id"],
            },
        )
        assert product.status_code == 201 and product.json()["merchant_id"] == merchant.id
    assert skus(client.get("/v1/catalogue/products", headers=merchant.register).json()) == [
        "SKU-0",
        "SKU-1",
        "SKU-2",
    ]


def test_another_merchants_product_and_category_look_like_none(
    client, services, merchant, other_merchant
):
    category = create_category(client, merchant, "Drinks")
    product = create_product(client, merchant, "ESP-1", category_id=category["id"])
    before = catalogue_rows(services, merchant)
    nobody = str(uuid.uuid4())
    for headers in (other_merchant.owner, other_merchant.manager):
        attempts = [
            ("GET", "/v1/catalogue/products/{}", None),
            ("PATCH", "/v1/catalogue/products/{}", {"active": False}),
            ("PATCH", "/v1/catalogue/categories/{}", {"name": "Taken"}),
        ]
        for method, template, body in attempts:
            theirs = client.request(
                method,
                template.format(product["id"] if "products" in template else category["id"]),
                json=body,
                headers=headers,
            )
            missing = client.request(method, template.format(nobody), json=body, headers=headers)
            assert_problem(theirs, 404, "not_found")
            assert theirs.json() == missing.json()
        for body in (
            {
                "sku": "X",
                "name": "X",
                "unit_price_minor": 1,
                "currency": "CZK",
                "category_id": category["id"],
            },
        ):
            assert_problem(
                client.post("/v1/catalogue/products", json=body, headers=headers), 404, "not_found"
            )
        assert_problem(
            client.post(
                "/v1/catalogue/categories",
                headers=headers,
                json={"name": "Below", "parent_id": category["id"]},
            ),
            404,
            "not_found",
        )
        listed = client.get(
            "/v1/catalogue/products", headers=headers, params={"category_id": category["id"]}
        )
        assert listed.json() == {"items": [], "next_cursor": None}
        assert (
            client.get("/v1/catalogue/products", headers=headers, params={"q": "ESP"}).json()[
                "items"
            ]
            == []
        )
        assert client.get("/v1/catalogue/categories", headers=headers).json()["items"] == []
    assert catalogue_rows(services, merchant) == before
