"""RNNClassifier and RNNRegressor: they learn, take the usual input shapes, follow the
scikit-learn protocol, and refuse bad input with clear errors."""

import numpy as np
import pytest

from rnnlab import estimators
from rnnlab.estimators import NotFittedError, RNNClassifier, RNNRegressor


def vowel_like(count=90, seed=0):
    """Three classes of 2-feature sequences of lengths 5-15: rising, falling, oscillating."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for k in range(count):
        label = ["up", "down", "wave"][k % 3]
        t = np.arange(rng.integers(5, 16))
        base = {"up": t / 5.0, "down": -t / 5.0, "wave": np.sin(t)}[label]
        X.append(np.stack([base, rng.standard_normal(len(t))], axis=1) + 3.0)
        y.append(label)
    return X, np.array(y)


FAST = dict(hidden_size=16, epochs=25, lr=2e-2, random_state=0)


def test_classifier_learns_string_labels_from_a_list_of_sequences():
    X, y = vowel_like()
    clf = RNNClassifier(cell="gru", **FAST).fit(X, y)
    assert list(clf.classes_) == ["down", "up", "wave"]
    Xt, yt = vowel_like(60, seed=1)
    assert clf.score(Xt, yt) >= 0.95
    proba = clf.predict_proba(Xt)
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert set(clf.predict(Xt)) <= {"up", "down", "wave"}
    assert clf.n_features_in_ == 2 and len(clf.history_) == 25


def test_array_inputs_equal_list_inputs():
    rng = np.random.default_rng(0)
    X3 = rng.standard_normal((40, 8, 1))
    y = (X3[:, :, 0].sum(axis=1) > 0).astype(int)
    a = RNNClassifier(cell="rnn", **FAST).fit(X3, y)
    b = RNNClassifier(cell="rnn", **FAST).fit(X3[:, :, 0], y)
    c = RNNClassifier(cell="rnn", **FAST).fit([s for s in X3], y)
    pa = a.predict_proba(X3)
    np.testing.assert_array_equal(pa, b.predict_proba(X3[:, :, 0]))
    np.testing.assert_array_equal(pa, c.predict_proba(list(X3)))


def test_same_random_state_same_model():
    X, y = vowel_like(30)
    a = RNNClassifier(**{**FAST, "epochs": 3}).fit(X, y)
    b = RNNClassifier(**{**FAST, "epochs": 3}).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_params_protocol():
    clf = RNNClassifier(cell="gru", hidden_size=8, patience=3, validation_fraction=0.2)
    params = clf.get_params()
    assert params["cell"] == "gru" and params["hidden_size"] == 8 and params["lr"] == 1e-3
    assert set(params) >= {"cell", "hidden_size", "num_layers", "bidirectional", "epochs",
                           "batch_size", "lr", "optimizer", "clip_norm", "random_state",
                           "verbose"}
    twin = clf.clone()
    assert twin is not clf and twin.get_params() == params
    assert clf.set_params(lr=0.5, epochs=2) is clf and clf.lr == 0.5 and twin.lr == 1e-3
    with pytest.raises(ValueError, match="'hiden_size' is not a parameter"):
        clf.set_params(hiden_size=3)
    assert repr(RNNClassifier(hidden_size=8)) == "RNNClassifier(hidden_size=8)"
    assert RNNRegressor(many_to_many=True).get_params()["many_to_many"] is True


def test_sklearn_clone_and_cross_validation(sklearn):
    from sklearn.base import clone
    from sklearn.model_selection import KFold, cross_val_score

    clf = RNNClassifier(cell="gru", hidden_size=16, epochs=15, lr=2e-2, random_state=0)
    assert clone(clf).get_params() == clf.get_params()
    X, y = vowel_like(60)
    scores = cross_val_score(clf, X, y, cv=KFold(3, shuffle=True, random_state=0))
    assert scores.shape == (3,) and scores.mean() > 0.8


def test_validation_and_early_stopping():
    """Early stopping ends the fit `patience` epochs after the best held-out loss, and the
    fitted model is the best epoch's (its held-out loss is the best recorded), not the
    last's."""
    from rnnlab.data import pad_sequences, train_val_split
    from rnnlab.losses import cross_entropy

    X, y = vowel_like()
    rng = np.random.default_rng(0)  # a third of the labels shuffled: the model overfits them
    noisy = rng.choice(len(y), 30, replace=False)
    y[noisy] = rng.permutation(y[noisy])
    clf = RNNClassifier(cell="gru", hidden_size=16, epochs=40, lr=2e-2, random_state=0,
                        validation_fraction=0.25, patience=3).fit(X, y)
    val_losses = [r["val_loss"] for r in clf.history_]
    best = int(np.argmin(val_losses))
    assert len(clf.history_) == best + 1 + 3 < 40  # it stopped, 3 epochs after the best
    assert val_losses[-1] > val_losses[best]  # so ending on the last weights would differ

    _, data_seed = clf._seeds()  # the held-out part, as fit drew it
    _, codes = np.unique(y, return_inverse=True)
    _, val_index = train_val_split(len(X), 0.25, data_seed, codes)
    x, lengths = pad_sequences(clf._standardize([X[k] for k in val_index]), clf.dtype)
    logits = clf.model_(x, lengths=lengths)
    loss, _ = cross_entropy(logits, codes[val_index])
    assert loss == pytest.approx(val_losses[best], rel=1e-5)


def test_one_sequence_has_its_own_spelling_and_ambiguous_shapes_are_refused():
    """A (T, F) array at predict is one sequence only when written [x]; a (T, 1) array could
    be one sequence or T sequences of one step, and is refused with how to write each."""
    X, y = vowel_like(30)
    clf = RNNClassifier(**{**FAST, "epochs": 2}).fit(X, y)
    x = X[4]  # (T, 2)
    one = clf.predict_proba([x])
    assert one.shape == (1, 3)
    np.testing.assert_array_equal(one, clf.predict_proba(x[None]))
    np.testing.assert_allclose(one[0], clf.predict_proba(X)[4], rtol=1e-6)  # float32, padded
    with pytest.raises(ValueError, match=r"n_features_in_ = 2; one \(T, F\) sequence is "
                                         r"written \[x\]"):
        clf.predict(x)

    uni = RNNClassifier(**{**FAST, "epochs": 2}).fit([s[:, :1] for s in X], y)
    column = X[4][:, :1]  # (T, 1): ambiguous
    with pytest.raises(ValueError, match=r"ambiguous: one sequence of \d+ steps, or \d+ "
                                         r"sequences of one step\? Write \[x\]"):
        uni.predict(column)
    assert uni.predict([column]).shape == (1,)
    assert uni.predict([column[:, 0]]).shape == (1,)  # (T,) in a list: one feature
    with pytest.raises(ValueError, match=r"single sequence is written \[x\]"):
        uni.predict(column[:, 0])
    with pytest.raises(ValueError, match=r"X\[0\] is a number, not a sequence"):
        uni.predict(list(column[:, 0]))
    with pytest.raises(ValueError, match="ambiguous"):
        RNNClassifier().fit(np.zeros((6, 1)), [0, 1] * 3)


def test_regressor_per_sequence():
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((rng.integers(4, 12), 1)) for _ in range(150)]
    y = np.array([x.mean() for x in X])
    reg = RNNRegressor(cell="gru", hidden_size=16, epochs=40, lr=1e-2, random_state=0,
                       pooling="mean").fit(X[:100], y[:100])
    assert reg.predict(X[100:]).shape == (50,)
    assert reg.score(X[100:], y[100:]) > 0.9
    two = np.stack([y, 2 * y], axis=1)
    reg2 = RNNRegressor(**{**reg.get_params(), "epochs": 2}).fit(X, two)
    assert reg2.predict(X).shape == (150, 2)


def test_regressor_many_to_many():
    """Target: the running mean of the input so far, one value per step."""
    rng = np.random.default_rng(1)
    X = [rng.standard_normal(rng.integers(4, 15)) for _ in range(160)]
    y = [np.cumsum(x) / np.arange(1, len(x) + 1) for x in X]
    reg = RNNRegressor(cell="lstm", hidden_size=16, epochs=40, lr=1e-2, random_state=0,
                       many_to_many=True).fit(X[:120], y[:120])
    predicted = reg.predict(X[120:])
    assert [p.shape for p in predicted] == [(len(x),) for x in X[120:]]
    assert reg.score(X[120:], y[120:]) > 0.9


def test_bad_input_to_fit():
    X, y = vowel_like(12)
    clf = RNNClassifier(epochs=1)
    with pytest.raises(ValueError, match="X and y must have the same number of sequences, "
                                         "got 12 in X and 11 in y"):
        clf.fit(X, y[:11])
    with pytest.raises(ValueError, match="X must hold at least one sequence"):
        clf.fit([], [])
    bad = [x.copy() for x in X]
    bad[4][2, 1] = np.nan
    with pytest.raises(ValueError, match=r"X\[4\] holds NaN"):
        clf.fit(bad, y)
    ragged = X[:3] + [np.zeros((5, 3))] + X[4:]
    with pytest.raises(ValueError, match=r"X\[3\] has 3 features but X\[0\] has 2"):
        clf.fit(ragged, y)
    with pytest.raises(ValueError, match="at least two classes"):
        clf.fit(X, np.zeros(12))
    with pytest.raises(ValueError, match="cell must be one of"):
        RNNClassifier(cell="transformer").fit(X, y)
    with pytest.raises(ValueError, match="patience needs validation_fraction"):
        RNNClassifier(patience=2).fit(X, y)
    with pytest.raises(TypeError, match="X must be a list"):
        clf.fit("abc", y)


def test_bad_input_to_predict_and_score():
    X, y = vowel_like(12)
    clf = RNNClassifier(hidden_size=4, epochs=1)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        clf.predict(X)
    clf.fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features per step, but this estimator was "
                                         "fitted with n_features_in_ = 2"):
        clf.predict([np.zeros((4, 3))])
    with pytest.raises(ValueError, match=r"y holds labels not seen in fit: \['sideways'\]"):
        clf.score(X[:2], np.array(["up", "sideways"]))
    with pytest.raises(ValueError, match="X and y must have the same number"):
        clf.score(X[:3], y[:2])
    reg = RNNRegressor(hidden_size=4, epochs=1, many_to_many=True)
    with pytest.raises(ValueError, match=r"y\[0\] must have one target per step of X\[0\]"):
        reg.fit(X, [np.zeros(len(x) + 1) for x in X])


@pytest.mark.parametrize("options, modules", [
    ({"norm": "layer"}, ["LSTM", "LastStep", "Linear"]),
    ({"dropout": 0.3, "num_layers": 2, "bidirectional": True},
     ["GRU", "LastStep", "Linear"]),  # the GRU's own dropout=, between its layers
    ({"dropout": 0.3}, ["GRU", "LastStep", "Linear"]),  # one layer: nothing between
    ({"recurrent_dropout": 0.3, "dropout": 0.2, "num_layers": 2},
     ["GRU", "LastStep", "Linear"]),  # variational, in the GRU's recurrence
    ({"hierarchical": 4, "recurrent_dropout": 0.25}, ["HierarchicalRNN", "Linear"]),
    ({"hierarchical": 4}, ["HierarchicalRNN", "Linear"]),
    ({"hierarchical": 3, "num_layers": 2, "bidirectional": True, "pooling": "mean"},
     ["HierarchicalRNN", "Linear"]),
])
def test_norm_dropout_and_hierarchical_models_fit_and_predict(options, modules):
    X, y = vowel_like(30)
    cell = "lstm" if "norm" in options else "gru"
    clf = RNNClassifier(cell=cell, **{**FAST, "epochs": 3, **options}).fit(X, y)
    assert [type(m).__name__ for m in clf.model_.modules] == modules
    assert clf.predict(X).shape == (30,) and set(clf.predict(X)) <= {"up", "down", "wave"}
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))  # dropout off
    assert clf.get_params() == {**clf.clone().get_params()}
    assert all(clf.get_params()[k] == v for k, v in options.items())
    if "recurrent_dropout" in options and "hierarchical" not in options:
        assert clf.model_.modules[0].recurrent_dropout == options["recurrent_dropout"]
    reg = RNNRegressor(cell=cell, **{**FAST, "epochs": 2, **options})
    reg.fit(X, np.array([len(x) for x in X], dtype=float))
    assert reg.predict(X).shape == (30,) and np.isfinite(reg.predict(X)).all()


def test_norm_dropout_and_hierarchical_are_parameters():
    clf = RNNClassifier()
    names = ("norm", "dropout", "recurrent_dropout", "hierarchical")
    assert {k: clf.get_params()[k] for k in names} == {
        "norm": None, "dropout": 0.0, "recurrent_dropout": 0.0, "hierarchical": None}
    clf.set_params(norm="layer", dropout=0.2, hierarchical=5)
    assert clf.clone().get_params()["hierarchical"] == 5
    assert repr(RNNRegressor(hierarchical=5)) == "RNNRegressor(hierarchical=5)"


@pytest.mark.parametrize("options, error, argument", [
    ({"norm": "batch"}, ValueError, "norm"),
    ({"norm": True}, ValueError, "norm"),
    ({"dropout": 1.0}, ValueError, "dropout"),
    ({"dropout": -0.1}, ValueError, "dropout"),
    ({"dropout": "0.5"}, TypeError, "dropout"),
    ({"dropout": float("nan")}, (TypeError, ValueError), "dropout"),
    ({"recurrent_dropout": 1.0}, ValueError, "recurrent_dropout"),
    ({"recurrent_dropout": -0.5}, ValueError, "recurrent_dropout"),
    ({"recurrent_dropout": None}, TypeError, "recurrent_dropout"),
    ({"hierarchical": 0}, ValueError, "hierarchical"),
    ({"hierarchical": 2.5}, TypeError, "hierarchical"),
    ({"hierarchical": True}, TypeError, "hierarchical"),
    ({"hierarchical": 3, "dropout": 0.2, "num_layers": 2}, ValueError, "dropout"),
])
def test_bad_norm_dropout_and_hierarchical_are_refused(options, error, argument):
    X, y = vowel_like(12)
    with pytest.raises(error, match=argument):
        RNNClassifier(epochs=1, **options).fit(X, y)


def test_norm_on_a_cell_without_it_and_hierarchical_per_step_are_refused(monkeypatch):
    X, y = vowel_like(12)
    monkeypatch.setattr(estimators, "_takes_norm", lambda layer, norm: False)
    with pytest.raises(ValueError, match="norm='layer' is not available for cell='gru'"):
        RNNClassifier(cell="gru", norm="layer", epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="hierarchical=2 gives one output per sequence"):
        RNNRegressor(hierarchical=2, many_to_many=True, epochs=1).fit(
            X, [np.zeros(len(x)) for x in X])
