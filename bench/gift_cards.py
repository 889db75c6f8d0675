"""Gift card spends through the API: number + PIN check + ledger transfer, per second, p99, CPU.

    python3 bench/gift_cards.py [--seconds 20] [--clients 8] [--cards 200] [--workers 2]
        [--database-url postgresql://...]

Without --database-url it starts a throw-away PostgreSQL cluster (bench/run.py's,
durable settings) and removes it afterwards. It migrates the database, sets up a
merchant, a program and `--cards` active cards through the services, starts
`uvicorn` (the real app, `--workers` processes, the code the Python path
names: `PYTHONPATH=/elsewhere/src` measures another checkout against the same
load) and lets `--clients` threads spend 1.00 at a time on random cards, each
with its own Idempotency-Key, for `--seconds`. It prints spends/s, latency
percentiles and the CPU time per spend of the service's processes and of
PostgreSQL's (CPU time per request holds on a loaded machine, where a rate
measures the neighbours too), the cost of one PIN check, the machine's load,
and pgbench's tps on the same server (select-only, for scale).

The PIN check costs about a microsecond: PINs are HMAC-SHA256 under a key of
the settings (programs/gift_cards/pins.py); a spend with the right PIN is one
unit of work, one transaction (programs/gift_cards/spending.py).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
from throwaway import cpu_seconds, free_port, postgres_cpu_seconds, throwaway_cluster

from cagnotte.bootstrap import bootstrap
from cagnotte.config import Settings
from cagnotte.db.migrate import migrate
from cagnotte.db.tables import PLATFORM_MERCHANT_ID
from cagnotte.db.unit_of_work import Idempotency
from cagnotte.security.principals import Principal

ROOT = Path(__file__).resolve().parent.parent


class DiscardingMailer:
    def send(self, message) -> None:  # noqa: ANN001
        return None


def pin_check_cost(rounds: int = 2000) -> float:
    """Microseconds per PIN check of the code under test (its verify_pin, whatever it is)."""
    from cagnotte.programs.gift_cards import pins

    if not hasattr(pins, "PinKey"):  # a checkout from before the keyed hash: argon2
        pin_hash = pins.hash_pin("6034561234567890", "1234")
        check = lambda: pins.verify_pin(pin_hash, "6034561234567890", "1234")  # noqa: E731
        rounds = 50
    else:
        from cagnotte.security.hash_keys import HashKeys

        keys = HashKeys((os.urandom(32),))
        pin_hash = pins.keyed_pin_hash(keys.newest, "6034561234567890", "1234")
        check = lambda: pins.verify_pin(  # noqa: E731
            pin_hash, "6034561234567890", "1234", keys, keys.newest_id
        )
    started = time.perf_counter()
    for _ in range(rounds):
        assert check()
    return (time.perf_counter() - started) / rounds * 1e6


def set_up(database_url: str, cards: int) -> tuple[str, list[tuple[str, str]]]:
    """A merchant with a register key, a program and active cards; (key, [(number, pin)])."""
    migrate(database_url)
    services = bootstrap(
        Settings(environment="development", database_url=database_url), mailer=DiscardingMailer()
    )
    operator = Principal(merchant_id=PLATFORM_MERCHANT_ID, role="operator")
    merchant = services.merchants.create_merchant(operator, name="Bench", head_office_email=None)
    owner = operator.acting_for(merchant["id"])
    store = services.merchants.create_store(owner, name="Main", address=None, manager_email=None)
    register = services.merchants.create_terminal(
        owner, store_id=store["id"], kind="register", name="Till"
    )
    program = services.gift_cards.create_program(
        owner,
        {
            "name": "Bench card",
            "asset_code": "CAD",
            "load_min_minor": 100,
            "load_max_minor": 10**9,
            "balance_max_minor": 10**10,
            "pin_attempts_max": 5,
        },
    )
    batch = services.gift_cards.create_batch(owner, program.id, cards, None)
    exported = services.gift_cards.export_batch(owner, batch.id)
    services.gift_cards.activate_batch(owner, batch.id, load_minor=10**8, idempotency=Idempotency())
    services.close()
    return register["api_key"].secret, [(row["number"], row["pin"]) for row in exported]


def spend_load(
    base_url: str, key: str, cards: list[tuple[str, str]], seconds: float, clients: int
) -> tuple[list[float], int]:
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client_loop() -> None:
        nonlocal failures
        mine, errors = [], 0
        with httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            while time.monotonic() < deadline:
                number, pin = random.choice(cards)
                started = time.perf_counter()
                response = client.post(
                    "/v1/gift-cards/spends",
                    json={"number": number, "pin": pin, "amount_minor": 100},
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
                mine.append(time.perf_counter() - started)
                errors += response.status_code != 201
        with lock:
            latencies.extend(mine)
            failures += errors

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failures


def serve(database_url: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    environment = {
        **os.environ,
        "CAGNOTTE_DATABASE_URL": database_url,
        "CAGNOTTE_DATABASE_POOL_SIZE": "20",
        "CAGNOTTE_ENVIRONMENT": "development",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "cagnotte.asgi:application_without_jobs",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=environment,
        cwd=ROOT,
    )
    base_url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return process, base_url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit("the server did not start")


def pgbench_tps(database_url: str, seconds: int, clients: int) -> float | None:
    if shutil.which("pgbench") is None or not database_url.startswith("postgresql"):
        return None
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    subprocess.run(["pgbench", "-i", "-q", "-s", "1", url], check=True, capture_output=True)
    result = subprocess.run(
        ["pgbench", "-S", "-c", str(clients), "-j", "2", "-T", str(seconds), url],
        check=True,
        capture_output=True,
        text=True,
    )
    for line in result.stdout.splitlines():
        if line.startswith("tps"):
            return float(line.split("=")[1].split()[0])
    return None


def measure(database_url: str, postgres_cpu, arguments: argparse.Namespace) -> None:  # noqa: ANN001
    print(f"PIN check: {pin_check_cost():.1f} µs", flush=True)
    key, cards = set_up(database_url, arguments.cards)
    process, base_url = serve(database_url, arguments.workers)
    try:
        # A short warm-up: every worker's caches (API key, program, accounts) filled.
        spend_load(base_url, key, cards, min(2.0, arguments.seconds / 5), arguments.clients)
        service_before, postgres_before = cpu_seconds(process.pid), postgres_cpu()
        latencies, failures = spend_load(base_url, key, cards, arguments.seconds, arguments.clients)
        service_cpu = cpu_seconds(process.pid) - service_before
        postgres_used = postgres_cpu() - postgres_before if postgres_cpu else None
    finally:
        process.terminate()
        process.wait(timeout=30)
    latencies.sort()
    count = len(latencies)
    p = lambda q: latencies[min(count - 1, int(q * count))] * 1000  # noqa: E731
    print(
        f"gift card spends: {count / arguments.seconds:.0f}/s over {arguments.seconds:.0f} s "
        f"({arguments.clients} clients, {arguments.workers} workers, {arguments.cards} cards); "
        f"p50 {p(0.50):.1f} ms, p99 {p(0.99):.1f} ms, mean "
        f"{statistics.fmean(latencies) * 1000:.1f} ms; failures {failures}"
    )
    postgres_text = (
        f", PostgreSQL {postgres_used / count * 1000:.2f} ms" if postgres_used is not None else ""
    )
    print(f"CPU per spend: service {service_cpu / count * 1000:.2f} ms{postgres_text}")
    print(f"machine load (uptime): {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    tps = pgbench_tps(database_url, int(arguments.seconds), arguments.clients)
    if tps is not None:
        print(f"pgbench -S (select-only) on the same server: {tps:.0f} tps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cards", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    arguments = parser.parse_args()
    if arguments.database_url:
        measure(arguments.database_url, None, arguments)
        return
    with throwaway_cluster("cagnotte-bench-cards-") as (url, cluster):
        measure(url, lambda: postgres_cpu_seconds(cluster), arguments)


if __name__ == "__main__":
    main()
