"""The run store: runs and epochs round-trip, filters, WAL, crash safety, several writers, and
the ``rnnlab runs`` command."""

import datetime
import json
import math
import signal
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import rnnlab
from rnnlab.cli import main
from rnnlab.data import SequenceData
from rnnlab.experiments import RunStore, epoch_callback, format_runs, new_study_id
from rnnlab.experiments.store import SCHEMA_VERSION
from rnnlab.losses import cross_entropy
from rnnlab.optim import Adam
from rnnlab.training import TrainConfig, Trainer


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "runs.db")


@pytest.fixture
def store(db):
    with RunStore(db) as opened:
        yield opened


def run_python(code: str, *args, stdin=None):
    """Start ``python -c code args`` (rnnlab is importable there as here)."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def fill(store):
    """Five runs over two studies, tasks and cells; returns their ids in creation order."""
    a, b = new_study_id(), new_study_id()
    specs = [(a, "adding", "lstm", 0, "finished"), (a, "adding", "rnn", 0, "failed"),
             (a, "copy", "lstm", 1, "finished"), (b, "copy", "gru", 0, None),
             (None, "adding", "lstm", 2, "interrupted")]
    ids = []
    for study, task, cell, seed, status in specs:
        kind = "train" if study is None else "compare"
        run = store.start_run({"task": task, "hidden": 8}, seed=seed, study=study, kind=kind,
                              task=task, cell=cell)
        if status is not None:
            store.finish_run(run, {"loss": 0.1 * run}, status=status)
        ids.append(run)
    return ids, (a, b)


# -- round trip ----------------------------------------------------------------------------
def test_run_and_epochs_round_trip(store):
    config = {"lr": np.float32(0.5), "tbptt": (5, 10), "layers": np.int64(2), "name": "x",
              "clip": None, "nested": {"w": np.arange(3)}}
    run = store.start_run(config, seed=np.int64(7), study="s1", kind="train", task="adding",
                          cell="lstm")
    store.log_epoch(run, 1, {"epoch": 1, "train_loss": np.float64(0.75), "lr": 0.5})
    store.log_epoch(run, 2, {"train_loss": 0.5, "val_loss": float("nan")})
    store.log_epoch(run, 2, {"train_loss": 0.25, "val_loss": float("inf")})  # replaces
    store.finish_run(run, {"val_loss": 0.125, "accuracy": np.float32(0.75),
                           "worst": -math.inf})
    got = store.get(run)
    assert got["config"] == {"lr": 0.5, "tbptt": [5, 10], "layers": 2, "name": "x",
                             "clip": None, "nested": {"w": [0, 1, 2]}}
    assert got["metrics"] == {"val_loss": 0.125, "accuracy": 0.75, "worst": "-Infinity"}
    assert (got["id"], got["study"], got["kind"], got["task"], got["cell"], got["seed"]) == \
        (run, "s1", "train", "adding", "lstm", 7)
    assert got["status"] == "finished" and got["error"] is None
    assert got["code_version"].startswith(rnnlab.__version__)
    started = datetime.datetime.fromisoformat(got["started"])
    ended = datetime.datetime.fromisoformat(got["ended"])
    assert started.utcoffset() == datetime.timedelta(0) and started <= ended
    assert abs(datetime.datetime.now(datetime.timezone.utc) - ended).total_seconds() < 60
    assert store.epochs(run) == [{"epoch": 1, "train_loss": 0.75, "lr": 0.5},
                                 {"epoch": 2, "train_loss": 0.25, "val_loss": "Infinity"}]
    assert store.runs() == [got]


def test_stored_json_is_strict(store, db):
    run = store.start_run({"a": float("nan")})
    store.finish_run(run, {"b": np.float64("inf")})
    raw = sqlite3.connect(db).execute("SELECT config, metrics FROM runs").fetchone()
    assert [json.loads(text, parse_constant=pytest.fail) for text in raw] == \
        [{"a": "NaN"}, {"b": "Infinity"}]


def test_trainer_callback_logs_every_epoch(store):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 5, 2))
    data = SequenceData(x, (x[:, :, 0].sum(1) > 0).astype(np.int64))
    model = rnnlab.Sequential(rnnlab.GRU(2, 4, dtype="float64", seed=0), rnnlab.LastStep(),
                              rnnlab.Linear(4, 2, dtype="float64", seed=1))
    run = store.start_run({"hidden": 4})
    trainer = Trainer(model, cross_entropy, Adam(model, lr=1e-2),
                      TrainConfig(epochs=3, batch_size=8), callbacks=[epoch_callback(store, run)])
    history = trainer.fit(data, val=data)
    assert store.epochs(run) == history and len(history) == 3


# -- filters and order ---------------------------------------------------------------------
def test_filters_and_newest_first(store):
    ids, (a, b) = fill(store)
    assert [r["id"] for r in store.runs()] == ids[::-1]
    assert [r["id"] for r in store.runs(study=a)] == ids[2::-1]
    assert [r["id"] for r in store.runs(study=b)] == [ids[3]]
    assert [r["id"] for r in store.runs(task="adding", cell="lstm")] == [ids[4], ids[0]]
    assert [r["id"] for r in store.runs(status="finished")] == [ids[2], ids[0]]
    assert [r["id"] for r in store.runs(status="running")] == [ids[3]]
    assert [r["id"] for r in store.runs(kind="train")] == [ids[4]]
    assert [r["id"] for r in store.runs(limit=2)] == [ids[4], ids[3]]
    assert store.runs(task="adding", status="running") == []
    assert store.get(ids[1])["metrics"] == {"loss": pytest.approx(0.1 * ids[1])}


def test_study_ids_are_unique_and_sortable():
    ids = [new_study_id() for _ in range(200)]
    assert len(set(ids)) == 200
    assert sorted(ids, key=lambda s: s.split("-")[0]) == ids  # in time order, to the ms
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
    assert ids[0][:8] in (today, str(int(today) - 1))


# -- the file ------------------------------------------------------------------------------
def test_wal_mode_and_schema_version(store, db):
    store.start_run({})
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000


def test_default_path_is_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with RunStore() as store:
        store.start_run({})
    assert (tmp_path / "rnnlab-runs.db").is_file()


def test_refuses_what_is_not_a_store(tmp_path):
    with pytest.raises(ValueError, match="path .*directory"):
        RunStore(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("not a database, just some text that is long enough" * 20)
    with pytest.raises(ValueError, match="path .*not a SQLite database"):
        RunStore(text)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(ValueError, match="path .*another application"):
        RunStore(other)
    assert text.read_text().startswith("not a database")  # left as they were
    assert sqlite3.connect(other).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    with pytest.raises(TypeError, match="path"):
        RunStore(3)


def test_refuses_a_damaged_or_newer_store(tmp_path):
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        for seed in range(40):
            store.start_run({"seed": seed, "padding": "x" * 200}, seed=seed)
    good = path.read_bytes()
    assert len(good) > 8192
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(good[:4096])  # the first page only: the schema points past the end
    with pytest.raises(ValueError, match="path .*damaged.db', which is a damaged SQLite "
                                         "database"):
        RunStore(damaged)
    header = tmp_path / "header.db"
    header.write_bytes(b"SQLite format 4\0" + good[16:])
    with pytest.raises(ValueError, match="path .*header.db', which is not a SQLite database"):
        RunStore(header)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ValueError, match=f"schema version {SCHEMA_VERSION + 1}, newer than "
                                         f"this rnnlab's {SCHEMA_VERSION}: upgrade rnnlab"):
        RunStore(path)
    for timeout in (0, -1.0, "30", True, float("nan")):
        with pytest.raises(ValueError, match="timeout must be a number of seconds > 0"):
            RunStore(tmp_path / "other.db", timeout=timeout)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.db", "header.db",
                                                          "runs.db"]


def test_refuses_bad_arguments(store):
    run = store.start_run({"a": 1})
    cases = [
        (TypeError, "config must be a dict", lambda: store.start_run([1, 2])),
        (TypeError, "config.* JSON values", lambda: store.start_run({"f": object()})),
        (TypeError, "seed must be an int", lambda: store.start_run({}, seed=1.5)),
        (TypeError, "task must be a str", lambda: store.start_run({}, task=3)),
        (ValueError, "status must be one of", lambda: store.runs(status="done")),
        (ValueError, "status must be one of", lambda: store.finish_run(run, {}, "running")),
        (ValueError, "limit must be an int >= 1", lambda: store.runs(limit=0)),
        (ValueError, "run_id must name a run .* got 999", lambda: store.get(999)),
        (ValueError, "run_id must name a run", lambda: store.epochs(999)),
        (ValueError, "run_id must name a run", lambda: store.log_epoch(999, 1, {})),
        (ValueError, "run_id must name a run", lambda: store.finish_run(999, {})),
        (ValueError, "run_id must name a run", lambda: epoch_callback(store, 999)),
        (TypeError, "run_id must be an int", lambda: store.get("1")),
        (TypeError, "metrics must be a dict", lambda: store.log_epoch(run, 1, 0.5)),
        (ValueError, "epoch must be an int >= 0", lambda: store.log_epoch(run, -1, {})),
        (ValueError, r"metrics\['epoch'\] must equal", lambda: store.log_epoch(run, 2,
                                                                              {"epoch": 3})),
        (TypeError, "kind must be a non-empty str", lambda: store.start_run({}, kind="")),
        (TypeError, "kind must be a non-empty str", lambda: store.start_run({}, kind=3)),
        (TypeError, "study must be a str or None", lambda: store.start_run({}, study=5)),
        (TypeError, "cell must be a str or None", lambda: store.start_run({}, cell=b"gru")),
        (TypeError, "config must have string keys", lambda: store.start_run({(1, 2): 3})),
        (TypeError, r"config\['a'\]\[0\] must hold only JSON", lambda: store.start_run(
            {"a": [{1, 2}]})),
        (TypeError, "error must be a str or None", lambda: store.finish_run(run, {}, "failed",
                                                                           error=5)),
        (TypeError, "metrics must be a dict", lambda: store.finish_run(run, [0.5])),
        (TypeError, "study must be a str or None", lambda: store.runs(study=3)),
        (TypeError, "kind must be a str or None", lambda: store.runs(kind=1)),
        (TypeError, "limit must be an int", lambda: store.runs(limit=1.5)),
        (TypeError, "epoch must be an int", lambda: store.log_epoch(run, True, {})),
        (TypeError, "run_id must be an int", lambda: store.log_epoch(True, 1, {})),
        (TypeError, "metrics.* JSON values", lambda: store.log_epoch(run, 1, {"f": object()})),
        (ValueError, "run_id must name a run .* got -1", lambda: store.get(-1)),
        (TypeError, "store must be a RunStore", lambda: epoch_callback("runs.db", run)),
    ]
    for error, message, call in cases:
        with pytest.raises(error, match=message):
            call()
    assert store.runs() == [store.get(run)] and store.epochs(run) == []
    store.finish_run(run, {})
    with pytest.raises(ValueError, match="run_id must name a running run.*'finished'"):
        store.finish_run(run, {}, "failed")


# -- record() ------------------------------------------------------------------------------
def test_record_marks_finished_failed_and_interrupted(store):
    with store.record({"a": 1}, task="copy", seed=1) as run:
        run.log_epoch(1, {"loss": 0.5})
        run.finish({"loss": 0.25})
    with pytest.raises(ZeroDivisionError):
        with store.record({"a": 2}) as failed:
            failed.log_epoch(1, {"loss": 0.5})
            1 / 0
    with pytest.raises(KeyboardInterrupt):
        with store.record({"a": 3}) as interrupted:
            raise KeyboardInterrupt
    with pytest.raises(RuntimeError, match="after"):
        with store.record({"a": 4}) as done_then_error:
            done_then_error.finish({"loss": 0.0})
            raise RuntimeError("after finishing")
    with store.record({"a": 5}) as no_metrics:
        pass
    got = {r["id"]: r for r in store.runs()}
    assert (got[run.id]["status"], got[run.id]["metrics"]) == ("finished", {"loss": 0.25})
    assert store.epochs(run.id) == [{"epoch": 1, "loss": 0.5}]
    assert got[failed.id]["status"] == "failed"
    assert got[failed.id]["error"] == "ZeroDivisionError: division by zero"
    assert store.epochs(failed.id) == [{"epoch": 1, "loss": 0.5}]
    assert (got[interrupted.id]["status"], got[interrupted.id]["error"]) == \
        ("interrupted", "KeyboardInterrupt")
    assert got[done_then_error.id]["status"] == "finished"
    assert (got[no_metrics.id]["status"], got[no_metrics.id]["metrics"]) == ("finished", None)
    assert all(r["ended"] is not None for r in got.values())


# -- processes -----------------------------------------------------------------------------
KILLED_STUDY = """
import os, signal, sys
from rnnlab.experiments import RunStore
store = RunStore(sys.argv[1])
study = store.new_study_id()
for seed in range(3):
    run = store.start_run({"lr": 0.1}, seed=seed, study=study, kind="compare", task="adding",
                          cell="lstm")
    store.log_epoch(run, 1, {"loss": 1.0 + seed})
    if seed == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    store.log_epoch(run, 2, {"loss": 0.5 + seed})
    store.finish_run(run, {"loss": 0.5 + seed})
"""


def test_a_killed_study_keeps_what_it_wrote(db):
    proc = run_python(KILLED_STUDY, db)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    with RunStore(db) as store:
        runs = store.runs()
        assert [(r["seed"], r["status"]) for r in runs] == \
            [(2, "running"), (1, "finished"), (0, "finished")]
        assert len({r["study"] for r in runs}) == 1
        assert [r["metrics"] for r in runs] == [None, {"loss": 1.5}, {"loss": 0.5}]
        assert store.epochs(runs[0]["id"]) == [{"epoch": 1, "loss": 3.0}]
        assert store.epochs(runs[1]["id"]) == [{"epoch": 1, "loss": 2.0},
                                               {"epoch": 2, "loss": 1.5}]


WRITER = """
import sys
from rnnlab.experiments import RunStore
with RunStore(sys.argv[1]) as store:
    print("ready", flush=True)
    sys.stdin.readline()  # go
    for k in range(int(sys.argv[3])):
        run = store.start_run({"k": k}, seed=k, study=sys.argv[2])
        for epoch in (1, 2, 3):
            store.log_epoch(run, epoch, {"loss": k + epoch / 10})
        store.finish_run(run, {"loss": k})
"""


def test_two_processes_writing_at_once_lose_nothing(db):
    count = 40
    procs = [run_python(WRITER, db, name, count, stdin=subprocess.PIPE) for name in "ab"]
    for proc in procs:  # both have opened (and one created) the store; both write from "go"
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        proc.wait(timeout=60)
        assert proc.returncode == 0, proc.stderr.read()
    with RunStore(db) as store:
        runs = store.runs()
        assert len(runs) == 2 * count and {r["status"] for r in runs} == {"finished"}
        for name in "ab":
            mine = store.runs(study=name)
            assert sorted(r["seed"] for r in mine) == list(range(count))
            assert all(r["metrics"] == {"loss": r["seed"]} for r in mine)
        epochs = [store.epochs(r["id"]) for r in runs]
        assert all([e["epoch"] for e in run_epochs] == [1, 2, 3] for run_epochs in epochs)


# -- the command ---------------------------------------------------------------------------
def test_runs_command_json_matches_the_store(store, db, capsys):
    ids, (a, _) = fill(store)
    store.log_epoch(ids[0], 1, {"loss": float("nan")})
    assert main(["runs", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == store.runs()
    assert main(["runs", "--db", db, "--json", "--study", a, "--cell", "lstm"]) == 0
    assert json.loads(capsys.readouterr().out) == store.runs(study=a, cell="lstm")
    assert main(["runs", "--db", db, "--json", "--status", "failed", "--limit", "1"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [ids[1]]


def test_runs_command_prints_a_table(store, db, capsys):
    ids, _ = fill(store)
    assert main(["runs", "--db", db, "--task", "adding"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:7] == ["id", "study", "kind", "task", "cell", "seed", "status"]
    rows = [line.split() for line in lines[2:5]]
    assert [int(row[0]) for row in rows] == [ids[4], ids[1], ids[0]]
    assert [row[6] for row in rows] == ["interrupted", "failed", "finished"]
    assert f"loss={0.1 * ids[0]:.4g}" in lines[4]
    assert lines[-1] == f"3 run(s) in {db}, newest first."
    assert format_runs(store.runs(task="adding")) == "\n".join(lines[:-2])
    assert main(["runs", "--db", db, "--task", "none"]) == 0
    assert "No runs" in capsys.readouterr().out


def test_table_shows_the_main_metrics_first(store):
    run = store.start_run({}, seed=4, task="adding", cell="gru")
    store.finish_run(run, {"cell": "gru", "seed": 4, "length": 50, "params": 120,
                           "metric_name": "mse", "metric": 0.0123456, "solved": True})
    line = format_runs(store.runs()).splitlines()[2]
    assert line.split()[-3:] == ["mse=0.01235", "solved=True", "length=50"]


def test_runs_command_on_a_missing_file_creates_nothing(tmp_path, capsys):
    db = tmp_path / "missing.db"
    assert main(["runs", "--db", str(db)]) == 0
    assert "No runs yet" in capsys.readouterr().out
    assert main(["runs", "--db", str(db), "--json"]) == 0
    assert capsys.readouterr().out == "[]\n"
    assert list(tmp_path.iterdir()) == []


def test_runs_command_refuses_bad_arguments(tmp_path):
    with pytest.raises(SystemExit, match="--limit"):
        main(["runs", "--db", str(tmp_path / "x.db"), "--limit", "0"])
    with pytest.raises(SystemExit, match="--db: path .*directory"):
        main(["runs", "--db", str(tmp_path)])
    with pytest.raises(SystemExit):
        main(["runs", "--status", "done"])
