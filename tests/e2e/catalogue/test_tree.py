"""The category tree's checks, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from cagnotte import errors
from cagnotte.catalogue.fields import CATEGORY_DEPTH_MAX
from cagnotte.catalogue.rows import Category
from cagnotte.catalogue.tree import CategoryTree

MERCHANT = uuid.uuid4()
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def grow(tree: CategoryTree, name: str, parent: Category | None = None) -> Category:
    category = Category(MERCHANT, uuid.uuid4(), parent.id if parent else None, name, NOW)
    tree.add(category)
    return category


@pytest.fixture
def tree() -> CategoryTree:
    return CategoryTree([])


def test_a_chain_runs_from_the_category_up_to_its_root(tree):
    drinks = grow(tree, "Drinks")
    hot = grow(tree, "Hot drinks", drinks)
    tea = grow(tree, "Tea", hot)
    assert tree.chain(tea.id) == (tea.id, hot.id, drinks.id)
    assert tree.path(tea.id) == ("Drinks", "Hot drinks", "Tea")
    assert (tree.depth(None), tree.depth(drinks.id), tree.depth(tea.id)) == (0, 1, 3)
    assert (tree.height(drinks.id), tree.height(tea.id)) == (3, 1)


def test_a_move_below_itself_or_a_descendant_is_a_cycle(tree):
    drinks = grow(tree, "Drinks")
    hot = grow(tree, "Hot drinks", drinks)
    tea = grow(tree, "Tea", hot)
    for parent in (drinks, hot, tea):
        with pytest.raises(errors.CategoryCycle):
            tree.check_change(drinks.id, drinks.name, parent.id)
    tree.check_change(tea.id, tea.name, None)
    tree.check_change(tea.id, tea.name, drinks.id)


def test_a_subtree_moved_keeps_within_the_depth(tree):
    chain = [grow(tree, "L1")]
    for level in range(2, CATEGORY_DEPTH_MAX + 1):
        chain.append(grow(tree, f"L{level}", chain[-1]))
    side = grow(tree, "Side")
    grow(tree, "Below", side)
    with pytest.raises(errors.CategoryTooDeep):
        tree.check_new(chain[-1].id, "One more")
    with pytest.raises(errors.CategoryTooDeep):
        tree.check_change(side.id, "Side", chain[-2].id)
    tree.check_change(side.id, "Side", chain[-3].id)


def test_names_clash_among_siblings_in_any_case_only(tree):
    drinks = grow(tree, "Drinks")
    food = grow(tree, "Food")
    grow(tree, "Straße", drinks)
    with pytest.raises(errors.CategoryNameTaken):
        tree.check_new(drinks.id, "STRASSE")
    with pytest.raises(errors.CategoryNameTaken):
        tree.check_new(None, " drinks ")
    tree.check_new(food.id, "Straße")
    tree.check_change(food.id, "FOOD", None)
    with pytest.raises(errors.NotFound):
        tree.check_new(uuid.uuid4(), "Lost")


def test_the_tree_reads_top_down_each_level_in_name_order(tree):
    zoo = grow(tree, "zoo")
    apples = grow(tree, "Apples")
    grow(tree, "b", zoo)
    grow(tree, "A", zoo)
    assert [n.path for n in tree.flattened()] == [("Apples",), ("zoo",), ("zoo", "A"), ("zoo", "b")]
    assert [n.category.id for n in tree.roots()] == [apples.id, zoo.id]
    moved = Category(MERCHANT, apples.id, zoo.id, "Apples", NOW)
    tree.replace(moved)
    assert [n.path for n in tree.flattened()] == [
        ("zoo",),
        ("zoo", "A"),
        ("zoo", "Apples"),
        ("zoo", "b"),
    ]
