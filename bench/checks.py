"""Register checks through the API: quote latency by number of active rules, checks per second.

    python3 bench/checks.py                 # rules 10,1000,10000; 3 rounds of 15 s
    python3 bench/checks.py --priority -10  # on a shared machine

Starts its own durable cluster (scripts/postgres.sh) and `cagnotte serve`, like
bench/run.py, whose pieces it uses. For each rule count it:
1. sets the merchant's promotions to that many active rules, written straight
   into loyalty_rules with the version bumped, as the API would. Two mixes:
   `realistic` (the default) is bench/rules_engine.py's: a 20 000-product
   catalogue in a 10 x 10 x 10 category tree, the base rate, sqrt(N) broad
   rules and targeted offers on products and categories for the rest, the
   checks' products drawn by Zipf's law (segment rules, which the API does not
   take yet, are put on another store; kitty and stamp offers earn points);
   `dense` puts every rule on a 50-product catalogue, so that a check matches
   some 16 % of all rules (about 1 900 awards at 10 000 rules): a worst case;
2. measures quote latency (p50/p99) of a 10-line check with one client, and the
   service's CPU time per quote (which a loaded machine does not inflate);
3. runs pgbench TPC-B and then quote + commit pairs with wrk (8 clients) on the
   same cluster, and reports committed checks per second and the ratio to
   pgbench's tps (the issue's target: at least 0.4).
Every check earns points on one merchant (its issuance account is the hot one).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rules_engine  # noqa: E402
from run import (  # noqa: E402  (bench/ is not a package)
    CLK_TCK,  # noqa: E402
    RESULTS,
    Api,
    Cluster,
    CpuMeter,
    Service,
    free_port,
    log,
    pg_bin,
    prioritise,
    run_pgbench,
    source_state,
    tree_ticks,
)
from run import _all_processes as all_processes  # noqa: E402

LUA = Path(__file__).resolve().parent / "checks.lua"
SKUS = [f"SKU-{number:02d}" for number in range(50)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", default="10,1000,10000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--quotes", type=int, default=300, help="quotes per latency sample")
    parser.add_argument("--priority", type=int, default=0)
    parser.add_argument("--mix", choices=("realistic", "dense"), default="realistic")
    args = parser.parse_args()
    if args.priority:
        prioritise(os.getpid(), args.priority)
    workdir = Path(tempfile.mkdtemp(prefix="cagnotte-bench-checks-"))
    workdir.chmod(0o755)
    cluster = Cluster(workdir / "pg", free_port())
    service: Service | None = None
    report: dict[str, Any] = {"source": source_state(), "config": vars(args), "by_rules": {}}
    try:
        cluster.start()
        prioritise(cluster.postmaster_pid, args.priority)
        for database in ("pgbench", "cagnotte"):
            cluster.sql("postgres", f"CREATE DATABASE {database}")
        subprocess.run(
            [
                pg_bin("pgbench"),
                "-i",
                "-q",
                "-s",
                "1",
                "-h",
                "127.0.0.1",
                "-p",
                str(cluster.port),
                "-U",
                "postgres",
                "pgbench",
            ],
            check=True,
            capture_output=True,
        )
        service = Service(cluster.url("cagnotte"), free_port(), args.workers, workdir)
        service.start()
        prioritise(service.process.pid, args.priority)
        api = Api(service.port)
        shop = set_up(api, service.operator_key, args.customers, args.mix, cluster)
        bodies_file = workdir / "checks.jsonl"
        bodies_file.write_text(
            "".join(json.dumps(body) + "\n" for body in check_bodies(shop, 2_000, seed=3))
        )
        meter = CpuMeter(cluster.postmaster_pid, service.process.pid)
        for count in (int(n) for n in args.rules.split(",")):
            write_rules(cluster, shop, count)
            # The catalogue and rules were just written in bulk: without statistics
            # the planner walks the 20 000 products for each quote (seen: 17 ms of
            # PostgreSQL CPU per quote before, 2 ms after). A merchant's tables
            # have them once autovacuum has passed, a minute after an import.
            cluster.sql("cagnotte", "ANALYZE")
            latency = quote_latency(api, shop, args.quotes, service.process.pid)
            log(
                f"{count} rules: quote p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms, "
                f"service CPU {latency['service_cpu_ms']} ms per quote, "
                f"{latency['effects_mean']} effects per quote"
            )
            rounds = []
            for number in range(args.rounds):
                pgbench = run_pgbench(cluster, args, meter)
                checks = run_checks(service.port, args, bodies_file, shop, number)
                ratio = round(checks["checks_per_s"] / pgbench["tps"], 3)
                log(
                    f"  round {number + 1}: pgbench {pgbench['tps']} tps, checks "
                    f"{checks['checks_per_s']}/s (p99 {checks['p99_ms']} ms), ratio {ratio}"
                )
                rounds.append({"pgbench": pgbench, "checks": checks, "ratio": ratio})
            report["by_rules"][count] = {
                "quote": latency,
                "rounds": rounds,
                "median_ratio": statistics.median(r["ratio"] for r in rounds),
            }
        print_report(report)
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"checks-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps(report, indent=2, default=str))
        log(f"written to {path}")
    finally:
        if service is not None:
            service.stop()
        cluster.stop()


def set_up(
    api: Api, operator_key: str, customers: int, mix: str, cluster: Cluster
) -> dict[str, Any]:
    merchant = api.post("/v1/merchants", {"name": "Bench Café"}, operator_key)
    owner = merchant["owner_key"]["secret"]
    store = api.post("/v1/stores", {"name": "Main street"}, owner)
    register = api.post(
        "/v1/terminals", {"store_id": store["id"], "kind": "register", "name": "Till 1"}, owner
    )
    manager = api.post("/v1/api-keys", {"name": "office", "role": "manager"}, owner)["secret"]
    program = api.post(
        "/v1/loyalty-programs", {"kind": "points", "name": "Points", "currency": "CZK"}, manager
    )
    register_key = register["api_key"]["secret"]
    customer_ids = [
        api.post("/v1/customers", {"phone": f"+4206020{n:05d}"}, register_key)["id"]
        for n in range(customers)
    ]
    shop: dict[str, Any] = {
        "mix": mix,
        "merchant_id": merchant["id"],
        "store_id": store["id"],
        "program_id": program["id"],
        "register_key": register_key,
        "customer_ids": customer_ids,
    }
    if mix == "dense":
        shop["products"] = {
            sku: api.post(
                "/v1/catalogue/products",
                {"sku": sku, "name": sku, "unit_price_minor": 1_000, "currency": "CZK"},
                manager,
            )["id"]
            for sku in SKUS
        }
        return shop
    world = rules_engine.World(random.Random(7))
    rows = [
        f"{product},{product},10.00,CZK,{'/'.join(_path(world.leaf_of[product]))}"
        for product in world.products
    ]
    for start in range(0, len(rows), 10_000):  # an import takes at most 10 000 products
        _import_csv(
            api.port,
            manager,
            ["sku,name,unit_price,currency,category", *rows[start : start + 10_000]],
        )
    with psycopg.connect(cluster.url("cagnotte")) as connection:
        shop["products"] = dict(
            connection.execute(
                "SELECT sku, id::text FROM products WHERE merchant_id = %s", (merchant["id"],)
            ).fetchall()
        )
        shop["categories"] = dict(
            connection.execute(
                "SELECT name, id::text FROM product_categories WHERE merchant_id = %s",
                (merchant["id"],),
            ).fetchall()
        )
    shop["world"] = world
    return shop


def _path(leaf: str) -> list[str]:
    """c1.2.3 → [c1, c1.2, c1.2.3]: its category's path from the root."""
    parts = leaf.split(".")
    return [".".join(parts[: depth + 1]) for depth in range(len(parts))]


def _import_csv(port: int, key: str, lines: list[str]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    connection.request(
        "POST",
        "/v1/catalogue/imports",
        "\n".join(lines).encode(),
        {"Authorization": f"Bearer {key}", "Content-Type": "text/csv"},
    )
    response = connection.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"catalogue import -> {response.status}: {data[:300]!r}")


def write_rules(cluster: Cluster, shop: dict[str, Any], count: int) -> None:
    """`count` active rules of the program, and the merchant's rules version bumped."""
    definitions = (
        dense_definitions(shop, count)
        if shop["mix"] == "dense"
        else realistic_definitions(shop, count)
    )
    rows = [
        (
            shop["merchant_id"],
            str(uuid.uuid4()),
            shop["program_id"],
            definition["name"],
            definition.get("priority", 0),
            False,
            True,
            json.dumps(definition),
        )
        for definition in definitions
    ]
    with psycopg.connect(cluster.url("cagnotte"), autocommit=False) as connection:
        connection.execute(
            "DELETE FROM loyalty_rules WHERE merchant_id = %s", (shop["merchant_id"],)
        )
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO loyalty_rules (merchant_id, id, program_id, name, priority,"
                " exclusive, active, definition, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now(), now())",
                rows,
            )
        connection.execute(
            "INSERT INTO loyalty_rule_versions (merchant_id, version) VALUES (%s, 1)"
            " ON CONFLICT (merchant_id) DO UPDATE"
            " SET version = loyalty_rule_versions.version + 1",
            (shop["merchant_id"],),
        )
        connection.commit()


def realistic_definitions(shop: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """bench/rules_engine.py's realistic mix (less its base rate: the program has one),
    as the API's rule definitions on this shop's catalogue and store."""
    world = rules_engine.World(random.Random(count))
    world.leaf_of = shop["world"].leaf_of
    ours = rules_engine.STORES[0]
    others = {
        store: str(uuid.UUID(int=world.rng.getrandbits(128))) for store in rules_engine.STORES
    }
    definitions = []
    for rule in rules_engine.realistic_rules(count, world)[1:]:
        condition = rule.condition
        stores = {shop["store_id"] if s == ours else others[s] for s in condition.store_ids}
        if condition.segment_ids:  # no segments through the API yet: a store not ours
            stores.add(others[rules_engine.STORES[1]])
        definition: dict[str, Any] = {
            "name": rule.id,
            "priority": rule.priority,
            "benefit": _benefit(rule.benefit),
            "scope": {
                "product_ids": [shop["products"][p] for p in condition.scope.product_ids],
                "category_ids": [shop["categories"][c] for c in condition.scope.category_ids],
            },
            "store_ids": sorted(stores),
            "channels": [channel.value for channel in condition.channels],
            "windows": [_window(window) for window in condition.windows],
            "requirements": [
                {"kind": "minimum_basket", "amount_minor": requirement.amount_minor}
                for requirement in condition.requirements
            ],
        }
        if rule.caps.per_day_amount_max is not None:
            definition["per_customer"] = {"per_day_amount_max": rule.caps.per_day_amount_max}
        definitions.append(definition)
    return definitions


def _benefit(benefit: Any) -> dict[str, Any]:
    if isinstance(benefit, rules_engine.Multiplier):
        return {"kind": "multiplier", "factor_numerator": benefit.factor_numerator}
    if isinstance(benefit, rules_engine.FixedBonus):
        return {"kind": "fixed_bonus", "units": benefit.units}
    if isinstance(benefit, rules_engine.FixedRate):
        rate = benefit.rate
        return {"kind": "fixed_rate", "numerator": rate.numerator, "denominator": rate.denominator}
    return {"kind": "fixed_bonus", "units": 10}  # a kitty or stamp offer: points here


def _window(window: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if window.days_of_week:
        out["days_of_week"] = sorted(window.days_of_week)
    if window.start is not None:
        out["start"] = window.start.strftime("%H:%M")
        out["end"] = window.end.strftime("%H:%M")
    return out


def dense_definitions(shop: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """Every rule on the 50-product catalogue: a check matches some 16 % of them."""
    generator = random.Random(count)
    other_stores = [str(uuid.UUID(int=generator.getrandbits(128))) for _ in range(20)]
    rows = []
    for number in range(count):
        draw = generator.random()
        definition: dict[str, Any] = {
            "name": f"rule {number}",
            "priority": 0,
            "benefit": {"kind": "fixed_bonus", "units": generator.randint(1, 20)},
        }
        if draw < 0.8 and shop["products"]:
            definition["scope"] = {
                "product_ids": [generator.choice(list(shop["products"].values()))]
            }
        elif draw < 0.9:
            definition["store_ids"] = [generator.choice(other_stores + [shop["store_id"]])]
        elif draw < 0.97:
            hour = generator.randint(0, 23)
            definition["windows"] = [
                {"start": f"{hour:02d}:00", "end": f"{(hour + 1) % 24:02d}:00"}
            ]
        if number % 5 == 0:
            definition["benefit"] = {"kind": "fixed_rate", "numerator": 1, "denominator": 2_000}
        rows.append(definition)
    return rows


def check_bodies(shop: dict[str, Any], count: int, seed: int) -> list[dict[str, Any]]:
    """10-line checks of random members: ten SKUs in a row of the 50 (dense), or each
    line's product drawn by how often it is bought (realistic)."""
    generator = random.Random(seed)
    world = shop.get("world")
    if world is not None:
        world = rules_engine.World.__new__(rules_engine.World)
        world.__dict__.update(shop["world"].__dict__, rng=generator)
    bodies = []
    for _ in range(count):
        if world is None:
            first = generator.randint(0, 40)
            skus = SKUS[first : first + 10]
        else:
            skus = [world.popular_product() for _ in range(10)]
        bodies.append(
            {
                "currency": "CZK",
                "customer_id": generator.choice(shop["customer_ids"]),
                "lines": [
                    {
                        "sku": sku,
                        "quantity": generator.randint(1, 3),
                        "unit_price_minor": generator.randint(500, 20_000),
                    }
                    for sku in skus
                ],
            }
        )
    return bodies


def quote_latency(api: Api, shop: dict[str, Any], quotes: int, service_pid: int) -> dict[str, Any]:
    bodies = check_bodies(shop, quotes + 20, seed=7)
    timings = []
    effects = 0
    for body in bodies[:20]:  # the first ones compile the rules in each worker
        api.post("/v1/checks/quotes", body, shop["register_key"])
    before = tree_ticks(service_pid, all_processes())
    for body in bodies[20:]:
        started = time.perf_counter()
        answer = api.post("/v1/checks/quotes", body, shop["register_key"])
        timings.append((time.perf_counter() - started) * 1000)
        effects += len(answer["effects"])
    cpu = (tree_ticks(service_pid, all_processes()) - before) / CLK_TCK
    timings.sort()
    return {
        "p50_ms": round(timings[len(timings) // 2], 2),
        "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 2),
        "service_cpu_ms": round(cpu * 1000 / quotes, 2),
        "effects_mean": round(effects / quotes, 1),
        "quotes": quotes,
    }


def run_checks(
    port: int, args: argparse.Namespace, bodies_file: Path, shop: dict[str, Any], number: int
) -> dict[str, Any]:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.clients}",
        f"-d{args.duration}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}",
        "--",
        str(bodies_file),
        shop["register_key"],
        f"bench-{number}-{time.time_ns()}",
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    line = next(x for x in output.splitlines() if x.startswith("BENCH_JSON "))
    figures = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = figures["duration_us"] / 1e6
    good = figures["requests"] - figures["errors"]["status"]
    return {
        "checks_per_s": round(good / 2 / seconds, 1),
        "requests_per_s": round(figures["requests"] / seconds, 1),
        "errors": figures["errors"],
        "p50_ms": figures["latency_us"]["p50"] / 1000,
        "p99_ms": figures["latency_us"]["p99"] / 1000,
    }


def print_report(report: dict[str, Any]) -> None:
    print(f"\nmix: {report['config']['mix']}")
    print(
        "| rules | quote p50 ms | quote p99 ms | service CPU ms/quote | effects/quote "
        "| checks/s (rounds) | pgbench tps | median ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for count, figures in report["by_rules"].items():
        checks = " / ".join(str(r["checks"]["checks_per_s"]) for r in figures["rounds"])
        tps = " / ".join(str(r["pgbench"]["tps"]) for r in figures["rounds"])
        print(
            f"| {count} | {figures['quote']['p50_ms']} | {figures['quote']['p99_ms']} | "
            f"{figures['quote']['service_cpu_ms']} | {figures['quote']['effects_mean']} | "
            f"{checks} | {tps} | {figures['median_ratio']} |"
        )


if __name__ == "__main__":
    main()
