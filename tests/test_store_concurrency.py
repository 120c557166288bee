"""The run store under concurrency: four processes create and fill one store at once and
lose nothing; a busy file is waited for, and retried, up to the timeout."""

import multiprocessing
import sqlite3
import threading
import time
import traceback

import pytest

from rnnlab.experiments import RunStore

WORKERS, RUNS, EPOCHS = 4, 60, 4


def write_study(path: str, study: str, barrier, errors) -> None:
    """One worker: open the store (maybe creating it) when all are ready, then record RUNS
    runs of EPOCHS epochs each, finished, reading its own records back as it goes."""
    try:
        barrier.wait(timeout=60)  # all four open (and one creates) the store at once
        with RunStore(path) as store:
            for seed in range(RUNS):
                run = store.start_run({"seed": seed, "study": study}, seed=seed, study=study,
                                      kind="compare", task="adding", cell="lstm")
                for epoch in range(1, EPOCHS + 1):
                    store.log_epoch(run, epoch, {"loss": seed + epoch / 10})
                store.finish_run(run, {"loss": float(seed)})
                if seed % 10 == 0:  # readers run among the writers
                    assert len(store.epochs(run)) == EPOCHS
                    assert len(store.runs(study=study)) == seed + 1
    except BaseException:
        errors.put(f"{study}: {traceback.format_exc()}")
        raise


def test_four_processes_writing_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "runs.db")  # not there yet: the workers race to create it
    context = multiprocessing.get_context("spawn")
    barrier, errors = context.Barrier(WORKERS), context.Queue()
    studies = [f"worker-{k}" for k in range(WORKERS)]
    procs = [context.Process(target=write_study, args=(path, study, barrier, errors))
             for study in studies]
    began = time.monotonic()
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    stuck = [proc.pid for proc in procs if proc.is_alive()]
    for proc in procs:
        if proc.is_alive():
            proc.kill()
            proc.join()
    reports = []
    while not errors.empty():
        reports.append(errors.get())
    assert not stuck and not reports, (stuck, reports)
    assert [proc.exitcode for proc in procs] == [0] * WORKERS
    with RunStore(path) as store:
        runs = store.runs()
        assert len(runs) == WORKERS * RUNS
        assert {r["status"] for r in runs} == {"finished"}
        for study in studies:
            mine = store.runs(study=study)
            assert sorted(r["seed"] for r in mine) == list(range(RUNS))
            assert all(r["metrics"] == {"loss": r["seed"]} for r in mine)
            assert all(r["config"] == {"seed": r["seed"], "study": study} for r in mine)
            for run in mine:
                assert store.epochs(run["id"]) == [
                    {"epoch": e, "loss": run["seed"] + e / 10} for e in range(1, EPOCHS + 1)]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == WORKERS * RUNS
    assert conn.execute("SELECT count(*) FROM epochs").fetchone()[0] == WORKERS * RUNS * EPOCHS
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert time.monotonic() - began < 60


def test_a_write_waits_for_another_process_lock(tmp_path):
    path = str(tmp_path / "runs.db")
    RunStore(path).close()
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock, as a long transaction would
    releaser = threading.Timer(0.3, lambda: blocker.execute("COMMIT"))
    releaser.start()
    try:
        with RunStore(path, timeout=10) as store:
            began = time.monotonic()
            run = store.start_run({"waited": True})
            assert time.monotonic() - began >= 0.2  # it waited for the lock, then wrote
            assert store.get(run)["config"] == {"waited": True}
    finally:
        releaser.join()
        blocker.close()


def test_a_store_busy_past_the_timeout_says_so(tmp_path):
    path = str(tmp_path / "runs.db")
    with RunStore(path) as store:
        run = store.start_run({})
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with RunStore(path, timeout=0.2) as store:
            with pytest.raises(sqlite3.OperationalError, match="locked.*stayed busy for 0.2 s"):
                store.log_epoch(run, 1, {"loss": 1.0})
            assert store.runs()[0]["id"] == run  # readers are not blocked (WAL)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    with RunStore(path) as store:
        assert store.epochs(run) == []  # the refused write left nothing half done


class FlakyConnection:
    """A connection whose first ``failures`` statements answer "database is locked" at once,
    as SQLite does (without waiting) while another process recovers the log."""

    def __init__(self, conn, failures: int):
        self.conn, self.failures, self.calls = conn, failures, 0

    def execute(self, *args):
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise sqlite3.OperationalError("database is locked")
        return self.conn.execute(*args)

    def close(self):
        self.conn.close()


def test_immediate_busy_answers_are_retried(tmp_path):
    with RunStore(tmp_path / "runs.db") as store:
        store._conn = FlakyConnection(store._conn, failures=3)
        run = store.start_run({"a": 1})
        store._conn.failures = 2
        store.log_epoch(run, 1, {"loss": 0.5})
        store._conn.failures = 1
        store.finish_run(run, {"loss": 0.5})
        assert store.epochs(run) == [{"epoch": 1, "loss": 0.5}]
        assert store.get(run)["status"] == "finished"
        store._conn.failures = 1
        with pytest.raises(sqlite3.OperationalError, match="no such table"):  # not retried
            store._execute("SELECT * FROM missing_table")
        assert store._conn.failures == 0
