"""What every long-range task shares: seeding, argument checks, the solved test, the config.

Shapes: n (or B) sequences, T steps, F input features, K outputs of the model's head.

A task is a frozen dataclass whose fields are its length (the difficulty knob) and its
options; ``config()`` writes them out with the task's name, and ``make_task(**config)``
builds the same task again.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from rnnlab.data import SequenceStream


def int_at_least(value, name: str, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum``, else raise naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {minimum}, "
                        f"got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return int(value)


def generator(seed) -> np.random.Generator:
    """A NumPy Generator from an int seed >= 0 (or the Generator itself, which advances)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int >= 0 or a numpy.random.Generator, "
                        f"got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be an int >= 0 or a numpy.random.Generator, got {seed}")
    return np.random.default_rng(int(seed))


def class_target(target, classes: int):
    """Return ``target`` as an int array if every entry lies in [0, classes), else raise."""
    target = np.asarray(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
    if target.size and (target.min() < 0 or target.max() >= classes):
        raise ValueError(f"target must lie in [0, K) = [0, {classes}), "
                         f"got min {target.min()} and max {target.max()}")
    return target


def log_softmax(logits):
    """log softmax over the last axis, shifted by the maximum so that exp never overflows."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@dataclasses.dataclass(frozen=True)
class Task:
    """The interface of a seeded task; subclasses set the class attributes and the methods.

    Attributes
    ----------
    name : str
        The registry key.
    length : int
        The difficulty knob (what it counts depends on the task).
    per_step : bool
        Targets per step (B, T) or one per sequence.
    metric_name : str
        "mse", "cross_entropy" or "accuracy".
    lower_is_better : bool
        Whether a smaller metric is a better one.
    """

    length: int

    name: ClassVar[str] = ""
    per_step: ClassVar[bool] = False
    metric_name: ClassVar[str] = ""
    lower_is_better: ClassVar[bool] = True
    baseline_name: ClassVar[str] = "memoryless baseline"

    # -- subclasses provide -----------------------------------------------------------------
    @property
    def input_size(self) -> int:
        """F, the features per step of x."""
        raise NotImplementedError

    @property
    def output_size(self) -> int:
        """K, the outputs the model's head produces (per step when ``per_step``)."""
        raise NotImplementedError

    @property
    def baseline(self) -> float:
        """The metric of the best predictor that does not remember the input."""
        raise NotImplementedError

    @property
    def threshold(self) -> float:
        """The metric at which the task counts as solved (see :meth:`solved`)."""
        raise NotImplementedError

    def generate(self, n: int, seed):
        """n sequences drawn from ``seed``, as a :class:`rnnlab.data.SequenceData`."""
        raise NotImplementedError

    def loss(self, prediction, target, mask=None) -> tuple:
        """The training loss, a mean, and its gradient with respect to ``prediction``."""
        raise NotImplementedError

    def metric(self, prediction, target, lengths=None) -> float:
        """The task's metric, a mean over the batch."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for humans."""
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------
    @property
    def steps(self) -> int:
        """T, the number of steps of every sequence (the length, unless a task adds to it)."""
        return self.length

    def split(self, n_train: int | None, n_val: int, n_test: int, seed: int) -> tuple:
        """Train, validation and test sets of ``n_train``, ``n_val`` and ``n_test`` fresh
        sequences, each drawn from its own stream of ``seed``; with ``n_train=None`` the
        training data is :meth:`stream` instead, fresh sequences for every batch.

        Every count is an int >= 1 and the seed an int >= 0, checked before anything is drawn.
        """
        if n_train is not None:
            int_at_least(n_train, "n_train", 1)
        int_at_least(n_val, "n_val", 1)
        int_at_least(n_test, "n_test", 1)
        seed = int_at_least(seed, "seed", 0)
        train = self.stream(seed) if n_train is None else \
            self.generate(n_train, np.random.default_rng([seed, 1]))
        return (train,) + tuple(self.generate(n, np.random.default_rng([seed, stream]))
                                for stream, n in ((2, n_val), (3, n_test)))

    def stream(self, seed: int) -> SequenceStream:
        """An endless stream of fresh training batches drawn from ``seed``: batch k comes
        from ``default_rng([seed, 0, k])``, a stream apart from the fixed sets of
        :meth:`split` (streams 1, 2, 3 of the same seed)."""
        return SequenceStream(self.generate, (seed, 0))  # which checks the seed

    def solved(self, metric: float) -> bool:
        """Whether ``metric`` reaches :attr:`threshold`: below it when lower is better, at or
        above it otherwise."""
        metric = float(metric)
        if self.lower_is_better:
            return metric < self.threshold
        return metric >= self.threshold

    def with_length(self, length: int) -> "Task":
        """The same task, with the same options, at another length."""
        return dataclasses.replace(self, length=length)

    def config(self) -> dict:
        """``{"name": ..., "length": ..., **options}``, JSON-able; ``make_task(**config)``
        rebuilds the task."""
        return {"name": self.name, **dataclasses.asdict(self)}

    def _set(self, field: str, value) -> None:
        """Store a checked value in a field of this frozen dataclass (from __post_init__)."""
        object.__setattr__(self, field, value)

    def _count(self, n) -> int:
        """n, the number of sequences to generate, checked."""
        return int_at_least(n, "n", 1)

    def _check_prediction(self, prediction, target) -> None:
        """Raise ``ValueError`` unless prediction is (B, K), or (B, T, K) per step, for the
        target's B (and T)."""
        target_shape = tuple(np.shape(target))
        leading = target_shape[:2] if self.per_step else target_shape[:1]
        expected = leading + (self.output_size,)
        shape = tuple(np.shape(prediction))
        if shape != expected:
            letters = "(B, T, K)" if self.per_step else "(B, K)"
            raise ValueError(f"prediction must have shape {letters} = {expected} for the "
                             f"{self.name} task and target of shape {target_shape}, got {shape}")
