"""scikit-learn style estimators: ``RNNClassifier`` and ``RNNRegressor``.

They take what sequence data usually looks like, a list of ``(T_i, F)`` arrays of different
lengths (or an ``(N, T, F)`` array, or ``(N, T)`` for one feature; one sequence ``x`` is
``[x]``, see :func:`as_sequences` for the rule), standardize the features
with the training data's statistics, build a recurrent model (LSTM, GRU or RNN, a many-to-one
head, a linear layer) and train it with the :class:`~rnnlab.training.Trainer`.

>>> clf = RNNClassifier(cell="lstm", hidden_size=64, epochs=60, lr=1e-2, random_state=0)
>>> clf.fit(X_train, y_train).score(X_test, y_test)
"""

from __future__ import annotations


import numpy as np

from rnnlab import losses
from rnnlab._checks import boolean, finite_number, one_of, positive_int, probability
from rnnlab._checks import seed as check_seed
from rnnlab.data import SequenceData, lengths_to_mask, pad_sequences, train_val_split
from rnnlab.estimator_inputs import (LAYOUTS, as_sequences, check_y_length, labels,
                                     sample_weights, targets_array)
from rnnlab.estimator_protocol import (NotFittedError, SklearnProtocol, not_fitted_error,
                                       sklearn_expected_failures)
from rnnlab.layers import (GRU, LSTM, RNN, HierarchicalRNN, LastStep, Linear, MeanPool,
                           Sequential, no_grad)
from rnnlab.optim import OPTIMIZERS, CosineLR
from rnnlab.training import TrainConfig, Trainer
from rnnlab.training.trainer import model_mode

__all__ = ["RNNClassifier", "RNNRegressor", "NotFittedError", "sklearn_expected_failures"]

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
POOLINGS = {"last": LastStep, "mean": MeanPool}
PREDICT_BATCH = 256  # sequences per forward pass at prediction time


class _RNNEstimator(SklearnProtocol):
    """The shared parts: parameters, input checks, standardization, the model and training."""

    def __init__(self, cell="lstm", hidden_size=64, num_layers=1, bidirectional=False,
                 epochs=100, batch_size=32, lr=1e-3, optimizer="adam", clip_norm=1.0,
                 random_state=None, verbose=False, *, pooling="last", weight_decay=0.0,
                 validation_fraction=None, patience=None, dtype="float32", lr_schedule="constant",
                 norm=None, dropout=0.0, recurrent_dropout=0.0, hierarchical=None, chrono=None,
                 layout=None):
        self.cell = cell  # "lstm", "gru" or "rnn" (tanh)
        self.hidden_size = hidden_size  # H, units per layer and direction
        self.num_layers = num_layers  # stacked recurrent layers
        self.bidirectional = bidirectional  # read each sequence both ways
        self.epochs = epochs  # passes over the training data
        self.batch_size = batch_size  # sequences per update
        self.lr = lr  # the optimizer's learning rate
        self.optimizer = optimizer  # "adam", "adamw", "sgd" or "rmsprop"
        self.clip_norm = clip_norm  # clip the global gradient norm; None: no clipping
        self.random_state = random_state  # int for reproducible runs; None: fresh each fit
        self.verbose = verbose  # show a progress bar
        self.pooling = pooling  # many-to-one head: "last" valid step or "mean" over steps
        self.weight_decay = weight_decay  # L2 penalty (decoupled for adamw)
        self.validation_fraction = validation_fraction  # hold out for early stopping; None
        self.patience = patience  # epochs without validation improvement before stopping
        self.dtype = dtype  # "float32" (fast) or "float64"
        self.lr_schedule = lr_schedule  # "constant", or "cosine": decay to 0 over the epochs
        self.norm = norm  # None, or "layer": layer-normalized recurrence (lstm)
        self.dropout = dropout  # drop probability between stacked layers (num_layers > 1)
        self.recurrent_dropout = recurrent_dropout  # variational, on h_{t-1} into W_hh
        self.hierarchical = hierarchical  # K: HierarchicalRNN over chunks of K steps; None
        self.chrono = chrono  # lstm, gru: chrono initialization for T_max steps, or "auto"
        self.layout = layout  # X's axes: None or "NTF" (N, T, F); "NCT" (aeon, sktime)

    # -- saving ------------------------------------------------------------------------------
    def save(self, path) -> str:
        """Save the fitted estimator into the folder ``path`` (safetensors and JSON, no
        pickle; :mod:`rnnlab.estimator_saving`); return the folder."""
        from rnnlab.estimator_saving import save_estimator  # needs safetensors (train extra)
        return save_estimator(self, path)

    @classmethod
    def load(cls, path):
        """The estimator saved in the folder ``path`` by :meth:`save`, fitted; loading never
        runs code, and refuses a folder of another kind or version."""
        from rnnlab.estimator_saving import load_estimator
        return load_estimator(cls, path)

    # -- fitting ---------------------------------------------------------------------------
    def _check_params(self) -> None:
        one_of(self.cell, "cell", tuple(CELLS))
        one_of(self.optimizer, "optimizer", tuple(OPTIMIZERS))
        one_of(self.pooling, "pooling", tuple(POOLINGS))
        one_of(self.dtype, "dtype", ("float32", "float64"))
        one_of(self.lr_schedule, "lr_schedule", ("constant", "cosine"))
        for name in ("hidden_size", "num_layers", "epochs", "batch_size"):
            positive_int(getattr(self, name), name)
        boolean(self.bidirectional, "bidirectional")
        boolean(self.verbose, "verbose")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ValueError(f"lr must be a number > 0, got {self.lr!r}")
        check_seed(self.random_state, "random_state")
        if self.validation_fraction is not None and (
                finite_number(self.validation_fraction, "validation_fraction") <= 0
                or self.validation_fraction >= 1):
            raise ValueError(f"validation_fraction must lie in (0, 1) or be None, got "
                             f"{self.validation_fraction}")
        if self.validation_fraction is None and self.patience is not None:
            raise ValueError("patience needs validation_fraction: early stopping watches the "
                             "held-out loss")
        one_of(self.norm, "norm", (None, "layer"))
        if self.norm is not None and not _takes_norm(CELLS[self.cell], self.norm):
            raise ValueError(f"norm={self.norm!r} is not available for cell={self.cell!r}: "
                             f"its layer has no such normalization (lstm has)")
        probability(self.dropout, "dropout", "an element between stacked layers")
        probability(self.recurrent_dropout, "recurrent_dropout",
                    "a unit of h_(t-1) in the recurrent product")
        one_of(self.layout, "layout", LAYOUTS)
        if self.chrono is not None:
            if self.cell == "rnn":
                raise ValueError("chrono initialization is for the gated cells: cell='lstm' or "
                                 "'gru', or chrono=None")
            if self.chrono != "auto" and positive_int(self.chrono, "chrono") < 2:
                raise ValueError(f"chrono must be an int >= 2 (T_max), 'auto' or None, got "
                                 f"{self.chrono!r}")
            if self.hierarchical is not None:
                raise ValueError("chrono initialization applies to flat layers, not with "
                                 "hierarchical; set chrono=None")
        if self.hierarchical is not None:
            positive_int(self.hierarchical, "hierarchical")
            if self.dropout:
                raise ValueError(f"dropout applies between flat stacked layers, not with "
                                 f"hierarchical={self.hierarchical!r}; set dropout=0")
            if self.many_to_many is True:
                raise ValueError(f"hierarchical={self.hierarchical!r} gives one output per "
                                 f"sequence, not per step: it needs many_to_many=False")

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise not_fitted_error(f"this {type(self).__name__} is not fitted yet: call fit "
                                   f"first")

    def _standardize(self, sequences: list) -> list:
        return [(s - self.feature_mean_) / self.feature_scale_ for s in sequences]

    def _inputs(self, X) -> tuple:
        """Check X against what fit saw; standardize and pad it."""
        self._check_fitted()
        sequences = as_sequences(X, features=self.n_features_in_, layout=self.layout)
        features = sequences[0].shape[1]
        if features != self.n_features_in_:
            raise ValueError(f"X has {features} features per step, but this estimator was "
                             f"fitted with n_features_in_ = {self.n_features_in_}")
        return pad_sequences(self._standardize(sequences), self.dtype)

    def _fit(self, sequences: list, targets: np.ndarray, outputs: int, loss, metric,
             stratify=None, sample_weight=None):
        """Standardize the sequences fit is given, build the model, train it on ``targets``
        (each sequence's loss weighted by ``sample_weight``)."""
        all_steps = np.concatenate(sequences)
        self.n_features_in_ = all_steps.shape[1]
        self.feature_mean_ = all_steps.mean(axis=0)
        scale = all_steps.std(axis=0)
        self.feature_scale_ = np.where(scale > 0, scale, 1.0)
        x, lengths = pad_sequences(self._standardize(sequences), self.dtype)

        model_seed, data_seed = self._seeds()
        self.model_ = self._build_model(outputs, model_seed, int(lengths.max()))
        data = SequenceData(x, targets, lengths, per_step=self.many_to_many,
                            weight=sample_weight)
        val = None
        if self.validation_fraction is not None:
            train_index, val_index = train_val_split(len(data), self.validation_fraction,
                                                     data_seed, stratify)
            data, val = data.subset(train_index), data.subset(val_index)
        options = {"weight_decay": self.weight_decay} if self.weight_decay else {}
        optimizer = OPTIMIZERS[self.optimizer](self.model_, lr=self.lr, **options)
        config = TrainConfig(epochs=self.epochs, batch_size=self.batch_size,
                             clip_norm=self.clip_norm, seed=data_seed, patience=self.patience,
                             progress=self.verbose)
        schedule = CosineLR(optimizer, self.epochs) if self.lr_schedule == "cosine" else None
        trainer = Trainer(self.model_, loss, optimizer, config, schedule, metric=metric)
        self.history_ = trainer.fit(data, val)
        return self

    def _seeds(self) -> tuple:
        """(model seed, data seed), drawn from ``random_state``."""
        rng = np.random.default_rng(self.random_state)
        return tuple(int(s) for s in rng.integers(0, 2**31, size=2))

    def _build_model(self, outputs: int, seed: int, steps: int) -> Sequential:
        """The recurrent layers (with ``dropout`` between them), the many-to-one head (unless
        many-to-many), a linear layer; with ``hierarchical``, a HierarchicalRNN (one output
        per sequence) and the linear layer."""
        directions = 2 if self.bidirectional else 1
        options = {"bidirectional": self.bidirectional, "dtype": self.dtype}
        if self.norm is not None:
            options["norm"] = self.norm
        if self.recurrent_dropout:
            options["recurrent_dropout"] = self.recurrent_dropout
        if self.chrono is not None:  # "auto": the longest training sequence (at least 2)
            options["chrono"] = max(2, steps) if self.chrono == "auto" else self.chrono
        if self.hierarchical is not None:
            layers = [HierarchicalRNN(self.n_features_in_, self.hidden_size, self.hierarchical,
                                      self.cell, num_layers=self.num_layers, seed=seed,
                                      **options)]
        else:
            layers = [CELLS[self.cell](self.n_features_in_, self.hidden_size, self.num_layers,
                                       seed=seed, dropout=self.dropout, **options)]
        if not self.many_to_many and self.hierarchical is None:
            layers.append(POOLINGS[self.pooling]())
        layers.append(Linear(directions * self.hidden_size, outputs, dtype=self.dtype,
                             seed=seed + 1))
        return Sequential(*layers)

    def _forward(self, X):
        """Model outputs for X, batch by batch, in evaluation mode (dropout off): (N, O), or
        (N, T, O) with lengths."""
        x, lengths = self._inputs(X)
        with model_mode(self.model_, training=False), no_grad():
            outs = [self.model_(x[k:k + PREDICT_BATCH], lengths=lengths[k:k + PREDICT_BATCH])
                    for k in range(0, len(x), PREDICT_BATCH)]
        return np.concatenate(outs).astype(np.float64), lengths


def _takes_norm(layer, norm: str) -> bool:
    """Whether the recurrent ``layer`` class accepts ``norm=norm``."""
    try:
        layer(1, 1, norm=norm, dtype="float64", seed=0)
    except (TypeError, ValueError):
        return False
    return True


class RNNClassifier(_RNNEstimator):
    """Classify whole sequences with a recurrent network.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn"}
    hidden_size, num_layers : int
    bidirectional : bool
    epochs, batch_size : int
    lr : float
    optimizer : {"adam", "adamw", "sgd", "rmsprop"}
    clip_norm : float or None
        Gradient clipping by global norm.
    random_state : int or None
    verbose : bool
        A progress bar with the loss and gradient norm.
    pooling : {"last", "mean"}
        The last valid step's output, or the mean over valid steps, feeds the linear layer.
    weight_decay : float
    validation_fraction : float in (0, 1) or None
        Hold out this share (stratified) and report its loss each epoch.
    patience : int or None
        Early stopping on the held-out loss, restoring the best weights.
    dtype : {"float32", "float64"}
    lr_schedule : {"constant", "cosine"}
    norm : {None, "layer"}
        "layer": a layer-normalized recurrence (Ba, Kiros & Hinton 2016), for the cells whose
        layer has it (``LSTM(norm="layer")``).
    dropout : float in [0, 1)
        Dropout between stacked layers (Zaremba et al. 2014): the recurrent layer's own
        ``dropout=``, as ``torch.nn.LSTM``'s; no effect with one layer. Off in ``predict``.
    recurrent_dropout : float in [0, 1)
        Variational recurrent dropout (Gal & Ghahramani 2016): one mask per sequence on
        h_{t-1} where it enters the recurrent product, the same at every step; the layer's
        own ``recurrent_dropout=`` (both levels of a hierarchical model). Off in ``predict``.
    hierarchical : int or None
        K: the model is ``HierarchicalRNN(..., chunk=K)`` and a linear layer: a lower layer
        reads each chunk of K steps, an upper one the chunk summaries; ``pooling`` is unused
        and ``dropout`` must be 0.

    Attributes
    ----------
    classes_ : (C,) array
        The labels seen in fit, sorted; predictions are drawn from them.
    n_features_in_ : int
    feature_mean_, feature_scale_ : (F,) arrays
        The standardization learned from the training steps.
    model_ : Sequential
    history_ : list of dict
        The Trainer's per-epoch records.
    """

    many_to_many = False

    def fit(self, X, y, sample_weight=None):
        """Fit on sequences X (list of (T_i, F), (N, T, F) or (N, T); see ``layout``) and
        labels y (N,); ``sample_weight`` (N,) weighs each sequence's loss."""
        self._check_params()
        sequences = as_sequences(X, layout=self.layout)
        y = labels(y)
        check_y_length(y, len(sequences))
        weight = sample_weights(sample_weight, len(sequences))
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y must hold at least two classes, got 1 class: "
                             f"{self.classes_.tolist()}")
        return self._fit(sequences, codes.astype(np.int64), len(self.classes_),
                         losses.cross_entropy, _accuracy, stratify=codes, sample_weight=weight)

    def predict_proba(self, X) -> np.ndarray:
        """(N, C) class probabilities, columns in the order of ``classes_``."""
        logits, _ = self._forward(X)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        """(N,) the most probable label of each sequence."""
        logits, _ = self._forward(X)
        return self.classes_[logits.argmax(axis=1)]

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy on (X, y), weighted by ``sample_weight``; labels unseen in fit are an
        error."""
        self._check_fitted()
        y = labels(y)
        unseen = np.setdiff1d(y, self.classes_)
        if unseen.size:
            raise ValueError(f"y holds labels not seen in fit: {unseen[:10].tolist()}; "
                             f"known classes_ are {self.classes_.tolist()}")
        predicted = self.predict(X)
        check_y_length(y, len(predicted))
        weight = sample_weights(sample_weight, len(predicted))
        return float(np.average(predicted == y, weights=weight))


def _accuracy(logits, y, lengths) -> float:
    return float(np.mean(logits.argmax(axis=-1) == y))


class RNNRegressor(_RNNEstimator):
    """Predict a vector per sequence, or with ``many_to_many=True`` a value per step.

    Parameters are those of :class:`RNNClassifier` (``pooling`` is unused with
    ``many_to_many``), plus

    many_to_many : bool
        y gives targets per step (not with ``hierarchical``): a list of (T_i,) or (T_i, O)
        arrays matching X's lengths, or an (N, T) / (N, T, O) array; predictions come back
        the same way.

    Targets are standardized with the training data's mean and scale, and predictions are
    mapped back. ``score`` is R^2 over every predicted number (every valid step for
    many-to-many), as scikit-learn's ``r2_score`` with uniform averaging of one flattened
    output.
    """

    def __init__(self, cell="lstm", hidden_size=64, num_layers=1, bidirectional=False,
                 epochs=100, batch_size=32, lr=1e-3, optimizer="adam", clip_norm=1.0,
                 random_state=None, verbose=False, *, pooling="last", weight_decay=0.0,
                 validation_fraction=None, patience=None, dtype="float32",
                 lr_schedule="constant", norm=None, dropout=0.0, recurrent_dropout=0.0,
                 hierarchical=None, chrono=None, layout=None, many_to_many=False):
        super().__init__(cell, hidden_size, num_layers, bidirectional, epochs, batch_size, lr,
                         optimizer, clip_norm, random_state, verbose, pooling=pooling,
                         weight_decay=weight_decay, validation_fraction=validation_fraction,
                         patience=patience, dtype=dtype, lr_schedule=lr_schedule, norm=norm,
                         dropout=dropout, recurrent_dropout=recurrent_dropout,
                         hierarchical=hierarchical, chrono=chrono, layout=layout)
        self.many_to_many = many_to_many  # a target per step instead of per sequence

    def _targets(self, y, lengths) -> tuple:
        """y as a float array (N, O) or padded (N, T, O), and whether it was 1-D per item."""
        if self.many_to_many:
            steps = as_sequences(y, "y")
            check_y_length(steps, len(lengths))
            for k, (s, n) in enumerate(zip(steps, lengths)):
                if len(s) != n:
                    raise ValueError(f"y[{k}] must have one target per step of X[{k}], "
                                     f"T_i = {n}, got {len(s)}")
            flat = isinstance(y, np.ndarray) and y.ndim == 2 or \
                not isinstance(y, np.ndarray) and np.ndim(y[0]) == 1
            return pad_sequences(steps, np.float64)[0], flat
        y = targets_array(y)
        if y.ndim not in (1, 2):
            raise ValueError(f"y must have shape (N,) or (N, O), got {y.shape}")
        check_y_length(y, len(lengths))
        if not np.isfinite(y).all():
            raise ValueError("y holds NaN or infinite values")
        return (y[:, None] if y.ndim == 1 else y), y.ndim == 1

    def fit(self, X, y, sample_weight=None):
        """Fit on sequences X and targets y (see the class docstring for the shapes);
        ``sample_weight`` (N,) weighs each sequence's loss."""
        boolean(self.many_to_many, "many_to_many")
        self._check_params()
        sequences = as_sequences(X, layout=self.layout)
        lengths = np.array([len(s) for s in sequences])
        targets, self._flat_y = self._targets(y, lengths)
        weight = sample_weights(sample_weight, len(sequences))
        valid = targets[lengths_to_mask(lengths, targets.shape[1])] if self.many_to_many \
            else targets
        self.target_mean_ = valid.mean(axis=0)
        scale = valid.std(axis=0)
        self.target_scale_ = np.where(scale > 0, scale, 1.0)
        targets = ((targets - self.target_mean_) / self.target_scale_).astype(self.dtype)
        if self.many_to_many:
            targets[~lengths_to_mask(lengths, targets.shape[1])] = 0.0
        return self._fit(sequences, targets, targets.shape[-1], losses.mse_loss, None,
                         sample_weight=weight)

    def predict(self, X):
        """(N,) or (N, O) per sequence; with many_to_many a list of (T_i,) or (T_i, O)."""
        out, lengths = self._forward(X)
        out = out * self.target_scale_ + self.target_mean_
        if self.many_to_many:
            per_step = [out[k, :n] for k, n in enumerate(lengths)]
            return [p[:, 0] for p in per_step] if self._flat_y else per_step
        return out[:, 0] if self._flat_y else out

    def score(self, X, y, sample_weight=None) -> float:
        """R^2 = 1 - sum w (y - y_hat)^2 / sum w (y - mean_w y)^2 over every predicted number,
        each weighing its sequence's ``sample_weight`` (1 by default)."""
        predicted = self.predict(X)
        weight = sample_weights(sample_weight, len(predicted))
        weight = np.ones(len(predicted)) if weight is None else weight
        if self.many_to_many:
            truth = as_sequences(y, "y")
            check_y_length(truth, len(predicted))
            for k, (t, p) in enumerate(zip(truth, predicted)):
                if len(t) != len(p):
                    raise ValueError(f"y[{k}] must have one target per step of X[{k}], "
                                     f"T_i = {len(p)}, got {len(t)}")
            weight = np.concatenate([np.full(t.size, w) for t, w in zip(truth, weight)])
            truth = np.concatenate([t.ravel() for t in truth])
            predicted = np.concatenate([np.ravel(p) for p in predicted])
        else:
            truth = targets_array(y)
            if not np.isfinite(truth).all():
                raise ValueError("y holds NaN or infinite values")
            check_y_length(truth, len(predicted))
            if truth.size != predicted.size:
                raise ValueError(f"y must have the shape of the predictions "
                                 f"{predicted.shape}, got {truth.shape}")
            weight = np.repeat(weight, truth.size // len(truth))
            truth, predicted = truth.ravel(), predicted.ravel()
        mean = np.average(truth, weights=weight)
        total = np.sum(weight * (truth - mean) ** 2)
        return float(1.0 - np.sum(weight * (truth - predicted) ** 2) / total) if total > 0 \
            else 0.0
