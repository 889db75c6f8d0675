"""The same facts give the same evaluation in another process, whatever its hash seed.

Sets of ids iterate in an order that changes with PYTHONHASHSEED; nothing of
that order may reach the output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import time
from pathlib import Path

from cagnotte.programs.loyalty import (
    Evaluation,
    FixedBonus,
    GoodsLimit,
    Multiplier,
    ProductScope,
    TimeWindow,
    evaluate_rules,
)

from .builders import cake, check, line, member, rule

ROOT = Path(__file__).resolve().parents[3]


def scenario() -> Evaluation:
    """Rules and a check whose sets (categories, segments, days, products) have many members."""
    many = ProductScope(category_ids=frozenset({"coffee", "drinks", "cakes"}))
    weekend_mornings = TimeWindow(days_of_week=frozenset({6, 7}), start=time(9), end=time(12))
    three = ProductScope(product_ids=frozenset({"espresso", "cheesecake", "latte"}))
    rules = [
        rule("base"),
        rule("double", Multiplier("base"), scope=many),
        rule("weekend", FixedBonus(9), windows=(weekend_mornings,)),
        rule("segments", FixedBonus(3), segment_ids=frozenset({"a", "b", "c", "d"})),
        rule("limited", goods_limit=GoodsLimit(per_day_quantity_max=2), scope=three),
    ]
    the_check = check(
        line(0, 4500, quantity=3), cake(1, 3000, quantity=2), line(2, 900, product="latte")
    )
    return evaluate_rules(rules, the_check, member(segment_ids=frozenset("abcde")))


def evaluation_in_a_process(hash_seed: str) -> str:
    environment = {
        **os.environ,
        "PYTHONHASHSEED": hash_seed,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }
    script = "from tests.unit.loyalty.test_determinism import scenario; print(repr(scenario()))"
    return subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


def test_two_processes_with_other_hash_seeds_answer_the_same():
    first = evaluation_in_a_process("1")
    assert "Award(" in first and "NearMiss(" in first
    assert evaluation_in_a_process("2") == first
    assert evaluation_in_a_process("3") == first
