#!/usr/bin/env python3
"""The directory's search at 100 000 members of one merchant, on SQLite and PostgreSQL.

    python3 bench/directory_search.py                       # 100 000 members, both databases
    python3 bench/directory_search.py --members 20000 --databases sqlite --searches 50

For each database: a merchant made through the API, then `--members` customers
and memberships written straight into the tables (COPY on PostgreSQL, one
insert of many rows per chunk on SQLite), their names drawn from Czech and
French first names and made-up surnames, accents included, folded as the
service folds them. Then `--searches` searches of each kind, through the service
(`CustomerService.search`, the first page of 50), timed one by one (wall clock,
p50 and p99 in ms):

    name fragment     three or four letters of a member's surname ("vor")
    accented name     a first name as written ("Éloïse")
    rare name         a whole made-up surname (few members have it)
    whole phone       a member's number in national notation ("601 234 567")
    phone digits      six digits of a member's number ("234567")

And the plan of the search of a common first name, `eloise` (PostgreSQL: EXPLAIN ANALYZE of the
very statement the service sends; SQLite: EXPLAIN QUERY PLAN). The machine's
load average is reported before and after: the figures are wall clock.

PostgreSQL runs in a throw-away cluster (bench/throwaway.py).
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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from fastapi.testclient import TestClient  # noqa: E402
from run import RESULTS, log  # noqa: E402
from sqlalchemy import event, insert  # noqa: E402
from throwaway import throwaway_cluster  # noqa: E402

from cagnotte.api.app import create_app  # noqa: E402
from cagnotte.bootstrap import bootstrap  # noqa: E402
from cagnotte.config import Settings  # noqa: E402
from cagnotte.crm.names import fold  # noqa: E402
from cagnotte.db.engine import Database  # noqa: E402
from cagnotte.db.migrate import migrate  # noqa: E402
from cagnotte.db.pages import PageRequest  # noqa: E402
from cagnotte.db.tables import customers, memberships  # noqa: E402
from cagnotte.security.principals import Principal  # noqa: E402

CHUNK = 10_000
PAGE = PageRequest(limit=50)
FIRST_NAMES = tuple(
    [
        "Éloïse",
        "Zoë",
        "Anežka",
        "Šárka",
        "Jiří",
        "František",
        "Tomáš",
        "Lukáš",
        "Renée",
        "Hélène",
        "Jérôme",
        "François",
        "Adéla",
        "Kateřina",
        "Petr",
        "Jan",
        "Marie",
        "Jana",
        "Eva",
        "Pavel",
        "Martin",
        "Léa",
        "Chloé",
        "Noël",
        "Agnès",
        "Loïc",
        "Ondřej",
        "Radek",
        "Věra",
        "Zdeněk",
        "Ilona",
        "Gaëlle",
        "Maëlys",
        "Benoît",
        "Clément",
        "Inès",
        "Théo",
    ]
)
SYLLABLES = tuple(
    [
        "no",
        "va",
        "ko",
        "dvo",
        "řák",
        "šťa",
        "st",
        "ný",
        "ma",
        "lý",
        "ve",
        "se",
        "lý",
        "po",
        "spí",
        "ši",
        "ch",
        "ce",
        "rný",
        "lé",
        "fè",
        "vre",
        "du",
        "bo",
        "is",
        "mar",
        "tin",
        "ber",
        "nard",
        "pe",
        "tit",
        "ro",
        "ux",
        "mo",
        "rel",
        "gi",
        "rard",
        "an",
        "dré",
        "fo",
        "ur",
        "ni",
        "er",
        "mer",
        "cier",
        "bla",
        "nc",
        "gu",
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--searches", type=int, default=200)
    args = parser.parse_args()
    report: dict[str, Any] = {
        "members": args.members,
        "searches": args.searches,
        "cores": os.cpu_count(),
        "load_before": os.getloadavg(),
        "by_database": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="cagnotte-bench-directory-"))
    workdir.chmod(0o755)
    try:
        for name in args.databases.split(","):
            if name == "postgresql":
                with throwaway_cluster("cagnotte-bench-directory-pg-") as (_, cluster):
                    cluster.sql("postgres", "CREATE DATABASE cagnotte")
                    report["by_database"][name] = run(cluster.url("cagnotte"), args, workdir)
            else:
                url = f"sqlite:///{workdir / 'cagnotte.db'}"
                report["by_database"][name] = run(url, args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report["load_after"] = os.getloadavg()
    print_table(report)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"directory-search-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    log(f"written to {path}")


def run(url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    migrate(url)
    database = Database(url)
    services = bootstrap(
        Settings(environment="development", database_url=url, outbox_dir=workdir / "outbox"),
        database=database,
    )
    merchant_id = make_merchant(services)
    rng = random.Random(11)
    started = time.perf_counter()
    people = fill(database, merchant_id, args.members, rng)
    filled = time.perf_counter() - started
    log(f"{database.engine.dialect.name}: {args.members} members written in {filled:.0f} s")
    caller = Principal(merchant_id=merchant_id, role="cashier")

    def search(**query: str | None) -> Callable[[], Any]:
        return lambda: services.customers.search(
            caller, name=query.get("name"), phone=query.get("phone"), page=PAGE
        )

    kinds: dict[str, Callable[[], Callable[[], Any]]] = {
        "name fragment": lambda: search(name=_fragment(rng, rng.choice(people)[1])),
        "accented name": lambda: search(name=rng.choice(FIRST_NAMES)),
        "rare name": lambda: search(name=rng.choice(people)[1]),
        "whole phone": lambda: search(phone=_national(rng.choice(people)[2])),
        "phone digits": lambda: search(phone=rng.choice(people)[2][-6:]),
    }
    timings: dict[str, dict[str, float]] = {}
    for kind, make in kinds.items():
        make()()  # warm the caches once
        runs = []
        for _ in range(args.searches):
            one = make()
            begun = time.perf_counter()
            one()
            runs.append((time.perf_counter() - begun) * 1000)
        timings[kind] = _percentiles(runs)
        log(f"  {kind}: p50 {timings[kind]['p50_ms']} ms, p99 {timings[kind]['p99_ms']} ms")
    plan = explain(database, search(name="eloise"))
    log("  plan of the name search:\n" + plan)
    database.dispose()
    return {"fill_s": round(filled, 1), "searches": timings, "plan": plan}


def make_merchant(services: Any) -> uuid.UUID:
    client = TestClient(create_app(services))
    operator = services.merchants.ensure_operator_key()
    response = client.post(
        "/v1/merchants",
        json={"name": "Directory café"},
        headers={"Authorization": f"Bearer {operator}", "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


def fill(
    database: Database, merchant_id: uuid.UUID, count: int, rng: random.Random
) -> list[tuple[str, str, str]]:
    """`count` members of the merchant; returns each one's (first name, surname, phone)."""
    now = datetime.now(UTC)
    people = []
    for start in range(0, count, CHUNK):
        customer_rows, membership_rows = [], []
        for number in range(start, min(start + CHUNK, count)):
            first = rng.choice(FIRST_NAMES)
            last = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()
            phone = f"+420{601_000_000 + number}"
            people.append((first, last, phone))
            customer_id = uuid.uuid4()
            customer_rows.append(
                {
                    "id": customer_id,
                    "phone": phone,
                    "email": None,
                    "status": "active",
                    "created_at": now,
                }
            )
            membership_rows.append(
                {
                    "merchant_id": merchant_id,
                    "id": uuid.uuid4(),
                    "customer_id": customer_id,
                    "phone": phone,
                    "status": "active",
                    "first_name": first,
                    "last_name": last,
                    "search_name": f"{fold(first)} {fold(last)}",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        with database.transaction() as connection:
            if database.is_postgresql:
                raw = connection.connection.driver_connection
                _copy(raw, customers.name, customer_rows)
                _copy(raw, memberships.name, membership_rows)
            else:
                connection.execute(insert(customers), customer_rows)
                connection.execute(insert(memberships), membership_rows)
    if database.is_postgresql:
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")
    else:
        with database.engine.connect() as c:
            c.exec_driver_sql("ANALYZE")
    return people


def explain(database: Database, search: Callable[[], Any]) -> str:
    """The plan of the page's select a search sends, after the settings it makes."""
    sent: list[tuple[str, Any]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        sent.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", keep)
    try:
        search()
    finally:
        event.remove(database.engine, "before_cursor_execute", keep)
    page = max(i for i, (statement, _) in enumerate(sent) if "FROM memberships" in statement)
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if database.is_postgresql else "EXPLAIN QUERY PLAN "
    with database.engine.connect() as connection, connection.begin():
        for statement, parameters in sent[:page]:
            if statement.startswith("SET LOCAL"):
                connection.exec_driver_sql(statement, parameters)
        statement, parameters = sent[page]
        rows = connection.exec_driver_sql(prefix + statement, parameters).all()
    if database.is_postgresql:
        return "\n".join(row[0] for row in rows)
    return "\n".join(str(row[-1]) for row in rows)


def print_table(report: dict[str, Any]) -> None:
    names = list(report["by_database"])
    print(f"\nmembers {report['members']}, {report['searches']} searches of each kind;")
    print(f"load average before {report['load_before']}, after {report['load_after']}")
    print("\n| search | " + " | ".join(f"{n} p50 / p99 ms" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    kinds = next(iter(report["by_database"].values()))["searches"]
    for kind in kinds:
        cells = " | ".join(
            f"{r['searches'][kind]['p50_ms']} / {r['searches'][kind]['p99_ms']}"
            for r in report["by_database"].values()
        )
        print(f"| {kind} | {cells} |")


def _fragment(rng: random.Random, surname: str) -> str:
    folded = fold(surname)
    size = min(len(folded), rng.choice((3, 4)))
    start = rng.randrange(len(folded) - size + 1)
    return folded[start : start + size]


def _national(phone: str) -> str:
    digits = phone.removeprefix("+420")
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def _percentiles(runs: list[float]) -> dict[str, float]:
    ordered = sorted(runs)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 2), "p99_ms": round(p99, 2)}


def _copy(raw: Any, table: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(list(row.values()))


if __name__ == "__main__":
    main()
