"""How to train: the Trainer's settings, saved with every checkpoint."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from rnnlab._checks import boolean, finite_number, positive_int


@dataclass
class TrainConfig:
    """How to train; saved with every checkpoint."""

    epochs: int = 10  # passes over the training data (not used when `updates` is set)
    updates: int | None = None  # the budget in updates instead of epochs (needed for a stream)
    eval_every: int = 100  # with `updates`: a round of this many updates, then validation
    batch_size: int = 32  # sequences per batch
    clip_norm: float | None = 1.0  # clip the global gradient norm to this; None: no clipping
    clip_value: float | None = None  # clip each gradient entry to [-v, v]; None: no clipping
    tbptt: tuple | None = None  # (k1, k2) for truncated BPTT; None: full BPTT
    shuffle: bool = True  # visit the training sequences in a new random order every epoch
    bucket: bool = False  # batch sequences of similar length together (less padding)
    seed: int = 0  # the order of epoch e is drawn from (seed, e): resumable without state
    patience: int | None = None  # stop after this many epochs without validation improvement
    min_delta: float = 0.0  # the least decrease of the validation loss that counts
    restore_best: bool = True  # with patience set, end on the best validation weights
    checkpoint_dir: str | None = None  # write a checkpoint here after every epoch
    keep_checkpoints: int = 2  # how many checkpoints to keep, newest first
    progress: bool = False  # show a tqdm progress bar with the loss and gradient norm

    def __post_init__(self):
        positive_int(self.epochs, "epochs")
        if self.updates is not None:
            positive_int(self.updates, "updates")
        positive_int(self.eval_every, "eval_every")
        positive_int(self.batch_size, "batch_size")
        positive_int(self.keep_checkpoints, "keep_checkpoints")
        for name in ("clip_norm", "clip_value"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not value > 0 or not math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number > 0 or None, got {value!r}")
        if self.tbptt is not None:
            if not isinstance(self.tbptt, (tuple, list)) or len(self.tbptt) != 2:
                raise TypeError(f"tbptt must be a pair (k1, k2) or None, got {self.tbptt!r}")
            self.tbptt = (positive_int(self.tbptt[0], "tbptt k1"),
                          positive_int(self.tbptt[1], "tbptt k2"))
            if self.tbptt[1] < self.tbptt[0]:
                raise ValueError(f"tbptt (k1, k2) must have k2 >= k1 (each update "
                                 f"back-propagates through at least its k1 new steps), got "
                                 f"{self.tbptt}")
        if self.patience is not None:
            positive_int(self.patience, "patience")
        if finite_number(self.min_delta, "min_delta") < 0:
            raise ValueError(f"min_delta must be a finite number >= 0, got {self.min_delta}")
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, str) \
                and not hasattr(self.checkpoint_dir, "__fspath__"):
            raise TypeError(f"checkpoint_dir must be a path (str) or None, got "
                            f"{type(self.checkpoint_dir).__name__} {self.checkpoint_dir!r}")
        for name in ("shuffle", "bucket", "restore_best", "progress"):
            boolean(getattr(self, name), name)
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise TypeError(f"seed must be an int, got {type(self.seed).__name__}")
        if self.seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {self.seed}")

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["tbptt"] = list(self.tbptt) if self.tbptt is not None else None
        return out


# Settings that may change between a checkpoint and its resumption without changing results.
RESUMABLE_CHANGES = ("epochs", "updates", "checkpoint_dir", "keep_checkpoints", "progress")

