"""PostgreSQL stopped and started again under a payment load: 201 or 503, nothing lost or doubled.

The cluster is one of the test's own (scripts/postgres.sh on a free port), so
stopping it disturbs no other test. Registers keep paying, each payment with an
Idempotency-Key of its own, while the cluster goes away and comes back. Every
answer is 201 or 503 (never 500); each 503 is sent again with its key until it
goes through; then every key has exactly one journal entry and the wallet has
given exactly what was paid.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cagnotte.api.app import create_app
from cagnotte.asgi import proxy_options
from cagnotte.bootstrap import bootstrap
from cagnotte.config import Settings
from cagnotte.db.engine import Database
from cagnotte.db.migrate import migrate
from tests.e2e.api.concurrency import running_server
from tests.e2e.api.conftest import bearer, enrol, make_merchant, top_up
from tests.queries import entries_of_key

SCRIPT = Path(__file__).parents[3] / "scripts" / "postgres.sh"
REGISTERS = 4
# A register that was answered 503 waits a moment before its next payment.
PAUSE_AFTER_503_SECONDS = 0.05
PAYMENT_MINOR = 10
LOAD_BEFORE_SECONDS = 0.7
OUTAGE_SECONDS = 1.5
LOAD_AFTER_SECONDS = 2.0
RETRY_FOR_SECONDS = 30.0


@dataclass
class Cluster:
    directory: Path
    port: int
    url: str

    def stop(self) -> None:
        subprocess.run([SCRIPT, "stop", str(self.directory)], check=True)

    def start(self) -> None:
        subprocess.run(
            [SCRIPT, "start", str(self.directory), str(self.port), "fast"],
            check=True,
            stdout=subprocess.DEVNULL,
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def own_cluster(postgres_url) -> Iterator[Cluster]:
    """A PostgreSQL cluster of this test alone, migrated, thrown away afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="cagnotte-restart-", dir="/tmp"))
    port = _free_port()
    started = subprocess.run(
        [SCRIPT, "start", str(directory), str(port), "fast"],
        check=True,
        capture_output=True,
        text=True,
    )
    cluster = Cluster(directory, port, started.stdout.strip())
    try:
        migrate(cluster.url)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_a_database_restart_under_payments_answers_503_and_loses_or_doubles_nothing(
    own_cluster, clock, mailer, tmp_path
):
    settings = Settings(
        environment="development",
        database_url=own_cluster.url,
        outbox_dir=tmp_path / "outbox",
        database_pool_timeout_seconds=2.0,
    )
    database = Database(own_cluster.url, pool_size=10, pool_timeout_seconds=2.0)
    services = bootstrap(settings, clock=clock, mailer=mailer, database=database)
    operator_key = services.merchants.ensure_operator_key()
    answers: list[tuple[str, httpx.Response]] = []
    lock = threading.Lock()
    stop = threading.Event()

    try:
        with (
            running_server(create_app(services), **proxy_options(settings)) as url,
            httpx.Client(base_url=url, timeout=30) as http,
        ):
            merchant = make_merchant(http, operator_key, "Café Bleu")
            customer = enrol(http, merchant)
            assert top_up(http, merchant, customer["id"], 1_000_000).status_code == 201

            def pay(client: httpx.Client, key: str) -> httpx.Response:
                return client.post(
                    "/v1/payments",
                    json={"customer_id": customer["id"], "asset": "CZK", "amount_minor": 10},
                    headers={**merchant.register, "Idempotency-Key": key},
                )

            def register() -> None:
                with httpx.Client(base_url=url, timeout=30) as client:
                    while not stop.is_set():
                        key = str(uuid.uuid4())
                        response = pay(client, key)
                        with lock:
                            answers.append((key, response))
                        if response.status_code == 503:
                            time.sleep(PAUSE_AFTER_503_SECONDS)

            registers = [threading.Thread(target=register) for _ in range(REGISTERS)]
            for thread in registers:
                thread.start()
            time.sleep(LOAD_BEFORE_SECONDS)
            own_cluster.stop()
            time.sleep(OUTAGE_SECONDS)
            own_cluster.start()
            time.sleep(LOAD_AFTER_SECONDS)
            stop.set()
            for thread in registers:
                thread.join()

            statuses = Counter(response.status_code for _key, response in answers)
            assert set(statuses) <= {201, 503}, [
                r.text for _k, r in answers if r.status_code not in (201, 503)
            ]
            assert statuses[503] > 0, "the outage went unnoticed"
            assert statuses[201] > 0
            for _key, response in answers:
                if response.status_code == 503:
                    assert response.json()["code"] == "service_unavailable"
                    assert int(response.headers["Retry-After"]) > 0

            # Each refused payment, sent again with its key, goes through (once).
            for key, response in answers:
                deadline = time.monotonic() + RETRY_FOR_SECONDS
                while response.status_code == 503:
                    assert time.monotonic() < deadline, "a payment never went through"
                    response = pay(http, key)
                    if response.status_code == 503:
                        time.sleep(0.1)
                assert response.status_code == 201, response.text

            with services.database.read() as connection:
                for key, _response in answers:
                    assert connection.execute(entries_of_key(key)).scalar() == 1, key
            accounts = http.get(
                f"/v1/customers/{customer['id']}/accounts", headers=bearer(merchant.owner_key)
            ).json()["items"]
            wallet = next(a for a in accounts if a["purpose"] == "wallet")
            assert wallet["balance"]["balance_minor"] == 1_000_000 - PAYMENT_MINOR * len(answers)
    finally:
        stop.set()
        database.dispose()
