"""Application factories for bench/run.py's A/B rounds (`--ab NAME=app=MODULE:FACTORY ...`).

    python3 bench/run.py --ab 'plain=app=service_apps:observed' \
                         --ab 'frozen=app=service_apps:frozen' --app-path bench

`observed` is `cagnotte.asgi:application_without_jobs` as it was before it
froze the objects of its start-up (gc.unfreeze()), with the garbage collector
watched: every collection's pause is timed (gc.callbacks) and the
counts, total and worst pause per generation, and how many pauses passed 1, 5,
10, 20 and 50 ms, are written each second to $CAGNOTTE_BENCH_GC_DIR/gc-<pid>.json,
which run.py reads before and after each load. `frozen` is the same with
gc.freeze() once the application is built (what the factory does now), and
`threshold` the unfrozen one with the youngest generation collected ten times
less often (gc.set_threshold(7000, 10, 10)).
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from cagnotte.asgi import application_without_jobs

PAUSE_BANDS_MS = (1, 5, 10, 20, 50)


def _watch_collector() -> None:
    directory = os.environ.get("CAGNOTTE_BENCH_GC_DIR")
    if not directory:
        return
    path = Path(directory) / f"gc-{os.getpid()}.json"
    figures: dict[str, Any] = {
        str(generation): {
            "collections": 0,
            "pause_total_ms": 0.0,
            "pause_max_ms": 0.0,
            "over_ms": {str(band): 0 for band in PAUSE_BANDS_MS},
        }
        for generation in range(3)
    }
    started: list[float] = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        pause_ms = (time.perf_counter() - started[0]) * 1000
        generation = figures[str(info["generation"])]
        generation["collections"] += 1
        generation["pause_total_ms"] += pause_ms
        generation["pause_max_ms"] = max(generation["pause_max_ms"], pause_ms)
        for band in PAUSE_BANDS_MS:
            if pause_ms >= band:
                generation["over_ms"][str(band)] += 1

    def write() -> None:
        while True:
            path.write_text(json.dumps(figures))
            time.sleep(1.0)

    gc.callbacks.append(callback)
    threading.Thread(target=write, daemon=True, name="bench-gc-figures").start()


def observed():  # noqa: ANN201
    app = application_without_jobs()
    # As before the factory froze its objects (an older checkout has nothing to undo).
    gc.unfreeze()
    _watch_collector()
    return app


def frozen():  # noqa: ANN201
    app = application_without_jobs()
    gc.collect()
    gc.freeze()
    _watch_collector()
    return app


def threshold():  # noqa: ANN201
    app = application_without_jobs()
    gc.unfreeze()
    gc.set_threshold(7000, 10, 10)
    _watch_collector()
    return app
