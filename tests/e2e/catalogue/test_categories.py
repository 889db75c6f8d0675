"""Categories: a tree per merchant; renamed, moved (never below themselves), listed, filtered."""

from __future__ import annotations

import uuid

from cagnotte.catalogue import tree
from cagnotte.catalogue.fields import CATEGORY_DEPTH_MAX
from cagnotte.catalogue.tables import product_categories
from tests.e2e.catalogue.conftest import (
    catalogue_rows,
    count,
    create_category,
    create_product,
    skus,
)
from tests.e2e.catalogue.test_products import assert_problem


def move(client, merchant, category: dict, parent: dict | None):
    return client.patch(
        f"/v1/catalogue/categories/{category['id']}",
        headers=merchant.manager,
        json={"parent_id": parent["id"] if parent else None},
    )


def test_categories_make_a_tree_read_as_a_list_and_as_a_tree(client, merchant):
    drinks = create_category(client, merchant, "Drinks")
    hot = create_category(client, merchant, "Hot drinks", drinks)
    tea = create_category(client, merchant, "Tea", hot)
    food = create_category(client, merchant, "Food")
    assert tea["path"] == ["Drinks", "Hot drinks", "Tea"]
    assert tea["parent_id"] == hot["id"] and drinks["parent_id"] is None
    listed = client.get("/v1/catalogue/categories", headers=merchant.register).json()["items"]
    assert [c["path"] for c in listed] == [
        ["Drinks"],
        ["Drinks", "Hot drinks"],
        ["Drinks", "Hot drinks", "Tea"],
        ["Food"],
    ]
    tree = client.get("/v1/catalogue/categories/tree", headers=merchant.register).json()
    assert [(c["id"], [d["id"] for d in c["children"]]) for c in tree] == [
        (drinks["id"], [hot["id"]]),
        (food["id"], []),
    ]
    assert tree[0]["children"][0]["children"][0]["id"] == tea["id"]


def test_a_name_is_unique_among_siblings_in_any_case_but_may_repeat_elsewhere(
    client, services, merchant, other_merchant
):
    drinks = create_category(client, merchant, "Drinks")
    food = create_category(client, merchant, "Food")
    for body in ({"name": "drinks"}, {"name": "DRINKS "}):
        assert_problem(
            client.post("/v1/catalogue/categories", json=body, headers=merchant.manager),
            409,
            "category_name_taken",
        )
    create_category(client, merchant, "Specials", drinks)
    create_category(client, merchant, "Specials", food)
    assert_problem(
        client.post(
            "/v1/catalogue/categories",
            headers=merchant.manager,
            json={"name": "SPECIALS", "parent_id": food["id"]},
        ),
        409,
        "category_name_taken",
    )
    create_category(client, other_merchant, "Drinks")
    assert count(services, product_categories) == 5


def test_a_category_is_renamed_and_moved_with_its_subcategories(client, merchant):
    drinks = create_category(client, merchant, "Drinks")
    hot = create_category(client, merchant, "Hot", drinks)
    tea = create_category(client, merchant, "Tea", hot)
    menu = create_category(client, merchant, "Menu")
    renamed = client.patch(
        f"/v1/catalogue/categories/{hot['id']}",
        headers=merchant.manager,
        json={"name": "Hot drinks"},
    )
    assert renamed.status_code == 200 and renamed.json()["path"] == ["Drinks", "Hot drinks"]
    moved = move(client, merchant, drinks, menu)
    assert moved.status_code == 200 and moved.json()["path"] == ["Menu", "Drinks"]
    listed = {
        c["id"]: c["path"]
        for c in client.get("/v1/catalogue/categories", headers=merchant.owner).json()["items"]
    }
    assert listed[tea["id"]] == ["Menu", "Drinks", "Hot drinks", "Tea"]
    to_top = move(client, merchant, tea, None)
    assert to_top.json()["path"] == ["Tea"] and to_top.json()["parent_id"] is None
    both = client.patch(
        f"/v1/catalogue/categories/{tea['id']}",
        headers=merchant.manager,
        json={"name": "Teas", "parent_id": hot["id"]},
    )
    assert both.json()["path"] == ["Menu", "Drinks", "Hot drinks", "Teas"]


def test_a_category_cannot_move_below_itself_or_one_of_its_subcategories(
    client, services, merchant
):
    drinks = create_category(client, merchant, "Drinks")
    hot = create_category(client, merchant, "Hot drinks", drinks)
    tea = create_category(client, merchant, "Tea", hot)
    before = catalogue_rows(services, merchant)
    for parent in (drinks, hot, tea):
        assert_problem(move(client, merchant, drinks, parent), 409, "category_cycle")
    assert_problem(move(client, merchant, hot, tea), 409, "category_cycle")
    assert catalogue_rows(services, merchant) == before


def test_a_move_onto_a_sibling_of_the_same_name_is_refused(client, services, merchant):
    drinks = create_category(client, merchant, "Drinks")
    food = create_category(client, merchant, "Food")
    create_category(client, merchant, "Specials", drinks)
    specials = create_category(client, merchant, "specials", food)
    before = catalogue_rows(services, merchant)
    assert_problem(move(client, merchant, specials, drinks), 409, "category_name_taken")
    assert_problem(
        client.patch(
            f"/v1/catalogue/categories/{food['id']}",
            json={"name": "DRINKS"},
            headers=merchant.manager,
        ),
        409,
        "category_name_taken",
    )
    assert catalogue_rows(services, merchant) == before
    # Its own name in another case is no clash.
    recased = client.patch(
        f"/v1/catalogue/categories/{food['id']}", json={"name": "FOOD"}, headers=merchant.manager
    )
    assert recased.status_code == 200 and recased.json()["name"] == "FOOD"


def test_the_tree_is_at_most_its_depth_whether_a_category_is_added_or_moved(
    client, services, merchant
):
    chain = [create_category(client, merchant, "Level 1")]
    for level in range(2, CATEGORY_DEPTH_MAX + 1):
        chain.append(create_category(client, merchant, f"Level {level}", chain[-1]))
    assert len(chain[-1]["path"]) == CATEGORY_DEPTH_MAX
    too_deep = client.post(
        "/v1/catalogue/categories",
        headers=merchant.manager,
        json={"name": "One more", "parent_id": chain[-1]["id"]},
    )
    assert_problem(too_deep, 422, "category_too_deep")
    side = create_category(client, merchant, "Side")
    create_category(client, merchant, "Below side", side)
    # Side and its child would end one level too deep below the last but one.
    assert_problem(move(client, merchant, side, chain[-2]), 422, "category_too_deep")
    assert move(client, merchant, side, chain[-3]).status_code == 200


def test_a_category_change_or_parent_that_names_nothing_is_refused(
    client, services, merchant, subtests
):
    drinks = create_category(client, merchant, "Drinks")
    before = catalogue_rows(services, merchant)
    nowhere = str(uuid.uuid4())
    assert_problem(
        client.post(
            "/v1/catalogue/categories",
            headers=merchant.manager,
            json={"name": "Lost", "parent_id": nowhere},
        ),
        404,
        "not_found",
    )
    assert_problem(
        client.patch(
            f"/v1/catalogue/categories/{nowhere}", headers=merchant.manager, json={"name": "Lost"}
        ),
        404,
        "not_found",
    )
    assert_problem(move(client, merchant, drinks, {"id": nowhere}), 404, "not_found")
    for body in (
        {},
        {"name": None},
        {"name": ""},
        {"name": "Hot/Cold"},
        {"name": "x" * 101},
        {"parent_id": "top"},
        {"name": "Drinks", "colour": "red"},
    ):
        with subtests.test(body=body):
            response = client.patch(
                f"/v1/catalogue/categories/{drinks['id']}", json=body, headers=merchant.manager
            )
            assert_problem(response, 422, "validation_error")
    assert_problem(
        client.post(
            "/v1/catalogue/categories", headers=merchant.manager, json={"name": "Tab\there"}
        ),
        422,
        "invalid_input",
    )
    assert catalogue_rows(services, merchant) == before


def test_a_catalogue_has_at_most_its_number_of_categories(client, services, merchant, monkeypatch):
    monkeypatch.setattr(tree, "CATEGORIES_PER_MERCHANT_MAX", 3)
    for name in ("One", "Two", "Three"):
        create_category(client, merchant, name)
    assert_problem(
        client.post("/v1/catalogue/categories", json={"name": "Four"}, headers=merchant.manager),
        422,
        "categories_too_many",
    )
    assert count(services, product_categories) == 3


def test_a_category_filter_holds_the_products_of_its_subcategories_too(client, merchant):
    drinks = create_category(client, merchant, "Drinks")
    hot = create_category(client, merchant, "Hot drinks", drinks)
    tea = create_category(client, merchant, "Tea", hot)
    cold = create_category(client, merchant, "Cold drinks", drinks)
    food = create_category(client, merchant, "Food")
    for sku, category in (
        ("ESP", hot),
        ("GREEN", tea),
        ("COLA", cold),
        ("CAKE", food),
        ("WATER", drinks),
        ("BAG", None),
    ):
        create_product(client, merchant, sku, category_id=category and category["id"])

    def in_category(category: dict) -> list[str]:
        page = client.get(
            "/v1/catalogue/products",
            params={"category_id": category["id"]},
            headers=merchant.register,
        )
        assert page.status_code == 200, page.text
        return skus(page.json())

    assert in_category(drinks) == ["COLA", "ESP", "GREEN", "WATER"]
    assert in_category(hot) == ["ESP", "GREEN"]
    assert in_category(tea) == ["GREEN"]
    assert in_category(food) == ["CAKE"]
    # Moved, a subcategory takes its products along.
    assert move(client, merchant, hot, food).status_code == 200
    assert in_category(drinks) == ["COLA", "WATER"]
    assert in_category(food) == ["CAKE", "ESP", "GREEN"]
