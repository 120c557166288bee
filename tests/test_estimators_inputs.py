"""What practitioners pass the estimators: aeon's (N, C, T) layout, sample weights, array-likes
(torch tensors, pandas), column targets, and fitted models saved with joblib."""

import pickle
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import DataConversionWarning
from sklearn.exceptions import NotFittedError as SklearnNotFittedError

from rnnlab import RNNClassifier, RNNRegressor
from rnnlab.estimators import NotFittedError

FAST = dict(hidden_size=16, epochs=8, lr=2e-2, random_state=0)


def channels_first(count=40, channels=3, steps=20, seed=0):
    """(N, C, T) data as aeon hands it out: the class is the sign of channel 0's trend."""
    rng = np.random.default_rng(seed)
    y = np.arange(count) % 2
    t = np.linspace(-1, 1, steps)
    X = rng.standard_normal((count, channels, steps)) * 0.3
    X[:, 0] += np.where(y[:, None] == 1, t, -t)
    return X, y


def test_nct_layout_is_the_transposed_ntf_and_ambiguous_shapes_are_refused():
    X, y = channels_first()
    nct = RNNClassifier(layout="NCT", **FAST).fit(X, y)
    ntf = RNNClassifier(**FAST).fit(X.transpose(0, 2, 1), y)
    assert nct.n_features_in_ == 3
    np.testing.assert_array_equal(nct.predict_proba(X), ntf.predict_proba(X.transpose(0, 2, 1)))
    listed = [x[:, :12] for x in X]  # a list of (C, T_i) arrays
    np.testing.assert_array_equal(nct.predict(listed),
                                  ntf.predict([x.T for x in listed]))
    # (N, C, T) passed as if (N, T, F): fewer steps than features, refused with both ways out
    with pytest.raises(ValueError, match=r"shape \(40, 3, 20\) is ambiguous.*layout='NCT'.*"
                                         r"layout='NTF'"):
        RNNClassifier(**FAST).fit(X, y)
    gunpoint_like = X[:, :1]  # (N, 1, T): one channel
    with pytest.raises(ValueError, match="1 step"):
        RNNClassifier(**FAST).fit(gunpoint_like, y)
    ntf_anyway = RNNClassifier(layout="NTF", **FAST).fit(X, y)  # said explicitly: as asked
    assert ntf_anyway.n_features_in_ == 20
    with pytest.raises(ValueError, match="layout must be one of"):
        RNNClassifier(layout="TNF").fit(X, y)


def test_sample_weight_weighs_the_loss():
    X, y = channels_first(seed=1)
    X = X.transpose(0, 2, 1)
    plain = RNNClassifier(**FAST).fit(X, y)
    ones = RNNClassifier(**FAST).fit(X, y, sample_weight=np.ones(len(y)))
    for name, value in plain.model_.state_dict().items():
        np.testing.assert_array_equal(ones.model_.state_dict()[name], value)
    # weight 0 on half the sequences: their loss (and gradient) is gone from every batch
    weight = np.where(np.arange(len(y)) < 20, 1.0, 0.0)
    half = RNNClassifier(**FAST).fit(X, y, sample_weight=weight)
    assert any(not np.array_equal(half.model_.state_dict()[k], v)
               for k, v in plain.model_.state_dict().items())
    for bad, match in ((np.ones(3), r"shape \(40,\)"), (-weight, "non-negative"),
                       (np.zeros(40), "zero for every sequence")):
        with pytest.raises(ValueError, match=match):
            RNNClassifier(**FAST).fit(X, y, sample_weight=bad)
    assert plain.score(X, y, sample_weight=weight) == pytest.approx(
        np.mean(plain.predict(X[:20]) == y[:20]))
    reg = RNNRegressor(**FAST).fit(X, y.astype(float), sample_weight=weight)
    truth, predicted = y[:20].astype(float), reg.predict(X[:20])
    expected = 1 - np.sum((truth - predicted) ** 2) / np.sum((truth - truth.mean()) ** 2)
    assert reg.score(X, y.astype(float), sample_weight=weight) == pytest.approx(expected)


@pytest.mark.parametrize("convert", [
    lambda a: torch.tensor(a), lambda a: torch.tensor(a, dtype=torch.float32),
    lambda a: torch.tensor(a, requires_grad=True), lambda a: a.tolist()])
def test_array_likes_are_converted(convert):
    X, y = channels_first(seed=2)
    X = X.transpose(0, 2, 1)
    clf = RNNClassifier(**FAST).fit(X, y)
    expected = clf.predict_proba(X.astype(np.float32) if "float32" in repr(convert(X[:1]))
                                 else X)
    np.testing.assert_allclose(clf.predict_proba(convert(X)), expected, rtol=1e-6)
    again = RNNClassifier(**FAST).fit(convert(X), torch.tensor(y))
    assert again.n_features_in_ == 3


def test_pandas_and_column_targets_are_read_as_scikit_learn_reads_them():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 10))  # (N, T): 40 univariate sequences
    y = (X[:, -3:].sum(axis=1) > 0).astype(int)
    clf = RNNClassifier(**FAST).fit(pd.DataFrame(X), pd.Series(y))
    np.testing.assert_array_equal(clf.predict(pd.DataFrame(X)), clf.predict(X))
    with pytest.warns(DataConversionWarning, match="A column-vector y was passed"):
        column = RNNClassifier(**FAST).fit(X, y[:, None])
    np.testing.assert_array_equal(column.predict(X), clf.predict(X))
    with pytest.raises(ValueError, match="Unknown label type: 'continuous'"):
        RNNClassifier(**FAST).fit(X, y + 0.5)
    with pytest.raises(ValueError, match="Unknown label type: 'multiclass-multioutput'"):
        RNNClassifier(**FAST).fit(X, np.stack([y, y], axis=1))
    with pytest.raises(ValueError, match="Complex data not supported"):
        RNNClassifier(**FAST).fit(X + 1j, y)
    with pytest.raises(TypeError, match="sparse input is not supported"):
        from scipy import sparse
        RNNClassifier(**FAST).fit(sparse.csr_matrix(X), y)
    with pytest.raises(ValueError, match="requires y to be passed"):
        RNNRegressor(**FAST).fit(X, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a regressor takes (N, 1) targets as one output
        reg = RNNRegressor(**FAST).fit(X, y[:, None].astype(float))
    assert reg.predict(X).shape == (40, 1)


def test_not_fitted_is_scikit_learns_error_too():
    with pytest.raises(SklearnNotFittedError) as caught:
        RNNClassifier().predict(np.zeros((2, 5)))
    assert isinstance(caught.value, NotFittedError)
    assert isinstance(caught.value, (ValueError, AttributeError))


def test_a_joblib_memmap_reload_predicts_and_a_pickle_carries_no_caches(tmp_path):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((64, 30, 2))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    clf = RNNClassifier(hidden_size=16, epochs=2, random_state=0).fit(X, y)
    expected = clf.predict_proba(X)  # a predict first: its buffers must not travel
    joblib.dump(clf, tmp_path / "clf.joblib")
    mapped = joblib.load(tmp_path / "clf.joblib", mmap_mode="r")
    np.testing.assert_array_equal(mapped.predict_proba(X), expected)
    np.testing.assert_array_equal(mapped.predict_proba(X), expected)  # the same shape again
    parameters = sum(v.nbytes for v in clf.model_.state_dict().values())
    assert len(pickle.dumps(clf)) < parameters + 8_000  # a few KB plus its parameters
    # a fresh process predicts the same, bit for bit
    script = ("import joblib, numpy as np, sys; clf = joblib.load(sys.argv[1]); "
              "np.save(sys.argv[2], clf.predict_proba(np.load(sys.argv[3])))")
    np.save(tmp_path / "X.npy", X)
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "clf.joblib"),
                    str(tmp_path / "p.npy"), str(tmp_path / "X.npy")], check=True, timeout=120)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), expected)


def test_chrono_initialization_option():
    X, y = channels_first(seed=5)
    X = X.transpose(0, 2, 1)
    clf = RNNClassifier(chrono="auto", **FAST).fit(X, y)
    assert clf.model_[0].chrono == 20  # the longest training sequence
    assert RNNClassifier(cell="gru", chrono=50, **FAST).fit(X, y).model_[0].chrono == 50
    with pytest.raises(ValueError, match="gated cells"):
        RNNClassifier(cell="rnn", chrono="auto").fit(X, y)
    with pytest.raises(ValueError, match=">= 2"):
        RNNClassifier(chrono=1).fit(X, y)


@pytest.mark.parametrize("kind", ["classifier", "regressor", "many-to-many"])
def test_a_saved_estimator_predicts_the_same_in_a_fresh_process(tmp_path, kind):
    X, y = channels_first(seed=6)
    if kind == "classifier":
        est = RNNClassifier(layout="NCT", **FAST).fit(X, np.array(["down", "up"])[y])
        method = "predict_proba"
    elif kind == "regressor":
        est = RNNRegressor(layout="NCT", pooling="mean", **FAST).fit(X, np.stack([y, -y], 1))
        method = "predict"
    else:
        est = RNNRegressor(layout="NCT", many_to_many=True, **FAST).fit(X, X[:, 0] * 2.0)
        method = "predict"
    expected = np.asarray(getattr(est, method)(X))
    folder = est.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "extras.safetensors", "model.json", "model.safetensors"]
    loaded = type(est).load(folder)
    assert loaded.get_params() == est.get_params() and repr(loaded) == repr(est)
    np.testing.assert_array_equal(np.asarray(getattr(loaded, method)(X)), expected)
    if kind == "classifier":
        assert loaded.classes_.tolist() == ["down", "up"]
        assert loaded.score(X, np.array(["down", "up"])[y]) == est.score(
            X, np.array(["down", "up"])[y])
    np.save(tmp_path / "X.npy", X)
    script = (f"import numpy as np, sys; from rnnlab import {type(est).__name__} as C; "
              f"m = C.load(sys.argv[1]); "
              f"np.save(sys.argv[2], np.asarray(m.{method}(np.load(sys.argv[3]))))")
    subprocess.run([sys.executable, "-c", script, folder, str(tmp_path / "p.npy"),
                    str(tmp_path / "X.npy")], check=True, timeout=120)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), expected)


def test_loading_refuses_what_is_not_a_saved_estimator_of_its_class(tmp_path):
    from rnnlab.io import InvalidFileError
    X, y = channels_first(seed=7)
    RNNClassifier(layout="NCT", **FAST).fit(X, y).save(tmp_path / "clf")
    with pytest.raises(InvalidFileError, match="kind 'RNNClassifier', expected 'RNNRegressor'"):
        RNNRegressor.load(tmp_path / "clf")
    with pytest.raises(FileNotFoundError, match="no such file"):
        RNNClassifier.load(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidFileError, match="file"):
        RNNClassifier.load(tmp_path / "file")
    with pytest.raises(NotFittedError, match="not fitted"):
        RNNClassifier().save(tmp_path / "unfitted")
    assert not (tmp_path / "unfitted").exists()
