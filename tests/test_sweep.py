"""Sweeps: the spec and its checks, the points and their hashes, the run store's studies
(and its migration from schema version 1), and a real sweep on a Dask LocalCluster of two
worker processes, with a point that diverges on purpose, then resumed."""

import importlib.util
import json
import os
import socket
import sqlite3
import subprocess
import sys

import pytest

from rnnlab.cli import main
from rnnlab.experiments.runner import RunConfig
from rnnlab.experiments.store import SCHEMA_VERSION, RunStore
from rnnlab.experiments.sweep import SpecError, config_hash, parse_spec, points

# tiny points: H = 6, T = 8, 40 updates of 16 sequences (well under a second each)
FIXED = """
[fixed]
task = "adding"
length = 8
hidden = 6
updates = 40
eval_every = 10
batch_size = 16
cell = "rnn"
optimizer = "sgd"
no_clip = true
keep_going = true
"""
# the "sweep" extra is in "test": CI has it, and fails without it
needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None
                                and os.environ.get("CI") != "true",
                                reason='needs Dask: pip install "rnnlab[sweep]"')
LRS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 1e9]  # the last diverges (SGD, no clip)


def write_spec(folder, text: str, name: str = "spec.toml") -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


def sweep_json(capsys, *argv) -> dict:
    assert main(["sweep", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# -- the spec ------------------------------------------------------------------------------
def test_points_expand_the_grid_last_key_fastest():
    spec = parse_spec({"name": "s", "fixed": {"task": "adding"},
                       "grid": {"cell": ["rnn", "gru"], "seed": [0, 1, 2]}})
    got = points(spec)
    assert len(got) == len(spec) == 6
    assert got[:2] == [{"task": "adding", "cell": "rnn", "seed": 0},
                       {"task": "adding", "cell": "rnn", "seed": 1}]
    assert got[-1] == {"task": "adding", "cell": "gru", "seed": 2}


@pytest.mark.parametrize("data, key", [
    ({"fixed": {}, "grid": {"lr": [1]}}, "name"),
    ({"name": "", "grid": {"lr": [1]}}, "name"),
    ({"name": "s", "grid": {"lr": [1]}, "extra": 1}, "extra"),
    ({"name": "s"}, "grid"),
    ({"name": "s", "grid": {}}, "grid"),
    ({"name": "s", "grid": {"lr": []}}, "grid.lr"),
    ({"name": "s", "grid": {"lr": 0.1}}, "grid.lr"),
    ({"name": "s", "grid": {"lr": [0.1, 0.1]}}, "grid.lr"),
    ({"name": "s", "grid": {"lr": [{"a": 1}]}}, "grid.lr"),
    ({"name": "s", "fixed": {"lr": 0.1}, "grid": {"lr": [0.2]}}, "grid.lr"),
    ({"name": "s", "fixed": {"hiden": 3}, "grid": {"lr": [0.2]}}, "fixed.hiden"),
    ({"name": "s", "fixed": [1], "grid": {"lr": [0.2]}}, "fixed"),
])
def test_a_bad_spec_is_refused_naming_the_key(data, key):
    with pytest.raises(SpecError) as info:
        parse_spec(data, known={"lr", "hidden"})
    assert info.value.key == key and str(info.value).startswith(f"{key}: ")


@pytest.mark.parametrize("text, words", [
    ("name = 's'\n[grid]\nhiden = [4]\n", ["grid.hiden: unknown key", "'hidden'"]),
    ("name = 's'\n[grid]\nsave = ['m.safetensors']\n", ["grid.save: unknown key"]),
    ("name = 's'\n[grid]\n", ["grid: is empty"]),
    ("name = 's'\n[grid]\nhidden = [4, 0]\n", ["grid.hidden: hidden: expected an int >= 1"]),
    ("name = 's'\n[fixed]\nlr = -1\n[grid]\nseed = [0]\n", ["fixed.lr: lr: expected"]),
    ("name = 's'\n[fixed]\nno_clip = 1\n[grid]\nseed = [0]\n", ["fixed.no_clip: must be true"]),
    ("name = 's'\n[fixed]\ncell = 'nope'\n[grid]\nseed = [0]\n", ["fixed.cell: cell: invalid"]),
    ("name = 's'\n[grid]\ncell = ['rnn', 'gru']\nchrono = [5]\n",
     ['the point {cell = "rnn", chrono = 5}: chrono: applies to the gated cells']),
    ("name = 's'\n[fixed]\nclip = 2\n[grid]\nno_clip = [true, false]\n",
     ["the point {no_clip = true}: no_clip: excludes clip"]),
    ("name = 's'\n[grid]\nlength = [1]\n", ["the point {length = 1}: length: for the adding task"]),
    ("name = s\n", ["is not TOML"]),
])
def test_the_command_refuses_a_bad_spec_before_any_work(text, words, tmp_path, capsys):
    spec = write_spec(tmp_path, text)
    with pytest.raises(SystemExit) as info:
        main(["sweep", spec, "--db", str(tmp_path / "runs.db")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith("rnnlab sweep: ") and spec in err
    assert all(w in err for w in words), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]  # nothing written


def test_a_scheduler_where_nothing_listens_is_refused_before_any_work(tmp_path, capsys):
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = write_spec(tmp_path, 'name = "s"\n[grid]\nseed = [0]\n')
    with pytest.raises(SystemExit) as info:
        main(["sweep", spec, "--db", str(tmp_path / "runs.db"), "--scheduler",
              f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1
    assert err.startswith(f"rnnlab sweep: --scheduler: nothing answers at tcp://127.0.0.1:{port}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]


def test_keys_mean_what_the_options_of_train_mean(tmp_path):
    from rnnlab.cli.sweep import _spec_configs, _train_parser

    class Args:
        spec = write_spec(tmp_path, 'name = "s"\n[fixed]\nhidden = 5\nlayers = 2\nno_clip = '
                                    'true\nlambda1 = 0.9\ncell = "rnn"\ntbptt = [2, 4]\n'
                                    'task = "copy"\n[grid]\nlr = [0.1, 1]\n')
    spec, configs = _spec_configs(Args, _train_parser())
    assert [c.lr for c in configs] == [0.1, 1.0]
    config = configs[0]
    assert (config.hidden_size, config.num_layers, config.clip_norm, config.lambda_1,
            config.tbptt) == (5, 2, None, 0.9, (2, 4))
    assert (config.updates, config.eval_every) == (RunConfig.updates, RunConfig.eval_every)


def test_a_point_is_identified_by_its_whole_config():
    a = RunConfig(task="adding", length=8, hidden_size=4)
    assert config_hash(a) == config_hash(RunConfig(task="adding", length=8, hidden_size=4))
    assert config_hash(a) != config_hash(RunConfig(task="adding", length=8, hidden_size=4,
                                                   seed=1))
    assert len(config_hash(a)) == 64


# -- the run store -------------------------------------------------------------------------
V1_SCHEMA = """
CREATE TABLE runs (id INTEGER PRIMARY KEY, study TEXT, kind TEXT NOT NULL, task TEXT,
    cell TEXT, seed INTEGER, config TEXT NOT NULL, code_version TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),
    started TEXT NOT NULL, ended TEXT, metrics TEXT, error TEXT);
CREATE INDEX runs_by_study ON runs (study);
CREATE TABLE epochs (run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL, metrics TEXT NOT NULL, time TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)) WITHOUT ROWID;
PRAGMA application_id = 1919839852;
PRAGMA user_version = 1;
INSERT INTO runs VALUES (1, NULL, 'train', 'adding', 'lstm', 0, '{"hidden_size": 8}',
    '0.1.0', 'finished', '2025-01-01T00:00:00.000+00:00', '2025-01-01T00:01:00.000+00:00',
    '{"metric": 0.5}', NULL);
INSERT INTO epochs VALUES (1, 1, '{"val_loss": 0.7}', '2025-01-01T00:00:30.000+00:00');
"""


def test_a_store_of_schema_version_1_is_migrated_and_keeps_its_runs(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
    with RunStore(path) as store:
        run = store.get(1)
        assert (run["status"], run["metrics"], run["config_hash"], run["worker"]) == \
            ("finished", {"metric": 0.5}, None, None)
        assert store.epochs(1) == [{"epoch": 1, "val_loss": 0.7}]
        assert store.studies() == []
        store.start_study("s", {"grid": {"lr": [1]}})
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    with RunStore(path) as store:  # opened again: nothing more to do
        assert [s["name"] for s in store.studies()] == ["s"]


def test_studies_and_points_in_the_store(tmp_path):
    with RunStore(tmp_path / "runs.db") as store:
        study = store.start_study("s", {"name": "s", "grid": {"lr": [0.1]}})
        assert study["spec"] == {"name": "s", "grid": {"lr": [0.1]}}
        with pytest.raises(ValueError, match="name 's' is already a study"):
            store.start_study("s", {})
        assert store.start_study("s", {"x": 1}, resume=True)["spec"] == {"x": 1}
        ids = [store.start_point("s", {"lr": lr}, f"hash{i}", seed=0, task="adding",
                                 cell="rnn") for i, lr in enumerate((0.1, 0.2, 0.3, 0.4))]
        store.finish_point(ids[0], "finished", {"metric": 1.0}, worker="tcp://w1",
                           started="2025-01-01T00:00:00.000+00:00",
                           epochs=[{"epoch": 1, "val_loss": 2.0}])
        store.finish_point(ids[1], "failed", error="TrainingDiverged: the loss is inf")
        store.finish_point(ids[2], "failed", error="KilledWorker: lost twice")
        with pytest.raises(ValueError, match="run_id must name a running point"):
            store.finish_point(ids[0], "finished")
        assert store.done_points("s") == {"hash0", "hash1"}  # the others would run again
        assert store.interrupt_points("s", "killed") == 1
        runs = {r["id"]: r for r in store.runs(study="s", kind="sweep")}
        assert runs[ids[0]]["worker"] == "tcp://w1" and runs[ids[0]]["config_hash"] == "hash0"
        assert runs[ids[0]]["started"].startswith("2025-01-01")
        assert store.epochs(ids[0]) == [{"epoch": 1, "val_loss": 2.0}]
        assert runs[ids[3]]["status"] == "interrupted" and runs[ids[3]]["error"] == "killed"


# -- Dask ----------------------------------------------------------------------------------
def test_the_core_never_imports_dask():
    code = ("import sys, rnnlab, rnnlab.cli, rnnlab.experiments.engine, rnnlab.cli.sweep; "
            "rnnlab.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def test_without_dask_the_error_names_the_extra(monkeypatch):
    from rnnlab.experiments import engine

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r'pip install "rnnlab\[sweep\]"'):
        engine.distributed()


def test_a_point_that_fails_is_a_result():
    from rnnlab.experiments.engine import run_point

    good = RunConfig(task="adding", length=5, hidden_size=4, updates=5, eval_every=5,
                     n_val=16, n_test=16)
    out = run_point(good.to_json())
    assert out["status"] == "finished" and out["error"] is None
    assert out["metrics"]["updates"] == 5 and [e["epoch"] for e in out["epochs"]] == [1]
    assert out["worker"].startswith("pid ") and out["started"] <= out["ended"]
    bad = dict(good.to_json(), hidden_size=0)
    out = run_point(bad)
    assert out["status"] == "failed" and out["error"].startswith("ValueError: hidden_size")
    diverging = dict(good.to_json(), optimizer="sgd", lr=1e9, clip_norm=None)
    assert run_point(diverging)["error"].startswith("TrainingDiverged")


def test_a_task_that_erred_is_a_failed_outcome():
    from rnnlab.experiments.engine import _outcome

    class KilledWorker(Exception):
        pass

    class Erred:  # a Dask future whose workers died twice
        status = "error"

        def exception(self):
            return KilledWorker("attempted to run task on 2 workers, all died")

    out = _outcome(Erred())
    assert (out["status"], out["metrics"], out["epochs"]) == ("failed", None, [])
    assert out["error"] == "KilledWorker: attempted to run task on 2 workers, all died"


@needs_dask
def test_a_sweep_on_a_local_cluster_records_every_point_and_resumes(tmp_path, capsys):
    db = tmp_path / "runs.db"
    spec = write_spec(tmp_path, f'name = "lr"\n{FIXED}\n[grid]\nlr = {LRS}\n')
    summary = sweep_json(capsys, spec, "--db", db, "--workers", 2)
    assert summary == {"study": "lr", "points": 8, "ran": 8, "failed": 1, "skipped": 0}
    with RunStore(db) as store:
        runs = store.runs(study="lr")
        assert store.study("lr")["spec"]["grid"] == {"lr": LRS}
    assert sorted(r["config"]["lr"] for r in runs) == LRS  # each point once
    assert {r["kind"] for r in runs} == {"sweep"} and len({r["config_hash"] for r in runs}) == 8
    failed = [r for r in runs if r["status"] == "failed"]
    assert [r["config"]["lr"] for r in failed] == [1e9]
    assert failed[0]["error"].startswith("TrainingDiverged: ")
    finished = [r for r in runs if r["status"] == "finished"]
    assert len(finished) == 7 and all(r["metrics"]["updates"] == 40 for r in finished)
    assert len({r["worker"] for r in runs}) == 2  # both workers took points
    assert all(r["worker"].startswith("tcp://127.0.0.1:") for r in runs)
    with RunStore(db) as store:
        assert all(len(store.epochs(r["id"])) == 4 for r in finished)

    # again, resumed: every point is done (the diverged one would diverge again)
    assert sweep_json(capsys, spec, "--db", db, "--resume") == \
        {"study": "lr", "points": 8, "ran": 0, "failed": 0, "skipped": 8}
    # a client killed with one more point out: its row left "running"
    more = LRS[:-1] + [0.2]
    spec = write_spec(tmp_path, f'name = "lr"\n{FIXED}\n[grid]\nlr = {more}\n')
    with RunStore(db) as store:
        stale = store.start_point("lr", {"lr": 0.2}, "a-point-of-a-killed-client")
    assert sweep_json(capsys, spec, "--db", db, "--workers", 1, "--resume") == \
        {"study": "lr", "points": 8, "ran": 1, "failed": 0, "skipped": 7}
    with RunStore(db) as store:
        assert store.get(stale)["status"] == "interrupted"
        assert len(store.runs(study="lr", status="finished")) == 8
    with pytest.raises(SystemExit):  # without --resume, the name is taken
        main(["sweep", spec, "--db", str(db)])
    assert "--resume: the study 'lr' is already in" in capsys.readouterr().err
    assert main(["runs", "--db", str(db), "--study", "lr", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 10


def _without_timings(value):
    """A compare row without what differs between two trainings of the same runs: times
    and run ids."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items()
                if k not in ("seconds", "update_ms", "run_id", "run_ids", "selection_id")}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


@needs_dask
def test_compare_on_two_workers_gives_the_rows_of_one_process(tmp_path):
    from rnnlab.experiments.compare import compare

    base = RunConfig(task="adding", length=5, hidden_size=4, updates=20, eval_every=10,
                     n_val=32, n_test=32, optimizer="sgd", clip_norm=None)
    args = (base, ["rnn", "gru"], [5, 6], [0, 1], [0.05, 1e9])  # 1e9 diverges
    with RunStore(tmp_path / "one.db") as store:
        one = compare(*args, store=store, study="one", progress=False)
    with RunStore(tmp_path / "two.db") as store:
        two = compare(*args, store=store, study="two", progress=False, workers=2)
        runs = store.runs(study="two", kind="compare")
        assert len(runs) == 16 and len(store.runs(study="two", kind="selection")) == 4
        assert sum(r["status"] == "failed" for r in runs) == 8
        assert all(r["worker"].startswith("tcp://127.0.0.1:") for r in runs)
    assert [r["lr"] for r in two] == [0.05] * 4  # chosen over 1e9, which diverged
    assert [[g["diverged"] for g in r["grid"]] for r in two] == [[0, 2]] * 4
    assert json.dumps(_without_timings(two)) == json.dumps(_without_timings(one))


def test_a_setting_at_its_default_does_not_change_a_points_hash():
    """A setting added to RunConfig later, at its default, must leave the hashes of studies
    recorded before it as they were (or --resume would run them all again)."""
    import dataclasses
    import hashlib
    import json

    from rnnlab.experiments.runner import RunConfig
    from rnnlab.experiments.sweep import config_hash
    config = RunConfig(task="adding", length=20, cell="gru", lr=3e-3, seed=2)
    older = {k: v for k, v in config.to_json().items() if k not in ("patience", "attention")}
    assert config.patience is None and config.attention is None
    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig)
                if f.default is not dataclasses.MISSING}
    changed = {k: v for k, v in older.items()
               if k not in defaults or v != json.loads(json.dumps(defaults[k]))}
    text = json.dumps(changed, sort_keys=True, separators=(",", ":"))
    assert config_hash(config) == hashlib.sha256(text.encode()).hexdigest()
    assert config_hash(dataclasses.replace(config, patience=3)) != config_hash(config)
