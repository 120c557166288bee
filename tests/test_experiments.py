"""Runs, comparisons, the gradient-flow chart, the demo and their commands: small, fast
versions of what the CLI does, checked for their numbers and for what lands in the store."""

import dataclasses
import importlib
import json
import os

import numpy as np
import pytest

from rnnlab import diagnostics, io
from rnnlab.cli import main
from rnnlab.experiments import RunStore, demo, runner
from rnnlab.experiments.compare import (ROW_KEYS, compare, format_table, plan, select,
                                       study_rows, summarize, variant_config, variant_of)
from rnnlab.experiments.gradflow import bar_chart, gradient_flow
from rnnlab.experiments.models import build_model
from rnnlab.experiments.runner import RunConfig, run_task
from rnnlab.tasks import make_task
from rnnlab.training import TrainingDiverged

TINY = RunConfig(task="language", length=2, hidden_size=8, updates=8, eval_every=4, n_val=32,
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
        RunConfig(cell="mamba")


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
        rows = compare(TINY, ["rnn", "lstm"], [1, 2], [0, 1], lrs=[1e-3, 1e-2], store=store,
                       study="s", progress=False)
        recorded = store.runs(study="s", kind="compare")
        selections = store.runs(study="s", kind="selection")
    assert len(rows) == 4 and len(recorded) == 16 and len(selections) == 4
    assert all(set(ROW_KEYS) <= set(r) for r in rows)
    assert [(r["variant"], r["length"]) for r in rows] == [
        ("rnn", 1), ("lstm", 1), ("rnn", 2), ("lstm", 2)]
    for row, selection in zip(rows, selections[::-1]):  # the store lists newest first
        assert row["selection_id"] == selection["id"]
        assert selection["metrics"]["winner"] == row["lr"]
        assert [g["lr"] for g in selection["metrics"]["grid"]] == [1e-3, 1e-2]
        ids = {i for g in row["grid"] for i in g["run_ids"]}
        assert len(ids) == 4 and ids <= {r["id"] for r in recorded}
        winners = [r for r in recorded if r["id"] in {s["run_id"] for s in row["per_seed"]}]
        assert {r["config"]["lr"] for r in winners} == {row["lr"]}
        assert row["metric"] == pytest.approx(np.mean([r["metrics"]["metric"] for r in winners]))
        assert row["solved"] == sum(r["metrics"]["solved"] for r in winners)
        assert row["runs"] == 2
    table = format_table(rows)
    assert "lstm 4.00x" in table and "memory horizon" in table and "updates to solve" in table
    summary = summarize(rows)
    for cell in ("rnn", "lstm"):
        solved = [summary[cell]["lengths"][n]["solved"] for n in (1, 2)]
        expected = None if solved[0] < 2 else (1 if solved[1] < 2 else 2)
        assert summary[cell]["horizon"] == expected


def _fake_result(config, val_metric, updates_to_solve, test_metric):
    task = config.make_task()
    return {"task": task.config(), "cell": config.cell, "variant": config.cell,
            "length": config.length, "seed": config.seed, "lr": config.lr,
            "metric_name": task.metric_name, "metric": test_metric,
            "baseline": task.baseline, "solved": bool(task.solved(test_metric)),
            "val_metric": val_metric, "updates_to_solve": updates_to_solve, "updates": 8,
            "params": 10, "seconds": 1.0, "update_ms": 1.0, "chrono": None,
            "diverged": None}


def test_the_learning_rate_is_chosen_on_validation_data_only():
    # lr 1e-3: solves validation slowly, the test set looks perfect; lr 1e-2: solves
    # validation fast, the test set looks worse. A choice on the test set would pick 1e-3.
    config = dataclasses.replace(TINY, task="adding", length=5, updates=1000, task_options={})
    group = [_fake_result(dataclasses.replace(config, lr=1e-3, seed=s), 0.009, 900, 0.0)
             for s in (0, 1)]
    group += [_fake_result(dataclasses.replace(config, lr=1e-2, seed=s), 0.008, 100, 0.009)
              for s in (0, 1)]
    assert select(group, config)["lr"] == 1e-2
    # Most seeds solved beats speed; an unsolved lr with a good test metric never wins.
    group[2]["updates_to_solve"] = None
    group[3]["updates_to_solve"] = None
    for r in group[2:]:
        r["metric"] = 0.0
    row = select(group, config)
    assert row["lr"] == 1e-3 and row["metric"] == 0.0 and row["updates_to_solve"] == 900
    # Nobody solved: the better mean last validation metric wins (lower MSE here).
    for r in group:
        r["updates_to_solve"] = None
    group[0]["val_metric"] = group[1]["val_metric"] = 0.2
    assert select(group, config)["lr"] == 1e-2


def test_fewer_diverged_runs_break_a_tie_and_a_row_averages_the_finite_ones():
    config = dataclasses.replace(TINY, task="adding", length=5, task_options={})
    group = []
    for lr, diverged in ((1e-3, (True, True)), (1e-2, (True, False))):
        for seed, gone in enumerate(diverged):
            r = _fake_result(dataclasses.replace(config, lr=lr, seed=seed), 0.2, None, 0.15)
            if gone:
                r.update(metric=np.nan, val_metric=np.nan, diverged="TrainingDiverged")
            group.append(r)
    row = select(group, config)
    assert row["lr"] == 1e-2 and row["diverged"] == 1 and row["metric"] == 0.15
    assert "(1 diverged)" in format_table([row])


def test_updates_to_solve_is_the_median_with_unsolved_seeds_above_the_budget():
    config = dataclasses.replace(TINY, task="adding", length=5, task_options={})
    group = [_fake_result(dataclasses.replace(config, seed=s), 0.005, steps, 0.005)
             for s, steps in enumerate((300, None, 100))]
    assert select(group, config)["updates_to_solve"] == 300  # 100, 300, never
    group[0]["updates_to_solve"] = None
    assert select(group, config)["updates_to_solve"] is None  # most never solved


def test_a_study_is_rebuilt_from_the_store(tmp_path):
    with RunStore(tmp_path / "runs.db") as store:
        rows = compare(TINY, ["rnn", "gru-chrono", "irnn"], [1, 2], [0, 1], lrs=[1e-3, 1e-2],
                       store=store, study="s", progress=False)
        rebuilt = study_rows(store, "s")
    keys = ROW_KEYS + ("grid", "per_seed")
    assert [{k: r[k] for k in keys} for r in rebuilt] == [{k: r[k] for k in keys}
                                                           for r in rows]


def test_the_test_set_is_measured_after_training_and_never_during(monkeypatch):
    # The Trainer measures the validation set during training; the test set is measured
    # once, after fit returns.
    seen = []
    original = runner.Trainer.evaluate

    def evaluate(self, data, batch_size=None):
        seen.append((len(data), self.updates))
        return original(self, data, batch_size)

    monkeypatch.setattr(runner.Trainer, "evaluate", evaluate)
    result = run_task(TINY)
    assert [n for n, _ in seen] == [TINY.n_val] * (len(seen) - 1) + [TINY.n_test]
    assert result["updates"] == seen[-1][1]


def test_variants_and_chrono_in_a_comparison():
    label, config = variant_config(TINY, "irnn")
    assert (label, config.cell, config.nonlinearity, config.init_hh) == (
        "irnn", "rnn", "relu", "identity")
    label, config = variant_config(TINY, "lstm", chrono="auto")
    assert label == "lstm-chrono" and config.chrono == "auto"
    assert config.chrono_steps() == make_task("language", 2).steps
    label, config = variant_config(TINY, "rnn", chrono=50)
    assert label == "rnn" and config.chrono is None and config.nonlinearity == "tanh"
    relu = dataclasses.replace(TINY, cell="rnn", nonlinearity="relu")
    assert variant_config(relu, "rnn")[1].nonlinearity == "relu"  # --nonlinearity applies
    assert variant_config(relu, "gru")[1].nonlinearity == "tanh"
    model = build_model(make_task("adding", 40), "gru", 16, chrono=40, seed=3)
    z = slice(16, 32)
    params = model[0].parameters()
    biases = params["bias_ih_l0"][z] + params["bias_hh_l0"][z]
    assert np.all((biases >= 0) & (biases <= np.log(39) + 1e-6))
    irnn = build_model(make_task("adding", 40), "rnn", 8, nonlinearity="relu",
                       init_hh="identity")
    np.testing.assert_array_equal(irnn[0].parameters()["weight_hh_l0"], np.eye(8))
    with pytest.raises(ValueError, match="each variant once"):
        plan(TINY, ["lstm", "lstm-chrono"], [2], [0], chrono="auto")
    with pytest.raises(ValueError, match="cells must name"):
        plan(TINY, ["mamba"], [2], [0])
    with pytest.raises(ValueError, match="chrono"):
        RunConfig(cell="rnn", chrono=10)
    with pytest.raises(ValueError, match="chrono"):
        RunConfig(cell="lstm", chrono=1)
    with pytest.raises(ValueError, match="epochs needs a fixed training set"):
        RunConfig(epochs=3)


def test_a_diverged_run_is_a_row_not_a_crash(tmp_path):
    exploding = dataclasses.replace(TINY, task="adding", length=50, cell="rnn", task_options={},
                                    hidden_size=64, lambda_1=3.0, optimizer="sgd",
                                    clip_norm=None, updates=32, batch_size=32)
    with RunStore(tmp_path / "runs.db") as store:
        (row,) = compare(exploding, ["rnn"], [50], [0], lrs=[0.1], store=store, progress=False)
        (run,) = store.runs(kind="compare")
    assert row["solved"] == 0 and row["per_seed"][0]["diverged"]
    assert run["status"] == "failed" and "TrainingDiverged" in run["error"]


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
        runs = store.runs(study="cut", kind="compare")
        (selection,) = store.runs(study="cut", kind="selection")  # length 1's row was done
    assert selection["status"] == "finished" and selection["metrics"]["winner"] == TINY.lr
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
    args = ["compare", "--task", "language", "--cells", "rnn,gru-chrono", "--lengths", "1,2",
            "--seeds", "1", "--hidden", "4", "--updates", "4", "--eval-every", "2",
            "--lr-grid", "0.001,0.01", "--db", db, "--out", str(tmp_path), "--json"]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 and all(set(ROW_KEYS) <= set(r) for r in rows)
    assert {r["variant"] for r in rows} == {"rnn", "gru-chrono"}
    assert all(r["lr"] in (0.001, 0.01) and len(r["grid"]) == 2 for r in rows)
    assert [r["chrono"] for r in rows if r["variant"] == "gru-chrono"] == [10, 11]  # N + 9
    assert (tmp_path / "compare-language.png").exists()
    assert main(["runs", "--db", db, "--kind", "compare", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert len(runs) == 8 and {r["config"]["lr"] for r in runs} == {0.001, 0.01}
    chosen = {s["run_id"]: s["metric"] for r in rows for s in r["per_seed"]}
    assert all(r["metrics"]["metric"] == chosen[r["id"]] for r in runs if r["id"] in chosen)
    assert main(["runs", "--db", db, "--kind", "selection", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 4
    assert main(["compare", "--cells", "rnn", "--lengths", "1", "--seeds", "1", "--lr",
                 "0.01", "--updates", "2", "--hidden", "2", "--db", db, "--no-plot",
                 "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["lr"] == 0.01 and len(row["grid"]) == 1
    for bad in (["--chrono", "1"], ["--cells", "lstm,tcn"], ["--lr-grid", "0.1,-1"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["compare"] + bad)
        assert exit_info.value.code == 2


def test_cli_train_saves_weights_and_reports_divergence(tmp_path, capsys):
    db, folder = str(tmp_path / "runs.db"), str(tmp_path / "model")
    assert main(["train", "--task", "adding", "--length", "8", "--cell", "gru", "--hidden",
                 "4", "--epochs", "1", "--n-train", "32", "--db", db, "--save", folder,
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["cell"] == "gru" and len(result["history"]) == 1
    from rnnlab.saved_model import load_model
    loaded, _, meta = load_model(folder, expected_kind="rnnlab-train")
    assert meta["config"]["cell"] == "gru" and meta["output"] == "values"
    saved = io.load_weights(os.path.join(folder, "model.safetensors"))  # PyTorch's names
    assert sorted(saved) == sorted(["0.weight_ih_l0", "0.weight_hh_l0", "0.bias_ih_l0",
                                    "0.bias_hh_l0", "2.weight", "2.bias"])
    model = build_model(make_task("adding", 8), "gru", 4)
    model.load_state_dict(saved)  # the saved weights rebuild the model
    code = main(["train", "--task", "adding", "--length", "50", "--cell", "rnn", "--hidden",
                 "64", "--lambda1", "3", "--no-clip", "--optimizer", "sgd", "--lr", "0.1",
                 "--epochs", "1", "--n-train", "1024", "--db", db, "--save", folder])
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
    assert "memory horizon" in text and "the memory horizons are: rnn" in text
    assert len(result["rows"]) == 8
    assert {r["variant"] for r in result["rows"]} == {"rnn", "lstm", "lstm-chrono", "gru"}
    assert {r["chrono"] for r in result["rows"] if r["variant"] == "lstm-chrono"} == {10, 11}
    for path in result["pictures"]:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    compare_module = importlib.import_module("rnnlab.experiments.compare")
    assert compare_module.ROW_KEYS == ROW_KEYS


def test_the_demo_says_what_its_table_shows():
    def row(variant, length, solved):
        return {"variant": variant, "length": length, "solved": int(solved), "runs": 1}
    rows = [row(v, n, ok) for v, n, ok in (
        ("rnn", 10, True), ("rnn", 30, False), ("lstm", 10, True), ("lstm", 30, False),
        ("lstm-chrono", 10, True), ("lstm-chrono", 30, True))]
    text = demo.verdict(rows, "a budget")
    assert "rnn 10, lstm 10, lstm-chrono 30" in text and "Tallec & Ollivier" in text
    rows[-1]["solved"] = 0  # chrono no further than the plain LSTM: no such claim
    text = demo.verdict(rows, "a budget")
    assert "lstm-chrono 10" in text and "Tallec" not in text


def test_norm_and_chunk_in_the_run_config(monkeypatch):
    hier = dataclasses.replace(TINY, cell="gru", chunk=2)
    model = build_model(make_task("adding", 7), "gru", 4, chunk=3, seed=1)
    assert type(model[0]).__name__ == "HierarchicalRNN" and model[0].chunk == 3
    assert len(model) == 2 and model.forward(np.zeros((2, 7, 2))).shape == (2, 1)
    assert hier.to_json()["chunk"] == 2 and TINY.to_json()["norm"] is None
    result = run_task(hier)
    assert result["params"] == result["model"][0].num_parameters()
    assert "lower.weight_hh_l0" in result["model"][0].state_dict()
    ln = build_model(make_task("adding", 5), "lstm", 4, norm="layer")
    assert ln[0].norm == "layer"
    for fields, named in (({"norm": "batch"}, ("norm",)), ({"chunk": 0}, ("chunk",)),
                          ({"chunk": 2.0}, ("chunk",)),
                          ({"chunk": 2, "task": "copy", "length": 3, "task_options": {}},
                           ("chunk", "task")),
                          ({"chunk": 2, "cell": "rnn", "lambda_1": 1.0},
                           ("chunk", "lambda_1"))):
        with pytest.raises((TypeError, ValueError)) as info:
            dataclasses.replace(TINY, **fields)
        assert info.value.fields == named and named[0] in str(info.value)
    monkeypatch.setattr(runner, "norm_cells", lambda: ("lstm",))  # a layer without norm
    with pytest.raises(ValueError, match="norm='layer' applies to the cells") as info:
        dataclasses.replace(TINY, cell="gru", norm="layer")
    assert info.value.fields == ("norm", "cell")
    old = {k: v for k, v in TINY.to_json().items() if k not in ("norm", "chunk")}
    assert RunConfig(**old) == TINY  # a record from before the fields resumes as before


def test_layer_norm_and_hierarchical_variants():
    label, config = variant_config(TINY, "ln-lstm")
    assert (label, config.cell, config.norm, config.chunk) == ("ln-lstm", "lstm", "layer", None)
    label, config = variant_config(TINY, "hier-gru")
    assert (label, config.cell, config.chunk, config.norm) == ("hier-gru", "gru", 10, None)
    assert variant_config(TINY, "hier-lstm", chunk=3)[1].chunk == 3
    assert variant_config(TINY, "lstm", chunk=3)[1].chunk is None  # flat variants stay flat
    label, config = variant_config(TINY, "hier-lstm", chrono="auto")
    assert label == "hier-lstm-chrono" and config.chrono == "auto"
    for variant in ("rnn", "irnn", "lstm", "lstm-chrono", "gru", "gru-chrono", "ln-lstm",
                    "hier-lstm", "hier-gru"):
        label, config = variant_config(TINY, variant)
        assert variant_of(config) == label
    with pytest.raises(ValueError, match="chunk") as info:
        plan(dataclasses.replace(TINY, task="copy", task_options={}), ["hier-lstm"], [3], [0])
    assert info.value.fields == ("chunk", "task")
    rows = compare(TINY, ["ln-lstm", "hier-lstm"], [2], [0], progress=False, chunk=3)
    assert [r["variant"] for r in rows] == ["ln-lstm", "hier-lstm"]
    rows[1]["variant"] = "hier-lstm-chrono"  # longer than the column's usual 12
    lines = format_table(rows).splitlines()
    start = lines[0].index("length")  # the header's columns line up with the rows'
    assert [line[start:start + 6].strip() for line in lines[2:4]] == ["2", "2"]
    assert lines[2].startswith("ln-lstm ") and lines[3].startswith("hier-lstm-chrono ")
