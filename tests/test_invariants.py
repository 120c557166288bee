"""Tier 3: invariants. Padded equals unpadded; step by step equals the whole sequence;
float32 tracks float64; backward accumulates; nothing the caller passed is mutated."""

import numpy as np
import pytest

from helpers import make_layer, parts, random_case, rel_err

CASES = [("rnn", 1, False), ("rnn", 2, True), ("lstm", 2, True), ("lstm", 1, False),
         ("gru", 2, True), ("gru", 1, True)]


def run(layer, x, lengths, state, d_out, d_state):
    """Forward and backward from zeroed grads: (out, state_n, dx, d_state0, grads)."""
    layer.zero_grad()
    out, state_n = layer.forward(x, lengths, state)
    dx, d_state0 = layer.backward(d_out, d_state)
    return out, parts(state_n), dx, parts(d_state0), layer.grad_dict()


def take(state, b):
    """Sequence b of a state (array or pair), keeping the batch axis."""
    return tuple(s[:, b:b + 1] for s in state) if isinstance(state, tuple) else state[:, b:b + 1]


@pytest.mark.parametrize("cell,num_layers,bidirectional", CASES)
def test_padded_batch_equals_each_sequence_alone(cell, num_layers, bidirectional):
    layer = make_layer(cell, 3, 4, num_layers, bidirectional, seed=21)
    x, lengths, state = random_case(layer, batch=4, steps=6, seed=22)  # garbage in padding
    rng = np.random.default_rng(23)
    out_shape = (4, 6, layer.num_directions * 4)
    d_out = rng.standard_normal(out_shape)  # nonzero at padded steps too: must be ignored
    d_state = tuple(rng.standard_normal(s.shape) for s in parts(state))
    d_state = d_state if len(d_state) > 1 else d_state[0]
    out, state_n, dx, d_state0, grads = run(layer, x, lengths, state, d_out, d_state)

    summed = {k: np.zeros_like(v) for k, v in grads.items()}
    for b, n in enumerate(lengths):
        o, s_n, d, ds0, g = run(layer, x[b:b + 1, :n], None, take(state, b), d_out[b:b + 1, :n],
                                take(d_state, b))
        assert rel_err(out[b, :n], o[0]) <= 1e-13
        assert np.all(out[b, n:] == 0)
        assert np.all(dx[b, n:] == 0)
        assert rel_err(dx[b, :n], d[0]) <= 1e-13
        for ours, alone in zip(state_n + d_state0, s_n + ds0):
            assert rel_err(ours[:, b], alone[:, 0]) <= 1e-13
        for k in summed:
            summed[k] += g[k]
    for k, g in grads.items():
        assert rel_err(g, summed[k]) <= 1e-12, k


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("chunk", [1, 3])
def test_step_by_step_equals_whole_sequence(cell, chunk):
    """Chunks that pass the state on give the same outputs; chaining their backwards through
    d_state gives the same dx, d(initial state) and parameter gradients."""
    layer = make_layer(cell, 3, 4, num_layers=2, seed=24)
    x, _, state = random_case(layer, batch=3, steps=7, variable=False, seed=25)
    rng = np.random.default_rng(26)
    d_out = rng.standard_normal((3, 7, 4))
    out, state_n, dx, d_state0, grads = run(layer, x, None, state, d_out, None)

    layer.zero_grad()
    starts = list(range(0, 7, chunk))
    caches, outs, s = [], [], state
    for t in starts:
        layer._workspaces = {}  # keep every chunk's cache: a layer reuses its arrays otherwise
        o, s = layer.forward(x[:, t:t + chunk], state=s)
        outs.append(o)
        caches.append(layer._cache)
    d_s, dxs = None, []
    for t, cache in zip(reversed(starts), reversed(caches)):
        layer._save_for_backward(cache)  # each chunk's cache back in place, in reverse
        d, d_s = layer.backward(d_out[:, t:t + chunk], d_s)
        dxs.insert(0, d)
    assert rel_err(np.concatenate(outs, axis=1), out) <= 1e-13
    for ours, whole in zip(parts(s), state_n):
        assert rel_err(ours, whole) <= 1e-13
    assert rel_err(np.concatenate(dxs, axis=1), dx) <= 1e-12
    for ours, whole in zip(parts(d_s), d_state0):
        assert rel_err(ours, whole) <= 1e-12
    for k, g in layer.grad_dict().items():
        assert rel_err(g, grads[k]) <= 1e-12, k


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_float32_tracks_float64(cell):
    l64 = make_layer(cell, 3, 8, 2, True, seed=27)
    l32 = make_layer(cell, 3, 8, 2, True, dtype="float32", seed=27)
    x, lengths, state = random_case(l64, batch=4, steps=9, seed=28)
    d_out = np.random.default_rng(29).standard_normal((4, 9, 16))
    o64, _, dx64, _, g64 = run(l64, x, lengths, state, d_out, None)
    o32, _, dx32, _, g32 = run(l32, x, lengths, state, d_out, None)
    assert o32.dtype == dx32.dtype == np.float32
    assert rel_err(o32, o64) < 1e-5 and rel_err(dx32, dx64) < 1e-5
    for k in g64:
        assert g32[k].dtype == np.float32
        assert rel_err(g32[k], g64[k]) < 1e-4, k


def test_backward_accumulates_until_zero_grad():
    layer = make_layer("lstm", seed=30)
    x, lengths, state = random_case(layer, seed=31)
    out, _ = layer.forward(x, lengths, state)
    layer.backward(np.ones_like(out))
    once = layer.grad_dict()
    layer.forward(x, lengths, state)  # one backward per forward
    layer.backward(np.ones_like(out))
    for k, g in layer.grad_dict().items():
        assert np.allclose(g, 2 * once[k], rtol=1e-14, atol=0)
    layer.zero_grad()
    assert all(np.all(g == 0) for g in layer.grad_dict().values())


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_inputs_are_never_mutated(cell):
    layer = make_layer(cell, 3, 4, 2, True, seed=32)
    x, lengths, state = random_case(layer, seed=33)
    d_out = np.ones((3, 5, 8))
    d_state = tuple(np.ones_like(s) for s in parts(state))
    d_state = d_state if len(d_state) > 1 else d_state[0]
    copies = [a.copy() for a in [x, lengths, d_out] + parts(state) + parts(d_state)]
    layer.forward(x, lengths, state)
    layer.backward(d_out, d_state)
    for before, after in zip(copies, [x, lengths, d_out] + parts(state) + parts(d_state)):
        assert np.array_equal(before, after)


def test_state_and_lengths_are_optional():
    layer = make_layer("lstm", seed=34)
    x, _, _ = random_case(layer, variable=False, seed=35)
    out, (h_n, c_n) = layer.forward(x)
    zeros = np.zeros((1, 3, 4))
    out2, (h2, c2) = layer.forward(x, lengths=[5, 5, 5], state=(zeros, zeros))
    assert np.array_equal(out, out2) and np.array_equal(h_n, h2) and np.array_equal(c_n, c2)
    assert np.array_equal(out[:, -1], h_n[0])


@pytest.mark.parametrize("cell,num_layers,bidirectional", CASES)
def test_a_layer_reusing_its_arrays_equals_a_fresh_one(cell, num_layers, bidirectional):
    """The second batch through a layer (whose cells reuse the first batch's arrays, the
    shapes being the same) gives what a fresh layer gives, and leaves the first batch's
    results alone."""
    layer = make_layer(cell, 3, 4, num_layers, bidirectional, seed=41)
    fresh = make_layer(cell, 3, 4, num_layers, bidirectional, seed=41)
    x1, lengths1, state1 = random_case(layer, batch=4, steps=6, seed=42)
    x2, lengths2, state2 = random_case(layer, batch=4, steps=6, seed=43)
    rng = np.random.default_rng(44)
    d1, d2 = (rng.standard_normal((4, 6, layer.num_directions * 4)) for _ in range(2))
    first = run(layer, x1, lengths1, state1, d1, None)
    out1, state1_n, dx1 = first[:3]
    kept = [out1.copy(), [s.copy() for s in state1_n], dx1.copy()]  # batch 1's results
    cache = layer._cache.cells[0]
    second = run(layer, x2, lengths2, state2, d2, None)
    assert layer._cache.cells[0].h is cache.h  # the same arrays, reused
    expected = run(fresh, x2, lengths2, state2, d2, None)
    for ours, theirs in zip(second[:3], expected[:3]):
        for a, b in zip(parts(ours), parts(theirs)):
            assert np.array_equal(a, b)
    for a, b in zip(parts(second[3]), parts(expected[3])):
        assert np.array_equal(a, b)
    for k, g in second[4].items():
        assert np.array_equal(g, expected[4][k]), k
    assert np.array_equal(kept[0], out1) and np.array_equal(kept[2], dx1)
    assert all(np.array_equal(a, b) for a, b in zip(kept[1], state1_n))


def test_a_forward_that_fails_midway_leaves_no_cache(monkeypatch):
    """The cells overwrite the arrays of the last cache: a forward stopped halfway (an
    exception, a KeyboardInterrupt) must not leave that half-overwritten cache for backward."""
    from rnnlab.cells import lstm

    layer = make_layer("lstm", 3, 4, seed=45)
    x, _, _ = random_case(layer, batch=2, steps=5, variable=False, seed=46)
    layer.forward(x)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lstm, "forward", interrupted)
    with pytest.raises(KeyboardInterrupt):
        layer.forward(x)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.ones((2, 5, 4)))
