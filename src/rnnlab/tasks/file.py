"""A task read from a data file: your own sequences, trained like the built-in tasks.

Shapes: N sequences of T_i steps and F features; K outputs (classes, or regression targets).

``rnnlab train --data FILE`` trains on a ``.ts`` (UCR/UEA) or ``.npz`` file through the same
runner, run store and checkpoints as the seeded tasks. The file decides the kind of problem:
class labels (strings, ints, bools) make a classification (cross-entropy, accuracy), float
targets a regression (MSE). One target per sequence.

>>> task = FileTask("JapaneseVowels_TRAIN.ts", test_path="JapaneseVowels_TEST.ts")
>>> train, val, test = task.split(seed=0)  # standardized, padded SequenceData
>>> task.metric_name, task.output_size, round(task.baseline, 3)
('accuracy', 9, 0.111)
"""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings

import numpy as np

from rnnlab.data import SequenceData, pad_sequences, train_val_split
from rnnlab.datasets import check_data_path, read_data_file
from rnnlab.losses import cross_entropy, mse_loss
from rnnlab.tasks.base import Task, class_target, int_at_least

TEST_FRACTION = 0.2  # held out for the test set when there is no test file
VAL_FRACTION = 0.2  # of what is left, for validation


@dataclasses.dataclass(frozen=True)
class FileTask(Task):
    """Sequences and targets from a ``.ts`` or ``.npz`` file (see
    :func:`rnnlab.datasets.read_data_file` for the formats).

    Parameters
    ----------
    path : str
        The data. Without ``test_path`` it is split, by the seed and stratified by class,
        into 64% train, 16% validation and 20% test.
    test_path : str, optional
        A separate test file (e.g. a UCR/UEA set's ``_TEST.ts``); ``path`` is then split 80%
        train, 20% validation.
    layout : {None, "NTF", "NCT"}
        How a ``.npz`` file's 3-D ``x`` is laid out (see
        :func:`rnnlab.data_files.read_data_file`).
    length : int
        Set from the file: its longest sequence (any value given is replaced).

    Notes
    -----
    Features are standardized with the mean and standard deviation of the training split's
    valid steps (missing values, NaN, become 0, the mean). Regression targets are
    standardized for training with the mean and standard deviation of all of ``path``'s
    targets (fixed before any split, so that the loss means the same for every seed), and the
    metric is reported in the file's units.

    Baselines, the best predictor that ignores the sequence: for classes, always naming the
    most frequent class of ``path`` (its accuracy is that class's share); for regression,
    always predicting the mean of ``path``'s targets (its MSE is their variance, summed over
    the K targets and divided by K). A data file has no "solved" bar: :meth:`solved` is
    always False, and training runs all its epochs.
    """

    length: int = 0
    path: str = ""
    test_path: str | None = None
    layout: str | None = None  # a .npz file's x: None or "NTF" (N, T, F), "NCT" (N, C, T)

    name = "file"
    per_step = False
    baseline_name = "constant-prediction baseline"

    def __post_init__(self):
        self._set("path", check_data_path(self.path, "path"))
        if self.test_path is not None:
            self._set("test_path", check_data_path(self.test_path, "test_path"))
        X, y = _read(self.path, "path", self.layout)
        regression = y.dtype.kind == "f"
        if self.test_path is not None:
            X_test, y_test = _read(self.test_path, "test_path", self.layout)
            if X_test[0].shape[1] != X[0].shape[1]:
                raise ValueError(f"test_path has {X_test[0].shape[1]} features per step, "
                                 f"path has {X[0].shape[1]}")
            if (y_test.dtype.kind == "f") != regression or y_test.shape[1:] != y.shape[1:]:
                raise ValueError(f"test_path's targets (dtype {y_test.dtype}, shape "
                                 f"{y_test.shape}) do not match path's ({y.dtype}, {y.shape})")
            unknown = sorted(set(y_test.tolist()) - set(y.tolist())) if not regression else []
            if unknown:
                raise ValueError(f"test_path has classes that path has not: {unknown[:5]}")
        if regression:
            classes = None
            scale = y.std(axis=0)
            object.__setattr__(self, "_target_mean", y.mean(axis=0))
            object.__setattr__(self, "_target_scale", np.where(scale > 0, scale, 1.0))
        else:
            if y.ndim != 1:
                raise ValueError(f"path: class labels must have shape (N,), got {y.shape}")
            classes = np.unique(y)
            if classes.size < 2:
                raise ValueError(f"path: a classification needs at least 2 classes, got "
                                 f"{classes.tolist()}")
        self._set("length", max(len(s) for s in X))
        object.__setattr__(self, "_classes", classes)

    # -- what the file decides ---------------------------------------------------------------
    @property
    def regression(self) -> bool:
        """Float targets (MSE), rather than class labels (accuracy)."""
        return self._classes is None

    @property
    def classes(self) -> np.ndarray | None:
        """The class labels, sorted; output k of the model scores ``classes[k]``."""
        return self._classes

    @property
    def metric_name(self) -> str:
        return "mse" if self.regression else "accuracy"

    @property
    def lower_is_better(self) -> bool:
        return self.regression

    @property
    def input_size(self) -> int:
        return _read(self.path, "path", self.layout)[0][0].shape[1]

    @property
    def output_size(self) -> int:
        if not self.regression:
            return self._classes.size
        y = _read(self.path, "path", self.layout)[1]
        return 1 if y.ndim == 1 else y.shape[1]

    @property
    def baseline(self) -> float:
        y = _read(self.path, "path", self.layout)[1]
        if self.regression:
            return float(np.mean(np.var(y, axis=0)))
        _, counts = np.unique(y, return_counts=True)
        return float(counts.max() / counts.sum())

    @property
    def threshold(self) -> float:
        return float("nan")

    def solved(self, metric: float) -> bool:
        """Always False: a data file has no "solved" bar."""
        return False

    # -- data --------------------------------------------------------------------------------
    def split(self, n_train=None, n_val=None, n_test=None, seed=0) -> tuple:
        """The file's train, validation and test sets, standardized and padded.

        ``n_train``, ``n_val`` and ``n_test`` are not used (the file decides the sizes); the
        seed, an int >= 0, decides the split.
        """
        X, y = _read(self.path, "path", self.layout)
        train, val, test = self._indices(seed)
        if test is None:
            test_X, test_y = _read(self.test_path, "test_path", self.layout)
        else:
            test_X, test_y = [X[i] for i in test], y[test]
        mean, scale = self.standardization(seed)
        out = []
        for sequences, targets in (([X[i] for i in train], y[train]),
                                   ([X[i] for i in val], y[val]), (test_X, test_y)):
            x, lengths = pad_sequences([np.nan_to_num((s - mean) / scale) for s in sequences],
                                       np.float64)
            if self.regression:
                targets = (targets - self._target_mean) / self._target_scale
            else:
                targets = np.searchsorted(self._classes, targets)
            out.append(SequenceData(x, targets, lengths))
        return tuple(out)

    def _indices(self, seed) -> tuple:
        """(train, validation, test) indices into ``path`` for ``seed`` (test None when
        there is a ``test_path``)."""
        seed = int_at_least(seed, "seed", 0)
        X, y = _read(self.path, "path", self.layout)
        stratify = None if self.regression else y
        rng = np.random.default_rng([seed, 4])
        if self.test_path is None:
            rest, test = train_val_split(len(X), TEST_FRACTION, rng, stratify)
        else:
            rest, test = np.arange(len(X)), None
        part, val = train_val_split(rest.size, VAL_FRACTION, rng,
                                    None if stratify is None else stratify[rest])
        return rest[part], rest[val], test

    def standardization(self, seed=0) -> tuple:
        """``(mean, scale)`` (F,) of the training split's valid steps for ``seed``, what
        :meth:`split` standardizes every split with: x -> (x - mean) / scale, a missing
        value (NaN) then 0."""
        X, _ = _read(self.path, "path", self.layout)
        train, _, _ = self._indices(seed)
        steps = np.concatenate([X[i] for i in train])
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a feature missing everywhere
            mean, scale = np.nanmean(steps, axis=0), np.nanstd(steps, axis=0)
        scale[~(scale > 0)] = 1.0
        mean[np.isnan(mean)] = 0.0
        return mean, scale

    @property
    def target_standardization(self) -> tuple | None:
        """``(mean, scale)`` of the regression targets (None for classes)."""
        return None if self._classes is not None else (self._target_mean, self._target_scale)

    def generate(self, n: int, seed) -> SequenceData:
        """n sequences of the training split drawn from ``seed`` (at most all of them)."""
        n = self._count(n)
        train = self.split(seed=seed)[0]
        rng = np.random.default_rng(seed)
        return train.subset(np.sort(rng.permutation(len(train))[:n]))

    def loss(self, prediction, target, mask=None) -> tuple:
        """Cross-entropy over the classes, or MSE on the standardized targets; the mean over
        the batch, and its gradient with respect to ``prediction`` (B, K)."""
        self._check_prediction(prediction, target)
        if self.regression:
            return mse_loss(prediction, np.reshape(target, np.shape(prediction)), mask)
        return cross_entropy(prediction, target, mask)

    def metric(self, prediction, target, lengths=None) -> float:
        """Accuracy, or the MSE in the file's units (averaged over the K targets)."""
        self._check_prediction(prediction, target)
        prediction = np.asarray(prediction)
        if self.regression:
            error = (prediction - np.reshape(target, prediction.shape)) * self._target_scale
            return float(np.mean(error ** 2))
        target = class_target(target, self.output_size)
        return float(np.mean(prediction.argmax(axis=-1) == target))

    def describe(self) -> str:
        X, y = _read(self.path, "path", self.layout)
        kind = (f"regression, {self.output_size} target(s)" if self.regression
                else f"{self.output_size} classes")
        test = f", test file {self.test_path}" if self.test_path else ""
        return (f"{self.path}: {len(X)} sequences of {min(len(s) for s in X)}-{self.length} "
                f"steps, {self.input_size} features, {kind}{test}; {self.metric_name} "
                f"baseline {self.baseline:.4g} (a constant prediction)")


@functools.lru_cache(maxsize=8)
def _read_cached(path: str, mtime: float, size: int, name: str, layout) -> tuple:
    X, y = read_data_file(path, name, layout)
    return X, (y.astype(np.float64) if y.dtype.kind == "f" else y)


def _read(path: str, name: str = "path", layout: str | None = None) -> tuple:
    """The file's (X, y), read once while it is unchanged; errors name the argument ``name``."""
    info = os.stat(path)
    return _read_cached(os.path.abspath(path), info.st_mtime, info.st_size, name, layout)
