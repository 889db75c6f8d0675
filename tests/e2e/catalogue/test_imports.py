"""Imports through the API: all rows or none, by SKU, categories made from their paths."""

from __future__ import annotations

import uuid

from cagnotte.catalogue import importing, tree
from cagnotte.catalogue.tables import product_categories, products
from tests.e2e.catalogue.conftest import (
    XLSX,
    catalogue_rows,
    count,
    create_category,
    create_product,
    csv_file,
    import_file,
    skus,
    xlsx_file,
)
from tests.e2e.catalogue.test_products import assert_problem

GOOD_ROWS = [
    ("ESP-1", "Espresso", "Drinks/Hot drinks", "2.50", "CZK", "", "", ""),
    ("TEA-1", "Green tea", "drinks/Hot drinks/Tea", "1.5", "CZK", "no", "no", "yes"),
    ("COLA-1", "Cola", "Drinks/Cold drinks", "3", "CZK", "", "yes", ""),
    ("BOOK-1", "Cookbook", "", "19.90", "EUR", "yes", "", "no"),
]


def products_by_sku(client, merchant) -> dict[str, dict]:
    page = client.get("/v1/catalogue/products", params={"limit": 200}, headers=merchant.owner)
    return {p["sku"]: p for p in page.json()["items"]}


def paths_by_id(client, merchant) -> dict[str, list[str]]:
    listed = client.get("/v1/catalogue/categories", headers=merchant.owner).json()["items"]
    return {c["id"]: c["path"] for c in listed}


def test_a_csv_file_makes_its_products_and_the_categories_of_their_paths(client, merchant):
    drinks = create_category(client, merchant, "Drinks")
    response = import_file(client, merchant.manager, csv_file(GOOD_ROWS))
    assert response.status_code == 200, response.text
    assert response.json() == {"created": 4, "updated": 0, "unchanged": 0, "categories_created": 3}
    found, paths = products_by_sku(client, merchant), paths_by_id(client, merchant)
    assert paths[found["ESP-1"]["category_id"]] == ["Drinks", "Hot drinks"]
    # The existing "Drinks" is found in another case, and not made twice.
    assert paths[found["TEA-1"]["category_id"]] == ["Drinks", "Hot drinks", "Tea"]
    assert sorted(paths.values()) == [
        ["Drinks"],
        ["Drinks", "Cold drinks"],
        ["Drinks", "Hot drinks"],
        ["Drinks", "Hot drinks", "Tea"],
    ]
    assert drinks["id"] in paths
    assert [(s, found[s]["unit_price_minor"], found[s]["currency"]) for s in sorted(found)] == [
        ("BOOK-1", 1990, "EUR"),
        ("COLA-1", 300, "CZK"),
        ("ESP-1", 250, "CZK"),
        ("TEA-1", 150, "CZK"),
    ]
    assert found["ESP-1"]["tax_free"] is False and found["ESP-1"]["active"] is True
    assert found["COLA-1"]["members_only"] is True and found["ESP-1"]["members_only"] is False
    assert found["BOOK-1"]["category_id"] is None
    assert found["BOOK-1"]["tax_free"] is True and found["BOOK-1"]["active"] is False


def test_an_xlsx_file_imports_the_same_as_its_csv(client, merchant, other_merchant):
    numeric = [
        (sku, name, path, float(price), currency, *flags)
        for sku, name, path, price, currency, *flags in GOOD_ROWS
    ]
    for setup, content, media_type in (
        (merchant, csv_file(GOOD_ROWS), "text/csv"),
        (other_merchant, xlsx_file(numeric), XLSX),
    ):
        response = import_file(client, setup.manager, content, media_type)
        assert response.status_code == 200, response.text
        assert response.json()["created"] == 4
    fields = ("sku", "name", "unit_price_minor", "currency", "tax_free", "members_only", "active")

    def described(setup) -> list[tuple]:
        paths = paths_by_id(client, setup)
        return sorted(
            (*(p[f] for f in fields), tuple(paths.get(p["category_id"], ())))
            for p in products_by_sku(client, setup).values()
        )

    assert described(merchant) == described(other_merchant)


def test_a_file_with_three_bad_rows_names_exactly_those_lines_and_writes_nothing(
    client, services, merchant, subtests
):
    create_product(client, merchant, "ESP-1", name="Espresso", unit_price_minor=250)
    rows = [
        ("ESP-1", "Espresso", "Drinks", "2.90", "CZK", "", "", ""),  # line 2: fine
        ("TEA-1", "Tea", "Drinks/Tea", "1 234,50", "CZK", "", "", ""),  # line 3: price
        ("COLA-1", "Cola", "Drinks", "3.00", "CZK", "", "", ""),  # line 4: fine
        ("", "Nameless", "Drinks", "1.00", "CZK", "", "", ""),  # line 5: sku
        ("CAKE-1", "Cake", "Food", "4.00", "CZK", "", "", ""),  # line 6: fine
        ("BUN-1", "Bun", "Food", "0.50", "XYZ", "", "maybe", ""),  # line 7: two
    ]
    numeric = [
        (sku, name, path, float(price) if price[0].isdigit() and " " not in price else price, *rest)
        for sku, name, path, price, *rest in rows
    ]
    before = catalogue_rows(services, merchant)
    for content, media_type in ((csv_file(rows), "text/csv"), (xlsx_file(numeric), XLSX)):
        with subtests.test(media_type=media_type):
            response = import_file(client, merchant.manager, content, media_type)
            assert_problem(response, 422, "import_invalid")
            problem = response.json()
            assert [(e["line"], e["field"]) for e in problem["errors"]] == [
                (3, "unit_price"),
                (5, "sku"),
                (7, "currency"),
                (7, "members_only"),
            ]
            assert sorted({e["line"] for e in problem["errors"]}) == [3, 5, 7]
            assert problem["error_count"] == 4
            assert all(e["message"] for e in problem["errors"])
            assert catalogue_rows(services, merchant) == before


def test_a_sku_twice_in_one_file_is_refused_and_nothing_is_written(client, services, merchant):
    rows = [
        ("ESP-1", "Espresso", "", "2.50", "CZK", "", "", ""),
        ("ESP-1", "Espresso double", "", "3.50", "CZK", "", "", ""),
    ]
    response = import_file(client, merchant.manager, csv_file(rows))
    assert_problem(response, 422, "import_invalid")
    assert response.json()["errors"] == [
        {"line": 3, "field": "sku", "message": "SKU ESP-1 is on line 2 too."}
    ]
    assert count(services, products) == 0


def test_a_known_sku_is_updated_and_its_empty_cells_keep_what_it_had(client, merchant):
    specials = create_category(client, merchant, "Specials")
    kept = create_product(
        client,
        merchant,
        "VIP-1",
        name="Reserve",
        unit_price_minor=900,
        members_only=True,
        tax_free=True,
        category_id=specials["id"],
    )
    create_product(client, merchant, "SAME-1", name="Same", unit_price_minor=100)
    rows = [
        ("VIP-1", "Reserve wine", "", "9.50", "CZK", "", "", ""),
        ("SAME-1", "Same", "", "1.00", "CZK", "", "", ""),
        ("NEW-1", "New", "", "1", "CZK", "", "", ""),
    ]
    response = import_file(client, merchant.manager, csv_file(rows))
    assert response.json() == {"created": 1, "updated": 1, "unchanged": 1, "categories_created": 0}
    found = products_by_sku(client, merchant)
    vip = found["VIP-1"]
    assert (vip["id"], vip["name"], vip["unit_price_minor"]) == (kept["id"], "Reserve wine", 950)
    assert vip["members_only"] is True and vip["tax_free"] is True
    assert vip["category_id"] == specials["id"]
    assert found["SAME-1"]["updated_at"] == found["SAME-1"]["created_at"]
    # The same file again changes nothing.
    again = import_file(client, merchant.manager, csv_file(rows))
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 3, "categories_created": 0}
    # A filled cell changes the value, and a path moves the product.
    moved = [("VIP-1", "Reserve wine", "Wines", "9.50", "CZK", "", "no", "")]
    assert import_file(client, merchant.manager, csv_file(moved)).json()["updated"] == 1
    vip = products_by_sku(client, merchant)["VIP-1"]
    assert vip["members_only"] is False
    assert paths_by_id(client, merchant)[vip["category_id"]] == ["Wines"]


def test_a_semicolon_file_from_a_czech_spreadsheet_imports_with_decimal_commas(client, merchant):
    content = "sku;name;unit_price;currency\nKNEDLIK;Knedlík;1234,50;CZK\n".encode()
    response = import_file(client, merchant.manager, content)
    assert response.status_code == 200, response.text
    assert products_by_sku(client, merchant)["KNEDLIK"]["unit_price_minor"] == 123450


def test_a_file_may_come_as_a_multipart_upload(client, merchant):
    xlsx = xlsx_file([("X-1", "From xlsx", "", 1.25, "CZK", "", "", "")])
    uploads = [
        ("products.xlsx", xlsx, "application/octet-stream"),
        ("export", csv_file([("C-1", "From csv", "", "2", "CZK", "", "", "")]), "text/csv"),
        ("products.CSV", csv_file([("C-2", "Suffix", "", "2", "CZK", "", "", "")]), None),
    ]
    for name, content, media_type in uploads:
        file = (name, content, media_type) if media_type else (name, content)
        response = client.post(
            "/v1/catalogue/imports", files={"file": file}, headers=merchant.manager
        )
        assert response.status_code == 200, response.text
        assert response.json()["created"] == 1
    assert sorted(products_by_sku(client, merchant)) == ["C-1", "C-2", "X-1"]


def test_an_upload_that_is_no_product_file_is_refused(client, services, merchant, subtests):
    good = csv_file(GOOD_ROWS)
    cases = [
        ("a JSON body", {"json": {"sku": "A"}}, 415, "import_format_unsupported"),
        ("no content type", {"content": good}, 415, "import_format_unsupported"),
        (
            "plain text",
            {"content": good, "headers": {"Content-Type": "text/plain"}},
            415,
            "import_format_unsupported",
        ),
        (
            "a .txt part",
            {"files": {"file": ("products.txt", good, "text/plain")}},
            415,
            "import_format_unsupported",
        ),
        (
            "a part of another name",
            {"files": {"upload": ("products.csv", good, "text/csv")}},
            422,
            "invalid_input",
        ),
        (
            "a form field instead of a file",
            {
                "content": (
                    b'--x\r\nContent-Disposition: form-data; name="file"\r\n\r\n'
                    b"sku,name\r\n--x--\r\n"
                ),
                "headers": {"Content-Type": "multipart/form-data; boundary=x"},
            },
            422,
            "invalid_input",
        ),
        (
            "a form that is not multipart",
            {"data": {"file": "sku,name"}},
            415,
            "import_format_unsupported",
        ),
        (
            "multipart without a boundary",
            {"content": b"--x\r\n", "headers": {"Content-Type": "multipart/form-data"}},
            400,
            "malformed_body",
        ),
        (
            "multipart without parts",
            {
                "content": b"--x\r\nnonsense",
                "headers": {"Content-Type": "multipart/form-data; boundary=x"},
            },
            422,
            "invalid_input",
        ),
        (
            "an xlsx that is CSV",
            {"content": good, "headers": {"Content-Type": XLSX}},
            422,
            "import_invalid",
        ),
        (
            "an empty body",
            {"content": b"", "headers": {"Content-Type": "text/csv"}},
            422,
            "import_invalid",
        ),
    ]
    for label, request, status, code in cases:
        with subtests.test(case=label):
            headers = {**merchant.manager, **request.pop("headers", {})}
            response = client.post("/v1/catalogue/imports", headers=headers, **request)
            assert_problem(response, status, code)
    assert count(services, products) == 0 and count(services, product_categories) == 0


def test_a_file_larger_than_an_import_may_be_is_refused_unread(client, services, merchant):
    too_large = b"sku,name,unit_price,currency\n" + b"x" * importing.IMPORT_BYTES_MAX
    for request in (
        {"content": too_large, "headers": {"Content-Type": "text/csv"}},
        {"files": {"file": ("big.csv", too_large, "text/csv")}},
    ):
        headers = {**merchant.manager, **request.pop("headers", {})}
        response = client.post("/v1/catalogue/imports", headers=headers, **request)
        assert_problem(response, 413, "import_too_large")
    assert count(services, products) == 0


def test_an_import_that_would_make_too_many_categories_writes_nothing(
    client, services, merchant, monkeypatch
):
    monkeypatch.setattr(tree, "CATEGORIES_PER_MERCHANT_MAX", 2)
    rows = [
        ("A-1", "One", "Drinks", "1", "CZK", "", "", ""),
        ("A-2", "Two", "Drinks/Hot drinks", "1", "CZK", "", "", ""),
        ("A-3", "Three", "Food", "1", "CZK", "", "", ""),
    ]
    response = import_file(client, merchant.manager, csv_file(rows))
    assert_problem(response, 422, "import_invalid")
    assert [(e["line"], e["field"]) for e in response.json()["errors"]] == [(4, "category")]
    assert count(services, products) == 0 and count(services, product_categories) == 0


def test_an_import_lands_at_the_importing_merchant_only(client, services, merchant, other_merchant):
    mine = create_product(client, merchant, "ESP-1", name="Espresso", unit_price_minor=250)
    create_category(client, merchant, "Drinks")
    before = catalogue_rows(services, merchant)
    rows = [("ESP-1", "Their espresso", "Drinks", "9.99", "CZK", "", "yes", "")]
    response = import_file(client, other_merchant.manager, csv_file(rows))
    assert response.json() == {"created": 1, "updated": 0, "unchanged": 0, "categories_created": 1}
    assert catalogue_rows(services, merchant) == before
    theirs = products_by_sku(client, other_merchant)["ESP-1"]
    assert theirs["id"] != mine["id"] and theirs["merchant_id"] == other_merchant.id
    assert skus(client.get("/v1/catalogue/products", headers=merchant.owner).json()) == ["ESP-1"]
    assert products_by_sku(client, merchant)["ESP-1"]["unit_price_minor"] == 250
    assert uuid.UUID(theirs["category_id"]) not in {
        uuid.UUID(i) for i in paths_by_id(client, merchant)
    }
