"""Saving a fitted estimator, and loading it back, without pickle: a saved model folder
(:mod:`rnnlab.saved_model`) holding the network (architecture and weights), the feature
standardization, the classes or the target standardization, the constructor's parameters
and the versions, so that the model predicts elsewhere exactly as it did here.

>>> clf.save("vowels-model")
>>> RNNClassifier.load("vowels-model").predict(X_test)

The arrays saved beside the weights: ``feature_mean`` and ``feature_scale`` (F,), and for a
regressor ``target_mean`` and ``target_scale`` (O,). The JSON ``meta``: ``kind`` (the class's
name), ``params`` (``get_params()``), ``n_features_in``, ``classes`` with their dtype (a
classifier), ``flat_y`` (a regressor: whether y was (N,) or per step (T_i,)), and the
training ``history``.
"""

from __future__ import annotations

import json

import numpy as np

from rnnlab import saved_model

FITTED = ("model_", "n_features_in_", "feature_mean_", "feature_scale_")


def save_estimator(estimator, path) -> str:
    """Write the fitted ``estimator`` into the folder ``path``; return the folder."""
    estimator._check_fitted()
    params = estimator.get_params()
    for name, value in params.items():
        try:
            json.dumps(value)
        except TypeError:
            raise ValueError(f"{type(estimator).__name__}.{name} = {value!r} cannot be saved "
                             f"as JSON; set it to an int, a str or None first") from None
    arrays = {"feature_mean": estimator.feature_mean_,
              "feature_scale": estimator.feature_scale_}
    meta = {"kind": type(estimator).__name__, "params": params,
            "n_features_in": int(estimator.n_features_in_),
            "history": _json_safe(getattr(estimator, "history_", []))}
    if hasattr(estimator, "classes_"):
        classes = estimator.classes_
        meta["classes"] = {"values": classes.tolist(), "dtype": classes.dtype.str}
    if hasattr(estimator, "target_mean_"):
        arrays.update(target_mean=estimator.target_mean_,
                      target_scale=estimator.target_scale_)
        meta["flat_y"] = bool(estimator._flat_y)
    arrays = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()}
    return saved_model.save_model(path, estimator.model_, arrays, meta)


def load_estimator(cls, path):
    """An estimator of class ``cls`` rebuilt from the folder ``path``, fitted as it was
    saved; refuses a folder of another kind (another estimator class, a bare model, a
    checkpoint) with a message naming the folder."""
    model, arrays, meta = saved_model.load_model(path, expected_kind=cls.__name__)
    where = f"path {str(path)!r}"
    params = meta.get("params")
    if not isinstance(params, dict) or set(params) - set(cls._param_names()):
        raise saved_model.InvalidFileError(
            f"{where}: its parameters {sorted(params) if isinstance(params, dict) else params!r}"
            f" are not those of {cls.__name__}")
    estimator = cls(**params)
    needed = ["feature_mean", "feature_scale"]
    if "flat_y" in meta:
        needed += ["target_mean", "target_scale"]
    missing = [k for k in needed if k not in arrays]
    if missing or not isinstance(meta.get("n_features_in"), int):
        raise saved_model.InvalidFileError(f"{where}: a damaged estimator folder (missing "
                                           f"{missing or ['n_features_in']})")
    estimator.model_ = model
    estimator.n_features_in_ = meta["n_features_in"]
    estimator.feature_mean_ = arrays["feature_mean"]
    estimator.feature_scale_ = arrays["feature_scale"]
    estimator.history_ = meta.get("history", [])
    if "classes" in meta:
        classes = meta["classes"]
        try:
            estimator.classes_ = np.array(classes["values"], dtype=np.dtype(classes["dtype"]))
        except (TypeError, ValueError, KeyError) as err:
            raise saved_model.InvalidFileError(f"{where}: unreadable classes ({err})") from None
    if "flat_y" in meta:
        estimator.target_mean_ = arrays["target_mean"]
        estimator.target_scale_ = arrays["target_scale"]
        estimator._flat_y = bool(meta["flat_y"])
    return estimator


def _json_safe(history: list) -> list:
    """The Trainer's records with NumPy numbers as Python's."""
    return json.loads(json.dumps(history, default=lambda v: v.item() if hasattr(v, "item")
                                 else str(v)))
