"""The inference path, ``with rnnlab.no_grad():``: the training forward's outputs and states,
no cache kept, and a clear error for a backward after it."""

import os
import time

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
    # the same arithmetic but for the order of one sum, W_ih x_t + W_hh h_{t-1}
    tolerance = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(fast, out, rtol=0, atol=tolerance)
    for a, b in zip(fast_state if isinstance(fast_state, tuple) else (fast_state,),
                    state if isinstance(state, tuple) else (state,)):
        np.testing.assert_allclose(a, b, rtol=0, atol=tolerance)
    with pytest.raises(RuntimeError, match=r"after a forward under rnnlab.no_grad\(\)"):
        layer.backward(np.ones_like(fast))
    # a training forward afterwards works as before
    again, _ = layer.forward(x, lengths=lengths)
    layer.backward(np.ones_like(again))


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_inference_at_sizes_where_the_batch_is_cut_between_threads(cell, monkeypatch):
    """A batch of 37 (blocks of 12-13 rows, the tile's row remainders), 40 hidden units
    (panel tails), padding, a given initial state: 1 thread and 3 give the same bits, and
    both the training forward's numbers."""
    rng = np.random.default_rng(3)
    layer = CELLS[cell](11, 40, 2, dtype="float64", seed=2)
    x = rng.standard_normal((37, 15, 11))
    lengths = rng.integers(1, 16, 37)
    shape = (2, 37, 40)
    state = (rng.standard_normal(shape), rng.standard_normal(shape)) if cell == "lstm" \
        else rng.standard_normal(shape)
    out, final = layer.forward(x, lengths=lengths, state=state)
    results = []
    for threads in ("1", "3"):
        monkeypatch.setenv("RNNLAB_NUM_THREADS", threads)
        with no_grad():
            fast, fast_state = layer.forward(x, lengths=lengths, state=state)
        results.append((fast.copy(), _copy(fast_state)))
    (one, one_state), (three, three_state) = results
    np.testing.assert_array_equal(one, three)
    np.testing.assert_allclose(three, out, rtol=0, atol=1e-12)
    for a, b, c in zip(*(s if isinstance(s, tuple) else (s,) for s in
                         (one_state, three_state, final))):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(b, c, rtol=0, atol=1e-12)


def test_rnnlab_num_threads_must_be_a_positive_integer(monkeypatch):
    from rnnlab.cells.threads import row_blocks
    assert row_blocks(37, 3) == [(0, 12), (12, 24), (24, 37)]
    assert row_blocks(7, 2) == [(0, 7)]  # too few rows for two blocks of 4
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("RNNLAB_NUM_THREADS", bad)
        with pytest.raises(ValueError, match="RNNLAB_NUM_THREADS"):
            row_blocks(16)


def test_a_model_under_no_grad_keeps_no_cache_and_the_mode_nests():
    model = rnnlab.Sequential(rnnlab.Embedding(10, 4, seed=0), LSTM(4, 8, 2, seed=1),
                              rnnlab.LastStep(), rnnlab.Linear(8, 3, seed=2))
    x = np.random.default_rng(1).integers(0, 10, (6, 12))
    expected = model.forward(x).copy()
    with no_grad():
        with no_grad():
            pass
        assert not is_grad_enabled()  # the inner block restored the outer one's mode
        np.testing.assert_allclose(model.forward(x), expected, rtol=0, atol=1e-6)  # float32
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


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_inference_threads_work_in_a_forked_child(monkeypatch):
    """A child made by fork has none of its parent's worker threads (process pools and Dask
    workers fork): it must start its own, not wait forever on the parent's."""
    monkeypatch.setenv("RNNLAB_NUM_THREADS", "2")
    layer = LSTM(3, 8, seed=0)
    x = np.random.default_rng(0).standard_normal((16, 5, 3)).astype("float32")
    with no_grad():
        expected = layer.forward(x)[0].copy()  # the parent's pool is running now
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the same forward finishes with the same numbers
        code = 1
        try:
            with no_grad():
                code = 0 if np.array_equal(layer.forward(x)[0], expected) else 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child's inference forward hung")
