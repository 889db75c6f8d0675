#!/usr/bin/env python3
"""The earning rules engine alone, in process: a 10-line check against 10 to 10 000 rules.

    python3 bench/rules_engine.py [--evaluations 2000] [--seed 7] [--json]

Two rule sets per size:

realistic  a merchant's mix, drawn with a fixed seed: one base rate for the
           whole catalogue; √N broad rules (whole stores, half of them in
           happy hours; segments; a channel at some hours; a top category;
           everyone at some hours: a merchant with 10 000 offers has a hundred
           of those, not thousands); and targeted offers for the rest: 72 % on
           1-3 products (a fifth personal: for one segment of 300), 28 % on a
           category (a leaf of a 10 × 10 × 10 tree, or a middle one), a third
           also limited to stores, a fifth to hours or days; double and triple
           points, bonuses, rates; a tenth with a minimum basket, a fifth
           capped per day; 5 % kitty, 3 % a coffee card. The products of the
           checks follow Zipf's law over 20 000 products, those of the offers a
           flatter one (exponent 0.5): popular products carry more offers.
flat       the same 10 rules that concern the check, and every other rule on
           products that are never on it: what the index costs as rules grow
           while the matching rules stay the same.

For each: the compile time of the index (median of 5), then --evaluations
evaluations over a pool of 200 checks, each timed alone: p50 and p99 in
microseconds (wall clock, and the thread's CPU time, which a loaded machine
does not inflate), and the mean number of candidate rules the index returned. The
`scan` column times the plain scan of every rule (conditions.targets) that the
index replaces, on the realistic set.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
import timeit
from bisect import bisect_left
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from itertools import accumulate
from pathlib import Path

# The engine of this checkout, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from cagnotte.money import Asset
from cagnotte.programs.loyalty import (
    Caps,
    Channel,
    CheckFacts,
    Condition,
    CustomerFacts,
    FixedBonus,
    FixedRate,
    KittyPercentage,
    LineFacts,
    MinimumBasket,
    Multiplier,
    ProductScope,
    ProgramKind,
    Rate,
    Rule,
    RuleUsage,
    StampsPerItem,
    TimeWindow,
    compile_rules,
    evaluate,
    targets,
)

CZK = Asset("CZK", 2)
PRODUCT_COUNT = 20_000
STORES = [f"store-{n}" for n in range(50)]
SEGMENTS = [f"segment-{n}" for n in range(300)]
ROOTS = [f"c{a}" for a in range(10)]
MIDS = [f"c{a}.{b}" for a in range(10) for b in range(10)]
LEAVES = [f"c{a}.{b}.{c}" for a in range(10) for b in range(10) for c in range(10)]
SIZES = (10, 1_000, 10_000)
BASE = Rule("base", "points", ProgramKind.POINTS, FixedRate(Rate.per(1, 1000)))


class World:
    """The catalogue: products in leaves; Zipf laws of how often each is bought and offered."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.products = [f"p{n}" for n in range(PRODUCT_COUNT)]
        self.leaf_of = {product: rng.choice(LEAVES) for product in self.products}
        ranks = range(1, PRODUCT_COUNT + 1)
        # Checks buy by Zipf's law (exponent 1: the best seller is in 1 line of 10);
        # offers lean the same way, less steeply (exponent 0.5), so that the best
        # seller carries some 40 offers among 10 000, not a thousand.
        self.bought = list(accumulate(1 / rank for rank in ranks))
        self.offered = list(accumulate(1 / rank**0.5 for rank in ranks))

    def popular_product(self) -> str:
        return self._draw(self.bought)

    def offered_product(self) -> str:
        return self._draw(self.offered)

    def _draw(self, cumulative: list[float]) -> str:
        point = self.rng.random() * cumulative[-1]
        return self.products[min(bisect_left(cumulative, point), PRODUCT_COUNT - 1)]

    def categories(self, product: str) -> frozenset[str]:
        leaf = self.leaf_of[product]
        mid, root = leaf.rsplit(".", 1)[0], leaf.split(".")[0]
        return frozenset({leaf, mid, root})


def _window(rng: random.Random) -> TimeWindow:
    if rng.random() < 0.5:
        start = rng.randrange(6, 20)
        return TimeWindow(start=clock(start), end=clock(start + rng.randrange(1, 4)))
    return TimeWindow(days_of_week=frozenset(rng.sample(range(1, 8), rng.randrange(1, 3))))


def _points_benefit(rng: random.Random):
    draw = rng.random()
    if draw < 0.4:
        return Multiplier("base", rng.choice((2, 3)))
    if draw < 0.7:
        return FixedBonus(rng.choice((10, 20, 50, 100)))
    return FixedRate(Rate.per(rng.randrange(1, 4), 1000))


def targeted_rule(number: int, world: World) -> Rule:
    """An offer on products (72 %) or on a category, mostly a leaf, sometimes narrowed more."""
    rng = world.rng
    stores = segments = frozenset()
    windows: tuple[TimeWindow, ...] = ()
    if rng.random() < 0.72:
        scope = ProductScope(
            product_ids=frozenset(world.offered_product() for _ in range(rng.randrange(1, 4)))
        )
        if rng.random() < 0.2:
            segments = frozenset(rng.sample(SEGMENTS, 1))
    else:
        category = rng.choice(LEAVES if rng.random() < 0.95 else MIDS)
        scope = ProductScope(category_ids=frozenset({category}))
    if rng.random() < 0.33:
        stores = frozenset(rng.sample(STORES, rng.randrange(1, 6)))
    if rng.random() < 0.2:
        windows = (_window(rng),)
    return _rule(f"t{number:05d}", rng, scope, windows, stores, segments, frozenset())


def broad_rule(number: int, world: World) -> Rule:
    """A rule for whole stores, segments, channels, a top category, or certain hours."""
    rng = world.rng
    stores = segments = channels = frozenset()
    windows: tuple[TimeWindow, ...] = ()
    scope = ProductScope()
    draw = rng.random()
    if draw < 0.4:
        stores = frozenset(rng.sample(STORES, rng.randrange(1, 3)))
        if rng.random() < 0.5:
            windows = (_window(rng),)
    elif draw < 0.7:
        segments = frozenset(rng.sample(SEGMENTS, rng.randrange(1, 3)))
    elif draw < 0.8:
        channels = frozenset({rng.choice(list(Channel))})
        windows = (_window(rng),)
    elif draw < 0.95:
        scope = ProductScope(category_ids=frozenset({rng.choice(MIDS + ROOTS)}))
    else:
        windows = (_window(rng),)
    return _rule(f"b{number:05d}", rng, scope, windows, stores, segments, channels)


def _rule(rule_id, rng, scope, windows, stores, segments, channels) -> Rule:
    program, kind, benefit = "points", ProgramKind.POINTS, _points_benefit(rng)
    kind_draw = rng.random()
    if kind_draw < 0.05:
        program, kind, benefit = "kitty", ProgramKind.KITTY, KittyPercentage(rng.choice((100, 250)))
    elif kind_draw < 0.08 and not scope.whole_catalogue:
        program, kind = "card", ProgramKind.STAMPS
        benefit = StampsPerItem(card_size=10, reward="a free coffee")
    requirements = (MinimumBasket(rng.choice((30000, 50000))),) if rng.random() < 0.1 else ()
    caps = Caps(per_day_amount_max=rng.choice((100, 500))) if rng.random() < 0.2 else Caps()
    return Rule(
        id=rule_id,
        program_id=program,
        kind=kind,
        benefit=benefit,
        condition=Condition(
            scope=scope,
            windows=windows,
            store_ids=stores,
            channels=channels,
            segment_ids=segments,
            requirements=requirements,
        ),
        priority=rng.randrange(0, 5),
        caps=caps,
    )


def realistic_rules(count: int, world: World) -> list[Rule]:
    """The base rate, √count broad rules, and targeted offers for the rest."""
    broad = round(count**0.5)
    return [
        BASE,
        *(broad_rule(number, world) for number in range(broad)),
        *(targeted_rule(number, world) for number in range(count - 1 - broad)),
    ]


def flat_rules(count: int, checks: list[CheckFacts], world: World) -> list[Rule]:
    """Ten rules that concern the checks, and the rest on products never bought in them."""
    bought = {line.product_id for check in checks for line in check.lines}
    matching = [BASE] + [
        Rule(
            f"m{n}",
            "points",
            ProgramKind.POINTS,
            Multiplier("base", 2),
            Condition(scope=ProductScope(category_ids=frozenset({root}))),
        )
        for n, root in enumerate(ROOTS[:9])
    ]
    never = [product for product in world.products if product not in bought]
    others = [
        Rule(
            f"o{n:05d}",
            "points",
            ProgramKind.POINTS,
            FixedBonus(10),
            Condition(scope=ProductScope(product_ids=frozenset({never[n % len(never)]}))),
        )
        for n in range(count - len(matching))
    ]
    return matching + others


def make_checks(world: World, count: int) -> list[CheckFacts]:
    rng = world.rng
    start = datetime(2026, 3, 2, 6, tzinfo=UTC)
    checks = []
    for _ in range(count):
        lines = []
        for index in range(10):
            product = world.popular_product()
            quantity = rng.randrange(1, 4)
            unit_price = rng.randrange(2000, 30000)
            lines.append(
                LineFacts(
                    index=index,
                    sku=product,
                    product_id=product,
                    category_ids=world.categories(product),
                    quantity=quantity,
                    unit_price_minor=unit_price,
                    amount_minor=unit_price * quantity,
                )
            )
        checks.append(
            CheckFacts(
                lines=tuple(lines),
                store_id=rng.choice(STORES),
                terminal_id="till-1",
                channel=Channel.REGISTER,
                currency=CZK,
                moment=start + timedelta(minutes=rng.randrange(0, 7 * 24 * 60)),
                time_zone="Europe/Prague",
            )
        )
    return checks


def make_customer(rng: random.Random, rules: list[Rule]) -> CustomerFacts:
    return CustomerFacts(
        member=True,
        segment_ids=frozenset(rng.sample(SEGMENTS, 3)),
        profile_complete=True,
        visit_number=7,
        rule_usage={rule.id: RuleUsage(day_amount=40) for rule in rules[:50]},
    )


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def measure(
    rules: list[Rule],
    checks: list[CheckFacts],
    customer: CustomerFacts,
    evaluations: int,
    scan: bool,
) -> dict:
    compile_times = []
    for _ in range(5):
        started = time.perf_counter()
        index = compile_rules(rules, version=1)
        compile_times.append(time.perf_counter() - started)
    for check in checks[:20]:  # warm up
        evaluate(index, check, customer)
    gc.collect()
    timings, cpu_timings, candidates, awards = [], [], 0, 0
    for number in range(evaluations):
        check = checks[number % len(checks)]
        started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
        evaluation = evaluate(index, check, customer)
        cpu_timings.append((time.thread_time_ns() - started_cpu) / 1000)
        timings.append((time.perf_counter_ns() - started) / 1000)
        awards += len(evaluation.awards)
        candidates += len(index.lookup(check, customer))
    timings.sort()
    cpu_timings.sort()
    result = {
        "rules": len(rules),
        "compile_ms": statistics.median(compile_times) * 1000,
        "p50_us": percentile(timings, 50),
        "p99_us": percentile(timings, 99),
        "cpu_p50_us": percentile(cpu_timings, 50),
        "cpu_p99_us": percentile(cpu_timings, 99),
        "candidates": candidates / evaluations,
        "awards": awards / evaluations,
    }
    if scan:
        scans = []
        for number in range(min(evaluations, 200)):
            check = checks[number % len(checks)]
            started = time.perf_counter_ns()
            for rule in index.rules:
                targets(rule, check, customer)
            scans.append((time.perf_counter_ns() - started) / 1000)
        scans.sort()
        result["scan_p50_us"] = percentile(scans, 50)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="one JSON line at the end")
    args = parser.parse_args()
    assert args.evaluations >= 1000, "at least 1 000 evaluations per size"

    world = World(random.Random(args.seed))
    checks = make_checks(world, 200)
    results = []
    for size in SIZES:
        rules = realistic_rules(size, world)
        customer = make_customer(world.rng, rules)
        results.append(("realistic", measure(rules, checks, customer, args.evaluations, True)))
    for size in SIZES:
        rules = flat_rules(size, checks, world)
        customer = make_customer(world.rng, rules)
        results.append(("flat", measure(rules, checks, customer, args.evaluations, False)))

    calibration = min(timeit.repeat("sum(range(10))", number=100_000, repeat=5)) * 10_000
    print(
        f"earning engine, 10-line checks, {args.evaluations} evaluations per row, "
        f"seed {args.seed}, Python {sys.version.split()[0]}; "
        f"sum(range(10)) takes {calibration:.0f} ns here (to compare machines)"
    )
    header = (
        f"{'set':<10}{'rules':>7}{'compile ms':>12}{'p50 µs':>9}{'p99 µs':>9}"
        f"{'cpu p50':>9}{'cpu p99':>9}{'candidates':>12}{'cpu/cand':>10}{'awards':>8}"
        f"{'scan p50 µs':>13}"
    )
    print(header)
    print("-" * len(header))
    for name, row in results:
        scan = f"{row['scan_p50_us']:>13.0f}" if "scan_p50_us" in row else f"{'':>13}"
        print(
            f"{name:<10}{row['rules']:>7}{row['compile_ms']:>12.2f}{row['p50_us']:>9.0f}"
            f"{row['p99_us']:>9.0f}{row['cpu_p50_us']:>9.0f}{row['cpu_p99_us']:>9.0f}"
            f"{row['candidates']:>12.1f}{row['cpu_p50_us'] / max(row['candidates'], 1):>10.1f}"
            f"{row['awards']:>8.1f}{scan}"
        )
    print(
        "(p50/p99: wall clock; cpu: this thread's CPU time, which other processes on the"
        " machine do not inflate)"
    )
    for name in ("realistic", "flat"):
        rows = [row for set_name, row in results if set_name == name]
        print(
            f"{name}: p50 at {rows[-1]['rules']} rules / p50 at {rows[0]['rules']} rules = "
            f"{rows[-1]['p50_us'] / rows[0]['p50_us']:.2f} "
            f"(cpu {rows[-1]['cpu_p50_us'] / rows[0]['cpu_p50_us']:.2f})"
        )
    if args.json:
        print(json.dumps([{"set": name, **row} for name, row in results]))


if __name__ == "__main__":
    main()
