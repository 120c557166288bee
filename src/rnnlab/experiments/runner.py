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

from rnnlab import init as initializers
from rnnlab._checks import one_of, positive_int
from rnnlab.diagnostics import scale_recurrent_weights
from rnnlab.layers import GRU, LSTM, RNN, LastStep, Linear, Sequential
from rnnlab.optim import OPTIMIZERS
from rnnlab.tasks import TASKS, FileTask, make_task
from rnnlab.training import TrainConfig, Trainer

EVAL_BATCH = 256  # sequences per batch when measuring (no gradients: larger is faster)
CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
GATED = ("lstm", "gru")  # the cells chrono initialization applies to


@dataclass
class RunConfig:
    """What to train on what; saved in the run store with every run."""

    task: str = "adding"  # a name in rnnlab.tasks.TASKS, or "file" to train on `data`
    length: int = 50  # the task's difficulty knob (sequence length, gap)
    cell: str = "lstm"  # rnn, lstm or gru
    hidden_size: int = 64  # H
    num_layers: int = 1
    nonlinearity: str = "tanh"  # for rnn: tanh, relu or sigmoid
    init_hh: str | None = None  # W_hh's initializer (rnnlab.init.NAMES); None: PyTorch's
    forget_bias: float = 1.0  # LSTM without chrono: added to the forget gate's bias (Keras)
    chrono: int | str | None = None  # LSTM/GRU: chrono init, T_max or "auto" (the task's T)
    lambda_1: float | None = None  # RNN only: W_hh rescaled to this largest singular value
    optimizer: str = "adam"  # a name in rnnlab.optim.OPTIMIZERS
    lr: float = 3e-3
    updates: int = 3000  # the budget: optimizer steps, one batch each (full BPTT)
    eval_every: int = 100  # validate every this many updates
    epochs: int | None = None  # instead of updates: passes over a fixed training set
    batch_size: int = 32
    n_train: int | None = None  # None: fresh sequences for every batch; N: a fixed set of N
    n_val: int = 500  # validation sequences, fixed, measured every eval_every updates
    n_test: int = 1000  # test sequences, fixed, measured once at the end
    clip_norm: float | None = 1.0  # None: no clipping
    tbptt: tuple | None = None  # (k1, k2) for truncated BPTT; None: full BPTT
    stop_when_solved: bool = True  # end once two validations in a row count as solved
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
        if self.init_hh is not None:
            one_of(self.init_hh, "init_hh", initializers.NAMES)
        for name in ("hidden_size", "num_layers", "updates", "eval_every", "batch_size",
                     "n_val", "n_test"):
            positive_int(getattr(self, name), name)
        for name in ("epochs", "n_train"):
            if getattr(self, name) is not None:
                positive_int(getattr(self, name), name)
        if self.epochs is not None and self.n_train is None and self.task != "file":
            raise ValueError("epochs needs a fixed training set (n_train, or a data file); "
                             "a stream of fresh sequences is trained for `updates` updates")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < math.inf):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")
        if self.lambda_1 is not None and self.cell != "rnn":
            raise ValueError(f"lambda_1 applies to cell='rnn' only, got cell={self.cell!r}")
        if self.chrono is not None:
            if self.cell not in GATED:
                raise ValueError(f"chrono applies to the gated cells {GATED} only, got "
                                 f"cell={self.cell!r}")
            if self.chrono != "auto":
                initializers.check_chrono(self.chrono)
        self.make_task()  # checks length and task_options

    def make_task(self):
        if self.task == "file":
            return FileTask(path=self.data, test_path=self.test_data)
        return make_task(self.task, self.length, **self.task_options)

    def chrono_steps(self, task=None) -> int | None:
        """T_max of chrono initialization: ``chrono``, or the task's T for "auto"."""
        if self.chrono == "auto":
            return max(2, (task or self.make_task()).steps)
        return self.chrono

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["tbptt"] = list(self.tbptt) if self.tbptt is not None else None
        return out


def build_model(task, cell: str = "lstm", hidden_size: int = 64, num_layers: int = 1,
                nonlinearity: str = "tanh", forget_bias: float = 1.0, seed: int = 0,
                dtype: str = "float32", lambda_1: float | None = None,
                chrono: int | None = None, init_hh: str | None = None) -> Sequential:
    """cell -> (LastStep, unless the task wants an output per step) -> Linear head.

    ``lambda_1`` (rnn only) rescales every W_hh to that largest singular value; ``chrono``
    (lstm, gru) is chrono initialization's T_max, and an LSTM with it has no forget bias
    added; ``init_hh`` initializes W_hh ("identity" with a ReLU RNN is Le et al.'s IRNN).
    """
    rng = np.random.default_rng(seed)
    kwargs = {"dtype": dtype, "seed": rng}
    if init_hh is not None:
        kwargs["init_hh"] = init_hh
    if cell == "rnn":
        kwargs["nonlinearity"] = nonlinearity
    if chrono is not None:
        kwargs["chrono"] = chrono
    elif cell == "lstm":
        kwargs["forget_bias"] = forget_bias
    recurrent = CELLS[cell](task.input_size, hidden_size, num_layers, **kwargs)
    if lambda_1 is not None:
        scale_recurrent_weights(recurrent, lambda_1)
    head = Linear(hidden_size, task.output_size, dtype=dtype, seed=rng)
    if task.per_step:
        return Sequential(recurrent, head)
    return Sequential(recurrent, LastStep(), head)


def updates_to_solve(history: list, task) -> int | None:
    """The updates taken at the first validation that counts as solved; None if none did
    (the run is censored at its budget)."""
    for record in history:
        if task.solved(record["val_metric"]):
            return int(record["updates"])
    return None


def run_task(config: RunConfig, store=None, study: str | None = None, kind: str = "train",
             progress: bool = False, checkpoint_dir: str | None = None) -> dict:
    """Train ``config``'s model on its task, measure it on fixed test data, and record it.

    Synthetic tasks train on a stream of fresh sequences for ``config.updates`` updates
    (or on a fixed set of ``config.n_train``), validate every ``config.eval_every``
    updates on a fixed validation set, and measure the test set once, at the end.

    Parameters
    ----------
    config : RunConfig
    store : rnnlab.experiments.RunStore, optional
        Where the run, its evaluations (as they finish) and its result are recorded.
    study : str, optional
        Groups the runs of one comparison in the store.
    kind : str
        The record's kind ("train", "compare").
    progress : bool
        A progress bar per round of updates (or epoch).
    checkpoint_dir : str, optional
        Write a checkpoint after every round (the last is kept with the one before).

    Returns
    -------
    dict
        cell, length, seed, lr, chrono (T_max or None), metric (on the test set), baseline,
        solved, val_metric (the last validation), updates_to_solve (None: never solved on
        validation), updates, params, seconds (of training), update_ms (per update),
        metric_name, task, history, and the trained ``model``.

    Raises
    ------
    rnnlab.training.TrainingDiverged
        When the loss or the weights stop being finite (the store marks the run failed).
    """
    if not isinstance(config, RunConfig):
        raise TypeError(f"config must be a RunConfig, got {type(config).__name__}")
    task = config.make_task()
    chrono = config.chrono_steps(task)
    model = build_model(task, config.cell, config.hidden_size, config.num_layers,
                        config.nonlinearity, config.forget_bias, config.seed, config.dtype,
                        config.lambda_1, chrono, config.init_hh)
    train, val, test = task.split(config.n_train, config.n_val, config.n_test, config.seed)
    optimizer = OPTIMIZERS[config.optimizer](model, lr=config.lr)
    budget = {"epochs": config.epochs} if config.epochs is not None else {
        "updates": config.updates, "eval_every": config.eval_every}
    train_config = TrainConfig(batch_size=config.batch_size, clip_norm=config.clip_norm,
                               tbptt=config.tbptt, seed=config.seed,
                               checkpoint_dir=checkpoint_dir, progress=progress, **budget)
    callbacks = [_stop_when_solved(task)] if config.stop_when_solved else []
    recording = contextlib.nullcontext() if store is None else store.record(
        config.to_json(), seed=config.seed, study=study, kind=kind, task=config.task,
        cell=config.cell)
    with recording as run:  # with a store: evaluations logged as they end, failures marked
        if run is not None:
            callbacks.append(run.callback)
        trainer = Trainer(model, task.loss, optimizer, train_config, metric=task.metric,
                          callbacks=callbacks)
        trainer.fit(train, val)
        metric = trainer.evaluate(test, batch_size=EVAL_BATCH)["metric"]
        seconds = float(sum(r["seconds"] for r in trainer.history))
        result = {
            "task": task.config(), "cell": config.cell, "length": task.length,
            "seed": config.seed, "lr": float(config.lr), "chrono": chrono,
            "metric_name": task.metric_name, "metric": metric,
            "baseline": float(task.baseline), "solved": bool(task.solved(metric)),
            "val_metric": float(trainer.history[-1]["val_metric"]),
            "updates_to_solve": updates_to_solve(trainer.history, task),
            "updates": trainer.updates, "params": int(model[0].num_parameters()),
            "seconds": seconds, "update_ms": 1e3 * seconds / max(trainer.updates, 1),
            "epochs": len(trainer.history),
        }
        if run is not None:
            run.finish(result)
            result["run_id"] = run.id
    result["history"] = trainer.history
    result["model"] = model
    return result


def _stop_when_solved(task, in_a_row: int = 2):
    """A callback that ends training once ``in_a_row`` validations in a row count as solved
    (one lucky validation does not end a run whose test metric would fall short)."""
    def callback(trainer, record):
        recent = trainer.history[-in_a_row:]
        if len(recent) == in_a_row and all(task.solved(r["val_metric"]) for r in recent):
            trainer.stop = True
    return callback
