"""The README's first commands work (the gradcheck command, the quickstart example), and
`rnnlab train` reports a diverged run as such and resumes an interrupted one."""

import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from rnnlab.cli import main
from rnnlab.experiments.store import RunStore
from rnnlab.saved_model import load_model

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_gradcheck_command_passes_and_prints_a_row_per_cell(capsys):
    assert main(["gradcheck", "--layers", "1", "--no-bidirectional", "--steps", "4"]) == 0
    out = capsys.readouterr().out
    expected = [(cell, f) for cell in ("rnn", "ln-rnn") for f in ("tanh", "relu", "sigmoid")]
    expected += [(cell, "tanh") for cell in ("lstm", "gru", "ln-lstm", "ln-gru", "hier-lstm",
                                             "rnn-drop", "lstm-drop", "gru-drop")]
    for cell, f in expected:
        assert re.search(rf"^{cell} +{f} +\d+  \S", out, re.M), (cell, f)
    assert "All gradients match." in out and "FAIL" not in out
    rows = [line for line in out.splitlines() if line.endswith("s)")]
    assert len(rows) == len(expected) and len({line.index(" ok ") for line in rows}) == 1  # aligned


def test_gradcheck_command_refuses_bad_arguments():
    with pytest.raises(SystemExit, match="--cells"):
        main(["gradcheck", "--cells", "transformer"])
    with pytest.raises(SystemExit, match="--hidden"):
        main(["gradcheck", "--hidden", "0"])


def test_quickstart_example_learns():
    spec = importlib.util.spec_from_file_location("quickstart", ROOT / "examples/quickstart.py")
    quickstart = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quickstart)
    assert quickstart.main(epochs=30, seed=0) >= 0.95


DIVERGING = ["train", "--task", "adding", "--length", "10", "--hidden", "8", "--optimizer", "sgd",
             "--no-clip", "--lr", "1e6"]


def test_a_diverging_run_is_reported_and_recorded_as_diverged(tmp_path, capsys):
    db, save = str(tmp_path / "runs.db"), str(tmp_path / "model.safetensors")
    assert main(DIVERGING + ["--db", db, "--save", save]) == 1
    out, err = capsys.readouterr()
    assert "rnnlab train: diverged: training stopped at update " in out
    assert "Traceback" not in out + err
    with RunStore(db) as store:
        [run] = store.runs()
    assert run["status"] == "failed" and run["error"].startswith("TrainingDiverged: training "
                                                                 "stopped at update ")
    assert f"recorded as failed as run {run['id']} in {db}" in out
    assert not os.path.exists(save)  # no weights from a run that failed
    assert main(DIVERGING + ["--db", db, "--save", save, "--json"]) == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["status"] == "diverged" and report["run_id"] == run["id"] + 1
    assert report["error"] in err and "update" in report["error"]


def test_a_diverging_run_ends_without_a_traceback_in_the_real_program(tmp_path):
    done = subprocess.run([sys.executable, "-m", "rnnlab.cli"] + DIVERGING
                          + ["--db", str(tmp_path / "runs.db"), "--save",
                             str(tmp_path / "model.safetensors"), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "diverged" in done.stderr
    assert json.loads(done.stdout)["status"] == "diverged"


def test_train_resume_continues_the_run_and_records_it(tmp_path, capsys):
    db, ck = str(tmp_path / "runs.db"), str(tmp_path / "ck")
    args = ["train", "--task", "adding", "--length", "6", "--hidden", "4", "--eval-every", "5",
            "--keep-going", "--db", db, "--checkpoint-dir", ck, "--json"]
    whole = str(tmp_path / "whole.safetensors")
    assert main(args[:-5] + ["--updates", "20", "--db", db, "--save", whole, "--json"]) == 0
    first = str(tmp_path / "first.safetensors")
    assert main(args + ["--updates", "10", "--save", first]) == 0
    with pytest.raises(SystemExit) as info:  # the folder holds a run: --resume or another
        main(args + ["--updates", "20", "--save", first])
    assert info.value.code == 2
    resumed = str(tmp_path / "resumed.safetensors")
    capsys.readouterr()
    assert main(args + ["--updates", "20", "--save", resumed, "--resume"]) == 0
    out, err = capsys.readouterr()
    row = json.loads(out)
    assert row["resumed_from"] == "epoch-0002" and row["updates"] == 20
    assert f"Resuming from {os.path.join(ck, 'epoch-0002')} (10 updates" in err
    a, b = saved_weights(whole), saved_weights(resumed)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)  # bitwise the same run
    with RunStore(db) as store:
        runs = store.runs()  # newest first
        assert [r["status"] for r in runs] == ["finished"] * 3
        assert runs[0]["config"]["resumed_from"] == {"checkpoint": "epoch-0002", "updates": 10,
                                                     "epoch": 2, "run_id": runs[1]["id"]}
        assert runs[0]["config"]["checkpoint_dir"] == os.path.abspath(ck)
        assert [e["updates"] for e in store.epochs(runs[0]["id"])] == [5, 10, 15, 20]


def saved_weights(path) -> dict:
    """The weights of the model folder ``rnnlab train --save`` wrote."""
    return load_model(path)[0].state_dict()


def test_train_with_norm_and_chunk(tmp_path, capsys):
    db = str(tmp_path / "runs.db")
    base = ["train", "--task", "adding", "--length", "12", "--hidden", "4", "--updates", "4",
            "--eval-every", "2", "--db", db]
    assert main(base + ["--norm", "layer", "--save", str(tmp_path / "ln.safetensors")]) == 0
    assert "layer-normalized lstm, H = 4" in capsys.readouterr().out
    assert "0.ln_c_weight_l0" in saved_weights(tmp_path / "ln.safetensors")
    assert main(base + ["--chunk", "5", "--cell", "gru", "--save",
                        str(tmp_path / "hier.safetensors"), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    weights = saved_weights(tmp_path / "hier.safetensors")
    assert "0.lower.weight_hh_l0" in weights and "0.upper.weight_hh_l0" in weights
    assert row["params"] == sum(v.size for k, v in weights.items() if k.startswith("0."))
    with RunStore(db) as store:
        configs = [r["config"] for r in store.runs()]  # newest first
    assert (configs[0]["chunk"], configs[0]["norm"]) == (5, None)
    assert (configs[1]["chunk"], configs[1]["norm"]) == (None, "layer")


def test_train_with_dropout_and_recurrent_dropout(tmp_path, capsys):
    db = str(tmp_path / "runs.db")
    assert main(["train", "--task", "adding", "--length", "8", "--hidden", "4", "--layers", "2",
                 "--dropout", "0.2", "--recurrent-dropout", "0.3", "--updates", "4",
                 "--eval-every", "2", "--db", db, "--save",
                 str(tmp_path / "m.safetensors")]) == 0
    assert "lstm, dropout 0.2, recurrent dropout 0.3, H = 4" in capsys.readouterr().out
    with RunStore(db) as store:
        config = store.runs()[0]["config"]
    assert (config["dropout"], config["recurrent_dropout"]) == (0.2, 0.3)


def test_a_checkpoint_folder_written_before_norm_and_chunk_still_resumes(tmp_path, capsys):
    db, ck = str(tmp_path / "runs.db"), str(tmp_path / "ck")
    args = ["train", "--task", "adding", "--length", "6", "--hidden", "4", "--eval-every", "5",
            "--keep-going", "--db", db, "--checkpoint-dir", ck, "--save",
            str(tmp_path / "m.safetensors"), "--json"]
    assert main(args + ["--updates", "5"]) == 0
    path = os.path.join(ck, "run.json")
    with open(path) as f:
        info = json.load(f)
    for name in ("norm", "chunk", "dropout", "recurrent_dropout"):  # fields an older
        # rnnlab did not write
        del info["config"][name]
    with open(path, "w") as f:
        json.dump(info, f)
    capsys.readouterr()
    assert main(args + ["--updates", "10", "--resume"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["resumed_from"] == "epoch-0001" and row["updates"] == 10
