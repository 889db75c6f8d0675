"""A throw-away PostgreSQL cluster for the benchmarks that take no --database-url.

    with throwaway_cluster("cagnotte-bench-cards-") as url:
        ...

The cluster is bench/run.py's (`Cluster`: scripts/postgres.sh in its durable
mode, fsync and synchronous_commit on) on a free port, in a temporary
directory removed afterwards. Also the CPU accounting of run.py, for a figure
that holds on a loaded machine: CPU time per request rather than requests per
second.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from run import CLK_TCK, Cluster, _all_processes, free_port, tree_ticks

__all__ = ["CLK_TCK", "cpu_seconds", "postgres_cpu_seconds", "throwaway_cluster"]


@contextmanager
def throwaway_cluster(prefix: str) -> Iterator[tuple[str, Cluster]]:
    """A started cluster's URL (database `postgres`) and the cluster; stopped and removed after."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    workdir.chmod(0o755)  # the cluster belongs to `postgres` when we are root
    cluster = Cluster(workdir / "pg", free_port())
    cluster.start()
    try:
        yield cluster.url(), cluster
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def cpu_seconds(root_pid: int) -> float:
    """CPU time (user + system) of a process tree so far, its reaped children included."""
    return tree_ticks(root_pid, _all_processes()) / CLK_TCK


def postgres_cpu_seconds(cluster: Cluster) -> float:
    """CPU time of the cluster's processes so far (the backends and the server's own)."""
    return tree_ticks(cluster.postmaster_pid, _all_processes()) / CLK_TCK
