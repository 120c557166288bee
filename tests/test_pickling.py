"""A fitted model pickles as its parameters: no cache of the last forward, no reused buffers,
no gradients; the copy predicts exactly what the original does and still trains."""

import copy
import pickle

import numpy as np
import pytest

from rnnlab import RNNClassifier
from rnnlab.layers import GRU, LSTM, RNN, LastStep, Linear, Sequential


def _parameter_bytes(module) -> int:
    return sum(p.nbytes for p in module.parameters().values())


@pytest.mark.parametrize("hidden", [16, 64])
def test_a_fitted_estimator_pickles_to_about_its_parameters(hidden):
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((30, 3)) for _ in range(64)]
    y = rng.integers(0, 2, 64)
    clf = RNNClassifier(cell="lstm", hidden_size=hidden, epochs=2, random_state=0).fit(X, y)
    expected = clf.predict_proba(X)  # leaves a forward cache behind
    blob = pickle.dumps(clf)
    assert len(blob) < 1.5 * _parameter_bytes(clf.model_) + 20_000
    again = pickle.loads(blob)
    np.testing.assert_array_equal(again.predict_proba(X), expected)


@pytest.mark.parametrize("layer", [RNN, LSTM, GRU])
def test_a_copy_has_no_cache_and_trains_like_the_original(layer):
    rng = np.random.default_rng(1)
    model = Sequential(layer(3, 8, num_layers=2, dtype=np.float64, seed=0), LastStep(),
                       Linear(8, 2, dtype=np.float64, seed=1))
    x = rng.standard_normal((4, 7, 3))
    model.backward(np.ones_like(model.forward(x)))  # gradients and caches present
    twin = copy.deepcopy(model)
    recurrent = twin[0]
    assert recurrent._cache is None and recurrent._workspaces == {}
    assert all(not g.any() for g in twin.gradients().values())
    with pytest.raises(Exception, match="forward"):
        twin.backward(np.ones((4, 2)))  # no cache: backward needs a forward first
    model.zero_grad()
    for m in (model, twin):
        m.backward(np.ones_like(m.forward(x)))
    for name, g in model.grad_dict().items():
        np.testing.assert_array_equal(twin.grad_dict()[name], g)
