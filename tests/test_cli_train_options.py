"""``rnnlab train --patience``: early stopping on the validation loss that ends on the best
weights (the Trainer's own mechanism), recorded with the run; a save that fails at the end is
a failed run, not a traceback; and the forget bias's two defaults, said in every help."""

import errno
import json

import pytest

from rnnlab import io
from rnnlab.cli import build_parser, main
from rnnlab.experiments.models import build_model
from rnnlab.experiments.runner import RunConfig
from rnnlab.experiments.store import RunStore
from rnnlab.layers import LSTM
from rnnlab.optim import OPTIMIZERS
from rnnlab.saved_model import load_model
from rnnlab.training import TrainConfig, Trainer

# a small run whose validation loss stops falling within a few rounds (a large step size)
FLAKY = ["train", "--task", "adding", "--length", "10", "--hidden", "8", "--lr", "0.05",
         "--updates", "300", "--eval-every", "5", "--keep-going"]


def _train(argv, tmp_path, capsys) -> dict:
    """Run ``rnnlab train ... --json`` into ``tmp_path``; its JSON row."""
    code = main(argv + ["--save", str(tmp_path / "model.safetensors"),
                        "--db", str(tmp_path / "runs.db"), "--json"])
    assert code == 0
    return json.loads(capsys.readouterr().out)


def _val_loss_of_saved_weights(tmp_path, config: RunConfig) -> float:
    """The validation loss of the weights ``--save`` wrote, measured afresh."""
    task = config.make_task()
    _, val, _ = task.split(config.n_train, config.n_val, config.n_test, config.seed)
    model = build_model(task, config.cell, config.hidden_size, seed=config.seed)
    model.load_state_dict(load_model(str(tmp_path / "model.safetensors"))[0].state_dict())
    trainer = Trainer(model, task.loss, OPTIMIZERS["adam"](model, lr=config.lr),
                      TrainConfig(batch_size=config.batch_size, updates=1), metric=task.metric)
    return trainer.evaluate(val)["loss"]


def test_patience_stops_early_and_saves_the_best_weights(tmp_path, capsys):
    row = _train(FLAKY + ["--patience", "2"], tmp_path, capsys)
    losses = [r["val_loss"] for r in row["history"]]
    best = losses.index(min(losses))
    assert row["stopped_early"] and row["updates"] < 300
    assert len(losses) == best + 1 + 2  # two validations without a lower loss, then stop
    assert min(losses) < losses[-1]  # the last weights are not the best
    assert row["val_loss"] == min(losses) and row["best_epoch"] == best + 1
    config = RunConfig(length=10, hidden_size=8, lr=0.05, updates=300, eval_every=5,
                       stop_when_solved=False, patience=2)
    assert _val_loss_of_saved_weights(tmp_path, config) == pytest.approx(min(losses),
                                                                          rel=1e-5)
    with RunStore(str(tmp_path / "runs.db")) as store:
        (run,) = store.runs()
    assert run["config"]["patience"] == 2 and run["status"] == "finished"
    assert run["metrics"]["val_loss"] == min(losses)


def test_without_patience_the_run_ends_on_its_last_weights(tmp_path, capsys):
    row = _train([a if a != "300" else "20" for a in FLAKY], tmp_path, capsys)
    losses = [r["val_loss"] for r in row["history"]]
    assert len(losses) == 4 and not row["stopped_early"]
    assert row["val_loss"] == losses[-1]
    config = RunConfig(length=10, hidden_size=8, lr=0.05, updates=20, eval_every=5,
                       stop_when_solved=False)
    assert _val_loss_of_saved_weights(tmp_path, config) == pytest.approx(losses[-1], rel=1e-5)


def test_patience_counts_epochs_with_epochs(tmp_path, capsys):
    row = _train(["train", "--task", "adding", "--length", "10", "--hidden", "8", "--lr",
                  "0.05", "--n-train", "64", "--epochs", "30", "--patience", "1",
                  "--keep-going"], tmp_path, capsys)
    losses = [r["val_loss"] for r in row["history"]]
    assert row["stopped_early"] and len(losses) < 30
    assert losses[-1] >= min(losses[:-1])  # one epoch without a lower loss ended it
    assert row["best_epoch"] == losses.index(min(losses)) + 1


def test_patience_reaches_compare_and_its_records(tmp_path, capsys):
    code = main(["compare", "--cells", "lstm", "--lengths", "5", "--seeds", "1", "--task",
                 "adding", "--hidden", "4", "--lr", "0.01", "--updates", "10", "--eval-every",
                 "5", "--patience", "3", "--no-plot", "--db", str(tmp_path / "runs.db"),
                 "--json"])
    assert code == 0
    with RunStore(str(tmp_path / "runs.db")) as store:
        (run,) = store.runs(kind="compare")
    assert run["config"]["patience"] == 3


def test_a_save_that_fails_at_the_end_is_a_failed_run_not_a_traceback(tmp_path, capsys,
                                                                      monkeypatch):
    from rnnlab.experiments import trained_model

    def disk_full(path, *args, **kwargs):  # as if the disk filled up while training
        raise io.DiskWriteError(errno.ENOSPC, f"cannot write the model {path!r}: No space "
                                              f"left on device")
    monkeypatch.setattr(trained_model.saved_model, "save_model", disk_full)
    code = main(["train", "--length", "4", "--hidden", "2", "--updates", "1",
                 "--save", str(tmp_path / "m.safetensors"), "--db", str(tmp_path / "runs.db")])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in out + err
    assert "not saved" in out and "recorded as failed as run 1" in out
    with RunStore(str(tmp_path / "runs.db")) as store:
        (run,) = store.runs()
    assert run["status"] == "failed"


def _help(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return " ".join(sub.format_help().split())


@pytest.mark.parametrize("command", ["train", "compare", "gradflow"])
def test_every_help_states_both_forget_bias_defaults(command):
    text = _help(command)
    assert "default 1 on the command line" in text
    assert "Jozefowicz et al. 2015" in text
    assert "rnnlab.LSTM layer, like torch.nn.LSTM, adds 0 unless given forget_bias=" in text


def test_the_two_forget_bias_defaults_are_what_the_help_says():
    assert RunConfig().forget_bias == 1.0
    assert LSTM(3, 4, seed=0).forget_bias == 0.0
    args = build_parser().parse_args(["train"])
    assert args.forget_bias is None  # filled with RunConfig's default once checked


@pytest.mark.parametrize("command", ["train", "compare"])
def test_the_patience_help_says_what_it_counts(command):
    text = _help(command)
    assert "--patience N" in text
    for words in ("validations in a row without a lower validation loss", "--eval-every",
                  "after every epoch with --epochs", "best validation"):
        assert words in text
