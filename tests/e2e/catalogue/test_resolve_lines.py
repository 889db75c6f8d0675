"""resolve_lines: what the check learns of the SKUs of its lines, categories and ancestors."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.catalogue.conftest import create_category, create_product


@pytest.fixture
def tree(client, merchant) -> dict[str, dict]:
    drinks = create_category(client, merchant, "Drinks")
    hot = create_category(client, merchant, "Hot drinks", drinks)
    tea = create_category(client, merchant, "Tea", hot)
    food = create_category(client, merchant, "Food")
    return {"drinks": drinks, "hot": hot, "tea": tea, "food": food}


def ids(*categories: dict) -> tuple[uuid.UUID, ...]:
    return tuple(uuid.UUID(category["id"]) for category in categories)


def test_each_sku_comes_with_its_category_and_every_ancestor_of_it(
    client, services, merchant, tree
):
    create_product(client, merchant, "GREEN", category_id=tree["tea"]["id"], unit_price_minor=90)
    create_product(client, merchant, "ESP", category_id=tree["hot"]["id"], tax_free=True)
    create_product(client, merchant, "CAKE", category_id=tree["food"]["id"], members_only=True)
    create_product(client, merchant, "BAG")
    facts = services.catalogue.resolve_lines(
        uuid.UUID(merchant.id), ["GREEN", "ESP", "CAKE", "BAG"]
    )
    assert facts["GREEN"].category_ids == ids(tree["tea"], tree["hot"], tree["drinks"])
    assert facts["ESP"].category_ids == ids(tree["hot"], tree["drinks"])
    assert facts["CAKE"].category_ids == ids(tree["food"])
    assert facts["BAG"].category_ids == ()
    assert facts["GREEN"].product.unit_price_minor == 90
    assert facts["ESP"].product.tax_free and facts["CAKE"].product.members_only
    assert facts["GREEN"].in_category(uuid.UUID(tree["drinks"]["id"]))
    assert not facts["CAKE"].in_category(uuid.UUID(tree["drinks"]["id"]))


def test_an_uncatalogued_sku_is_left_out_and_a_deactivated_one_is_told_so(
    client, services, merchant, tree
):
    old = create_product(client, merchant, "OLD")
    client.patch(
        f"/v1/catalogue/products/{old['id']}", json={"active": False}, headers=merchant.manager
    )
    facts = services.catalogue.resolve_lines(
        uuid.UUID(merchant.id), ["OLD", "NEVER-SEEN", "", "O\u0000LD", "x" * 1_000]
    )
    assert set(facts) == {"OLD"}
    assert facts["OLD"].product.active is False


def test_a_sku_is_answered_as_the_line_gave_it(client, services, merchant):
    create_product(client, merchant, "ESP-1")
    facts = services.catalogue.resolve_lines(uuid.UUID(merchant.id), [" ESP-1 ", "ESP-1"])
    assert set(facts) == {" ESP-1 ", "ESP-1"}
    assert facts[" ESP-1 "].product.id == facts["ESP-1"].product.id
    assert services.catalogue.resolve_lines(uuid.UUID(merchant.id), ["esp-1"]) == {}


def test_another_merchants_products_are_uncatalogued_here(
    client, services, merchant, other_merchant, tree
):
    create_product(client, other_merchant, "THEIRS")
    create_product(client, merchant, "SHARED", category_id=tree["tea"]["id"])
    create_product(client, other_merchant, "SHARED", unit_price_minor=1)
    facts = services.catalogue.resolve_lines(uuid.UUID(merchant.id), ["THEIRS", "SHARED"])
    assert set(facts) == {"SHARED"}
    assert facts["SHARED"].product.merchant_id == uuid.UUID(merchant.id)
    assert facts["SHARED"].category_ids == ids(tree["tea"], tree["hot"], tree["drinks"])
    theirs = services.catalogue.resolve_lines(uuid.UUID(other_merchant.id), ["SHARED"])
    assert theirs["SHARED"].category_ids == () and theirs["SHARED"].product.unit_price_minor == 1


def test_a_moved_category_takes_its_products_under_its_new_ancestors(
    client, services, merchant, tree
):
    create_product(client, merchant, "GREEN", category_id=tree["tea"]["id"])
    moved = client.patch(
        f"/v1/catalogue/categories/{tree['hot']['id']}",
        json={"parent_id": tree["food"]["id"]},
        headers=merchant.manager,
    )
    assert moved.status_code == 200
    facts = services.catalogue.resolve_lines(uuid.UUID(merchant.id), ["GREEN"])
    assert facts["GREEN"].category_ids == ids(tree["tea"], tree["hot"], tree["food"])


def test_many_lines_are_resolved_in_one_go(client, services, merchant, tree):
    rows = "\n".join(f"S-{i:04},Item {i},Drinks/Hot drinks/Tea,1,CZK" for i in range(1_200))
    content = f"sku,name,category,unit_price,currency\n{rows}\n".encode()
    response = client.post(
        "/v1/catalogue/imports",
        content=content,
        headers={**merchant.manager, "Content-Type": "text/csv"},
    )
    assert response.json()["created"] == 1_200
    wanted = [f"S-{i:04}" for i in range(0, 1_200, 1)] + ["UNKNOWN"]
    facts = services.catalogue.resolve_lines(uuid.UUID(merchant.id), wanted)
    assert len(facts) == 1_200
    assert {f.category_ids for f in facts.values()} == {
        ids(tree["tea"], tree["hot"], tree["drinks"])
    }
