"""Concurrent writers on PostgreSQL: the tree never gets a cycle, a SKU is never made twice."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest

from cagnotte.catalogue.rows import ProductDraft
from cagnotte.catalogue.tables import product_categories, products
from cagnotte.catalogue.tree import CategoryTree
from cagnotte.db.pages import every_item
from cagnotte.errors import DomainError
from tests.e2e.catalogue.conftest import count, csv_file


@pytest.fixture
def manager(postgres_url, services, merchant):
    principal = services.merchants.authenticate_key(merchant.manager_key)
    assert principal is not None
    return principal


def all_at_once(count_: int, call: Callable[[int], Any]) -> list[Any]:
    """Run call(0 … count-1) in as many threads, released together; a refusal is its code."""
    barrier = threading.Barrier(count_)

    def run(index: int) -> Any:
        barrier.wait()
        try:
            return call(index)
        except DomainError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=count_) as pool:
        return list(pool.map(run, range(count_)))


def test_two_categories_moved_below_each_other_at_once_make_no_cycle(services, manager):
    catalogue = services.catalogue
    pairs = [
        (
            catalogue.create_category(manager, f"A{i}", None).category.id,
            catalogue.create_category(manager, f"B{i}", None).category.id,
        )
        for i in range(10)
    ]
    moves = [(a, b) for a, b in pairs] + [(b, a) for a, b in pairs]

    def move(index: int) -> str:
        category_id, parent_id = moves[index]
        catalogue.change_category(manager, category_id, {"parent_id": parent_id})
        return "moved"

    outcomes = all_at_once(len(moves), move)
    for i in range(len(pairs)):
        assert sorted([outcomes[i], outcomes[i + len(pairs)]]) == ["category_cycle", "moved"]
    nodes = every_item(partial(catalogue.list_categories, manager))
    tree = CategoryTree(n.category for n in nodes)
    assert all(len(tree.chain(n.category.id)) <= 2 for n in nodes)
    assert len(tree.roots()) == len(pairs)


def test_one_sku_created_by_twenty_requests_at_once_is_made_once(services, manager):
    draft = ProductDraft(sku="ESP-1", name="Espresso", unit_price_minor=250, asset_code="CZK")
    outcomes = all_at_once(20, lambda _i: services.catalogue.create_product(manager, draft).sku)
    assert Counter(outcomes) == {"ESP-1": 1, "product_sku_exists": 19}
    assert count(services, products) == 1


def test_one_file_imported_five_times_at_once_makes_each_product_and_category_once(
    services, manager
):
    rows = [
        (f"S-{i}", f"Item {i}", f"Shelf {i % 3}/Box {i % 2}", "1.50", "CZK", "", "", "")
        for i in range(40)
    ]
    content = csv_file(rows)
    outcomes = all_at_once(
        5, lambda _i: services.catalogue.import_products(manager, content, "csv")
    )
    # The imports that lost the race to make the first category ran again, and found
    # everything made: one made the products, the others found them as they are.
    assert sorted((o.created, o.unchanged, o.categories_created) for o in outcomes) == [
        (0, 40, 0)
    ] * 4 + [(40, 0, 9)]
    assert count(services, products) == 40
    assert count(services, product_categories) == 3 + 6
    again = services.catalogue.import_products(manager, content, "csv")
    assert (again.created, again.unchanged, again.categories_created) == (0, 40, 0)
