"""Every command refuses bad input the same way: exit code 2, one line on stderr that names
the option, no traceback, before any work (no training, measuring or timing call is made, and
nothing is written).

Each case runs ``rnnlab.cli.main`` in this process, in an empty working folder; the files it
needs (good, truncated, corrupt or of the wrong kind) are made once. A few cases also run the
real ``rnnlab`` program, to see exactly what a user sees.
"""

import functools
import os
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from rnnlab import RNNClassifier, RNNRegressor, io
from rnnlab.cli import build_parser, commands, main
from rnnlab.experiments.models import CELLS, build_model, norm_cells
from rnnlab.experiments.runner import RunConfig, run_task
from rnnlab.experiments.store import RunStore
from rnnlab.tasks import make_task
from rnnlab.text import Vocabulary, char_model
from rnnlab.text.training import TextConfig, save_model

# The library calls that do a command's work: a refusal must come before any of them.
WORK = ("run_task", "compare_cells", "gradient_flow", "run_bench", "run_demo",
        "check_gradients")
# the smallest training run, for the options that need everything else right
TRAIN = ["train", "--length", "4", "--hidden", "2"]
# a cell whose layer has no norm="layer" (none, once every layer has it)
NO_NORM = [c for c in CELLS if c not in norm_cells()]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> str:
    """A folder of good and bad inputs: data files, weights, run stores, checkpoints."""
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    np.savez(d / "good.npz", x=rng.standard_normal((40, 6, 3)), y=np.arange(40) % 2)
    np.savez(d / "wide.npz", x=rng.standard_normal((40, 6, 5)), y=np.arange(40) % 2)
    np.savez(d / "one-class.npz", x=rng.standard_normal((40, 6, 3)), y=np.zeros(40, int))
    np.savez(d / "no-y.npz", x=rng.standard_normal((40, 6, 3)))
    good = (d / "good.npz").read_bytes()
    (d / "truncated.npz").write_bytes(good[:len(good) // 2])
    (d / "garbage.npz").write_bytes(b"not a zip file at all" * 20)
    (d / "empty.npz").write_bytes(b"")
    (d / "binary.ts").write_bytes(b"\xff\xfe\x00garbage\n@data\n1,2:3\n")
    (d / "empty.ts").write_text("")
    (d / "data.csv").write_text("1,2,3\n")
    os.makedirs(d / "folder.npz")
    (d / "a-file").write_text("in the way")
    (d / "corpus.txt").write_text("a text long enough to train on. " * 100)
    (d / "other.txt").write_text("\u00a7 a text with characters the model never saw. " * 40)
    text_vocabulary = Vocabulary.from_text((d / "corpus.txt").read_text())
    save_model(d / "charlm", char_model(len(text_vocabulary), "lstm", 4, 1, seed=0),
               text_vocabulary, TextConfig(hidden_size=4, num_layers=1))
    x = rng.standard_normal((20, 6, 3))
    RNNClassifier(hidden_size=2, epochs=1, random_state=0).fit(x, np.arange(20) % 2).save(
        d / "clf-model")
    RNNRegressor(hidden_size=2, epochs=1, random_state=0).fit(x, x[:, 0, 0]).save(
        d / "reg-model")
    model = build_model(make_task("adding", 10), "lstm", 4)
    io.save_weights(d / "lstm4.safetensors", model.state_dict())
    io.save_weights(d / "lstm8.safetensors", build_model(make_task("adding", 10), "lstm",
                                                         8).state_dict())
    weights = (d / "lstm4.safetensors").read_bytes()
    (d / "truncated.safetensors").write_bytes(weights[:len(weights) // 2])
    (d / "garbage.safetensors").write_bytes(b"\x00" * 5)
    with RunStore(str(d / "store.db")):
        pass
    store = (d / "store.db").read_bytes()
    (d / "truncated.db").write_bytes(store[:150])
    (d / "garbage.db").write_bytes(b"SQLite format 2\x00" + b"x" * 200)
    other = sqlite3.connect(d / "other-app.db")
    other.execute("CREATE TABLE t (x)")
    other.commit()
    other.close()
    newer = sqlite3.connect(d / "newer.db")
    newer.execute("PRAGMA application_id = 1919839852")  # rnnlab's, "rnnl"
    newer.execute("PRAGMA user_version = 99")
    newer.execute("CREATE TABLE runs (id)")
    newer.commit()
    newer.close()
    # checkpoints of a run: H = 2 (the TRAIN options), and one whose run.json is lost
    config = RunConfig(task="adding", length=4, hidden_size=2, updates=1, eval_every=100)
    run_task(config, checkpoint_dir=str(d / "ck"))
    run_task(config, checkpoint_dir=str(d / "ck-no-run-file"))
    os.remove(d / "ck-no-run-file" / "run.json")
    run_task(config, checkpoint_dir=str(d / "ck-broken"))
    newest = io.latest_checkpoint(str(d / "ck-broken"))
    (d / "ck-broken" / os.path.basename(newest) / "weights.safetensors").write_bytes(b"{")
    return str(d)


# (command line, the option the error must name); {d} is the folder of inputs
CASES = {
    "rnnlab": [
        ([], "command"),
        (["nope"], "command"),
        (["--frobnicate"], "--frobnicate"),
    ],
    "gradcheck": [
        (["--cells", "nope"], "--cells"),
        (["--cells", "lstm,,gru"], "--cells"),
        (["--cells", "lstm,lstm"], "--cells"),
        (["--cells", ""], "--cells"),
        (["--layers", "0"], "--layers"),
        (["--layers", "-1"], "--layers"),
        (["--layers", "1.5"], "--layers"),
        (["--batch", "0"], "--batch"),
        (["--steps", "x"], "--steps"),
        (["--input", "-2"], "--input"),
        (["--hidden", "abc"], "--hidden"),
        (["--hidden"], "--hidden"),
        (["--seed", "-1"], "--seed"),
        (["--seed", "x"], "--seed"),
        (["--seed", str(2**63)], "--seed"),
        (["--bidirectional=1"], "--bidirectional"),
        (["--no-bias=yes"], "--no-bias"),
        (["--no-bidirectional=no"], "--no-bidirectional"),
        (["--frobnicate"], "--frobnicate"),
    ],
    "explain": [
        (["--wx", "nan"], "--wx"),
        (["--wx", "1e999"], "--wx"),
        (["--wh", "abc"], "--wh"),
        (["--wy", ""], "--wy"),
        (["--h0", "inf"], "--h0"),
        (["--lr", "0"], "--lr"),
        (["--lr", "-1"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--activation", "gelu"], "--activation"),
        (["--x", "1,,2"], "--x"),
        (["--x", ""], "--x"),
        (["--x", "a"], "--x"),
        (["--x", "-1,2"], "--x"),  # a negative list needs --x=-1,2
        (["--y", "nan"], "--y"),
        (["--x", "1,2", "--y", "0.1,0.2,0.3"], "--y"),
        (["--wx", "1e200", "--wy", "1e200", "--activation", "relu"], "--wx"),  # overflows
        (["--json=1"], "--json"),
    ],
    "runs": [
        (["--db", "{d}"], "--db"),
        (["--db", "{d}/garbage.db"], "--db"),
        (["--db", "{d}/truncated.db"], "--db"),
        (["--db", "{d}/other-app.db"], "--db"),
        (["--db", "{d}/newer.db"], "--db"),
        (["--db", "{d}/good.npz"], "--db"),
        (["--status", "nope"], "--status"),
        (["--limit", "0"], "--limit"),
        (["--limit", "-3"], "--limit"),
        (["--limit", "x"], "--limit"),
        (["--json=1"], "--json"),
        (["--study"], "--study"),  # the filters are free text: a value must follow
        (["--task"], "--task"),
        (["--cell"], "--cell"),
        (["--kind"], "--kind"),
    ],
    "gradflow": [
        (["--cell", "nope"], "--cell"),
        (["--cell", "rnn,,lstm"], "--cell"),
        (["--cell", "gru,gru"], "--cell"),
        (["--length", "0"], "--length"),
        (["--length", "x"], "--length"),
        (["--length", "1"], "--length"),  # the adding task needs T >= 2
        (["--task", "nope"], "--task"),
        (["--hidden", "0"], "--hidden"),
        (["--batch", "-4"], "--batch"),
        (["--seed", "-1"], "--seed"),
        (["--nonlinearity", "gelu"], "--nonlinearity"),
        (["--nonlinearity", "relu", "--cell", "lstm"], "--nonlinearity"),
        (["--lambda1", "0"], "--lambda1"),
        (["--lambda1", "nan"], "--lambda1"),
        (["--lambda1", "2", "--cell", "lstm,gru"], "--lambda1"),
        (["--forget-bias", "nan"], "--forget-bias"),
        (["--forget-bias", "2", "--cell", "gru"], "--forget-bias"),
        (["--chrono", "1"], "--chrono"),
        (["--chrono", "x"], "--chrono"),
        (["--chrono", "5", "--cell", "rnn"], "--chrono"),
        (["--text", "{d}/corpus.txt"], "--text"),  # without --text-model
        (["--warmup", "5"], "--warmup"),
        (["--text-model", "{d}/charlm"], "--text"),
        (["--text-model", "{d}/charlm", "--text", "{d}/corpus.txt", "--cell", "lstm"],
         "--cell"),
        (["--text-model", "{d}/charlm", "--text", "{d}/corpus.txt", "--hidden", "4"],
         "--hidden"),
        (["--text-model", "{d}", "--text", "{d}/corpus.txt"], "--text-model"),
        (["--text-model", "{d}/charlm", "--text", "{d}/binary.ts"], "--text"),
        (["--text-model", "{d}/charlm", "--text", "{d}/other.txt"], "--text"),
        (["--text-model", "{d}/charlm", "--text", "{d}/corpus.txt", "--length", "500"],
         "--length"),
        (["--text-model", "{d}/charlm", "--text", "{d}/corpus.txt", "--warmup", "-1"],
         "--warmup"),
        (["--weights", "{d}/missing.safetensors", "--cell", "lstm"], "--weights"),
        (["--weights", "{d}/truncated.safetensors", "--cell", "lstm"], "--weights"),
        (["--weights", "{d}/garbage.safetensors", "--cell", "lstm"], "--weights"),
        (["--weights", "{d}/good.npz", "--cell", "lstm"], "--weights"),
        (["--weights", "{d}/lstm8.safetensors", "--cell", "lstm", "--hidden", "4"],
         "--weights"),  # of another size
        (["--weights", "{d}/lstm4.safetensors", "--cell", "gru", "--hidden", "4"],
         "--weights"),  # of another cell
        (["--weights", "{d}/lstm4.safetensors", "--cell", "lstm,gru"], "--weights"),
        (["--every", "0"], "--every"),
        (["--out", "{d}/a-file"], "--out"),
        (["--out", "{d}/a-file/pictures"], "--out"),
        # given but ignored: refused
        (["--no-plot", "--out", "{d}"], "--out"),
        (["--weights", "{d}/lstm4.safetensors", "--cell", "lstm", "--hidden", "4",
          "--forget-bias", "0"], "--forget-bias"),  # the weights replace the init
        (["--weights", "{d}/lstm4.safetensors", "--cell", "lstm", "--hidden", "4",
          "--chrono", "5"], "--chrono"),
        (["--no-plot=1"], "--no-plot"),
        (["--json=1"], "--json"),
    ],
    "train": [
        (["--cell", "nope"], "--cell"),
        (["--length", "0"], "--length"),
        (["--length", "x"], "--length"),
        (["--length", "1"], "--length"),  # the adding task needs T >= 2
        (["--task", "copy", "--length", "0"], "--length"),
        (["--seed", "-1"], "--seed"),
        (["--seed", "1.5"], "--seed"),
        (["--task", "nope"], "--task"),
        (["--data", "{d}/missing.npz"], "--data"),
        (["--data", "{d}/truncated.npz"], "--data"),
        (["--data", "{d}/garbage.npz"], "--data"),
        (["--data", "{d}/empty.npz"], "--data"),
        (["--data", "{d}/folder.npz"], "--data"),
        (["--data", "{d}/data.csv"], "--data"),
        (["--data", "{d}/binary.ts"], "--data"),
        (["--data", "{d}/empty.ts"], "--data"),
        (["--data", "{d}/one-class.npz"], "--data"),
        (["--data", "{d}/no-y.npz"], "--data"),
        (["--test-data", "{d}/good.npz"], "--test-data"),
        (["--data", "{d}/good.npz", "--test-data", "{d}/truncated.npz"], "--test-data"),
        (["--data", "{d}/good.npz", "--test-data", "{d}/wide.npz"], "--test-data"),
        (["--data", "{d}/good.npz", "--test-data", "{d}/missing.npz"], "--test-data"),
        (["--data", "{d}/good.npz", "--task", "copy"], "--task"),
        (["--data", "{d}/good.npz", "--length", "5"], "--length"),
        (["--data", "{d}/good.npz", "--n-train", "10"], "--n-train"),
        (["--data", "{d}/good.npz", "--eval-every", "10"], "--eval-every"),
        (["--hidden", "0"], "--hidden"),
        (["--hidden", "-8"], "--hidden"),
        (["--layers", "0"], "--layers"),
        (["--nonlinearity", "gelu"], "--nonlinearity"),
        (["--nonlinearity", "relu"], "--nonlinearity"),  # the cell is lstm
        (["--forget-bias", "inf"], "--forget-bias"),
        (["--forget-bias", "2", "--cell", "gru"], "--forget-bias"),
        (["--forget-bias", "2", "--chrono", "5"], "--forget-bias"),
        (["--chrono", "1"], "--chrono"),
        (["--chrono", "5", "--cell", "rnn"], "--chrono"),
        (["--lambda1", "2"], "--lambda1"),  # the cell is lstm
        (["--lambda1", "-2", "--cell", "rnn"], "--lambda1"),
        (["--optimizer", "nope"], "--optimizer"),
        (["--lr", "0"], "--lr"),
        (["--lr", "-0.1"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--lr", "inf"], "--lr"),
        (["--lr", "fast"], "--lr"),
        (["--updates", "0"], "--updates"),
        (["--eval-every", "0"], "--eval-every"),
        (["--batch-size", "0"], "--batch-size"),
        (["--n-train", "0"], "--n-train"),
        (["--epochs", "0"], "--epochs"),
        (["--epochs", "2"], "--epochs"),  # a stream has no epochs
        (["--epochs", "2", "--updates", "5", "--n-train", "10"], "--epochs"),
        (["--epochs", "2", "--n-train", "10", "--eval-every", "5"], "--eval-every"),
        (["--clip", "0"], "--clip"),
        (["--clip", "nan"], "--clip"),
        (["--clip", "2", "--no-clip"], "--no-clip"),
        (["--tbptt", "5"], "--tbptt"),
        (["--tbptt", "1,2,3"], "--tbptt"),
        (["--tbptt", "0,1"], "--tbptt"),
        (["--tbptt", "3,2"], "--tbptt"),
        (["--tbptt", "a,b"], "--tbptt"),
        (["--tbptt", "2,4"], "--tbptt"),  # the adding task has one target, at the end
        (["--norm", "batch"], "--norm"),
        (["--norm", ""], "--norm"),
        (["--norm"], "--norm"),
        *[(["--norm", "layer", "--cell", cell], "--norm") for cell in NO_NORM[:1]],
        (["--chunk", "0"], "--chunk"),
        (["--chunk", "-2"], "--chunk"),
        (["--chunk", "2.5"], "--chunk"),
        (["--chunk", "x"], "--chunk"),
        (["--chunk", "2", "--task", "copy"], "--chunk"),  # a target at every step
        (["--chunk", "2", "--cell", "rnn", "--lambda1", "2"], "--chunk"),
        (["--chunk", "2", "--task", "copy", "--tbptt", "2,4"], "--chunk"),
        *[([option, value], option) for option in ("--dropout", "--recurrent-dropout")
          for value in ("1", "-0.1", "nan", "half", "")],
        (["--plot-attention", "{d}"], "--plot-attention"),  # no --attention
        (["--attention", "dot", "--plot-attention", "{d}/a-file"], "--plot-attention"),
        (["--attention", "dot", "--plot-attention", "{d}", "--data", "{d}/good.npz"],
         "--plot-attention"),
        (["--attention", "bahdanau"], "--attention"),
        (["--attention"], "--attention"),
        (["--attention", "additive", "--task", "copy"], "--attention"),
        (["--attention", "additive", "--cell", "transformer"], "--attention"),
        (["--attention", "dot", "--task", "reverse", "--norm", "layer"], "--attention"),
        (["--attention", "dot", "--chunk", "3"], "--attention"),
        (["--heads", "0"], "--heads"),
        (["--heads", "2.5"], "--heads"),
        (["--cell", "transformer", "--heads", "3"], "--heads"),
        (["--cell", "transformer", "--chunk", "3"], "--chunk"),
        (["--cell", "transformer", "--recurrent-dropout", "0.2"], "--recurrent-dropout"),
        (["--cell", "transformer", "--task", "copy", "--tbptt", "2,4"], "--tbptt"),
        (["--db", "{d}"], "--db"),
        (["--db", "{d}/garbage.db"], "--db"),
        (["--db", "{d}/other-app.db"], "--db"),
        (["--db", "{d}/newer.db"], "--db"),
        (["--db", "{d}/missing-folder/runs.db"], "--db"),
        (["--save", "{d}"], "--save"),  # a folder of other files: saving would replace it
        (["--save", "{d}/a-file"], "--save"),
        (["--checkpoint-dir", "{d}/a-file"], "--checkpoint-dir"),
        (["--checkpoint-dir", "{d}/a-file/ck"], "--checkpoint-dir"),
        (["--checkpoint-dir", "{d}/ck"], "--checkpoint-dir"),  # holds a run: needs --resume
        (["--resume"], "--resume"),
        (["--resume", "--checkpoint-dir", "{d}/ck", "--hidden", "3"], "--resume"),
        (["--resume", "--checkpoint-dir", "{d}/ck", "--lr", "0.1"], "--resume"),
        (["--resume", "--checkpoint-dir", "{d}/ck", "--batch-size", "8"], "--resume"),
        (["--resume", "--checkpoint-dir", "{d}/ck-no-run-file"], "--resume"),
        (["--resume", "--checkpoint-dir", "{d}/ck-broken"], "--resume"),
        (["--resume=1"], "--resume"),
        (["--keep-going=no"], "--keep-going"),
        (["--json=yes"], "--json"),
        (["--tbptt", "10,5", "--task", "copy"], "--tbptt"),  # k2 < k1
        # output paths, checked before any training
        (["--save="], "--save"),
        (["--save", "{d}/a-file/model"], "--save"),
        (["--layout", "NCT"], "--layout"),  # without --data
        (["--layout", "CTN", "--data", "{d}/good.npz"], "--layout"),
        (["--save", "{d}/model", "--task", "reverse", "--attention", "dot"], "--save"),
        (["--db", "{d}/runs.db", "--save", "{d}/runs.db"], "--save"),  # the same file
        (["--db", "{d}/missing-folder/"], "--db"),
        (["--db="], "--db"),
        (["--checkpoint-dir="], "--checkpoint-dir"),
        # given but ignored: refused
        (["--heads", "2"], "--heads"),  # the cell is lstm
        (["--dropout", "0.2"], "--dropout"),  # one layer: nothing between layers
        (["--patience", "0"], "--patience"),
        (["--patience", "x"], "--patience"),
        (["--patience", "2", "--resume", "--checkpoint-dir", "{d}/ck"], "--resume"),
        (["--frobnicate"], "--frobnicate"),
    ],
    "compare": [
        (["--cells", "nope"], "--cells"),
        (["--cells", "lstm,nope"], "--cells"),
        (["--cells", "rnn,,lstm"], "--cells"),
        (["--cells", "lstm,lstm"], "--cells"),
        (["--cells", "lstm,lstm-chrono", "--chrono", "auto"], "--cells"),  # the same twice
        (["--cells", "ln-lstm,ln-lstm"], "--cells"),
        (["--cells", "hier-lstm", "--task", "copy"], "--cells"),  # a target at every step
        (["--cells", "hier-gru", "--lambda1", "2"], "--lambda1"),
        (["--cells", "hier-gru", "--forget-bias", "2"], "--forget-bias"),
        (["--chunk", "0", "--cells", "hier-lstm"], "--chunk"),
        (["--chunk", "x", "--cells", "hier-gru"], "--chunk"),
        (["--chunk", "-1"], "--chunk"),
        (["--chunk", "5", "--cells", "rnn,lstm,ln-lstm"], "--chunk"),  # no hierarchical cell
        (["--chunk", "5"], "--chunk"),  # the default cells are flat
        (["--lengths", "10,,x"], "--lengths"),
        (["--lengths", ""], "--lengths"),
        (["--lengths", "-5"], "--lengths"),
        (["--lengths", "10,10"], "--lengths"),
        (["--lengths", "1", "--task", "adding"], "--lengths"),
        (["--seeds", "0"], "--seeds"),
        (["--seeds", "two"], "--seeds"),
        (["--workers", "0"], "--workers"),
        (["--workers", "x"], "--workers"),
        (["--task", "nope"], "--task"),
        (["--hidden", "0"], "--hidden"),
        (["--updates", "-1"], "--updates"),
        (["--lr", "0.1", "--lr-grid", "0.1,0.2"], "--lr-grid"),
        (["--lr-grid", "0.1,-1"], "--lr-grid"),
        (["--lr-grid", "0.1,0.1"], "--lr-grid"),
        (["--lr-grid", "0.1,,0.2"], "--lr-grid"),
        (["--chrono", "1"], "--chrono"),
        (["--chrono", "5", "--cells", "rnn,irnn"], "--chrono"),
        (["--lambda1", "2", "--cells", "lstm"], "--lambda1"),
        (["--lambda1", "2", "--cells", "rnn,lstm"], "--lambda1"),
        (["--nonlinearity", "relu", "--cells", "lstm,gru"], "--nonlinearity"),
        (["--forget-bias", "2", "--cells", "gru"], "--forget-bias"),
        (["--tbptt", "2,2"], "--tbptt"),  # the language task has one target, at the end
        (["--epochs", "3"], "--epochs"),
        (["--clip", "1", "--no-clip"], "--no-clip"),
        (["--out", "{d}/a-file"], "--out"),
        (["--db", "{d}"], "--db"),
        (["--db", "{d}/garbage.db"], "--db"),
        (["--layers", "0"], "--layers"),
        (["--optimizer", "newton"], "--optimizer"),
        (["--batch-size", "0"], "--batch-size"),
        (["--eval-every", "x"], "--eval-every"),
        (["--n-train", "-1"], "--n-train"),
        (["--epochs", "2", "--n-train", "10", "--eval-every", "5"], "--eval-every"),
        *[([option, value], option) for option in ("--dropout", "--recurrent-dropout")
          for value in ("1", "-0.1", "nan", "half", "")],
        (["--heads", "0"], "--heads"),
        (["--heads", "x"], "--heads"),
        (["--cells", "transformer", "--heads", "3"], "--heads"),
        (["--keep-going=1"], "--keep-going"),
        (["--no-plot=1"], "--no-plot"),
        (["--json=1"], "--json"),
        (["--no-plot", "--out", "{d}"], "--out"),  # given but ignored
        (["--heads", "2"], "--heads"),  # the default cells have no transformer
        (["--dropout", "0.2"], "--dropout"),  # one layer
        (["--patience", "0"], "--patience"),
        (["--db", "{d}/a-file/runs.db"], "--db"),
        (["--db", "{d}/missing-folder/runs.db"], "--db"),
        (["--out="], "--out"),
        (["--frobnicate"], "--frobnicate"),
    ],
    "predict": [
        ([], "MODEL"),
        (["{d}/clf-model"], "DATA"),
        (["{d}/missing", "{d}/good.npz"], "MODEL"),
        (["{d}/charlm", "{d}/good.npz"], "MODEL"),  # a character model's folder
        (["{d}/good.npz", "{d}/good.npz"], "MODEL"),
        (["{d}/clf-model", "{d}/missing.npz"], "DATA"),
        (["{d}/clf-model", "{d}/a-file"], "DATA"),
        (["{d}/clf-model", "{d}/garbage.npz"], "DATA"),
        (["{d}/clf-model", "{d}/wide.npz"], "DATA"),  # 5 features; the model read 3
        (["{d}/reg-model", "{d}/good.npz", "--proba"], "--proba"),
        (["{d}/clf-model", "{d}/good.npz", "--layout", "CTN"], "--layout"),
        (["{d}/clf-model", "{d}/good.npz", "--proba=1"], "--proba"),
        (["{d}/clf-model", "{d}/good.npz", "--json=1"], "--json"),
    ],
    "report": [
        ([], "STUDY"),
        (["s"], "--db"),  # the default store does not exist here: reading never creates it
        (["s", "--db", "{d}/missing.db"], "--db"),
        (["s", "--db", "{d}"], "--db"),
        (["s", "--db", "{d}/garbage.db"], "--db"),
        (["s", "--db", "{d}/truncated.db"], "--db"),
        (["s", "--db", "{d}/other-app.db"], "--db"),
        (["s", "--db", "{d}/newer.db"], "--db"),
        (["s", "--db", "{d}/good.npz"], "--db"),
        (["s", "--db"], "--db"),
        (["nope", "--db", "{d}/store.db"], "STUDY"),  # no run has this study
        (["nope", "--db", "{d}/store.db", "--out", "{d}/a-file"], "--out"),
        (["nope", "--db", "{d}/store.db", "--out="], "--out"),
        (["nope", "--db", "{d}/store.db", "--out", "{d}/a-file/pictures"], "--out"),
        (["nope", "--db", "{d}/store.db", "--out"], "--out"),
        (["s", "--json=1"], "--json"),
        (["s", "--frobnicate"], "--frobnicate"),
    ],
    "sweep": [  # the spec's own errors: tests/test_sweep.py
        ([], "SPEC"),
        (["{d}/missing.toml"], "missing.toml"),
        (["{d}/good.npz"], "good.npz"),  # not TOML
        (["{d}/data.csv"], "data.csv"),
        (["{d}/missing.toml", "--db", "{d}"], "--db"),
        (["{d}/missing.toml", "--db", "{d}/garbage.db"], "--db"),
        (["{d}/missing.toml", "--db", "{d}/newer.db"], "--db"),
        (["{d}/missing.toml", "--db", "{d}/missing-folder/runs.db"], "--db"),
        (["{d}/missing.toml", "--db", "{d}/missing-folder/"], "--db"),
        (["{d}/missing.toml", "--workers", "0"], "--workers"),
        (["{d}/missing.toml", "--workers", "x"], "--workers"),
        (["{d}/missing.toml", "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"],
         "--workers"),
        (["{d}/missing.toml", "--scheduler", "nope"], "--scheduler"),
        (["{d}/missing.toml", "--scheduler", "tcp://127.0.0.1:0"], "--scheduler"),
        (["{d}/missing.toml", "--scheduler", "http://127.0.0.1:8786"], "--scheduler"),
        (["{d}/missing.toml", "--resume=1"], "--resume"),
        (["{d}/missing.toml", "--json=1"], "--json"),
        (["{d}/missing.toml", "--frobnicate"], "--frobnicate"),
    ],
    "bench": [
        (["--cells", "nope"], "--cells"),
        (["--cells", "gru,,rnn"], "--cells"),
        (["--grid", "1,2,3"], "--grid"),
        (["--grid", "1,2,3,0"], "--grid"),
        (["--grid", "a,b,c,d"], "--grid"),
        (["--grid", "1,2,3,4;;"], "--grid"),
        (["--grid", "1,2,3,-4"], "--grid"),
        (["--repeats", "0"], "--repeats"),
        (["--no-torch=1"], "--no-torch"),
        (["--dtype", "float16"], "--dtype"),
        (["--json=1"], "--json"),
        (["--frobnicate"], "--frobnicate"),
    ],
    "text": [
        ([], "ACTION"),
        (["translate"], "ACTION"),
        (["train"], "FILE"),
        (["train", "{d}/missing.txt"], "FILE"),
        (["train", "{d}/empty.ts"], "FILE"),
        (["train", "{d}/binary.ts"], "FILE"),
        (["train", "{d}/data.csv"], "FILE"),  # too short
        (["train", "{d}/corpus.txt", "--batch-size", "64", "--seq-len", "100"], "--batch-size"),
        (["train", "{d}/corpus.txt", "--cell", "transformer"], "--cell"),
        *[(["train", "{d}/corpus.txt", option, "0"], option)
          for option in ("--hidden", "--layers", "--seq-len", "--batch-size", "--updates",
                         "--lr", "--eval-every")],
        (["train", "{d}/corpus.txt", "--dropout", "1"], "--dropout"),
        (["train", "{d}/corpus.txt", "--seed", "-1"], "--seed"),
        (["train", "{d}/corpus.txt", "--out", "{d}/a-file"], "--out"),
        (["train", "{d}/corpus.txt", "--json=1"], "--json"),
        (["train", "{d}/corpus.txt", "--resume"], "--resume"),
        (["train", "{d}/corpus.txt", "--one-hot=1"], "--one-hot"),
        (["train", "{d}/corpus.txt", "--seq-len", "20", "--k2", "10"], "--k2"),
        (["train", "{d}/corpus.txt", "--k2", "0"], "--k2"),
        (["train", "{d}/corpus.txt", "--checkpoint-dir", "{d}/a-file"], "--checkpoint-dir"),
        (["train", "{d}/corpus.txt", "--checkpoint-dir"], "--checkpoint-dir"),
        (["sample"], "DIR"),
        (["sample", "{d}"], "DIR"),  # not a saved model
        (["sample", "{d}", "--length", "0"], "--length"),
        (["sample", "{d}", "--temperature", "-1"], "--temperature"),
        (["sample", "{d}", "--temperature", "nan"], "--temperature"),
        (["sample", "{d}", "--top-k", "0"], "--top-k"),
        (["sample", "{d}", "--prime"], "--prime"),
        (["sample", "{d}", "--seed", "x"], "--seed"),
        (["corpus"], "name"),
        (["corpus", "wikipedia", "--out", "{d}/x.txt"], "name"),
        (["corpus", "python-stdlib"], "--out"),
        (["corpus", "python-stdlib", "--out", "{d}"], "--out"),
        (["corpus", "python-stdlib", "--out", "{d}/x.txt", "--chars", "0"], "--chars"),
        (["train", "{d}/corpus.txt", "--frobnicate"], "--frobnicate"),
    ],
    "demo": [
        (["--out", "{d}/a-file"], "--out"),
        (["--out", "{d}/a-file/pictures"], "--out"),
        (["--db", "{d}"], "--db"),
        (["--db", "{d}/garbage.db"], "--db"),
        (["--db", "{d}/other-app.db"], "--db"),
        (["--seed", "-1"], "--seed"),
        (["--seed", "x"], "--seed"),
        (["--frobnicate"], "--frobnicate"),
    ],
}

PARAMS = [pytest.param(command, args, option, id=f"{command} {' '.join(args)}")
          for command, cases in CASES.items() for args, option in cases]


def _state(folder) -> dict:
    """Every file under ``folder`` with its size and modification time."""
    found = {}
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = os.path.join(root, name)
            info = os.stat(path)
            found[path] = (info.st_size, info.st_mtime_ns)
    return found


def _no_work(name, *args, **kwargs):
    raise AssertionError(f"{name} ran: the refusal came after the work began")


@pytest.mark.parametrize("command, args, option", PARAMS)
def test_bad_input_exits_2_with_one_line_naming_the_option(command, args, option, files,
                                                          tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # where the default outputs would go
    argv = ([] if command == "rnnlab" else [command]) + [a.format(d=files) for a in args]
    if command == "train" and "--data" not in args:
        budget = [] if {"--epochs", "--updates"} & set(args) else ["--updates", "1"]
        argv = TRAIN + budget + argv[1:]  # everything else right
    before = _state(files)
    for name in WORK:  # a refusal does no work
        monkeypatch.setattr(commands, name, functools.partial(_no_work, name))
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    assert info.value.code == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, err  # one line
    assert option in err and "Traceback" not in err, err
    assert err.startswith("rnnlab"), err
    assert out == ""
    assert os.listdir(tmp_path) == [] and _state(files) == before  # nothing written


def test_the_battery_covers_every_command_and_option():
    """Every option of every command appears in some case above."""
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert sorted(CASES) == sorted([*commands, "rnnlab"])
    missing = {}
    for command, subparser in commands.items():
        options = {o for a in subparser._actions for o in a.option_strings} - {"-h", "--help"}
        named = {a.split("=")[0] for args, _ in CASES[command] for a in args if a[:2] == "--"}
        missing[command] = sorted(options - named)
    assert not any(missing.values()), missing


@pytest.mark.parametrize("argv, option", [
    (["train", "--hidden", "0"], "--hidden"),
    (["train", "--data", "{d}/truncated.npz"], "--data"),
    (["runs", "--db", "{d}/garbage.db"], "--db"),
    (["compare", "--cells", "lstm,nope"], "--cells"),
])
def test_the_real_program_prints_one_line_and_exits_2(argv, option, files, tmp_path):
    done = subprocess.run([sys.executable, "-m", "rnnlab.cli"]
                          + [a.format(d=files) for a in argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and option in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert os.listdir(tmp_path) == []
