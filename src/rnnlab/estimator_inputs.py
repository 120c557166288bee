"""The forms of sequence data the estimators take, checked: sequences (a list of (T_i, F)
arrays, an (N, T, F) or (N, T) array; one sequence is ``[x]``), class labels and regression
targets. Each refusal names the argument and says how to write what was meant.
"""

from __future__ import annotations

import numpy as np


def as_sequences(X, name: str = "X", features: int | None = None) -> list:
    """A list of (T_i, F) float64 arrays; refuses empty, non-finite, ragged-feature and
    ambiguous input with a message saying how to write it.

    The accepted forms of N sequences, and how one sequence ``x`` is written:

    - a list (or tuple) of N arrays, each (T_i, F), or (T_i,) for one feature: ``[x]``;
    - an (N, T, F) array: ``x[None]``;
    - an (N, T) array, N sequences of one feature each, T >= 2 steps.

    A 1-D array, and a 2-D array with one column, (T, 1), are refused: the first is one
    sequence written without its list, the second is one sequence of T steps or T sequences
    of one step. So is a 2-D array when ``features`` (what the estimator was fitted on) is
    more than 1, since it reads as sequences of one feature: a (T, F) array is one sequence,
    ``[x]``.
    """
    if isinstance(X, np.ndarray):
        if X.ndim not in (2, 3):
            hint = ("; a single sequence is written [x]" if X.ndim == 1 else "")
            raise ValueError(f"{name} must be a list of (T_i, F) arrays, an (N, T, F) array or "
                             f"an (N, T) array, got an array of shape {X.shape}{hint}")
        if X.ndim == 2 and X.shape[1] == 1:
            raise ValueError(f"{name} of shape {X.shape} is ambiguous: one sequence of "
                             f"{X.shape[0]} steps, or {X.shape[0]} sequences of one step? "
                             f"Write [x] for one sequence, or x.reshape(-1, 1, 1) for "
                             f"sequences of one step")
        if X.ndim == 2 and features is not None and features > 1:
            raise ValueError(f"{name} of shape {X.shape} reads as {X.shape[0]} sequences of one "
                             f"feature, but this estimator was fitted with "
                             f"n_features_in_ = {features}; one (T, F) sequence is written [x], "
                             f"N of them as an (N, T, F) array or a list")
        X = list(X[..., None] if X.ndim == 2 else X)
    if not isinstance(X, (list, tuple)):
        raise TypeError(f"{name} must be a list of (T_i, F) arrays or an (N, T, F) array, "
                        f"got {type(X).__name__}")
    if len(X) == 0:
        raise ValueError(f"{name} must hold at least one sequence, got none")
    out = []
    for k, seq in enumerate(X):
        if np.iscomplexobj(seq):
            raise TypeError(f"{name}[{k}] must be a real (T_i, F) array, got complex values")
        try:
            arr = np.asarray(seq, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name}[{k}] must be a numeric (T_i, F) array, "
                            f"got {type(seq).__name__}") from None
        if arr.ndim == 0:
            raise ValueError(f"{name}[{k}] is a number, not a sequence: a single sequence of "
                             f"numbers is written [x] (a list holding one sequence)")
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
            raise ValueError(f"{name}[{k}] must have shape (T_i, F) with T_i, F >= 1, "
                             f"got {arr.shape}")
        if out and arr.shape[1] != out[0].shape[1]:
            raise ValueError(f"{name}[{k}] has {arr.shape[1]} features but {name}[0] has "
                             f"{out[0].shape[1]}: every sequence needs the same F")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name}[{k}] holds NaN or infinite values; fill or drop them first")
        out.append(arr)
    return out


def labels(y):
    """y as a 1-D array of labels that can be sorted (numbers, or strings), or raise."""
    if y is None:
        raise ValueError("y must be one label per sequence, shape (N,), got None")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be one label per sequence, shape (N,), got {y.shape}")
    if y.dtype.kind == "O":
        kinds = {type(v).__name__ for v in y}
        if not (all(isinstance(v, str) for v in y)
                or all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                       for v in y)):
            raise TypeError(f"y must hold labels of one kind (all numbers or all strings), "
                            f"got {sorted(kinds)}")
        y = y.astype(str if isinstance(y[0], str) else float)
    if y.dtype.kind == "c":
        raise TypeError("y must hold real labels, got complex values")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError("y holds NaN or infinite labels")
    return y


def check_y_length(y, count: int, name: str = "y") -> None:
    if len(y) != count:
        raise ValueError(f"X and {name} must have the same number of sequences, got "
                         f"{count} in X and {len(y)} in {name}")


def targets_array(y):
    """y as a float64 array of numbers, or a TypeError naming y."""
    values = np.asarray(y)
    if values.dtype.kind not in "biuf" and not (values.dtype.kind == "O" and all(
            isinstance(v, (int, float, np.number)) for v in values.ravel())):
        raise TypeError(f"y must hold numbers (regression targets), got dtype {values.dtype}")
    return values.astype(np.float64)
