"""The rule index: a check meets only the rules that can concern it."""

from __future__ import annotations

import pytest

from cagnotte.programs.loyalty import (
    Channel,
    FixedBonus,
    Multiplier,
    ProductScope,
    ProgramKind,
    StampsPerItem,
    compile_rules,
    evaluate,
    targets,
)

from .builders import check, line, member, rule


def products(*ids: str) -> ProductScope:
    return ProductScope(product_ids=frozenset(ids))


def test_only_rules_of_the_checks_products_categories_store_and_channel_are_candidates():
    rules = [rule(f"other-{n}", scope=products(f"product-{n}")) for n in range(10_000)]
    rules += [
        rule("espresso", scope=products("espresso")),
        rule("drinks", scope=ProductScope(category_ids=frozenset({"drinks"}))),
        rule("store-1", store_ids=frozenset({"store-1"})),
        rule("store-2", store_ids=frozenset({"store-2"})),
        rule("kiosk", channels=frozenset({Channel.KIOSK})),
        rule("students", segment_ids=frozenset({"students"})),
        rule("everywhere"),
    ]
    index = compile_rules(rules)
    found = index.candidates(check(line(0, 1000), line(1, 500)), member())
    assert [candidate.rule.id for candidate in found] == [
        "drinks",
        "espresso",
        "everywhere",
        "store-1",
    ]
    assert {candidate.line_indexes for candidate in found} == {(0, 1)}


def test_a_scoped_rule_with_a_store_is_filed_by_product_and_checked_for_its_store():
    index = compile_rules([rule("r", scope=products("espresso"), store_ids=frozenset({"s2"}))])
    assert index.by_product == {"espresso": (0,)} and index.by_store == {}
    assert index.candidates(check(line(0, 1000)), member()) == ()
    assert len(index.candidates(check(line(0, 1000), store="s2"), member())) == 1


def test_the_candidates_are_the_plain_scans_answer():
    rules = [
        rule("a", scope=products("espresso")),
        rule(
            "b",
            scope=ProductScope(
                category_ids=frozenset({"coffee"}), excluded_product_ids=frozenset({"espresso"})
            ),
        ),
        rule("c", segment_ids=frozenset({"x", "y"})),
    ]
    the_check = check(line(0, 1000), line(1, 100, product="latte"))
    customer = member(segment_ids=frozenset({"x", "y"}))
    index = compile_rules(rules)
    expected = [
        (r.id, targets(r, the_check, customer))
        for r in index.rules
        if targets(r, the_check, customer) is not None
    ]
    assert [(c.rule.id, c.line_indexes) for c in index.candidates(the_check, customer)] == expected


def test_every_evaluation_repeats_the_version_of_its_index():
    index = compile_rules([rule("base")], version=42)
    assert evaluate(index, check(line(0, 1000)), member()).index_version == 42


def test_rule_ids_are_unique():
    with pytest.raises(AssertionError):
        compile_rules([rule("a"), rule("a")])


def test_a_program_earns_one_kind():
    with pytest.raises(AssertionError):
        compile_rules(
            [
                rule("a"),
                rule("b", StampsPerItem(10, "a coffee"), kind=ProgramKind.STAMPS),
            ]
        )


def test_a_multiplier_multiplies_a_rate_rule_of_its_own_program():
    with pytest.raises(AssertionError):
        compile_rules([rule("base", program="other"), rule("double", Multiplier("base"))])
    with pytest.raises(AssertionError):
        compile_rules([rule("bonus", FixedBonus(5)), rule("double", Multiplier("bonus"))])


def test_a_budget_is_drawn_by_one_program():
    with pytest.raises(AssertionError):
        compile_rules([rule("a", budget_id="b"), rule("b", program="other", budget_id="b")])
