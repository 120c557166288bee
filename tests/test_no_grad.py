"""The inference path, ``with rnnlab.no_grad():``: the training forward's outputs and states,
no cache kept, and a clear error for a backward after it."""

import numpy as np
import pytest

import rnnlab
from rnnlab import GRU, LSTM, RNN, no_grad
from rnnlab.layers import is_grad_enabled

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def _copy(value):
    if isinstance(value, tuple):
        return tuple(v.copy() for v in value)
    return value.copy()


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_inference_equals_the_training_forward(cell, layers, bidirectional, padded, dtype):
    rng = np.random.default_rng(0)
    layer = CELLS[cell](4, 6, layers, bidirectional=bidirectional, dtype=dtype, seed=1)
    x = rng.standard_normal((5, 9, 4)).astype(dtype)
    lengths = np.array([9, 3, 7, 1, 9]) if padded else None
    out, state = layer.forward(x, lengths=lengths)
    out, state = out.copy(), _copy(state)
    with no_grad():
        assert not is_grad_enabled()
        fast, fast_state = layer.forward(x, lengths=lengths)
    assert is_grad_enabled()
    np.testing.assert_array_equal(fast, out)  # the same arithmetic: equal, not just close
    for a, b in zip(fast_state if isinstance(fast_state, tuple) else (fast_state,),
                    state if isinstance(state, tuple) else (state,)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(RuntimeError, match=r"after a forward under rnnlab.no_grad\(\)"):
        layer.backward(np.ones_like(fast))
    # a training forward afterwards works as before
    again, _ = layer.forward(x, lengths=lengths)
    layer.backward(np.ones_like(again))


def test_a_model_under_no_grad_keeps_no_cache_and_the_mode_nests():
    model = rnnlab.Sequential(rnnlab.Embedding(10, 4, seed=0), LSTM(4, 8, 2, seed=1),
                              rnnlab.LastStep(), rnnlab.Linear(8, 3, seed=2))
    x = np.random.default_rng(1).integers(0, 10, (6, 12))
    expected = model.forward(x).copy()
    with no_grad():
        with no_grad():
            pass
        assert not is_grad_enabled()  # the inner block restored the outer one's mode
        np.testing.assert_array_equal(model.forward(x), expected)
    assert all(isinstance(m._cache, str) for m in model.modules)  # nothing kept
    with pytest.raises(RuntimeError, match="no_grad"):
        model.backward(np.ones((6, 3)))


def test_estimators_trainer_and_text_measure_without_caches():
    from rnnlab.text import TextStreams, Vocabulary, char_model, stream_loss
    text = "the quick brown fox jumps over the lazy dog. " * 20
    vocab = Vocabulary.from_text(text)
    model = char_model(len(vocab), "gru", 8, 2, dtype="float64", seed=0)
    stream_loss(model, TextStreams(vocab.encode(text), 4, 10))
    assert isinstance(model.modules[1]._cache, str)
    X = np.random.default_rng(2).standard_normal((20, 7, 2))
    clf = rnnlab.RNNClassifier(hidden_size=4, epochs=1, random_state=0).fit(X, np.arange(20) % 2)
    clf.predict(X)
    assert isinstance(clf.model_.modules[0]._cache, str)
