"""Applying a saved model to new sequences, as ``rnnlab predict`` does: the folders that an
estimator's ``save`` and ``rnnlab train --save`` write (:mod:`rnnlab.saved_model`), read
without running code, each applied as it was trained: the same standardization of the
features, the same classes, the same scale of the targets.

>>> predictor = load_predictor("rnnlab-model")
>>> predictor.predict(X), predictor.predict_proba(X), predictor.classes

Shapes: N sequences of T_i steps and F features; C classes; K regression targets.
"""

from __future__ import annotations

import numpy as np

from rnnlab import saved_model
from rnnlab.data import pad_sequences
from rnnlab.estimator_inputs import as_sequences
from rnnlab.estimators import RNNClassifier, RNNRegressor
from rnnlab.layers import no_grad
from rnnlab.training.trainer import model_mode

ESTIMATORS = {"RNNClassifier": RNNClassifier, "RNNRegressor": RNNRegressor}
TRAINED = "rnnlab-train"  # what rnnlab train --save writes (rnnlab.experiments.trained_model)
BATCH = 256  # sequences per forward pass


class Predictor:
    """A saved model ready to apply: ``predict``, ``predict_proba`` (for classes), and what
    it was trained for (``classes``, ``kind``, ``n_features``)."""

    def __init__(self, kind: str, model=None, meta=None, arrays=None, estimator=None):
        self.kind, self.model, self.estimator = kind, model, estimator
        meta, arrays = meta or {}, arrays or {}
        self.per_step = bool(meta.get("per_step", False))
        self.mean, self.scale = arrays.get("feature_mean"), arrays.get("feature_scale")
        self.target = (arrays["target_mean"], arrays["target_scale"]) \
            if "target_mean" in arrays else None
        classes = meta.get("classes")
        self.classes = None if classes is None else np.array(
            classes["values"], dtype=np.dtype(classes["dtype"]))
        if estimator is not None:
            self.classes = getattr(estimator, "classes_", None)
            self.mean = estimator.feature_mean_
        self.n_features = None if self.mean is None else int(np.size(self.mean))

    def predict(self, X):
        """The class of each sequence (or each step), or the predicted values, for X as
        sequences of (T_i, F) steps (whatever layout an estimator was fitted with)."""
        if self.estimator is not None:
            return self.estimator.predict(self._for_estimator(X))
        out = self._outputs(X)
        if self.classes is not None:
            return [self.classes[o.argmax(axis=-1)] for o in out] if self.per_step \
                else self.classes[out.argmax(axis=-1)]
        return out

    def predict_proba(self, X) -> np.ndarray:
        """(N, C) class probabilities, columns in the order of ``classes``."""
        if self.classes is None:
            raise ValueError(f"this {self.kind} model predicts values, not classes: it has no "
                             f"probabilities")
        if self.estimator is not None:
            return self.estimator.predict_proba(self._for_estimator(X))
        if self.per_step:
            raise ValueError("this model predicts a class per step; its probabilities per "
                             "sequence are not defined")
        logits = self._outputs(X)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def _for_estimator(self, X):
        """(T_i, F) sequences in the layout the estimator reads."""
        if self.estimator.layout != "NCT":
            return X
        return [s.T for s in as_sequences(X, missing=True)]

    def _outputs(self, X):
        """The model's outputs for X, standardized as in training (a missing value, NaN, is
        0 after it); regression values mapped back to the targets' units."""
        sequences = as_sequences(X, missing=True)
        if self.n_features is not None and sequences[0].shape[1] != self.n_features:
            raise ValueError(f"X has {sequences[0].shape[1]} features per step, but the model "
                             f"was trained on {self.n_features}")
        if self.mean is not None:
            sequences = [np.nan_to_num((s - self.mean) / self.scale) for s in sequences]
        else:
            sequences = [np.nan_to_num(s) for s in sequences]
        x, lengths = pad_sequences(sequences, self.model.dtype)
        with model_mode(self.model, training=False), no_grad():
            parts = [np.array(self.model.forward(x[k:k + BATCH], lengths=lengths[k:k + BATCH]),
                              dtype=np.float64) for k in range(0, len(x), BATCH)]
        out = np.concatenate(parts)
        if self.target is not None:
            out = out * self.target[1] + self.target[0]
        if self.per_step:
            return [o[:n] for o, n in zip(out, lengths)]
        return out[:, 0] if self.target is not None and out.shape[-1] == 1 else out


def load_predictor(path) -> Predictor:
    """The saved model in the folder ``path``: an estimator's (``save``) or what
    ``rnnlab train --save`` wrote; refuses any other folder or file by name."""
    model, arrays, meta = saved_model.load_model(path)
    kind = meta.get("kind")
    if kind in ESTIMATORS:
        return Predictor(kind, estimator=ESTIMATORS[kind].load(path))
    if kind != TRAINED:
        raise saved_model.InvalidFileError(
            f"path {str(path)!r} holds a saved model of kind {kind!r}, which rnnlab predict "
            f"does not know how to apply (it applies {sorted(ESTIMATORS)} and {TRAINED!r})")
    return Predictor(kind, model.eval(), meta, arrays)
