#!/usr/bin/env python3
"""Wallet payments through the HTTP API on the embedded default: one SQLite file.

    python3 bench/sqlite_payments.py [--workers 1,2,4] [--duration 10] [--clients 8]
                                     [--customers 200] [--src DIR]

It serves Cagnotte on a fresh SQLite file in a temporary directory (the
`cagnotte serve` application under uvicorn, `--workers N`, no jobs), creates
through the API a merchant, a register and --customers customers with a large
wallet balance, warms up, and then per worker count: wrk -c CLIENTS with
bench/payments.lua (POST /v1/payments from a random customer to the one
merchant, a unique Idempotency-Key a request) -> payments/s, p50, p99; the CPU
the service used per payment, and what the rest of the machine used meanwhile
(it is shared); then one client alone -> p50. After each load it checks in SQL
that the ledger moved exactly what wrk saw.

--priority -10 gives the service (and its session's autogroup) a larger share of
a shared machine; wrk runs at the bench's own priority. --src serves another
source tree (its src/ directory: /work/main/src for the code before a change).
Figures go to stdout and bench/results/sqlite-<time>.json.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "payments.lua"
RESULTS = ROOT / "bench" / "results"
PAYMENT_MINOR = 100
TOP_UP_MINOR = 1_000_000_000
CLK_TCK = os.sysconf("SC_CLK_TCK")
GOALS = "goals (issue 13, SQLite): >= 1000 payments/s and p99 <= 50 ms at 8 clients"

_PREPARE = """
from cagnotte.bootstrap import bootstrap
from cagnotte.config import Settings
from cagnotte.db.migrate import migrate
settings = Settings()
migrate(settings.database_url)
services = bootstrap(settings)
print(services.merchants.ensure_operator_key() or "")
services.close()
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree_seconds(root: int) -> float:
    """CPU seconds of a process tree: the live processes and the children they reaped."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        table[int(entry)] = (int(fields[1]), sum(int(value) for value in fields[11:15]))
    children: dict[int, list[int]] = {}
    for pid, (ppid, _ticks) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            total += table[pid][1]
            todo.extend(children.get(pid, []))
    return total / CLK_TCK


def machine_busy_seconds() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLK_TCK


class Service:
    """The application under uvicorn in a session of its own, stopped by its pid."""

    def __init__(self, env: dict[str, str], workdir: Path, workers: int, priority: int = 0) -> None:
        self.env, self.workdir, self.workers, self.priority = env, workdir, workers, priority
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # Every worker's counters in one place, as `cagnotte serve --workers N` keeps them.
        metrics_dir = tempfile.mkdtemp(prefix="metrics-", dir=self.workdir)
        self.env = dict(self.env, PROMETHEUS_MULTIPROC_DIR=metrics_dir)
        command = [sys.executable, "-m", "uvicorn", "cagnotte.asgi:application_without_jobs"]
        command += ["--factory", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(self.workers), "--log-level", "warning", "--no-access-log"]
        log_file = open(self.workdir / f"service-{self.workers}w.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            command,
            cwd=self.workdir,
            env=self.env,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
        if self.priority:
            # With the kernel's autogroups a session's share counts, not only a nice value.
            os.setpriority(os.PRIO_PROCESS, self.process.pid, self.priority)
            with contextlib.suppress(OSError):
                Path(f"/proc/{self.process.pid}/autogroup").write_text(str(self.priority))
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"the service exited; see {log_file.name}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    time.sleep(1.0)  # every worker is up
                    return
            except OSError:
                pass
            time.sleep(0.2)
        sys.exit("the service did not answer /healthz within 180 s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the session we started
            self.process.wait()


def post(port: int, path: str, body: dict[str, Any], key: str, idempotency_key: str = "") -> Any:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    for attempt in range(5):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("POST", path, json.dumps(body), headers)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        if response.status == 503 and attempt < 4:
            time.sleep(0.2)
            continue
        if response.status not in (200, 201):
            raise RuntimeError(f"POST {path} -> {response.status}: {data[:300]!r}")
        return json.loads(data)
    raise AssertionError("unreachable")


def set_up_merchant(port: int, operator_key: str, customers: int) -> dict[str, Any]:
    merchant = post(port, "/v1/merchants", {"name": "Bench Café"}, operator_key)
    owner_key = merchant["owner_key"]["secret"]
    store = post(port, "/v1/stores", {"name": "Bench main street"}, owner_key)
    terminal = {"store_id": store["id"], "kind": "register", "name": "Till 1"}
    register_key = post(port, "/v1/terminals", terminal, owner_key)["api_key"]["secret"]

    def enrol_and_top_up(number: int) -> str:
        customer = post(port, "/v1/customers", {"phone": f"+4206010{number:05d}"}, register_key)
        top_up = {"customer_id": customer["id"], "asset": "CZK", "amount_minor": TOP_UP_MINOR}
        post(port, "/v1/wallet/top-ups", top_up, register_key, f"bench-top-up-{number}")
        return customer["id"]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        customer_ids = list(pool.map(enrol_and_top_up, range(customers)))
    return {"merchant_id": merchant["id"], "register_key": register_key, "ids": customer_ids}


def ledger_state(path: Path, prefix: str) -> dict[str, int]:
    with sqlite3.connect(path, timeout=30) as connection:
        payments, keyed = connection.execute(
            "SELECT (SELECT count(*) FROM transfers WHERE code = 'wallet_payment'),"
            " (SELECT count(*) FROM idempotency_records r JOIN journal_entries e"
            "   ON e.merchant_id = r.merchant_id AND e.id = r.entry_id WHERE r.key LIKE ?)",
            (prefix + "-%",),
        ).fetchone()
        settlement, unbalanced = connection.execute(
            "SELECT (SELECT coalesce(sum(b.credits_posted - b.debits_posted), 0)"
            "   FROM account_balances b JOIN accounts a"
            "   ON a.merchant_id = b.merchant_id AND a.id = b.account_id"
            "   WHERE a.purpose = 'settlement'),"
            " (SELECT count(*) FROM (SELECT 1 FROM account_balances"
            "   GROUP BY merchant_id HAVING sum(debits_posted) <> sum(credits_posted)))"
        ).fetchone()
    return {
        "payments": payments,
        "keyed": keyed,
        "settlement_minor": settlement,
        "unbalanced": unbalanced,
    }


def settled_state(path: Path, prefix: str) -> dict[str, int]:
    """The state once the requests wrk left in flight have ended (it stops mid-request)."""
    state = ledger_state(path, prefix)
    while True:
        time.sleep(1.0)
        again = ledger_state(path, prefix)
        if again == state:
            return state
        state = again


def batches(port: int) -> tuple[float, float]:
    """How many batches the service's writers posted, and how many entries they held."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    values = {"count": 0.0, "sum": 0.0}
    for line in text.splitlines():
        for name in values:
            if line.startswith(f"cagnotte_ledger_batch_size_{name} "):
                values[name] = float(line.split()[1])
    return values["count"], values["sum"]


def run_wrk(port: int, customers_file: Path, key: str, prefix: str, clients: int, seconds: float):
    command = ["wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{int(seconds)}s", "--latency"]
    command += ["--timeout", "10s", "-s", str(LUA), f"http://127.0.0.1:{port}", "--"]
    command += [str(customers_file), key, prefix, str(PAYMENT_MINOR)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    line = next(x for x in output.splitlines() if x.startswith("BENCH_JSON "))
    return json.loads(line.removeprefix("BENCH_JSON "))


def warm_up(port: int, customers_file: Path, key: str, workers: int, args: Any) -> None:
    """Pay until every worker has most likely served every customer once (a first
    payment per process reads the customer and the accounts: the slow way), or a minute."""
    target, done, rounds = 3 * args.customers * workers, 0, 0
    deadline = time.monotonic() + 60
    while done < target and time.monotonic() < deadline:
        figures = run_wrk(port, customers_file, key, f"w{workers}-{rounds}", args.clients, 3)
        done += figures["requests"] - figures["errors"]["status"]
        rounds += 1
    log(f"warm-up: {done} payments")


def measured_load(
    service: Service,
    database: Path,
    customers_file: Path,
    key: str,
    prefix: str,
    clients: int,
    seconds: float,
) -> dict[str, Any]:
    before = settled_state(database, prefix)
    assert service.process is not None
    cpu_before, busy_before, wall_before = (
        tree_seconds(service.process.pid),
        machine_busy_seconds(),
        time.monotonic(),
    )
    wrk_before = os.times()
    batches_before = batches(service.port)
    figures = run_wrk(service.port, customers_file, key, prefix, clients, seconds)
    wrk_after = os.times()
    batches_after = batches(service.port)
    wall = time.monotonic() - wall_before
    service_cpu = tree_seconds(service.process.pid) - cpu_before
    machine = machine_busy_seconds() - busy_before
    wrk_cpu = (wrk_after.children_user + wrk_after.children_system) - (
        wrk_before.children_user + wrk_before.children_system
    )
    after = settled_state(database, prefix)
    succeeded = figures["requests"] - figures["errors"]["status"]
    committed = after["payments"] - before["payments"]
    in_flight = figures["generated"] - figures["requests"]
    problems = []
    if not succeeded <= committed <= succeeded + in_flight:
        problems.append(f"{committed} payments in the ledger, wrk saw {succeeded} succeed")
    if after["keyed"] != committed:
        problems.append("payments without their round's Idempotency-Key")
    if after["settlement_minor"] - before["settlement_minor"] != committed * PAYMENT_MINOR:
        problems.append("the settlement account did not grow by the payments' sum")
    if after["unbalanced"]:
        problems.append("debits and credits differ")
    if problems:
        raise SystemExit(f"the run is broken, no figures: {problems}")
    latency = figures["latency_us"]
    return {
        "clients": clients,
        "payments_per_s": round(succeeded / (figures["duration_us"] / 1e6), 1),
        "non_2xx": figures["errors"]["status"],
        "socket_errors": {k: v for k, v in figures["errors"].items() if k != "status" and v},
        "p50_ms": latency["p50"] / 1000,
        "p99_ms": latency["p99"] / 1000,
        "max_ms": latency["max"] / 1000,
        "batches": batches_after[0] - batches_before[0],
        "entries_per_batch": round(
            (batches_after[1] - batches_before[1]) / max(batches_after[0] - batches_before[0], 1), 2
        ),
        "service_cpu_ms_per_payment": round(service_cpu / max(succeeded, 1) * 1000, 3),
        "service_cores": round(service_cpu / wall, 2),
        "wrk_cores": round(wrk_cpu / wall, 2),
        "other_cores": round(max(0.0, machine - service_cpu - wrk_cpu) / wall, 2),
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4", help="worker counts to compare")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--src", default=str(ROOT / "src"), help="the service's source tree")
    parser.add_argument(
        "--priority",
        type=int,
        default=0,
        help="nice value of the service and its session's autogroup (-10 on a shared machine)",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="cagnotte-sqlite-bench-"))
    database = workdir / "cagnotte.db"
    env = dict(
        os.environ,
        CAGNOTTE_DATABASE_URL=f"sqlite:///{database}",
        CAGNOTTE_ENVIRONMENT="development",
        PYTHONPATH=os.pathsep.join(filter(None, [args.src, os.environ.get("PYTHONPATH")])),
    )
    operator_key = subprocess.run(
        [sys.executable, "-c", _PREPARE],
        env=env,
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    log(f"serving {args.src} on {database}")
    rows: list[dict[str, Any]] = []
    merchant: dict[str, Any] | None = None
    customers_file = workdir / "customers.txt"
    for workers in [int(value) for value in args.workers.split(",")]:
        service = Service(env, workdir, workers, args.priority)
        service.start()
        try:
            if merchant is None:
                merchant = set_up_merchant(service.port, operator_key, args.customers)
                customers_file.write_text("\n".join(merchant["ids"]) + "\n")
            key = merchant["register_key"]
            warm_up(service.port, customers_file, key, workers, args)
            row = {"workers": workers}
            row["8_clients"] = measured_load(
                service, database, customers_file, key, f"r{workers}", args.clients, args.duration
            )
            row["1_client"] = measured_load(
                service, database, customers_file, key, f"s{workers}", 1, args.duration / 2
            )
            rows.append(row)
            many, one = row["8_clients"], row["1_client"]
            log(
                f"{workers} worker(s): {many['payments_per_s']} payments/s,"
                f" p50 {many['p50_ms']} ms, p99 {many['p99_ms']} ms, max {many['max_ms']} ms,"
                f" non-2xx {many['non_2xx']}, {many['entries_per_batch']} entries a batch,"
                f" {many['service_cpu_ms_per_payment']} ms CPU"
                f" a payment (service {many['service_cores']} cores, wrk {many['wrk_cores']},"
                f" other work {many['other_cores']}, load {many['load_average']:.2f});"
                f" one client: p50 {one['p50_ms']} ms, {one['payments_per_s']}/s"
            )
        finally:
            service.stop()
    log(GOALS)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"sqlite-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"src": args.src, "rows": rows}, indent=2))
    log(f"written {out}")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
