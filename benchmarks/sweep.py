"""A sweep on 2 Dask workers against 1: the wall time of the same 8 points, and the ratio.

The 8 points are LSTMs and GRUs on the adding task (T = 20, H = 16, seeds 0-3) with the same
budget of updates (``--updates``, every one spent: no early stop), recorded in a fresh run
store each time. Each timing is the whole of ``run_sweep``: starting the LocalCluster (its
worker processes import rnnlab and load the compiled kernels), training every point and
recording it. The two sizes take turns, ``--repeats`` times each, and the medians are
compared; on a machine with N free cores the ratio can approach min(N, 2). The seconds the
points spent training, summed, tell a busy machine (each point takes longer on 2 workers)
from the engine's own cost (the rest of the wall time).

    python benchmarks/sweep.py                  # 8 points of 2000 updates (~1 min)
    python benchmarks/sweep.py --updates 500 --repeats 1 --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

from rnnlab.experiments.engine import run_sweep
from rnnlab.experiments.runner import RunConfig
from rnnlab.experiments.store import RunStore


def configs(updates: int) -> list:
    """The 8 points: lstm and gru, seeds 0-3, the same budget."""
    return [RunConfig(task="adding", length=20, hidden_size=16, cell=cell, seed=seed,
                      updates=updates, eval_every=updates // 4 or 1, batch_size=32,
                      n_val=200, n_test=200, stop_when_solved=False)
            for cell in ("lstm", "gru") for seed in range(4)]


def time_sweep(points: list, workers: int, folder: str) -> tuple:
    """Seconds for one whole sweep of ``points`` on ``workers`` local workers, and the
    seconds its points spent training, summed (the store's ``seconds`` of each)."""
    path = os.path.join(folder, f"runs-{workers}-{time.monotonic_ns()}.db")
    with RunStore(path) as store:
        start = time.perf_counter()
        summary = run_sweep("bench", {"benchmark": "sweep"}, points, store, workers=workers,
                            progress=False)
        seconds = time.perf_counter() - start
        training = sum(run["metrics"]["seconds"] for run in store.runs(study="bench"))
    assert summary["ran"] == len(points) and summary["failed"] == 0, summary
    return seconds, training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000, help="updates per point")
    parser.add_argument("--repeats", type=int, default=2, help="timings per size (median)")
    parser.add_argument("--json", action="store_true", help="print JSON and nothing else")
    args = parser.parse_args()
    points = configs(args.updates)
    times, training = {1: [], 2: []}, {1: [], 2: []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            for workers in (1, 2):
                wall, spent = time_sweep(points, workers, folder)
                times[workers].append(wall)
                training[workers].append(spent)
    one, two = (statistics.median(times[w]) for w in (1, 2))
    result = {"points": len(points), "updates": args.updates, "cores": os.cpu_count(),
              "seconds_1_worker": one, "seconds_2_workers": two, "speedup": one / two,
              "all_seconds": times, "training_seconds": training,
              "load_average": os.getloadavg()}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{len(points)} points of {args.updates} updates, {os.cpu_count()} cores, median of "
          f"{args.repeats}: 1 worker {one:.1f} s, 2 workers {two:.1f} s: {one / two:.2f}x")
    for workers in (1, 2):
        spent = statistics.median(training[workers])
        print(f"  {workers} worker(s): the points trained {spent:.1f} s in all (a point's "
              f"time grows when the workers find no free core)")
    print(f"  load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
