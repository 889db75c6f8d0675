"""Register checks through the API: quote latency by number of active rules, checks per second.

    python3 bench/checks.py                 # rules 10,1000,10000; 3 rounds of 15 s
    python3 bench/checks.py --priority -10  # on a shared machine

Starts its own durable cluster (scripts/postgres.sh) and `cagnotte serve`, like
bench/run.py, whose pieces it uses. For each rule count it:
1. sets the merchant's promotions to that many active rules (a realistic mix:
   most on one product or a category of the 50-product catalogue, some on a
   store or an hour of the day, a few check-wide), written straight into
   loyalty_rules with the version bumped, as the API would;
2. measures quote latency (p50/p99) of a 10-line check with one client;
3. runs pgbench TPC-B and then quote + commit pairs with wrk (8 clients) on the
   same cluster, and reports committed checks per second and the ratio to
   pgbench's tps (the issue's target: at least 0.4).
Every check earns points on one merchant (its issuance account is the hot one).
"""

from __future__ import annotations

import argparse
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

from run import (  # noqa: E402  (bench/ is not a package)
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
)

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
        shop = set_up(api, service.operator_key, args.customers)
        customers_file = workdir / "customers.txt"
        customers_file.write_text("\n".join(shop["customer_ids"]) + "\n")
        meter = CpuMeter(cluster.postmaster_pid, service.process.pid)
        for count in (int(n) for n in args.rules.split(",")):
            write_rules(cluster, shop, count)
            latency = quote_latency(api, shop, args.quotes)
            log(f"{count} rules: quote p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms")
            rounds = []
            for number in range(args.rounds):
                pgbench = run_pgbench(cluster, args, meter)
                checks = run_checks(service.port, args, customers_file, shop, number)
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


def set_up(api: Api, operator_key: str, customers: int) -> dict[str, Any]:
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
    products = {}
    try:
        for sku in SKUS:
            products[sku] = api.post(
                "/v1/catalogue/products",
                {
                    "sku": sku,
                    "name": sku,
                    "unit_price_minor": 1_000,
                    "currency": "CZK",
                },
                manager,
            )["id"]
    except RuntimeError as error:  # no catalogue: rules on products would never apply
        log(f"no catalogue ({error}); product rules stay unmatched")
    return {
        "merchant_id": merchant["id"],
        "store_id": store["id"],
        "program_id": program["id"],
        "register_key": register_key,
        "customer_ids": customer_ids,
        "products": products,
    }


def write_rules(cluster: Cluster, shop: dict[str, Any], count: int) -> None:
    """`count` active rules of the program, and the merchant's rules version bumped."""
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
        rows.append(
            (
                shop["merchant_id"],
                str(uuid.uuid4()),
                shop["program_id"],
                definition["name"],
                0,
                False,
                True,
                json.dumps(definition),
            )
        )
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


def quote_latency(api: Api, shop: dict[str, Any], quotes: int) -> dict[str, Any]:
    generator = random.Random(7)
    timings = []
    for number in range(quotes + 20):
        first = generator.randint(0, 40)
        body = {
            "currency": "CZK",
            "customer_id": generator.choice(shop["customer_ids"]),
            "lines": [
                {
                    "sku": SKUS[first + i],
                    "quantity": generator.randint(1, 3),
                    "unit_price_minor": generator.randint(500, 20_000),
                }
                for i in range(10)
            ],
        }
        started = time.perf_counter()
        api.post("/v1/checks/quotes", body, shop["register_key"])
        if number >= 20:  # the first ones compile the rules in each worker
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "p50_ms": round(timings[len(timings) // 2], 2),
        "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 2),
        "quotes": quotes,
    }


def run_checks(
    port: int, args: argparse.Namespace, customers_file: Path, shop: dict[str, Any], number: int
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
        str(customers_file),
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
    print(
        "\n| rules | quote p50 ms | quote p99 ms | checks/s (rounds) | pgbench tps | median ratio |"
    )
    print("|---|---|---|---|---|---|")
    for count, figures in report["by_rules"].items():
        checks = " / ".join(str(r["checks"]["checks_per_s"]) for r in figures["rounds"])
        tps = " / ".join(str(r["pgbench"]["tps"]) for r in figures["rounds"])
        print(
            f"| {count} | {figures['quote']['p50_ms']} | {figures['quote']['p99_ms']} | "
            f"{checks} | {tps} | {figures['median_ratio']} |"
        )


if __name__ == "__main__":
    main()
