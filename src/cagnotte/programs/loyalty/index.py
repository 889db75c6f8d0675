"""The rule index: a merchant's earning rules compiled once, so a check meets only its own.

Each rule is filed under one *anchor*, the most selective dimension it
restricts: a rule scoped to products or categories under each of them (the
line dimension); otherwise under each of its stores, else each of its
segments, else each of its channels, else in the wildcard bucket. A check
looks up its lines' products and categories (the category ids of a line
include the ancestors), its store, its channel and the customer's segments,
and checks the other targeting dimensions on each rule found. The cost is
O(lines × categories per line + rules found), whatever the number of rules
that cannot concern the check.

Time windows, the active period and the requirements are not index dimensions:
they are checked on each candidate, because a rule that fails only its window
must still be found to say "buy on Saturday to earn the weekend bonus", and a
merchant's rules restricted by time alone are few.

The index is immutable. A cache of compiled indexes lives outside the engine:
key it by (merchant id, rules version), the version a counter the merchant's
row carries and every change to one of its earning rules bumps in the same
database transaction. Pass that version to `compile_rules`; each `Evaluation`
repeats it, so a commit can tell whether it was computed against the rules
its quote saw.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from cagnotte.programs.loyalty.conditions import line_in_scope
from cagnotte.programs.loyalty.facts import (
    CheckFacts,
    CustomerFacts,
    ProgramId,
    RuleId,
)
from cagnotte.programs.loyalty.rules import (
    RATE_BENEFITS,
    Multiplier,
    ProgramKind,
    Rule,
    StampsPerItem,
    StampsPerVisit,
)

Ordinal = int


@dataclass(frozen=True, slots=True)
class Candidate:
    """A rule whose targeting holds for the check, with the lines it targets."""

    rule: Rule
    line_indexes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StampCardSpec:
    """A stamps program's card, as its stamp-earning rules describe it."""

    program_id: ProgramId
    card_size: int
    reward: str
    # The stamp-earning rules of the program, in rule order.
    rule_ids: tuple[RuleId, ...]


@dataclass(frozen=True, slots=True)
class RuleIndex:
    """A merchant's earning rules in priority order, filed by what they restrict.

    Build it with `compile_rules`; it is never changed afterwards.
    """

    version: Hashable
    rules: tuple[Rule, ...]
    position_by_id: dict[RuleId, Ordinal]
    by_product: dict[str, tuple[Ordinal, ...]]
    by_category: dict[str, tuple[Ordinal, ...]]
    by_store: dict[str, tuple[Ordinal, ...]]
    by_segment: dict[str, tuple[Ordinal, ...]]
    by_channel: dict[object, tuple[Ordinal, ...]]
    wildcard: tuple[Ordinal, ...]
    stamp_cards: dict[ProgramId, StampCardSpec]
    program_kinds: dict[ProgramId, ProgramKind]
    # Rules whose caps per customer or limits on goods need the usage counters,
    # and rules paid from a budget: a check reads those facts only when needed.
    counted: frozenset[RuleId] = frozenset()
    budgeted: frozenset[RuleId] = frozenset()

    def rule(self, rule_id: RuleId) -> Rule | None:
        position = self.position_by_id.get(rule_id)
        return None if position is None else self.rules[position]

    def candidates(self, check: CheckFacts, customer: CustomerFacts) -> tuple[Candidate, ...]:
        """The rules whose targeting holds, in rule order, each with its targeted lines."""
        return tuple(
            Candidate(self.rules[ordinal], tuple(check.lines[p].index for p in positions))
            for ordinal, positions in self.lookup(check, customer)
        )

    def lookup(
        self, check: CheckFacts, customer: CustomerFacts
    ) -> list[tuple[Ordinal, tuple[int, ...]]]:
        """`candidates` as (ordinal, positions of the targeted lines in `check.lines`)."""
        found = self._by_lines(check, customer)
        found.extend(self._by_check(check, customer))
        found.sort()
        return found

    def _by_lines(self, check: CheckFacts, customer: CustomerFacts) -> list:
        hits: dict[Ordinal, list[int]] = {}
        by_product, by_category = self.by_product, self.by_category
        for position, line in enumerate(check.lines):
            if line.product_id is None:
                continue
            for ordinal in by_product.get(line.product_id, ()):
                hits.setdefault(ordinal, []).append(position)
            for category_id in line.category_ids:
                for ordinal in by_category.get(category_id, ()):
                    positions = hits.setdefault(ordinal, [])
                    if not positions or positions[-1] != position:
                        positions.append(position)
        found = []
        lines = check.lines
        for ordinal, positions in hits.items():
            rule = self.rules[ordinal]
            if not _check_level_holds(rule, check, customer):
                continue
            scope = rule.condition.scope
            kept = tuple(p for p in positions if line_in_scope(scope, lines[p]))
            if kept:
                found.append((ordinal, kept))
        return found

    def _by_check(self, check: CheckFacts, customer: CustomerFacts) -> list:
        ordinals = set(self.wildcard)
        ordinals.update(self.by_store.get(check.store_id, ()))
        ordinals.update(self.by_channel.get(check.channel, ()))
        for segment_id in customer.segment_ids:
            ordinals.update(self.by_segment.get(segment_id, ()))
        every_line = tuple(range(len(check.lines)))
        found = []
        for ordinal in ordinals:
            rule = self.rules[ordinal]
            if not _check_level_holds(rule, check, customer):
                continue
            scope = rule.condition.scope
            if _scope_keeps_every_line(scope):
                found.append((ordinal, every_line))
            else:
                kept = tuple(p for p in every_line if line_in_scope(scope, check.lines[p]))
                found.append((ordinal, kept))
        return found


def _check_level_holds(rule: Rule, check: CheckFacts, customer: CustomerFacts) -> bool:
    condition = rule.condition
    if condition.store_ids and check.store_id not in condition.store_ids:
        return False
    if condition.channels and check.channel not in condition.channels:
        return False
    return not condition.segment_ids or not condition.segment_ids.isdisjoint(customer.segment_ids)


def _scope_keeps_every_line(scope) -> bool:
    return (
        scope.members_only_products
        and not scope.excluded_product_ids
        and not scope.excluded_category_ids
    )


def rule_order(rule: Rule) -> tuple[int, str]:
    """Higher priority first, then rule id: the one order of evaluation and of the output."""
    return (-rule.priority, rule.id)


def compile_rules(rules: Iterable[Rule], *, version: Hashable = 0) -> RuleIndex:
    """Compile a merchant's earning rules into an index; `version` keys the caller's cache.

    Pass every rule the merchant has switched on, those whose active period
    has not begun or is over included: the period is checked at each check's
    moment, so one index serves until a rule changes. Asserts that the rules
    fit together (unique ids, one kind per program, multipliers over a rate
    rule of their own program, one card size per stamps program, a budget
    drawn by one program only).
    """
    ordered = tuple(sorted(rules, key=rule_order))
    position_by_id = {rule.id: ordinal for ordinal, rule in enumerate(ordered)}
    assert len(position_by_id) == len(ordered), "rule ids are unique"
    program_kinds = _program_kinds(ordered)
    _check_multipliers(ordered, position_by_id)
    _check_budgets(ordered)
    buckets: dict[str, dict] = {
        name: {} for name in ("product", "category", "store", "segment", "channel")
    }
    wildcard: list[Ordinal] = []
    for ordinal, rule in enumerate(ordered):
        _file(ordinal, rule, buckets, wildcard)
    frozen = {
        name: {key: tuple(ordinals) for key, ordinals in bucket.items()}
        for name, bucket in buckets.items()
    }
    return RuleIndex(
        version=version,
        rules=ordered,
        position_by_id=position_by_id,
        by_product=frozen["product"],
        by_category=frozen["category"],
        by_store=frozen["store"],
        by_segment=frozen["segment"],
        by_channel=frozen["channel"],
        wildcard=tuple(wildcard),
        stamp_cards=_stamp_cards(ordered),
        program_kinds=program_kinds,
        counted=frozenset(
            rule.id for rule in ordered if rule.caps.per_customer or rule.goods_limit is not None
        ),
        budgeted=frozenset(rule.id for rule in ordered if rule.budget_id is not None),
    )


def _file(ordinal: Ordinal, rule: Rule, buckets: dict[str, dict], wildcard: list) -> None:
    """File the rule under its anchor: the most selective dimension it restricts."""
    condition = rule.condition
    scope = condition.scope
    if not scope.whole_catalogue:
        for product_id in scope.product_ids:
            buckets["product"].setdefault(product_id, []).append(ordinal)
        for category_id in scope.category_ids:
            buckets["category"].setdefault(category_id, []).append(ordinal)
        return
    for name, keys in (
        ("store", condition.store_ids),
        ("segment", condition.segment_ids),
        ("channel", condition.channels),
    ):
        if keys:
            for key in keys:
                buckets[name].setdefault(key, []).append(ordinal)
            return
    wildcard.append(ordinal)


def _program_kinds(rules: tuple[Rule, ...]) -> dict[ProgramId, ProgramKind]:
    kinds: dict[ProgramId, ProgramKind] = {}
    for rule in rules:
        kind = kinds.setdefault(rule.program_id, rule.kind)
        assert kind is rule.kind, f"program {rule.program_id} earns {kind.value} only"
    return kinds


def _check_multipliers(rules: tuple[Rule, ...], position_by_id: dict[RuleId, Ordinal]) -> None:
    for rule in rules:
        if not isinstance(rule.benefit, Multiplier):
            continue
        position = position_by_id.get(rule.benefit.base_rule_id)
        # A base rule missing from the index is one switched off: the multiplier gives nothing.
        if position is None:
            continue
        base = rules[position]
        assert base.program_id == rule.program_id, f"{rule.id}: a base of another program"
        assert isinstance(base.benefit, RATE_BENEFITS), f"{rule.id}: the base has no rate"


def _check_budgets(rules: tuple[Rule, ...]) -> None:
    programs: dict[str, ProgramId] = {}
    for rule in rules:
        if rule.budget_id is not None:
            program_id = programs.setdefault(rule.budget_id, rule.program_id)
            assert program_id == rule.program_id, (
                f"budget {rule.budget_id} is drawn by one program (one asset)"
            )


def _stamp_cards(rules: tuple[Rule, ...]) -> dict[ProgramId, StampCardSpec]:
    cards: dict[ProgramId, StampCardSpec] = {}
    for rule in rules:
        benefit = rule.benefit
        if not isinstance(benefit, StampsPerItem | StampsPerVisit):
            continue
        card = cards.get(rule.program_id)
        if card is None:
            cards[rule.program_id] = StampCardSpec(
                rule.program_id, benefit.card_size, benefit.reward, (rule.id,)
            )
            continue
        assert card.card_size == benefit.card_size, (
            f"program {rule.program_id}: one card size for all its stamp rules"
        )
        cards[rule.program_id] = StampCardSpec(
            card.program_id, card.card_size, card.reward, (*card.rule_ids, rule.id)
        )
    return cards
