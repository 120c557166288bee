"""Runs, comparisons, the gradient-flow chart, the demo and their commands: small, fast
versions of what the CLI does, checked for their numbers and for what lands in the store."""

import dataclasses
import importlib
import json

import numpy as np
import pytest

from rnnlab import diagnostics, io
from rnnlab.cli import main
from rnnlab.experiments import RunStore, demo, runner
from rnnlab.experiments.compare import ROW_KEYS, compare, format_table, summarize
from rnnlab.experiments.gradflow import bar_chart, gradient_flow
from rnnlab.experiments.runner import RunConfig, build_model, run_task
from rnnlab.tasks import make_task
from rnnlab.training import TrainingDiverged

TINY = RunConfig(task="language", length=2, hidden_size=8, epochs=2, n_train=64, n_val=32,
                 n_test=64, batch_size=16, task_options={"pairs": 2})


def test_a_run_is_repeatable_and_recorded_epoch_by_epoch(tmp_path):
    with RunStore(tmp_path / "runs.db") as store:
        first = run_task(TINY, store=store)
        again = run_task(TINY)
        (record,) = store.runs()
        epochs = store.epochs(record["id"])
    assert first["metric"] == again["metric"]  # same seed, same data, same weights
    assert record["status"] == "finished" and record["config"] == TINY.to_json()
    assert record["metrics"]["metric"] == first["metric"]
    assert [e["epoch"] for e in epochs] == [r["epoch"] for r in first["history"]]
    assert [e["val_metric"] for e in epochs] == [r["val_metric"] for r in first["history"]]
    assert first["params"] == first["model"][0].num_parameters()
    assert first["baseline"] == 0.5  # two languages: chance


def test_build_model_heads_and_recurrent_scaling():
    adding = make_task("adding", 5)
    model = build_model(adding, "rnn", 6, lambda_1=0.5, dtype="float64")
    (bound,) = diagnostics.pascanu_bounds(model[0])
    assert bound.lambda_1 == pytest.approx(0.5)
    assert model.forward(np.zeros((2, 5, 2))).shape == (2, 1)
    copy = make_task("copy", 3)
    assert build_model(copy, "gru", 4).forward(np.zeros((2, 23, 10))).shape == (2, 23, 9)
    with pytest.raises(ValueError, match="lambda_1"):
        RunConfig(cell="lstm", lambda_1=0.5)
    with pytest.raises(ValueError, match="cell"):
        RunConfig(cell="transformer")


def test_clipping_stops_an_exploding_rnn_that_otherwise_diverges():
    exploding = RunConfig(task="adding", length=50, cell="rnn", hidden_size=64, lambda_1=3.0,
                          optimizer="sgd", lr=0.1, epochs=1, n_train=1024, n_val=64, n_test=64,
                          clip_norm=None, stop_when_solved=False)
    with pytest.raises(TrainingDiverged):
        run_task(exploding)
    clipped = run_task(dataclasses.replace(exploding, clip_norm=1.0))
    assert np.isfinite(clipped["metric"])
    assert all(np.isfinite(p).all() for p in clipped["model"].parameters().values())


def test_compare_rows_table_and_store(tmp_path):
    with RunStore(tmp_path / "runs.db") as store:
        rows = compare(TINY, ["rnn", "lstm"], [1, 2], [0, 1], store=store, study="s",
                       progress=False)
        recorded = store.runs(study="s")
    assert len(rows) == 8 and len(recorded) == 8
    assert all(set(ROW_KEYS) <= set(r) for r in rows)
    assert {(r["cell"], r["length"], r["seed"]) for r in rows} == {
        (c, n, s) for c in ("rnn", "lstm") for n in (1, 2) for s in (0, 1)}
    assert sorted(r["metric"] for r in rows) == sorted(r["metrics"]["metric"] for r in recorded)
    table = format_table(rows)
    assert "lstm 4.00x" in table and "memory horizon" in table
    summary = summarize(rows)
    for cell in ("rnn", "lstm"):
        solved = [summary[cell]["lengths"][n]["solved"] for n in (1, 2)]
        expected = None if solved[0] < 2 else (1 if solved[1] < 2 else 2)
        assert summary[cell]["horizon"] == expected


def test_an_interrupted_study_keeps_its_finished_runs(tmp_path, monkeypatch):
    calls = []

    class Interrupted(runner.Trainer):
        def fit(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return super().fit(*args, **kwargs)

    monkeypatch.setattr(runner, "Trainer", Interrupted)
    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(KeyboardInterrupt):
            compare(TINY, ["rnn"], [1, 2], [0, 1], store=store, study="cut", progress=False)
        runs = store.runs(study="cut")
    statuses = sorted(r["status"] for r in runs)
    assert statuses == ["finished", "finished", "interrupted"]
    assert all(r["metrics"]["metric"] is not None for r in runs if r["status"] == "finished")


def test_gradient_flow_chart_is_the_measured_one():
    results = gradient_flow(["rnn", "lstm"], length=30, hidden_size=8, batch=4, seed=1)
    for r in results:
        assert r["dh"][-1] == pytest.approx(1.0)
        assert r["jacobian"][0] == pytest.approx(1.0)
    model = build_model(make_task("adding", 30), "rnn", 8, seed=1, dtype="float64")
    data = make_task("adding", 30).generate(4, np.random.default_rng([1, 7]))
    (flow,) = diagnostics.state_gradients(model, data.x, data.y, make_task("adding", 30).loss)
    np.testing.assert_allclose(results[0]["dh"], flow.h / flow.h[-1], rtol=1e-12)
    chart = bar_chart(results, every=10)
    lines = chart.splitlines()
    assert lines[0].split()[:2] == ["t", "rnn"] and lines[1].startswith("t=30")
    assert lines[-1].startswith("t=1 ")
    assert "\u2588" in lines[1]


def test_cli_gradflow_json_and_pictures(tmp_path, capsys):
    assert main(["gradflow", "--cell", "rnn,gru", "--length", "12", "--hidden", "4",
                 "--batch", "3", "--json", "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["cell"] for r in out] == ["rnn", "gru"]
    assert len(out[0]["dh"]) == 12 and len(out[0]["jacobian"]) == 13
    assert out[0]["bound"]["gamma"] == 1.0 and out[1]["bound"] is None
    for name in ("gradflow.png", "jacobian.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["gradflow", "--cell", "lstm", "--length", "12", "--hidden", "4", "--batch",
                 "3", "--no-plot"]) == 0
    text = capsys.readouterr().out
    assert "t=12" in text and "saturated gates" in text
    with pytest.raises(SystemExit):
        main(["gradflow", "--cell", "rnn,tcn"])


def test_cli_compare_json_lists_the_rows_and_the_store_has_them(tmp_path, capsys):
    db = str(tmp_path / "runs.db")
    args = ["compare", "--task", "language", "--cells", "rnn,gru", "--lengths", "1,2",
            "--seeds", "1", "--hidden", "4", "--epochs", "1", "--n-train", "32", "--db", db,
            "--out", str(tmp_path), "--json"]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 and all(set(r) == set(ROW_KEYS) for r in rows)
    assert (tmp_path / "compare-language.png").exists()
    assert main(["runs", "--db", db, "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert len(runs) == 4 and {r["kind"] for r in runs} == {"compare"}
    assert sorted(r["metric"] for r in rows) == sorted(r["metrics"]["metric"] for r in runs)


def test_cli_train_saves_weights_and_reports_divergence(tmp_path, capsys):
    db, weights = str(tmp_path / "runs.db"), str(tmp_path / "model.safetensors")
    assert main(["train", "--task", "adding", "--length", "8", "--cell", "gru", "--hidden",
                 "4", "--epochs", "1", "--n-train", "32", "--db", db, "--save", weights,
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["cell"] == "gru" and len(result["history"]) == 1
    saved = io.load_weights(weights)
    assert sorted(saved) == sorted(["0.weight_ih_l0", "0.weight_hh_l0", "0.bias_ih_l0",
                                    "0.bias_hh_l0", "2.weight", "2.bias"])
    model = build_model(make_task("adding", 8), "gru", 4)
    model.load_state_dict(saved)  # the saved weights rebuild the model
    code = main(["train", "--task", "adding", "--length", "50", "--cell", "rnn", "--hidden",
                 "64", "--lambda1", "3", "--no-clip", "--optimizer", "sgd", "--lr", "0.1",
                 "--epochs", "1", "--n-train", "1024", "--db", db, "--save", weights])
    assert code == 1
    assert "diverged" in capsys.readouterr().out
    with RunStore(db) as store:
        assert [r["status"] for r in store.runs()] == ["failed", "finished"]


def test_demo_runs_end_to_end_on_a_small_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_COMPARE", dataclasses.replace(TINY, length=2))
    monkeypatch.setattr(demo, "DEMO_LENGTHS", (1, 2))
    printed = []
    result = demo.run_demo(out=str(tmp_path / "out"), db=str(tmp_path / "runs.db"),
                           say=printed.append)
    text = "\n".join(printed)
    assert "h_1 = tanh(0.5" in text and "0.4621" in text  # the worked example
    assert "t=100" in text  # the gradient-flow chart
    assert "memory horizon" in text
    assert len(result["rows"]) == 6
    for path in result["pictures"]:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    compare_module = importlib.import_module("rnnlab.experiments.compare")
    assert compare_module.ROW_KEYS == ROW_KEYS
