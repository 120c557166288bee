"""The Trainer: forward -> loss -> backward (BPTT) -> clip -> update, over epochs of shuffled
batches or a budget of updates on a stream, with validation, early stopping, a divergence
guard, a progress bar, and checkpoints from which a run resumes bit for bit.

Shapes: B batch, T steps, F features.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time

import numpy as np

from rnnlab import io
from rnnlab._checks import NonFiniteError, positive_int
from rnnlab.data import SequenceData, SequenceStream, batch_indices, lengths_to_mask
from rnnlab.layers.module import no_grad
from rnnlab.optim import clip_grad_norm_, clip_grad_value_
from rnnlab.training import run_state
from rnnlab.training.config import RESUMABLE_CHANGES, TrainConfig
from rnnlab.training.tbptt import check_loss, check_tbptt, truncated_bptt


class TrainingDiverged(RuntimeError):
    """The loss or the gradients became NaN or infinite; the last good weights are restored."""


class Trainer:
    """Train a model: batches, BPTT, clipping, updates, validation, checkpoints.

    Parameters
    ----------
    model : Module
        Maps (B, T, F) inputs and lengths to predictions: (B, ...) for one per sequence, or
        (B, T, ...) for one per step (then padded steps are masked out of the loss).
    loss : callable
        ``loss(prediction, target, mask) -> (value, d_prediction)``, a mean
        (``rnnlab.losses``: cross_entropy, mse_loss, bce_with_logits).
    optimizer : rnnlab.optim.Optimizer
        Built on ``model``.
    config : TrainConfig, optional
    schedule : rnnlab.optim.Schedule, optional
        Stepped once after every epoch.
    metric : callable, optional
        ``metric(prediction, target, lengths) -> float``, a mean over the batch (e.g.
        accuracy), reported for validation each epoch.
    callbacks : sequence of callables
        Each is called as ``callback(trainer, record)`` after every epoch, with the epoch's
        record (a dict); setting ``trainer.stop = True`` ends training.

    Attributes
    ----------
    history : list of dict
        One record per epoch (or, counting updates, per round of ``eval_every`` updates):
        epoch (the round's number), train_loss, grad_norm (mean over updates, before
        clipping), val_loss and val_metric (with validation data), lr, seconds, and updates
        (taken so far).

    Examples
    --------
    >>> trainer = Trainer(model, cross_entropy, Adam(model, lr=1e-2),
    ...                   TrainConfig(epochs=60, patience=10, progress=True))
    >>> history = trainer.fit(SequenceData(x, y, lengths), val=SequenceData(xv, yv, lv))
    """

    def __init__(self, model, loss, optimizer, config: TrainConfig | None = None,
                 schedule=None, metric=None, callbacks=()):
        if not (hasattr(model, "forward") and hasattr(model, "backward")
                and hasattr(model, "parameters")):
            raise TypeError(f"model must be an rnnlab Module, got {type(model).__name__}")
        if not (hasattr(optimizer, "step") and hasattr(optimizer, "state_dict")):
            raise TypeError(f"optimizer must be an rnnlab.optim Optimizer, got "
                            f"{type(optimizer).__name__}")
        if schedule is not None and not hasattr(schedule, "step"):
            raise TypeError(f"schedule must be an rnnlab.optim Schedule or None, got "
                            f"{type(schedule).__name__}")
        if metric is not None and not callable(metric):
            raise TypeError(f"metric must be callable or None, got {type(metric).__name__}")
        if not isinstance(callbacks, (list, tuple)):
            raise TypeError(f"callbacks must be a list of callables, got "
                            f"{type(callbacks).__name__}")
        for k, callback in enumerate(callbacks):
            if not callable(callback):
                raise TypeError(f"callbacks[{k}] must be callable, got "
                                f"{type(callback).__name__} {callback!r}")
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.config = config if config is not None else TrainConfig()
        if not isinstance(self.config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(self.config).__name__}")
        if self.config.tbptt is not None:
            check_tbptt(model, *self.config.tbptt)
        if not callable(loss):
            raise TypeError(f"loss must be callable, got {type(loss).__name__}")
        self.schedule, self.metric, self.callbacks = schedule, metric, list(callbacks)
        self.history: list = []
        self.epoch = 0  # finished epochs
        self.updates = 0  # optimizer steps taken
        self.batches = 0  # training batches drawn
        self.stop = False
        self._best = None  # (validation loss, weights) of the best epoch so far
        self._bad_epochs = 0

    # -- one batch ---------------------------------------------------------------------
    def _chunks(self, x, y, lengths, weight=None):
        """Yield (loss, count) after each backward pass over the batch (one, or per chunk)."""
        if self.config.tbptt is not None:
            yield from truncated_bptt(self.model, x, y, lengths, self.loss, *self.config.tbptt)
            return
        prediction = self.model.forward(x, lengths=lengths)
        value, d_prediction, count = self._loss(prediction, y, lengths, weight)
        check_loss(value)
        self.model.backward(d_prediction)
        yield value, count

    def _train_batch(self, x, y, lengths, where: str, weight=None):
        """Yield (loss, count, gradient norm) after each update on one batch.

        A value that stops being finite on the way (the forward pass's output, the loss, a
        gradient passed back, the weights after the update) ends training with
        ``TrainingDiverged`` saying where: the update, and the module when a container
        located it."""
        try:
            for value, n in self._chunks(x, y, lengths, weight):
                yield value, n, self._update(value, where)
        except NonFiniteError as err:
            if err.module is None and err.argument not in ("loss", "d_output"):
                raise  # the data itself (checked when it was built, so not expected)
            self._diverged(f"{where}: {err}")

    def _loss(self, prediction, y, lengths, weight=None) -> tuple:
        """(loss, d_prediction, count): per-step predictions (B, T, ...) are masked at padded
        steps and count their valid steps; one prediction per sequence counts B. With sample
        weights (B,), the loss is their weighted mean and the count their sum."""
        mask = lengths_to_mask(lengths, prediction.shape[1]) if prediction.ndim == 3 else None
        count = int(mask.sum()) if mask is not None else prediction.shape[0]
        options = {}
        if weight is not None:
            options["weight"] = weight
            count = float(weight.sum() if mask is None else (mask * weight[:, None]).sum())
        with np.errstate(over="ignore", invalid="ignore"):  # a non-finite loss: _update says
            return (*self.loss(prediction, y, mask, **options), count)

    def _update(self, value: float, where: str) -> float:
        """Clip and step, unless the loss or gradient is not finite; return the grad norm."""
        grads = self.model.gradients()
        with np.errstate(over="ignore", invalid="ignore"):  # a non-finite norm is caught below
            norm = clip_grad_norm_(grads, self.config.clip_norm or math.inf)
        if not (math.isfinite(value) and math.isfinite(norm)):
            self._diverged(f"{where}: the loss is {value} and the gradient norm {norm}")
        if self.config.clip_value is not None:
            clip_grad_value_(grads, self.config.clip_value)
        last_good = self.model.state_dict(), self.optimizer.state_dict()
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below
            self.optimizer.step()
        self.optimizer.zero_grad()
        if not all(np.isfinite(p).all() for p in self.model.parameters().values()):
            self.model.load_state_dict(last_good[0])
            self.optimizer.load_state_dict(last_good[1])
            self._diverged(f"{where}: the update made some weights NaN or infinite")
        self.updates += 1
        return norm

    def _diverged(self, what: str):
        self.model.zero_grad()
        raise TrainingDiverged(
            f"training stopped at {what}. The weights are those of the last good step "
            f"(after {self.updates} updates). Try a smaller lr, gradient clipping "
            f"(clip_norm) or truncated BPTT.")

    # -- epochs or rounds of updates ----------------------------------------------------
    def fit(self, train, val: SequenceData | None = None, resume=False) -> list:
        """Train for ``config.epochs`` epochs, or ``config.updates`` updates (in all,
        counting those already done).

        Parameters
        ----------
        train : SequenceData or SequenceStream
            A fixed training set (visited in epochs of shuffled batches), or a stream of
            fresh batches (then ``config.updates`` is the budget).
        val : SequenceData, optional
            Measured after every epoch, or every ``config.eval_every`` updates.
        resume : bool or str
            True: continue from the newest checkpoint in ``config.checkpoint_dir``, if any;
            a path: from that checkpoint folder. The result is bitwise the same as a run
            that was never interrupted.

        Returns
        -------
        list of dict
            ``history``, one record per epoch (or round of updates).
        """
        if not isinstance(train, (SequenceData, SequenceStream)):
            raise TypeError(f"train must be a SequenceData or a SequenceStream, "
                            f"got {type(train).__name__}")
        if isinstance(train, SequenceStream) and self.config.updates is None:
            raise ValueError("config.updates must be set to train on a stream: a stream has "
                             "no epochs, its budget is counted in updates")
        if val is not None and not isinstance(val, SequenceData):
            raise TypeError(f"val must be a SequenceData or None, got {type(val).__name__}")
        if self.config.tbptt is not None and getattr(train, "weight", None) is not None:
            raise ValueError("train has sample weights, which truncated BPTT does not take: "
                             "set config.tbptt=None, or drop the weights")
        if val is None and self.config.patience is not None:
            raise ValueError(f"patience={self.config.patience} needs validation data: pass "
                             f"val to fit, or set patience=None")
        self.stop = False
        if resume:
            path = resume if isinstance(resume, (str, bytes)) or hasattr(resume, "__fspath__") \
                else io.latest_checkpoint(self.config.checkpoint_dir or "")
            if path is not None:
                self.load_checkpoint(path)  # restores stop: a run that had ended stays ended
        while not self._budget_spent() and not self.stop:
            with model_mode(self.model, training=True):  # dropout on
                record = self._train_round(train)
            if val is not None:
                try:
                    scores = self.evaluate(val)
                except NonFiniteError as err:  # the validation forward pass overflowed
                    self._diverged(f"validation after {self.updates} updates: {err}")
                record.update({f"val_{k}": v for k, v in scores.items()})
                self._early_stopping(record["val_loss"])
            self.history.append(record)
            for callback in self.callbacks:
                callback(self, record)
            if self.config.checkpoint_dir is not None:  # after the callbacks: with their stop
                self.save_checkpoint(self.config.checkpoint_dir)
        if (self.config.patience is not None and self.config.restore_best
                and self._best is not None):  # stopped early or not: end on the best weights
            self.model.load_state_dict(self._best[1])
        return self.history

    def _budget_spent(self) -> bool:
        if self.config.updates is not None:
            return self.updates >= self.config.updates
        return self.epoch >= self.config.epochs

    def _batches(self, train):
        """Yield ``(x, y, lengths, weight)`` from batch number ``self.batches`` on, for ever:
        a stream's batch k, or batch k mod n of the shuffled epoch k // n of a fixed set
        (``weight`` the sequences' sample weights, or None)."""
        config = self.config
        while True:
            if isinstance(train, SequenceStream):
                yield (*train.batch(self.batches, config.batch_size), None)
                continue
            epoch, k = divmod(self.batches, -(-len(train) // config.batch_size))
            rng = np.random.default_rng([config.seed, epoch])
            for index in batch_indices(train.lengths, config.batch_size, config.shuffle, rng,
                                       config.bucket)[k:]:
                part = train.subset(index)
                yield part.x, part.y, part.lengths, part.weight

    def _train_round(self, train) -> dict:
        """One epoch, or (counting updates) the updates up to the next multiple of
        ``eval_every`` or the budget; return its record."""
        config, began = self.config, time.perf_counter()
        if config.updates is None:
            size = -(-len(train) // config.batch_size)  # batches in the epoch
            self.batches = self.epoch * size
            target, unit = None, size
            description = f"epoch {self.epoch + 1}/{config.epochs}"
        else:
            target = min(config.updates, (self.updates // config.eval_every + 1)
                         * config.eval_every)
            size, unit = None, target - self.updates
            description = f"updates {self.updates + 1}-{target} of {config.updates}"
        bar = _progress_bar(unit, description) if config.progress else None
        total, count, norms = 0.0, 0, []
        self.model.zero_grad()
        batches = self._batches(train)
        try:
            for k in itertools.count():
                if (target is None and k == size) or (target is not None
                                                      and self.updates >= target):
                    break
                x, y, lengths, weight = next(batches)
                self.batches += 1
                where = (f"epoch {self.epoch + 1}, batch {k + 1}" if target is None
                         else f"update {self.updates + 1}")
                for value, n, norm in self._train_batch(x, y, lengths, where, weight):
                    norms.append(norm)
                    total, count = total + value * n, count + n
                    if bar is not None and target is not None:
                        bar.update(1)
                if bar is not None:
                    if target is None:
                        bar.update(1)
                    bar.set_postfix(loss=f"{total / count:.4f}", grad_norm=f"{norms[-1]:.3g}")
        finally:
            if bar is not None:
                bar.close()
        lr = self.optimizer.lr
        if self.schedule is not None:
            self.schedule.step()
        self.epoch += 1
        return {"epoch": self.epoch, "updates": self.updates, "train_loss": total / count,
                "grad_norm": float(np.mean(norms)), "lr": lr,
                "seconds": time.perf_counter() - began}

    def _early_stopping(self, val_loss: float) -> None:
        if self._best is None or val_loss < self._best[0] - self.config.min_delta:
            self._best = (val_loss, self.model.state_dict())
            self._bad_epochs = 0
        else:
            self._bad_epochs += 1
            if self.config.patience is not None and self._bad_epochs >= self.config.patience:
                self.stop = True

    def evaluate(self, data: SequenceData, batch_size: int | None = None) -> dict:
        """The mean loss (and metric) over ``data``, without training, in evaluation mode
        (dropout off); the model's mode is restored after."""
        if not isinstance(data, SequenceData):
            raise TypeError(f"data must be a SequenceData, got {type(data).__name__}")
        size = self.config.batch_size if batch_size is None else \
            positive_int(batch_size, "batch_size")
        total, count, metric_total = 0.0, 0, 0.0
        with model_mode(self.model, training=False), no_grad():  # no cache: inference
            for index in batch_indices(data.lengths, size):
                part = data.subset(index)
                x, y, lengths = part.x, part.y, part.lengths
                prediction = self.model.forward(x, lengths=lengths)
                value, _, n = self._loss(prediction, y, lengths, part.weight)
                total, count = total + value * n, count + n
                if self.metric is not None:
                    metric_total += self.metric(prediction, y, lengths) * x.shape[0]
        out = {"loss": total / count}
        if self.metric is not None:
            out["metric"] = metric_total / len(data)
        return out

    # -- checkpoints -------------------------------------------------------------------
    def save_checkpoint(self, directory) -> str:
        """Write a checkpoint of everything a resumed run needs; return its folder."""
        arrays, optimizer = run_state.optimizer_arrays(self.optimizer)
        if self._best is not None:
            arrays.update({f"best/{name}": value for name, value in self._best[1].items()})
        meta = {
            "format": "rnnlab-checkpoint", "version": 1,
            "model": " ".join(repr(self.model).split()),  # named when an architecture differs
            "config": self.config.to_json(),
            "epoch": self.epoch, "updates": self.updates, "batches": self.batches,
            "history": self.history,
            "optimizer": optimizer,
            "schedule": self.schedule.state_dict() if self.schedule is not None else None,
            "early_stopping": {"best_loss": self._best[0] if self._best else None,
                               "bad_epochs": self._bad_epochs},
            "stop": self.stop,  # early stopping or a callback ended the run here
            "generators": run_state.generator_states(self.model),  # dropout's masks to come
        }
        return io.write_checkpoint(directory, self.epoch, self.model.state_dict(), arrays, meta,
                                   keep=self.config.keep_checkpoints)

    def load_checkpoint(self, path) -> None:
        """Restore the model, optimizer, schedule, history and early-stopping state.

        Everything is checked before anything changes: a damaged checkpoint, one of another
        format or version (``io.InvalidFileError``), of another architecture (other parameter
        names or shapes) or of another run (config, optimizer) raises a ``ValueError`` that
        says what differs.
        """
        weights, arrays, meta = io.read_checkpoint(path, "rnnlab-checkpoint", max_version=1)
        where = f"path {str(path)!r}"
        fields = {"config": dict, "epoch": int, "updates": int, "history": list,
                  "optimizer": dict, "early_stopping": dict}
        wrong = [f"{key} (expected a {kind.__name__}, got {type(meta.get(key)).__name__})"
                 for key, kind in fields.items() if not isinstance(meta.get(key), kind)]
        if not wrong:
            wrong = [f"{part}.{key} (missing)" for part, keys in (
                ("optimizer", ("type", "steps", "lr")),
                ("early_stopping", ("best_loss", "bad_epochs"))) for key in keys
                if key not in meta[part]]
        if wrong:
            raise io.InvalidFileError(f"{where} is not a valid checkpoint: {io.META_FILE} has "
                                      f"missing or wrong fields: {', '.join(wrong)}")
        model = self.model.state_dict()
        buffers = run_state.optimizer_buffers(arrays, model)
        best = {key[len("best/"):]: value for key, value in arrays.items()
                if key.startswith("best/")}
        misfits = run_state.buffer_misfits(buffers, model)
        differences = (io.state_dict_differences(weights, model)
                       or (io.state_dict_differences(best, model) if best else "")
                       or (f"optimizer buffers that fit no parameter: {misfits[:6]}"
                           if misfits else ""))
        if differences:
            written = f" (written for {meta['model']})" if isinstance(meta.get("model"), str) \
                else ""
            raise ValueError(f"{where} is a checkpoint of a different architecture{written} than "
                             f"this Trainer's model {' '.join(repr(self.model).split())}: "
                             f"{differences}")
        saved, current = meta["config"], self.config.to_json()
        defaults = TrainConfig().to_json()  # for settings newer than the checkpoint
        changed = sorted(k for k in current if k not in RESUMABLE_CHANGES
                         and saved.get(k, defaults[k]) != current[k])
        if changed:
            raise ValueError(f"config differs from the checkpoint's in {changed}: resuming would "
                             f"not continue the same run")
        saved_states = meta.get("generators", {})  # absent from checkpoints before dropout
        generators = run_state.check_generators(self.model, saved_states, where)
        run_state.check_optimizer(self.optimizer, meta["optimizer"])
        self.model.load_state_dict(weights)
        run_state.restore_optimizer(self.optimizer, meta["optimizer"], buffers)
        if self.schedule is not None and meta.get("schedule") is not None:
            self.schedule.load_state_dict(meta["schedule"])
        self.epoch, self.updates = int(meta["epoch"]), int(meta["updates"])
        self.batches = int(meta.get("batches", 0))
        self.history = list(meta["history"])
        stopping = meta["early_stopping"]
        self._best = (stopping["best_loss"], best) if best else None
        self._bad_epochs = int(stopping["bad_epochs"])
        self.stop = bool(meta.get("stop", False))  # absent from checkpoints before it was kept
        run_state.restore_generators(generators, saved_states)


@contextlib.contextmanager
def model_mode(model, training: bool):
    """Run the block with ``model`` in train mode (``training`` True) or evaluation mode,
    then put it back in the mode it had; a model without modes is left as it is."""
    previous = getattr(model, "training", None)
    if previous is None or not hasattr(model, "train"):
        yield model
        return
    model.train(training)
    try:
        yield model
    finally:
        model.train(previous)


def _progress_bar(total: int, description: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError('progress=True needs tqdm: pip install "rnnlab[train]"') from None
    return tqdm(total=total, desc=description, leave=False, dynamic_ncols=True)
