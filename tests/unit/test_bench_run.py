"""The pure parts of bench/run.py: option parsing, the round check and the load deltas."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def run():  # noqa: ANN201
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_growth_sizes_are_sorted_without_repeats_and_take_exponents(run) -> None:  # noqa: ANN001
    assert run.sizes_list("5000000,0,1e6,1000000") == [0, 1_000_000, 5_000_000]
    assert run.sizes_list(None) == []


def test_a_variant_is_options_of_cagnotte_serve_or_a_factory_for_uvicorn(run) -> None:  # noqa: ANN001
    assert run.parse_variant("h11=--http h11 --loop asyncio") == {
        "name": "h11",
        "app": None,
        "extra": ["--http", "h11", "--loop", "asyncio"],
    }
    assert run.parse_variant("frozen=app=service_apps:frozen --http httptools") == {
        "name": "frozen",
        "app": "service_apps:frozen",
        "extra": ["--http", "httptools"],
    }
    with pytest.raises(argparse.ArgumentTypeError):
        run.parse_variant("--http h11")


def _state(payments: int, wallets: int, settlement: int) -> dict[str, int]:
    return {
        "keyed_entries": payments,
        "payments": payments,
        "wallets_minor": wallets,
        "settlement_minor": settlement,
        "negative_wallets": 0,
        "unbalanced_assets": 0,
    }


def _wrk(requests: int, generated: int, status_errors: int = 0) -> dict[str, object]:
    return {
        "requests": requests,
        "generated": generated,
        "errors": {"connect": 0, "read": 0, "write": 0, "status": status_errors, "timeout": 0},
    }


def test_a_round_is_accepted_when_the_ledger_moved_what_wrk_saw(run) -> None:  # noqa: ANN001
    amount = run.PAYMENT_MINOR
    before = _state(10, 1_000_000, 0)
    # 5 answered, 1 still in flight when wrk stopped, and it landed.
    after = _state(16, 1_000_000 - 6 * amount, 6 * amount)
    result = run.verify_round(before, after, _wrk(5, 6))
    assert result["ok"] and result["committed"] == 6


def test_a_round_is_refused_when_money_went_missing(run) -> None:  # noqa: ANN001
    amount = run.PAYMENT_MINOR
    before = _state(10, 1_000_000, 0)
    after = _state(15, 1_000_000 - 5 * amount, 4 * amount)
    with pytest.raises(SystemExit, match="settlement account"):
        run.verify_round(before, after, _wrk(5, 5))


def test_a_round_is_refused_when_more_landed_than_was_sent(run) -> None:  # noqa: ANN001
    amount = run.PAYMENT_MINOR
    before = _state(0, 1_000_000, 0)
    after = _state(7, 1_000_000 - 7 * amount, 7 * amount)
    with pytest.raises(SystemExit, match="7 payments in the ledger"):
        run.verify_round(before, after, _wrk(5, 6))


def test_batch_sizes_are_counted_per_band_from_the_cumulative_histogram(run) -> None:  # noqa: ANN001
    before = {"count": 10.0, "sum": 20.0, "le=1.0": 5.0, "le=2.0": 8.0, "le=+Inf": 10.0}
    after = {"count": 20.0, "sum": 50.0, "le=1.0": 8.0, "le=2.0": 14.0, "le=+Inf": 20.0}
    delta = run.batch_delta(before, after)
    assert delta["batches"] == 10 and delta["entries"] == 30 and delta["mean_size"] == 3.0
    assert delta["bands"] == {"0<n<=1": 3, "1<n<=2": 3, "2<n<=inf": 4}


def test_the_collector_figures_of_a_load_add_up_the_workers(run) -> None:  # noqa: ANN001
    def generation(collections: int, total: float, worst: float, over_5: int) -> dict:
        return {
            "collections": collections,
            "pause_total_ms": total,
            "pause_max_ms": worst,
            "over_ms": {"5": over_5},
        }

    before = {"gc-1": {"2": generation(1, 10.0, 10.0, 1)}}
    after = {
        "gc-1": {"2": generation(3, 40.0, 20.0, 2)},
        "gc-2": {"2": generation(1, 6.0, 6.0, 1)},  # a worker seen for the first time
    }
    total = run.collector_delta(before, after)["2"]
    assert total["collections"] == 3
    assert total["pause_total_ms"] == 36.0
    assert total["pause_max_ms"] == 20.0
    assert total["over_ms"] == {"5": 2}
    assert run.collector_delta({}, {}) is None


def test_the_server_log_tells_the_checkpoints_and_autovacuums_of_a_load(
    run, tmp_path: Path
) -> None:  # noqa: ANN001
    (tmp_path / "server.log").write_text(
        "2026-12-01 10:00:00.000 UTC [1] LOG:  checkpoint starting: time\n"
        "2026-12-01 10:00:50.000 UTC [2] LOG:  automatic vacuum of table"
        ' "cagnotte.public.idempotency_records": index scans: 0\n'
        "2026-12-01 10:01:05.500 UTC [1] LOG:  checkpoint starting: time\n"
        "2026-12-01 10:01:06.000 UTC [2] LOG:  automatic vacuum of table"
        ' "cagnotte.public.account_balances": index scans: 1\n'
        "a line of another form\n"
        "2026-12-01 10:02:00.000 UTC [1] LOG:  checkpoint starting: time\n"
    )

    class Cluster:
        directory = tmp_path

    def at(text: str) -> float:
        return run.dt.datetime.fromisoformat(text + "+00:00").timestamp()

    events = run.server_log_events(Cluster(), at("2026-12-01 10:01:00"), at("2026-12-01 10:01:30"))
    assert events == {
        "checkpoints_started": 1,
        "autovacuums": ["cagnotte.public.account_balances"],
        "seconds_since_checkpoint_start": 60.0,
    }
