"""One training run on a task: build the model, train it, measure it, record it.

The unit that ``rnnlab train`` runs once and ``rnnlab compare`` runs for every combination of
cell, length and seed. Everything it does is decided by a :class:`RunConfig` (saved with the
run's record), and the data are drawn from the config's seed, so a run can be repeated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from rnnlab._checks import one_of, positive_int
from rnnlab.diagnostics import scale_recurrent_weights
from rnnlab.layers import GRU, LSTM, RNN, LastStep, Linear, Sequential
from rnnlab.optim import OPTIMIZERS
from rnnlab.tasks import TASKS, FileTask, make_task
from rnnlab.training import TrainConfig, Trainer

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


@dataclass
class RunConfig:
    """What to train on what; saved in the run store with every run."""

    task: str = "adding"  # a name in rnnlab.tasks.TASKS, or "file" to train on `data`
    length: int = 50  # the task's difficulty knob (sequence length, gap)
    cell: str = "lstm"  # rnn, lstm or gru
    hidden_size: int = 64  # H
    num_layers: int = 1
    nonlinearity: str = "tanh"  # for rnn: tanh, relu or sigmoid
    forget_bias: float = 1.0  # LSTM only: added to the forget gate's bias (Keras' default)
    lambda_1: float | None = None  # RNN only: W_hh rescaled to this largest singular value
    optimizer: str = "adam"  # a name in rnnlab.optim.OPTIMIZERS
    lr: float = 1e-2
    epochs: int = 10  # at most; fewer when stop_when_solved
    batch_size: int = 32
    n_train: int = 2000  # training sequences, drawn once
    n_val: int = 500  # validation sequences, measured after every epoch
    n_test: int = 1000  # fresh test sequences for the final metric
    clip_norm: float | None = 1.0  # None: no clipping
    tbptt: tuple | None = None  # (k1, k2) for truncated BPTT; None: full BPTT
    stop_when_solved: bool = True  # end once the validation metric counts as solved
    seed: int = 0  # weights, data and batch order all derive from it
    dtype: str = "float32"
    task_options: dict = field(default_factory=dict)  # e.g. {"pairs": 4} for language
    data: str | None = None  # task "file": a .ts or .npz file (n_train, n_val, n_test unused)
    test_data: str | None = None  # task "file": a separate test file

    def __post_init__(self):
        one_of(self.task, "task", sorted(TASKS) + ["file"])
        if (self.task == "file") != (self.data is not None):
            raise ValueError(f"data must be given exactly when task='file', got task="
                             f"{self.task!r} and data={self.data!r}")
        if self.test_data is not None and self.data is None:
            raise ValueError("test_data needs data")
        one_of(self.cell, "cell", sorted(CELLS))
        one_of(self.optimizer, "optimizer", sorted(OPTIMIZERS))
        one_of(self.dtype, "dtype", ("float32", "float64"))
        for name in ("hidden_size", "num_layers", "epochs", "batch_size", "n_train", "n_val",
                     "n_test"):
            positive_int(getattr(self, name), name)
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < math.inf):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")
        if self.lambda_1 is not None and self.cell != "rnn":
            raise ValueError(f"lambda_1 applies to cell='rnn' only, got cell={self.cell!r}")
        self.make_task()  # checks length and task_options

    def make_task(self):
        if self.task == "file":
            return FileTask(path=self.data, test_path=self.test_data)
        return make_task(self.task, self.length, **self.task_options)

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["tbptt"] = list(self.tbptt) if self.tbptt is not None else None
        return out


def build_model(task, cell: str = "lstm", hidden_size: int = 64, num_layers: int = 1,
                nonlinearity: str = "tanh", forget_bias: float = 1.0, seed: int = 0,
                dtype: str = "float32", lambda_1: float | None = None) -> Sequential:
    """cell -> (LastStep, unless the task wants an output per step) -> Linear head.

    ``lambda_1`` (rnn only) rescales every W_hh to that largest singular value.
    """
    rng = np.random.default_rng(seed)
    kwargs = {"dtype": dtype, "seed": rng}
    if cell == "rnn":
        kwargs["nonlinearity"] = nonlinearity
    if cell == "lstm":
        kwargs["forget_bias"] = forget_bias
    recurrent = CELLS[cell](task.input_size, hidden_size, num_layers, **kwargs)
    if lambda_1 is not None:
        scale_recurrent_weights(recurrent, lambda_1)
    head = Linear(hidden_size, task.output_size, dtype=dtype, seed=rng)
    if task.per_step:
        return Sequential(recurrent, head)
    return Sequential(recurrent, LastStep(), head)


def run_task(config: RunConfig, store=None, study: str | None = None, kind: str = "train",
             progress: bool = False, checkpoint_dir: str | None = None) -> dict:
    """Train ``config``'s model on its task, measure it on fresh data, and record the run.

    Parameters
    ----------
    config : RunConfig
    store : rnnlab.experiments.RunStore, optional
        Where the run, its epochs (as they finish) and its result are recorded.
    study : str, optional
        Groups the runs of one comparison in the store.
    kind : str
        The record's kind ("train", "compare").
    progress : bool
        A progress bar per epoch.
    checkpoint_dir : str, optional
        Write a checkpoint after every epoch (the last is kept with the one before).

    Returns
    -------
    dict
        cell, length, seed, metric (on the test set), baseline, solved, params, seconds (per
        epoch), epochs, metric_name, task, history, and the trained ``model``.
    """
    if not isinstance(config, RunConfig):
        raise TypeError(f"config must be a RunConfig, got {type(config).__name__}")
    task = config.make_task()
    model = build_model(task, config.cell, config.hidden_size, config.num_layers,
                        config.nonlinearity, config.forget_bias, config.seed, config.dtype,
                        config.lambda_1)
    train, val, test = task.split(config.n_train, config.n_val, config.n_test, config.seed)
    optimizer = OPTIMIZERS[config.optimizer](model, lr=config.lr)
    train_config = TrainConfig(epochs=config.epochs, batch_size=config.batch_size,
                               clip_norm=config.clip_norm, tbptt=config.tbptt, seed=config.seed,
                               checkpoint_dir=checkpoint_dir, progress=progress)
    callbacks = [_stop_when_solved(task)] if config.stop_when_solved else []
    recording = contextlib.nullcontext() if store is None else store.record(
        config.to_json(), seed=config.seed, study=study, kind=kind, task=config.task,
        cell=config.cell)
    with recording as run:  # with a store: epochs logged as they end, failures marked
        if run is not None:
            callbacks.append(run.callback)
        trainer = Trainer(model, task.loss, optimizer, train_config, metric=task.metric,
                          callbacks=callbacks)
        trainer.fit(train, val)
        metric = trainer.evaluate(test)["metric"]
        result = {
            "task": task.config(), "cell": config.cell, "length": task.length,
            "seed": config.seed, "metric_name": task.metric_name, "metric": metric,
            "baseline": float(task.baseline), "solved": bool(task.solved(metric)),
            "params": int(model[0].num_parameters()),
            "seconds": float(np.mean([r["seconds"] for r in trainer.history])),
            "epochs": len(trainer.history),
        }
        if run is not None:
            run.finish(result)
            result["run_id"] = run.id
    result["history"] = trainer.history
    result["model"] = model
    return result


def _stop_when_solved(task):
    def callback(trainer, record):
        if task.solved(record["val_metric"]):
            trainer.stop = True
    return callback

