"""The training loops on rnnlab's threads (rnnlab.cells.parallel): one block of rows per
thread, (1) inside the loop, the weight gradients cut between the threads. The same numbers
as the single-thread loops (1e-12 in float64: only sums are grouped differently), for every
case the loops branch on: padding, given states and final-state gradients, layers and
directions, row counts that leave the packed product's row remainders."""

import numpy as np
import pytest

from rnnlab import GRU, LSTM, RNN
from rnnlab.cells import parallel

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def _run(layer, x, lengths, state, d_out, d_state):
    out, final = layer.forward(x, lengths=lengths, state=state)
    layer.zero_grad()
    grads = layer.backward(d_out, d_state)
    arrays = [out, *(final if isinstance(final, tuple) else (final,))]
    arrays += [g for g in (grads if isinstance(grads, tuple) else (grads,)) if g is not None]
    arrays += [layer.gradients()[name] for name in sorted(layer.gradients())]
    return [np.array(a, copy=True) for a in arrays if not isinstance(a, tuple)] + \
        [np.array(b, copy=True) for a in arrays if isinstance(a, tuple) for b in a]


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("layers, bidirectional", [(1, False), (2, True)])
@pytest.mark.parametrize("padded", [False, True])
def test_threaded_training_loops_equal_the_single_thread_ones(cell, layers, bidirectional,
                                                              padded, monkeypatch):
    rng = np.random.default_rng(5)
    batch, steps, n_in, hidden = 37, 13, 6, 20  # blocks of 12-13 rows: remainders 0-3
    layer = CELLS[cell](n_in, hidden, layers, bidirectional=bidirectional, dtype="float64",
                        seed=4)
    directions = 2 if bidirectional else 1
    x = rng.standard_normal((batch, steps, n_in))
    lengths = rng.integers(1, steps + 1, batch) if padded else None
    shape = (layers * directions, batch, hidden)
    state = (rng.standard_normal(shape), rng.standard_normal(shape)) if cell == "lstm" \
        else rng.standard_normal(shape)
    d_state = (rng.standard_normal(shape), rng.standard_normal(shape)) if cell == "lstm" \
        else rng.standard_normal(shape)
    d_out = rng.standard_normal((batch, steps, directions * hidden))
    results = {}
    for threads in ("1", "3"):
        monkeypatch.setenv("RNNLAB_NUM_THREADS", threads)
        monkeypatch.setattr(parallel, "MIN_WORK", 0)  # at any size
        params = layer._cell_params(0, 0)
        assert parallel.usable(params, x) == (threads == "3")
        results[threads] = _run(layer, x, lengths, state, d_out, d_state)
    assert len(results["1"]) == len(results["3"]) > 4
    for one, three in zip(results["1"], results["3"]):
        np.testing.assert_allclose(three, one, rtol=1e-12, atol=1e-12)


def test_without_threadpoolctl_the_single_thread_loops_run(monkeypatch):
    """Without the ``fast`` extra nothing may limit OpenBLAS's threads, so the threaded
    training loops must not run (their second thread would fight OpenBLAS's spinning one)."""
    monkeypatch.setenv("RNNLAB_NUM_THREADS", "2")
    params = LSTM(32, 128, seed=0)._cell_params(0, 0)
    x = np.zeros((16, 200, 32))
    assert parallel.usable(params, x)
    assert not parallel.usable(params, x[:, :10])  # too little work to pay for the threads
    assert not parallel.usable(params, x[:7])  # one block of rows: nothing to share
    monkeypatch.setattr(parallel, "ThreadpoolController", None)
    assert not parallel.usable(params, x)


def test_callers_on_threads_of_their_own_share_the_pool(monkeypatch):
    """Two threads of the user's (a threaded server, Dask's threads) each running forward,
    backward and inference at once: every result is the one a lone caller gets."""
    from concurrent.futures import ThreadPoolExecutor

    from rnnlab import no_grad

    monkeypatch.setenv("RNNLAB_NUM_THREADS", "2")
    monkeypatch.setattr(parallel, "MIN_WORK", 0)
    rng = np.random.default_rng(9)
    layers = [LSTM(5, 12, seed=s, dtype="float64") for s in (0, 1)]
    xs = [rng.standard_normal((16, 9, 5)) for _ in layers]

    def work(k):
        layer, x = layers[k], xs[k]
        out = layer.forward(x)[0].copy()
        layer.zero_grad()
        grads = layer.backward(np.ones_like(out))
        dx = grads[0] if isinstance(grads, tuple) else grads
        with no_grad():
            fast = layer.forward(x)[0].copy()
        return out, np.array(dx, copy=True), fast

    alone = [work(k) for k in (0, 1)]
    for _ in range(3):
        with ThreadPoolExecutor(2) as users:
            together = list(users.map(work, (0, 1)))
        for a, b in zip(alone, together):
            for u, v in zip(a, b):
                np.testing.assert_array_equal(u, v)
