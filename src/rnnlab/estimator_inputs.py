"""The forms of sequence data the estimators take, checked: sequences (a list of (T_i, F)
arrays, an (N, T, F) or (N, T) array; one sequence is ``[x]``), class labels and regression
targets. Each refusal names the argument and says how to write what was meant.
"""

from __future__ import annotations

import warnings

import numpy as np


LAYOUTS = (None, "NTF", "NCT")


def _dense(X, name: str):
    """Array-likes as NumPy arrays (pandas, torch CPU tensors, anything with ``__array__``),
    lists and tuples as they are; sparse matrices refused."""
    if hasattr(X, "toarray") and hasattr(X, "nnz"):  # scipy.sparse, without importing scipy
        raise TypeError(f"{name} is a sparse matrix, and sparse input is not supported: "
                        f"sequences are dense; pass {name}.toarray()")
    if isinstance(X, (list, tuple, np.ndarray)) or not hasattr(X, "__array__"):
        return X
    if hasattr(X, "detach"):  # a torch tensor: its values, never its graph
        X = X.detach()
    return np.asarray(X)


def _numeric(arr, name: str):
    """``arr`` as float64, refusing complex values and what does not convert to numbers."""
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} holds complex values: Complex data not supported; pass the "
                         f"real part (or both parts as features) explicitly")
    try:
        return np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must hold numbers: {err}") from None


def as_sequences(X, name: str = "X", features: int | None = None, layout=None,
                 missing: bool = False) -> list:
    """A list of (T_i, F) float64 arrays; refuses empty, non-finite, ragged-feature and
    ambiguous input with a message saying how to write it.

    The accepted forms of N sequences, and how one sequence ``x`` is written:

    - a list (or tuple) of N arrays, each (T_i, F), or (T_i,) for one feature: ``[x]``;
    - an (N, T, F) array: ``x[None]``;
    - an (N, T) array, N sequences of one feature each, T >= 2 steps.

    ``layout="NCT"`` reads (N, C, T) arrays and lists of (C, T_i) arrays instead, aeon's and
    sktime's layout (C channels, the features). The default, None, is (N, T, F), but refuses
    a 3-D array with fewer steps than features, which is more often (N, C, T) data than
    sequences of a step or two: pass ``layout="NTF"`` to read it as (N, T, F) anyway.
    Array-likes (pandas, torch CPU tensors) are converted with ``np.asarray``. NaN is refused
    unless ``missing`` (a missing value, for the caller to fill); infinities always are.

    A 1-D array, and a 2-D array with one column, (T, 1), are refused: the first is one
    sequence written without its list, the second is one sequence of T steps or T sequences
    of one step. So is a 2-D array when ``features`` (what the estimator was fitted on) is
    more than 1, since it reads as sequences of one feature: a (T, F) array is one sequence,
    ``[x]``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be None, 'NTF' or 'NCT', got {layout!r}")
    X = _dense(X, name)
    if isinstance(X, np.ndarray):
        X = _numeric(X, name)
        if X.ndim not in (2, 3):
            hint = ("; a single sequence is written [x]" if X.ndim == 1 else "")
            raise ValueError(f"{name} must be a list of (T_i, F) arrays, an (N, T, F) array or "
                             f"an (N, T) array, got an array of shape {X.shape}. Reshape your "
                             f"data{hint}")
        if X.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one sequence, got 0 sample(s) "
                             f"(shape={X.shape})")
        if X.ndim == 2 and X.shape[1] == 0:
            raise ValueError(f"{name} has 0 feature(s) (shape={X.shape}) while a minimum of 1 "
                             f"is required: each row is a sequence, and these have no steps")
        if X.ndim == 2 and X.shape[1] == 1:
            raise ValueError(f"{name} of shape {X.shape} is ambiguous: one sequence of "
                             f"{X.shape[0]} steps, or {X.shape[0]} sequences of one step? "
                             f"Write [x] for one sequence, or x.reshape(-1, 1, 1) for "
                             f"sequences of one step (a 2-D X with 1 feature(s), one column)")
        if X.ndim == 2 and features is not None and features > 1:
            raise ValueError(f"{name} of shape {X.shape} reads as {X.shape[0]} sequences of one "
                             f"feature, but this estimator was fitted with "
                             f"n_features_in_ = {features}; one (T, F) sequence is written [x], "
                             f"N of them as an (N, T, F) array or a list")
        if X.ndim == 3 and layout is None and X.shape[1] < X.shape[2]:
            raise ValueError(f"{name} of shape {X.shape} is ambiguous: as (N, T, F) it is "
                             f"{X.shape[0]} sequences of {X.shape[1]} step(s) with "
                             f"{X.shape[2]} features; as aeon's and sktime's (N, C, T) it is "
                             f"{X.shape[1]} channel(s) of {X.shape[2]} steps. Pass "
                             f"layout='NCT' for the second, layout='NTF' for the first")
        if X.ndim == 3 and layout == "NCT":
            X = X.transpose(0, 2, 1)
        X = list(X[..., None] if X.ndim == 2 else X)
    elif layout == "NCT" and isinstance(X, (list, tuple)):
        X = [np.asarray(_dense(s, name)).T for s in X]
    if not isinstance(X, (list, tuple)):
        raise TypeError(f"{name} must be a list of (T_i, F) arrays or an (N, T, F) array, "
                        f"got {type(X).__name__}")
    if len(X) == 0:
        raise ValueError(f"{name} must hold at least one sequence, got 0 sample(s)")
    out = []
    for k, seq in enumerate(X):
        arr = _numeric(_dense(seq, f"{name}[{k}]"), f"{name}[{k}]")
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
        if not np.isfinite(arr).all() and not (missing and not np.isinf(arr).any()):
            raise ValueError(f"{name}[{k}] holds NaN or infinite values; fill or drop them first")
        out.append(arr)
    return out


def target_type(y) -> str:
    """What ``y`` holds, in scikit-learn's words (``sklearn.utils.multiclass.type_of_target``,
    for the cases an estimator here meets): "binary", "multiclass", "continuous",
    "multiclass-multioutput", "continuous-multioutput" or "unknown"."""
    y = np.asarray(y)
    if y.dtype.kind == "O" and y.size and not all(
            isinstance(v, str) for v in y.ravel()) and not all(
            isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
            for v in y.ravel()):
        return "unknown"
    if y.ndim > 2 or y.ndim == 0 or y.dtype.kind in "cV":
        return "unknown"
    suffix = "-multioutput" if y.ndim == 2 and y.shape[1] > 1 else ""
    if y.dtype.kind == "f" and y.size and np.any(y != np.round(y)):
        return "continuous" + suffix
    if suffix:
        return "multiclass" + suffix
    return "multiclass" if len(np.unique(y)) > 2 else "binary"


def labels(y):
    """y as a 1-D array of class labels that can be sorted (numbers, or strings), checked as
    scikit-learn checks a classifier's targets: a column (N, 1) is taken as (N,) with a
    ``DataConversionWarning``; continuous, multi-output and mixed labels are refused."""
    if y is None:
        raise ValueError("this estimator requires y to be passed, but the target y is None: "
                         "one label per sequence, shape (N,)")
    y = _dense(y, "y")
    y = np.asarray(y)
    if y.dtype.kind == "c":
        raise ValueError("y holds complex values: Complex data not supported")
    if y.ndim == 2 and y.shape[1] == 1:
        _warn_column("y")
        y = y[:, 0]
    kind = target_type(y)
    if kind not in ("binary", "multiclass"):
        hint = ("; a classifier cannot learn continuous targets: use RNNRegressor"
                if kind.startswith("continuous") else "")
        raise ValueError(f"y must be one class label per sequence, shape (N,), all numbers or "
                         f"all strings: Unknown label type: {kind!r}{hint}")
    if y.dtype.kind == "O":
        y = y.astype(str if isinstance(y[0], str) else float)
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError("y holds NaN or infinite labels")
    return y


def _warn_column(name: str) -> None:
    """scikit-learn's warning for a column-vector target, of its own class where it is
    installed (so that its filters and checks see it)."""
    try:
        from sklearn.exceptions import DataConversionWarning as category
    except ImportError:
        category = UserWarning
    warnings.warn(f"A column-vector {name} was passed when a 1d array was expected. Please "
                  f"change the shape of {name} to (n_samples,), for example using ravel().",
                  category, stacklevel=4)


def check_y_length(y, count: int, name: str = "y") -> None:
    if len(y) != count:
        raise ValueError(f"X and {name} must have the same number of sequences, got "
                         f"{count} in X and {len(y)} in {name}")


def targets_array(y):
    """y as a float64 array of numbers, or a TypeError naming y."""
    if y is None:
        raise ValueError("this estimator requires y to be passed, but the target y is None")
    values = np.asarray(_dense(y, "y"))
    if values.dtype.kind == "c":
        raise ValueError("y holds complex values: Complex data not supported")
    if values.dtype.kind not in "biuf" and not (values.dtype.kind == "O" and all(
            isinstance(v, (int, float, np.number)) for v in values.ravel())):
        raise TypeError(f"y must hold numbers (regression targets), got dtype {values.dtype}")
    return values.astype(np.float64)


def sample_weights(sample_weight, count: int):
    """``sample_weight`` as (N,) float64 weights, finite, non-negative and not all zero; None
    stays None (every sequence weighs 1)."""
    if sample_weight is None:
        return None
    weight = _numeric(_dense(sample_weight, "sample_weight"), "sample_weight")
    if weight.ndim == 0:
        weight = np.full(count, float(weight))
    if weight.shape != (count,):
        raise ValueError(f"sample_weight must hold one weight per sequence, shape ({count},), "
                         f"got {weight.shape}")
    if not np.isfinite(weight).all() or (weight < 0).any():
        raise ValueError("sample_weight must hold finite non-negative numbers")
    if not weight.sum() > 0:
        raise ValueError("sample_weight must not be zero for every sequence")
    return weight
