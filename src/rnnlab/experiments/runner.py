"""One training run on a task: build the model, train it, measure it, record it.

The unit that ``rnnlab train`` runs once and ``rnnlab compare`` runs for every combination of
cell, length and seed. Everything it does is decided by a :class:`RunConfig` (saved with the
run's record), and the data are drawn from the config's seed, so a run can be repeated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from dataclasses import dataclass, field

import numpy as np

from rnnlab import init as initializers
from rnnlab import io
from rnnlab._checks import one_of, positive_int, probability
from rnnlab.experiments.models import (ATTENTIONS, DEFAULT_HEADS, GATED, MODELS, NORMS,
                                       build_model, encoder_decoder_task, norm_cells)
from rnnlab.experiments.run_folder import (close_abandoned_runs, load_checkpoint, locked,
                                           write_run_file)
from rnnlab.experiments.trained_model import savable, save_trained
from rnnlab.optim import OPTIMIZERS
from rnnlab.tasks import TASKS, FileTask, make_task
from rnnlab.training import TrainConfig, Trainer, TrainingDiverged

EVAL_BATCH = 256  # sequences per batch when measuring (no gradients: larger is faster)
@contextlib.contextmanager
def _about(*fields):
    """Tag a failed check with the config fields it is about (``err.fields``), so that a
    front end can name its own option for them (the command line: ``--hidden``)."""
    try:
        yield
    except (TypeError, ValueError, OSError) as err:
        if not hasattr(err, "fields"):
            err.fields = fields
        raise


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
    patience: int | None = None  # end after this many validations in a row without a lower
    # validation loss, on the weights of the best one (the Trainer's); None: the whole budget
    seed: int = 0  # weights, data and batch order all derive from it
    dtype: str = "float32"
    task_options: dict = field(default_factory=dict)  # e.g. {"pairs": 4} for language
    data: str | None = None  # task "file": a .ts or .npz file (n_train, n_val, n_test unused)
    test_data: str | None = None  # task "file": a separate test file
    layout: str | None = None  # task "file": a .npz x's axes, "NTF" or "NCT" (None: NTF,
    # refusing an x with fewer steps than features)
    norm: str | None = None  # "layer": layer-normalized recurrence (lstm; see norm_cells)
    chunk: int | None = None  # K: a hierarchical model over chunks of K steps; None: flat
    dropout: float = 0.0  # between stacked layers (num_layers > 1), as torch.nn.LSTM's
    recurrent_dropout: float = 0.0  # variational, on h_{t-1} into W_hh (Gal & Ghahramani)
    attention: str | None = None  # "additive" or "dot": attention pooling, or with a
    # sequence-to-sequence task an encoder-decoder (see experiments.models.build_model)
    heads: int = DEFAULT_HEADS  # cell "transformer": attention heads (hidden_size divisible)

    def __post_init__(self):
        with _about("task"):
            one_of(self.task, "task", sorted(TASKS) + ["file"])
        with _about("data", "task"):
            if (self.task == "file") != (self.data is not None):
                raise ValueError(f"data must be given exactly when task='file', got task="
                                 f"{self.task!r} and data={self.data!r}")
        with _about("test_data"):
            if self.test_data is not None and self.data is None:
                raise ValueError("test_data needs data")
        with _about("layout"):
            if self.layout not in (None, "NTF", "NCT"):
                raise ValueError(f"layout must be None, 'NTF' or 'NCT', got {self.layout!r}")
            if self.layout is not None and self.data is None:
                raise ValueError("layout says how a data file's x is laid out: it needs data")
        for name, choices in (("cell", MODELS), ("optimizer", sorted(OPTIMIZERS)),
                              ("dtype", ("float32", "float64"))):
            with _about(name):
                one_of(getattr(self, name), name, choices)
        if self.init_hh is not None:
            with _about("init_hh"):
                one_of(self.init_hh, "init_hh", initializers.NAMES)
        for name in ("hidden_size", "num_layers", "updates", "eval_every", "batch_size",
                     "n_val", "n_test"):
            with _about(name):
                positive_int(getattr(self, name), name)
        for name in ("epochs", "n_train", "patience"):
            if getattr(self, name) is not None:
                with _about(name):
                    positive_int(getattr(self, name), name)
        with _about("epochs", "n_train"):
            if self.epochs is not None and self.n_train is None and self.task != "file":
                raise ValueError("epochs needs a fixed training set (n_train, or a data file); "
                                 "a stream of fresh sequences is trained for `updates` updates")
        with _about("lr"):
            if not (isinstance(self.lr, (int, float)) and 0 < self.lr < math.inf):
                raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        with _about("seed"):
            if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                    or self.seed < 0:
                raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")
        with _about("lambda_1", "cell"):
            if self.lambda_1 is not None and self.cell != "rnn":
                raise ValueError(f"lambda_1 applies to cell='rnn' only, "
                                 f"got cell={self.cell!r}")
        with _about("chrono", "cell"):
            if self.chrono is not None:
                if self.cell not in GATED:
                    raise ValueError(f"chrono applies to the gated cells {GATED} only, got "
                                     f"cell={self.cell!r}")
                if self.chrono != "auto":
                    initializers.check_chrono(self.chrono)
        if self.norm is not None:
            with _about("norm"):
                one_of(self.norm, "norm", NORMS)
            with _about("norm", "cell"):
                if self.cell not in norm_cells():
                    raise ValueError(f"norm={self.norm!r} applies to the cells "
                                     f"{norm_cells()} only, got cell={self.cell!r}")
        if self.chunk is not None:
            with _about("chunk"):
                positive_int(self.chunk, "chunk")
        for name in ("dropout", "recurrent_dropout"):
            with _about(name):
                probability(getattr(self, name), name)
        with _about("length", "task_options", "data", "test_data"):
            task = self.make_task()  # checks length and task_options, reads a data file
        self._check_model(task)
        with _about("chunk", "task"):
            if self.chunk is not None and task.per_step:
                raise ValueError(f"chunk (a hierarchical model, one output per sequence) needs "
                                 f"a task with one target per sequence (adding, language, a "
                                 f"data file), got the {task.name} task, with a target at "
                                 f"every step")
        with _about("chunk", "lambda_1"):
            if self.chunk is not None and self.lambda_1 is not None:
                raise ValueError("lambda_1 rescales a flat RNN's W_hh; it does not apply to "
                                 "a hierarchical model (chunk)")
        if self.tbptt is not None:
            with _about("tbptt"):
                if not isinstance(self.tbptt, (tuple, list)) or len(self.tbptt) != 2:
                    raise TypeError(f"tbptt must be a pair (k1, k2) or None, "
                                    f"got {self.tbptt!r}")
                k1 = positive_int(self.tbptt[0], "tbptt k1")
                k2 = positive_int(self.tbptt[1], "tbptt k2")
                if k2 < k1:
                    raise ValueError(f"tbptt (k1, k2) needs k2 >= k1 (each update "
                                     f"back-propagates through at least its k1 new steps), "
                                     f"got k1 = {k1}, k2 = {k2}")
            with _about("tbptt", "task"):
                if not task.per_step:
                    raise ValueError(f"tbptt needs a task with a target at every step "
                                     f"(copy), got the {task.name} task, whose one target "
                                     f"comes at the end")

    def _check_model(self, task) -> None:
        """The checks of attention and of the Transformer, which depend on the task."""
        if self.attention is not None:
            with _about("attention"):
                one_of(self.attention, "attention", ATTENTIONS)
            with _about("attention", "task"):
                if task.per_step and not encoder_decoder_task(task):
                    raise ValueError(f"attention pools a sequence into one output, or drives "
                                     f"an encoder-decoder on a sequence-to-sequence task "
                                     f"(reverse, sort, seq-copy); the {task.name} task has "
                                     f"neither form")
            options = {"cell": self.cell == "transformer", "chunk": self.chunk is not None,
                       "tbptt": self.tbptt is not None}
            if encoder_decoder_task(task):  # the encoder-decoder takes none of these
                options.update(norm=self.norm is not None, chrono=self.chrono is not None,
                               lambda_1=self.lambda_1 is not None,
                               init_hh=self.init_hh is not None, dropout=bool(self.dropout),
                               recurrent_dropout=bool(self.recurrent_dropout))
            for name, given in options.items():
                with _about("attention", name):
                    if given:
                        raise ValueError(f"attention={self.attention!r} does not combine with "
                                         f"{name}={getattr(self, name)!r} on the {task.name} "
                                         f"task")
        with _about("heads"):
            positive_int(self.heads, "heads")
        if self.cell == "transformer":
            for name in ("chunk", "init_hh", "tbptt"):
                with _about(name, "cell"):
                    if getattr(self, name) is not None:
                        raise ValueError(f"{name} applies to the recurrent cells, not to "
                                         f"cell='transformer'")
            with _about("recurrent_dropout", "cell"):
                if self.recurrent_dropout:
                    raise ValueError("recurrent_dropout applies to the recurrent cells, not to "
                                     "cell='transformer' (its dropout is `dropout`)")
            with _about("heads", "hidden_size"):
                if self.hidden_size % self.heads:
                    raise ValueError(f"hidden_size (the Transformer's d_model) must be "
                                     f"divisible by heads, got {self.hidden_size} and "
                                     f"{self.heads}")

    def make_task(self):
        if self.task == "file":
            return FileTask(path=self.data, test_path=self.test_data, layout=self.layout)
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


def updates_to_solve(history: list, task) -> int | None:
    """The updates taken at the first validation that counts as solved; None if none did
    (the run is censored at its budget)."""
    for record in history:
        if task.solved(record["val_metric"]):
            return int(record["updates"])
    return None


def run_task(config: RunConfig, store=None, study: str | None = None, kind: str = "train",
             progress: bool = False, checkpoint_dir: str | None = None,
             resume: bool = False, save: str | None = None) -> dict:
    """Train ``config``'s model on its task, measure it on fixed test data, and record it.

    Synthetic tasks train on a stream of fresh sequences for ``config.updates`` updates
    (or on a fixed set of ``config.n_train``), validate every ``config.eval_every``
    updates on a fixed validation set, and measure the test set once, at the end.
    With ``config.patience``, training ends after that many validations in a row without
    a lower validation loss, and the model ends on the weights of its best validation
    (the Trainer's early stopping and ``restore_best``): the test and ``save`` see those.

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
        Write a checkpoint after every round of ``eval_every`` updates, or every epoch (the
        last is kept with the one before), and ``run.json``, the config and run they belong
        to; the run's record notes the folder (``checkpoint_dir``). The folder is locked
        while the run trains; a folder that already holds checkpoints is refused unless
        ``resume``.
    resume : bool
        Continue from the newest checkpoint in ``checkpoint_dir`` that loads (from the
        beginning if there is none yet). Everything a run depends on comes from ``config``
        (weights, data and batch order from its seed) or from the checkpoint (weights,
        optimizer, history, batches drawn), so the result is bitwise that of a run never
        interrupted. ``config`` must equal the checkpoints' but for its budget (``updates``,
        ``epochs``). With a store, the resumed run is recorded as a new run whose config
        holds ``resumed_from`` (the checkpoint, the updates done, the earlier run's id) and
        whose epochs include the restored ones; the runs of the folder that the store
        still has "running" (killed: the lock was free) are marked "interrupted".
    save : str, optional
        Write the trained model to this folder (:mod:`rnnlab.experiments.trained_model`:
        architecture, weights, a data file's standardization and classes, the config)
        before the run is recorded as finished.

    Returns
    -------
    dict
        cell, length, seed, lr, chrono (T_max or None), metric (on the test set), baseline,
        solved, val_metric and val_loss (of the weights the run ends with: the last
        validation, or with ``config.patience`` the best, whose weights the Trainer
        restores before the test), best_epoch (that validation's round or epoch),
        stopped_early (patience ran out before the budget), updates_to_solve (None: never
        solved on validation), updates, params, seconds (of training, over all resumptions),
        update_ms (per update), metric_name, task, resumed_from (the checkpoint resumed
        from, or None), history, the run's ``run_id`` (with a store) and the trained
        ``model``.

    Raises
    ------
    rnnlab.training.TrainingDiverged
        When the loss or the weights stop being finite (the store marks the run failed; the
        exception's ``run_id`` is the run's id, or None without a store).
    rnnlab.io.DiskWriteError
        When ``save`` cannot be written (the run is marked failed; ``run_id`` as above).
    ValueError
        Before any training, when ``save`` is given for a model that cannot be saved.
    CheckpointError
        Before any training, for a checkpoint folder this run cannot use (see
        :func:`check_checkpoints`), or one in use by another process.
    """
    if not isinstance(config, RunConfig):
        raise TypeError(f"config must be a RunConfig, got {type(config).__name__}")
    if resume and checkpoint_dir is None:
        raise ValueError("resume needs checkpoint_dir, the folder to resume from")
    task = config.make_task()
    trainer = _trainer(config, task, checkpoint_dir, progress)
    if save is not None and savable(trainer.model) is not None:
        raise ValueError(f"save: this model cannot be saved yet ({savable(trainer.model)})")
    train, val, test = task.split(config.n_train, config.n_val, config.n_test, config.seed)
    with contextlib.ExitStack() as stack:
        run, resumed = _start(stack, trainer, config, store, study, kind, checkpoint_dir,
                              resume)
        try:
            trainer.fit(train, val)
        except TrainingDiverged as err:
            err.run_id = None if run is None else run.id
            raise
        result = _result(config, task, trainer, trainer.evaluate(test, EVAL_BATCH)["metric"],
                         resumed)
        model = trainer.model
        if save is not None:
            try:
                save_trained(save, model, config, task)
            except io.DiskWriteError as err:  # recorded as failed, not finished
                err.run_id = None if run is None else run.id
                raise
        if run is not None:
            run.finish(result)
            result["run_id"] = run.id
    result["history"] = trainer.history
    result["model"] = model
    return result


def run_model(config: RunConfig, task):
    """The model ``config`` describes for ``task``, initialized from its seed."""
    return build_model(task, config.cell, config.hidden_size, config.num_layers,
                       config.nonlinearity, config.forget_bias, config.seed, config.dtype,
                       config.lambda_1, config.chrono_steps(task), config.init_hh,
                       config.norm, config.chunk, config.dropout, config.recurrent_dropout,
                       config.attention, config.heads)


def _trainer(config: RunConfig, task, checkpoint_dir, progress: bool) -> Trainer:
    """The model ``config`` describes, its optimizer, and the Trainer that will train it."""
    model = run_model(config, task)
    optimizer = OPTIMIZERS[config.optimizer](model, lr=config.lr)
    train_config = TrainConfig(batch_size=config.batch_size, clip_norm=config.clip_norm,
                               tbptt=config.tbptt, seed=config.seed,
                               patience=config.patience, restore_best=True,
                               checkpoint_dir=checkpoint_dir, progress=progress,
                               **_budget(config))
    callbacks = [_stop_when_solved(task)] if config.stop_when_solved else []
    return Trainer(model, task.loss, optimizer, train_config, metric=task.metric,
                   callbacks=callbacks)


def _start(stack, trainer, config: RunConfig, store, study, kind, checkpoint_dir,
           resume: bool) -> tuple:
    """Lock the checkpoint folder and resume from it, open the run's record (with the
    restored history, ``run.json`` and the killed runs of the folder marked); return
    (run or None, what was resumed or None). Everything opened closes with ``stack``."""
    resumed = None
    record = config.to_json()
    if checkpoint_dir is not None:
        stack.enter_context(locked(checkpoint_dir))
        resumed = load_checkpoint(trainer, config, checkpoint_dir, resume)
        record["checkpoint_dir"] = os.path.abspath(checkpoint_dir)
    if resumed is not None:
        record["resumed_from"] = {key: resumed[key] for key in ("checkpoint", "updates",
                                                                "epoch", "run_id")}
    run = None if store is None else stack.enter_context(store.record(
        record, seed=config.seed, study=study, kind=kind, task=config.task,
        cell=config.cell))
    if checkpoint_dir is not None:
        write_run_file(checkpoint_dir, config, run, store)
    if run is not None:
        if checkpoint_dir is not None:
            close_abandoned_runs(store, record["checkpoint_dir"], run.id, resumed)
        if resumed is not None:
            for past in trainer.history:  # the new record holds the whole history
                run.log_epoch(past["epoch"], past)
        trainer.callbacks.append(run.callback)
    return run, resumed


def _result(config: RunConfig, task, trainer, metric: float, resumed) -> dict:
    """What a finished run reports (see :func:`run_task`), but its history and model."""
    seconds = float(sum(r["seconds"] for r in trainer.history))
    final = final_record(config, trainer.history)
    return {
        "task": task.config(), "cell": config.cell, "length": task.length,
        "seed": config.seed, "lr": float(config.lr), "chrono": config.chrono_steps(task),
        "metric_name": task.metric_name, "metric": metric,
        "baseline": float(task.baseline), "solved": bool(task.solved(metric)),
        "val_metric": float(final["val_metric"]), "val_loss": float(final["val_loss"]),
        "best_epoch": int(final["epoch"]), "stopped_early": _stopped_early(config, trainer),
        "updates_to_solve": updates_to_solve(trainer.history, task),
        "updates": trainer.updates, "params": int(trainer.model[0].num_parameters()),
        "model_params": int(trainer.model.num_parameters()),
        "seconds": seconds, "update_ms": 1e3 * seconds / max(trainer.updates, 1),
        "epochs": len(trainer.history),
        "resumed_from": None if resumed is None else resumed["checkpoint"],
    }


def final_record(config: RunConfig, history: list) -> dict:
    """The validation record of the weights a run ends with: the last one, or with
    ``patience`` the best one (the first of the lowest validation loss, which the Trainer
    restores)."""
    if config.patience is None:
        return history[-1]
    return min(history, key=lambda record: record["val_loss"])  # the first of equals


def _stopped_early(config: RunConfig, trainer) -> bool:
    """Whether ``patience`` ran out before the budget was spent: the best validation is
    followed by ``patience`` that are not lower."""
    if config.patience is None or _budget_spent(config, trainer):
        return False
    best = trainer.history.index(final_record(config, trainer.history))
    return len(trainer.history) - 1 - best >= config.patience


def _budget_spent(config: RunConfig, trainer) -> bool:
    if config.epochs is not None:
        return trainer.epoch >= config.epochs
    return trainer.updates >= config.updates


def _budget(config: RunConfig) -> dict:
    """The TrainConfig fields of the budget: epochs, or updates in rounds of eval_every."""
    if config.epochs is not None:
        return {"epochs": config.epochs}
    return {"updates": config.updates, "eval_every": config.eval_every}


def _solved_in_a_row(history: list, task, in_a_row: int = 2) -> bool:
    """Whether the last ``in_a_row`` validations all count as solved."""
    recent = history[-in_a_row:]
    return len(recent) == in_a_row and all(task.solved(r["val_metric"]) for r in recent)


def _stop_when_solved(task, in_a_row: int = 2):
    """A callback that ends training once ``in_a_row`` validations in a row count as solved
    (one lucky validation does not end a run whose test metric would fall short).

    It decides from the history alone, so a resumed run decides as the uninterrupted one
    did; ``run_task`` asks it again after loading a checkpoint, since the Trainer writes a
    checkpoint before it calls its callbacks."""
    def callback(trainer, record):
        if _solved_in_a_row(trainer.history, task, in_a_row):
            trainer.stop = True
    return callback


