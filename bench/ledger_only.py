#!/usr/bin/env python3
"""The ledger alone, no HTTP: wallet payments posted from Python threads.

    python3 bench/ledger_only.py --url postgresql://... --merchant-id M \
        --customers-file customers.txt [--threads 8] [--duration 10] [--mode ledger]

--mode ledger   calls Ledger.post_entry (SQLAlchemy engine and pool, one journal
                entry a call, as WalletService.pay does after the HTTP layer);
--mode psycopg  sends the same `SELECT cagnotte_post_entry(...)` with psycopg alone,
                one connection a thread, in a transaction as the ledger does
                (BEGIN, SELECT, COMMIT: three round trips);
--mode psycopg-autocommit
                the same statement in autocommit: its own transaction, one round
                trip, the row locks released as the statement ends.

Each call pays 1.00 CZK from a random customer's wallet to the merchant's
settlement account (transfer code 'bench_ledger_only', so the API benchmark's
checks do not count them). bench/run.py runs it after the API rounds; on its own
it needs a database the API benchmark has set up (run.py --keep keeps it).
Prints transfers/s and the latency of a call.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import threading
import time
import uuid
from pathlib import Path
from typing import Any

SQL = (
    "SELECT cagnotte_post_entry(%s, %s, %s, %s, %s, %s, %s, CAST(%s AS uuid[]), CAST(%s AS jsonb))"
)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--merchant-id", required=True)
    parser.add_argument("--customers-file", required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument(
        "--mode", choices=("ledger", "psycopg", "psycopg-autocommit"), default="ledger"
    )
    parser.add_argument("--json", action="store_true", help="one JSON line at the end")
    args = parser.parse_args()

    from cagnotte.bootstrap import bootstrap
    from cagnotte.config import Settings
    from cagnotte.ledger import Transfer

    merchant_id = uuid.UUID(args.merchant_id)
    membership_ids = [uuid.UUID(line) for line in Path(args.customers_file).read_text().split()]
    services = bootstrap(
        Settings(
            environment="development",
            database_url=args.url,
            database_pool_size=max(10, args.threads),
        )
    )
    wallets = [
        services.wallets.wallet_account(merchant_id, membership_id, "CZK").id
        for membership_id in membership_ids
    ]
    settlement = services.wallets.merchant_account(merchant_id, "CZK", "settlement").id
    run = uuid.uuid4().hex[:8]
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(args.threads)]
    errors: list[BaseException] = []

    def request_hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def ledger_worker(number: int) -> None:
        rng = random.Random(number)
        mine = latencies[number]
        count = 0
        while not stop.is_set():
            count += 1
            key = f"ledger-{run}-{number}-{count}"
            started = time.perf_counter()
            services.ledger.post_entry(
                merchant_id,
                [Transfer(rng.choice(wallets), settlement, 100, "bench_ledger_only", key)],
                kind="wallet_payment",
                idempotency_key=key,
                request_hash=request_hash(key),
            )
            mine.append(time.perf_counter() - started)

    def psycopg_worker(number: int) -> None:
        import psycopg

        rng = random.Random(number)
        mine = latencies[number]
        count = 0
        autocommit = args.mode == "psycopg-autocommit"
        with psycopg.connect(args.url, autocommit=autocommit) as connection:
            while not stop.is_set():
                count += 1
                key = f"psycopg-{run}-{number}-{count}"
                operations = json.dumps(
                    [
                        {
                            "op": "transfer",
                            "id": str(uuid.uuid4()),
                            "debit_account_id": str(rng.choice(wallets)),
                            "credit_account_id": str(settlement),
                            "amount": 100,
                            "code": "bench_ledger_only",
                            "reference": key,
                        }
                    ]
                )
                started = time.perf_counter()
                connection.execute(
                    SQL,
                    (
                        merchant_id,
                        uuid.uuid4(),
                        "wallet_payment",
                        key,
                        request_hash(key),
                        None,
                        services.clock.now(),
                        [str(merchant_id)],
                        operations,
                    ),
                ).fetchone()
                if not autocommit:
                    connection.commit()
                mine.append(time.perf_counter() - started)

    target = ledger_worker if args.mode == "ledger" else psycopg_worker

    def guarded(number: int) -> None:
        try:
            target(number)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
            stop.set()

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(args.threads)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(args.duration)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    services.close()
    if errors:
        raise errors[0]
    every = sorted(value for mine in latencies for value in mine)
    result: dict[str, Any] = {
        "mode": args.mode,
        "threads": args.threads,
        "transfers": len(every),
        "transfers_per_s": round(len(every) / elapsed, 1),
        "p50_ms": round(percentile(every, 50) * 1000, 3),
        "p99_ms": round(percentile(every, 99) * 1000, 3),
        "mean_ms": round(sum(every) / max(1, len(every)) * 1000, 3),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.mode}, {args.threads} threads: {result['transfers_per_s']:.0f} transfers/s,"
            f" p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms"
        )


if __name__ == "__main__":
    main()
