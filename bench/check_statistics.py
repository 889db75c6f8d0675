#!/usr/bin/env python3
"""Statistics of recorded checks at a million checks, on SQLite and PostgreSQL.

    python3 bench/check_statistics.py                      # 1 000 000 checks, both databases
    python3 bench/check_statistics.py --checks 100000 --databases sqlite

For each database: a merchant made through the API (stores, a points program,
members, products), then `--checks` checks over a year written straight into
the tables (two lines each, a points effect for members' checks), as commits
would have left them; then each of the main queries of `/v1/statistics/checks`
is timed through the service (median of `--repeat` runs, wall clock, in ms):

    month totals      one month, every check
    year by day       a year, grouped by day
    year by store     a year, grouped by store
    month members     one month, members only, one program
    month product     one month, the checks with one product
    month segment     one month, the checks of a segment's members (1 000 visits or more)
    month export      one month by day, as CSV

PostgreSQL runs in a throw-away cluster (scripts/postgres.sh, like bench/run.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from fastapi.testclient import TestClient  # noqa: E402
from run import RESULTS, Cluster, free_port, log  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from cagnotte.api.app import create_app  # noqa: E402
from cagnotte.bootstrap import bootstrap  # noqa: E402
from cagnotte.checkout.tables import check_effects, check_lines, checks  # noqa: E402
from cagnotte.config import Settings  # noqa: E402
from cagnotte.db.engine import Database  # noqa: E402
from cagnotte.db.migrate import migrate  # noqa: E402
from cagnotte.security.principals import Principal  # noqa: E402
from cagnotte.statistics.service import StatisticsFilters  # noqa: E402

YEAR_START = date(2026, 1, 1)
CHUNK = 20_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    report: dict[str, Any] = {
        "checks": args.checks,
        "cores": os.cpu_count(),
        "load_before": os.getloadavg(),
        "by_database": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="cagnotte-bench-statistics-"))
    workdir.chmod(0o755)
    try:
        for name in args.databases.split(","):
            cluster = None
            if name == "postgresql":
                cluster = Cluster(workdir / "pg", free_port())
                cluster.start()
                cluster.sql("postgres", "CREATE DATABASE cagnotte")
                url = cluster.url("cagnotte")
            else:
                url = f"sqlite:///{workdir / 'cagnotte.db'}"
            try:
                report["by_database"][name] = run(url, args, workdir)
            finally:
                if cluster is not None:
                    cluster.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report["load_after"] = os.getloadavg()
    print(f"\nload average before {report['load_before']}, after {report['load_after']}")
    print("\n| query | " + " | ".join(f"{n} ms" for n in report["by_database"]) + " |")
    print("|---|" + "---|" * len(report["by_database"]))
    queries = next(iter(report["by_database"].values()))["queries"]
    for query in queries:
        cells = " | ".join(str(r["queries"][query]) for r in report["by_database"].values())
        print(f"| {query} | {cells} |")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"statistics-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    log(f"written to {path}")


def run(url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    migrate(url)
    database = Database(url)
    services = bootstrap(
        Settings(environment="development", database_url=url, outbox_dir=workdir / "outbox"),
        database=database,
    )
    client = TestClient(create_app(services))
    shop = set_up(client, services, args.members)
    started = time.perf_counter()
    fill(database, shop, args.checks)
    filled = time.perf_counter() - started
    log(f"{url.split(':')[0]}: {args.checks} checks written in {filled:.0f} s")
    caller = Principal(merchant_id=uuid.UUID(shop["merchant_id"]), role="owner")
    month = dict(currency="CZK", date_from=date(2026, 6, 1), date_to=date(2026, 6, 30))
    year = dict(currency="CZK", date_from=YEAR_START, date_to=date(2026, 12, 31))
    report = services.statistics.report
    queries = {
        "month totals": lambda: report(
            caller, StatisticsFilters(**month), group_by="none", time_zone="UTC"
        ),
        "year by day": lambda: report(
            caller, StatisticsFilters(**year), group_by="day", time_zone="UTC"
        ),
        "year by store": lambda: report(
            caller, StatisticsFilters(**year), group_by="store", time_zone="UTC"
        ),
        "month members": lambda: report(
            caller,
            StatisticsFilters(**month, member=True, program_id=uuid.UUID(shop["program_id"])),
            group_by="none",
            time_zone="UTC",
        ),
        "month product": lambda: report(
            caller,
            StatisticsFilters(**month, product_id=uuid.UUID(shop["products"][0])),
            group_by="none",
            time_zone="UTC",
        ),
        "month segment": lambda: report(
            caller,
            StatisticsFilters(**month, segment_id=uuid.UUID(shop["segment_id"])),
            group_by="none",
            time_zone="UTC",
        ),
        "month export": lambda: services.statistics.export(
            caller, StatisticsFilters(**month), group_by="day", time_zone="UTC", file_format="csv"
        ),
    }
    timings = {}
    for name, query in queries.items():
        runs = []
        for _ in range(args.repeat):
            begun = time.perf_counter()
            query()
            runs.append((time.perf_counter() - begun) * 1000)
        timings[name] = round(statistics.median(runs), 1)
        log(f"  {name}: {timings[name]} ms")
    database.dispose()
    return {"fill_s": round(filled, 1), "queries": timings}


def set_up(client: TestClient, services: Any, members: int) -> dict[str, Any]:
    operator = services.merchants.ensure_operator_key()

    def post(path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        response = client.post(
            path,
            json=body,
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    merchant = post("/v1/merchants", {"name": "Statistics café"}, operator)
    owner = merchant["owner_key"]["secret"]
    stores = [post("/v1/stores", {"name": f"Store {n}"}, owner)["id"] for n in range(10)]
    program = post(
        "/v1/loyalty-programs", {"kind": "points", "name": "Points", "currency": "CZK"}, owner
    )
    register = post(
        "/v1/terminals", {"store_id": stores[0], "kind": "register", "name": "Till"}, owner
    )
    register_key = register["api_key"]["secret"]
    customers = [
        post("/v1/customers", {"phone": f"+4206030{n:05d}"}, register_key)["id"]
        for n in range(members)
    ]
    products = [
        post(
            "/v1/catalogue/products",
            {"sku": f"P{n:03d}", "name": f"P{n}", "unit_price_minor": 1_000, "currency": "CZK"},
            owner,
        )["id"]
        for n in range(50)
    ]
    # Regulars: a thousand checks or more in the last year (most of the members).
    regulars = post(
        "/v1/segments", {"name": "Regulars", "definition": {"visits_min": 1_000}}, owner
    )
    return {
        "segment_id": regulars["id"],
        "merchant_id": merchant["id"],
        "stores": stores,
        "program_id": program["id"],
        "customers": customers,
        "products": products,
    }


def fill(database: Database, shop: dict[str, Any], count: int) -> None:
    """`count` checks spread over 2026: two lines each, a points effect for members."""
    rng = random.Random(11)
    merchant_id = uuid.UUID(shop["merchant_id"])
    stores = [uuid.UUID(s) for s in shop["stores"]]
    customers = [uuid.UUID(c) for c in shop["customers"]]
    products = [(f"P{n:03d}", uuid.UUID(p)) for n, p in enumerate(shop["products"])]
    program_id = uuid.UUID(shop["program_id"])
    now = datetime.now(UTC)
    for start in range(0, count, CHUNK):
        check_rows, line_rows, effect_rows = [], [], []
        for _ in range(min(CHUNK, count - start)):
            check_id = uuid.uuid4()
            moment = datetime.combine(
                YEAR_START + timedelta(days=rng.randrange(365)), datetime.min.time(), UTC
            ) + timedelta(seconds=rng.randrange(8 * 3600, 20 * 3600))
            member = rng.choice(customers) if rng.random() < 0.6 else None
            gross = 0
            for index in range(2):
                sku, product_id = rng.choice(products)
                quantity, price = rng.randint(1, 3), rng.randint(500, 20_000)
                gross += quantity * price
                line_rows.append(
                    {
                        "merchant_id": merchant_id,
                        "check_id": check_id,
                        "line_index": index,
                        "sku": sku,
                        "product_id": product_id,
                        "quantity": quantity,
                        "unit_price_minor": price,
                        "gross_minor": quantity * price,
                        "discount_minor": 0,
                        "loyalty_paid_minor": 0,
                        "net_minor": quantity * price,
                        "refunded_quantity": 0,
                    }
                )
            check_rows.append(
                {
                    "merchant_id": merchant_id,
                    "id": check_id,
                    "store_id": rng.choice(stores),
                    "terminal_id": None,
                    "channel": "register",
                    "invoice_number": None,
                    "membership_id": member,
                    "currency": "CZK",
                    "gross_minor": gross,
                    "discount_minor": 0,
                    "loyalty_paid_minor": 0,
                    "tender_paid_minor": 0,
                    "due_minor": gross,
                    "refunded_minor": 0,
                    "status": "committed",
                    "occurred_at": moment,
                    "occurred_on": moment.date(),
                    "entry_id": None,
                    "created_at": now,
                }
            )
            if member is not None:
                effect_rows.append(
                    {
                        "merchant_id": merchant_id,
                        "check_id": check_id,
                        "ordinal": 0,
                        "contributor": "loyalty",
                        "kind": "earn",
                        "program_id": program_id,
                        "rule_id": "base",
                        "asset_code": "PTS",
                        "units": gross // 1_000,
                        "value_minor": 0,
                        "transfer_id": None,
                        "lines": [],
                        "reason": "1 point per 10.00 CZK",
                    }
                )
        with database.transaction() as connection:
            if database.is_postgresql:  # COPY: an insert of 20 000 rows takes seconds
                raw = connection.connection.driver_connection
                for table, rows in ((checks, check_rows), (check_lines, line_rows)):
                    _copy(raw, table, rows)
                _copy(raw, check_effects, effect_rows)
            else:
                connection.execute(insert(checks), check_rows)
                connection.execute(insert(check_lines), line_rows)
                if effect_rows:
                    connection.execute(insert(check_effects), effect_rows)
    if database.is_postgresql:
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")
    else:
        with database.engine.connect() as c:
            c.exec_driver_sql("ANALYZE")


def _copy(raw: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([json.dumps(v) if isinstance(v, list) else v for v in row.values()])


if __name__ == "__main__":
    main()
