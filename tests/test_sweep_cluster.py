"""A sweep on a running Dask cluster: ``dask scheduler`` and two ``dask worker`` processes
on 127.0.0.1 (random free ports, one thread each, no dashboard), started here as
subprocesses; one worker is killed with SIGKILL while it trains a point. The sweep finishes,
and every point is recorded exactly once, the lost one by the worker that survived."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from rnnlab.experiments.store import RunStore

if os.environ.get("CI") == "true":  # the "sweep" extra is in "test": CI has it
    import distributed
else:
    distributed = pytest.importorskip("distributed")

# points of about a second each (H = 8, T = 10, 1500 updates), so that a kill lands in one
SPEC = """
name = "killed"
[fixed]
task = "adding"
length = 10
hidden = 8
updates = 1500
eval_every = 500
batch_size = 16
keep_going = true
[grid]
cell = ["rnn", "gru"]
seed = [0, 1, 2, 3]
"""
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
       "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dask(*argv) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dask", *map(str, argv)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def cluster():
    """(scheduler address, {worker name: process}), all ended afterwards."""
    address = f"tcp://127.0.0.1:{free_port()}"
    processes = [dask("scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                      "--no-dashboard")]
    workers = {}
    try:
        for name in ("w1", "w2"):
            workers[name] = dask("worker", address, "--name", name, "--nthreads", "1",
                                 "--no-nanny", "--no-dashboard", "--host", "127.0.0.1")
            processes.append(workers[name])
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_a_worker_killed_mid_sweep_loses_only_its_point(cluster, tmp_path):
    address, workers = cluster
    db = tmp_path / "runs.db"
    (tmp_path / "spec.toml").write_text(SPEC)
    sweep = subprocess.Popen([sys.executable, "-m", "rnnlab.cli", "sweep", "spec.toml",
                              "--db", str(db), "--scheduler", address, "--json"],
                             cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        with distributed.Client(address, timeout=30) as client:
            names = {a: w["name"] for a, w in client.scheduler_info()["workers"].items()}
            w1 = next(a for a, name in names.items() if name == "w1")
            deadline = time.monotonic() + 60
            while not client.processing(workers=[w1]).get(w1):  # w1 trains a point
                assert time.monotonic() < deadline and sweep.poll() is None
                time.sleep(0.05)
            time.sleep(0.3)  # well into the point
            lost = set(client.processing(workers=[w1])[w1])
            workers["w1"].send_signal(signal.SIGKILL)
        out, err = sweep.communicate(timeout=120)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 0, err
    assert json.loads(out) == {"study": "killed", "points": 8, "ran": 8, "failed": 0,
                               "skipped": 0}
    with RunStore(db) as store:
        runs = store.runs(study="killed")
    assert len(runs) == 8 and len({r["config_hash"] for r in runs}) == 8  # each point once
    assert all(r["status"] == "finished" and r["metrics"]["updates"] == 1500 for r in runs)
    assert lost and all(key.startswith("rnnlab-point-") for key in lost)
    lost_ids = {int(key.split("-")[2]) for key in lost}
    by_id = {r["id"]: r for r in runs}
    assert lost_ids <= set(by_id)
    assert any(by_id[i]["worker"] != w1 for i in lost_ids)  # retried on the other worker
    assert {r["worker"] for r in runs} <= set(names)
