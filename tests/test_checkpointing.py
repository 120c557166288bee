"""Checkpointed BPTT (``checkpoint_every=k``) equals full BPTT, in far less memory.

Every case runs the same layer, inputs and upstream gradients twice, with full BPTT and
with checkpoint_every=k, and compares the outputs, final states, dx, d_state0 and every
parameter gradient. They are the same operations grouped by segment; the only differences
are roundings where a sum is grouped differently (the weight gradients' sums over t; BLAS
products over a segment's rows instead of the whole sequence's), so they agree to 1e-12 in
float64, and with input_size 1 and one layer (no such sum in forward) the outputs and
final states are identical bit for bit.
"""

import tracemalloc

import numpy as np
import pytest

import rnnlab
from rnnlab.cells import gru, lstm, rnn
from helpers import make_layer, parts, random_case

CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]
IDS = ["rnn-tanh", "rnn-relu", "lstm", "gru"]
TIGHT = dict(rtol=1e-12, atol=1e-14)


def upstream(layer, batch, steps, seed=7):
    """A random d_output (B, T, D*H) and d_state (an array, or a pair for LSTM)."""
    rng = np.random.default_rng(seed)
    d_output = rng.standard_normal((batch, steps, layer.num_directions * layer.hidden_size))
    shape = (layer.num_layers * layer.num_directions, batch, layer.hidden_size)
    d_state = tuple(rng.standard_normal(shape).astype(layer.dtype) for _ in layer.state_names)
    return d_output.astype(layer.dtype), d_state if len(d_state) > 1 else d_state[0]


def run(layer, every, x, lengths=None, state=None, d_output=None, d_state=None):
    """Forward and backward with checkpoint_every=every; every result by name."""
    layer.checkpoint_every = every
    layer.zero_grad()
    output, h_n = layer(x, lengths=lengths, state=state)
    dx, d_state0 = layer.backward(d_output.copy(), d_state)
    out = {"output": output, "dx": dx}
    out.update({f"h_n[{k}]": v for k, v in enumerate(parts(h_n))})
    out.update({f"d_state0[{k}]": v for k, v in enumerate(parts(d_state0))})
    out.update({f"grad {k}": v for k, v in layer.grad_dict().items()})
    return out


def assert_same(full, checkpointed, exact=(), **tolerance):
    assert full.keys() == checkpointed.keys()
    for name in full:
        if name in exact:
            np.testing.assert_array_equal(checkpointed[name], full[name], err_msg=name)
        else:
            np.testing.assert_allclose(checkpointed[name], full[name], err_msg=name,
                                       **tolerance)


def compare(cell, nonlinearity, every, num_layers=1, bidirectional=False, variable=True,
            batch=3, steps=7, input_size=3, with_state=True, dtype="float64"):
    """Full and checkpointed results of one case (padded steps of x hold garbage)."""
    layer = make_layer(cell, input_size=input_size, hidden_size=4, num_layers=num_layers,
                       bidirectional=bidirectional, nonlinearity=nonlinearity, dtype=dtype)
    x, lengths, state = random_case(layer, batch=batch, steps=steps, variable=variable)
    d_output, d_state = upstream(layer, batch, steps)
    if not with_state:
        state = d_state = None
    args = (x, lengths, state, d_output, d_state)
    return run(layer, None, *args), run(layer, every, *args)


@pytest.mark.parametrize("variable", [False, True], ids=["full-length", "ragged"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell, nonlinearity", CELLS, ids=IDS)
def test_gradients_equal_full_bptt(cell, nonlinearity, num_layers, bidirectional, variable):
    # T = 7 and k = 3: segments of 3, 3 and 1 steps; a given state and d_state.
    full, checkpointed = compare(cell, nonlinearity, 3, num_layers, bidirectional, variable)
    assert_same(full, checkpointed, **TIGHT)
    assert np.abs(full["grad weight_hh_l0"]).max() > 1e-3  # a real gradient was compared


@pytest.mark.parametrize("every", [1, 2, 6, 7, 50])
@pytest.mark.parametrize("cell, nonlinearity", CELLS, ids=IDS)
def test_any_segment_length(cell, nonlinearity, every):
    # k = 1 (a checkpoint every step), T - 1, T and beyond T (a single segment).
    full, checkpointed = compare(cell, nonlinearity, every, num_layers=2, bidirectional=True)
    assert_same(full, checkpointed, **TIGHT)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("every", [1, 3, 7])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell, nonlinearity", CELLS, ids=IDS)
def test_outputs_bit_for_bit(cell, nonlinearity, bidirectional, every, dtype):
    # One layer and input_size 1: the input products have no sum that BLAS could group
    # differently, so forward is the very same arithmetic, segment by segment.
    full, checkpointed = compare(cell, nonlinearity, every, bidirectional=bidirectional,
                                 input_size=1, dtype=dtype)
    exact = [name for name in full if name == "output" or name.startswith("h_n")]
    assert_same(full, checkpointed, exact=exact, rtol=1e-12 if dtype == "float64" else 1e-4,
                atol=1e-14 if dtype == "float64" else 1e-5)


@pytest.mark.parametrize("cell, nonlinearity", CELLS, ids=IDS)
def test_default_state_and_no_d_state(cell, nonlinearity):
    full, checkpointed = compare(cell, nonlinearity, 2, num_layers=2, bidirectional=True,
                                 with_state=False)
    assert_same(full, checkpointed, **TIGHT)


def test_lstm_d_state_with_only_dh():
    layer = make_layer("lstm", num_layers=2, bidirectional=True)
    x, lengths, state = random_case(layer, batch=3, steps=9)
    d_output, (dh, _) = upstream(layer, 3, 9)
    args = (x, lengths, state, d_output, (dh, None))
    assert_same(run(layer, None, *args), run(layer, 4, *args), **TIGHT)


def test_float32_agrees_to_rounding():
    layer = make_layer("lstm", input_size=5, hidden_size=16, num_layers=2, bidirectional=True,
                       dtype="float32")
    x, lengths, state = random_case(layer, batch=4, steps=60)
    d_output, d_state = upstream(layer, 4, 60)
    args = (x, lengths, state, d_output, d_state)
    assert_same(run(layer, None, *args), run(layer, 8, *args), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cell, nonlinearity", CELLS, ids=IDS)
def test_state_grads_equal_full_bptt(cell, nonlinearity):
    layer = make_layer(cell, nonlinearity=nonlinearity, num_layers=2, bidirectional=True)
    x, lengths, state = random_case(layer, batch=3, steps=8)
    d_output, d_state = upstream(layer, 3, 8)
    layer.track_state_grads = True
    traces = []
    for every in (None, 3):
        run(layer, every, x, lengths, state, d_output, d_state)
        traces.append(layer.state_grads)
    full, checkpointed = traces
    assert len(checkpointed) == len(full) == 4
    for index, (a, b) in enumerate(zip(full, checkpointed)):
        assert a.keys() == b.keys() == set(layer.state_names)
        for name in a:
            assert b[name].shape == (3, 8, 4)
            np.testing.assert_allclose(b[name], a[name], err_msg=f"{index} {name}", **TIGHT)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gates_are_recomputed(cell):
    layer = make_layer(cell, input_size=1, bidirectional=True)
    x, lengths, state = random_case(layer, batch=3, steps=7)
    gates = []
    for every in (None, 3):
        layer.checkpoint_every = every
        layer(x, lengths=lengths, state=state)
        gates.append([layer.gates(0, d) for d in (0, 1)])
    for full, checkpointed in zip(*gates):
        assert full.keys() == checkpointed.keys() == set(layer.cell.GATES)
        for name in full:
            np.testing.assert_array_equal(checkpointed[name], full[name], err_msg=name)


def test_checkpointed_gradient_matches_finite_differences():
    # Independent of full BPTT: central differences of L = sum(output * R) w.r.t. x.
    layer = make_layer("lstm", input_size=2, hidden_size=3, bidirectional=True)
    layer.checkpoint_every = 2
    x, lengths, state = random_case(layer, batch=2, steps=5)
    weights = np.random.default_rng(3).standard_normal((2, 5, 6))

    def loss(x_):
        return float((layer(x_, lengths=lengths, state=state)[0] * weights).sum())

    layer(x, lengths=lengths, state=state)
    dx, _ = layer.backward(weights)
    numerical = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += 1e-6
        minus[index] -= 1e-6
        numerical[index] = (loss(plus) - loss(minus)) / 2e-6
    np.testing.assert_allclose(dx, numerical, rtol=1e-6, atol=1e-8)
    valid = np.arange(5)[None, :] < lengths[:, None]
    assert np.all(dx[~valid] == 0) and np.abs(dx[valid]).min() > 0


def test_backward_leaves_the_callers_arrays_alone():
    layer = make_layer("lstm")
    layer.checkpoint_every = 2
    x, _, state = random_case(layer, batch=1, steps=5, variable=False)
    d_output, d_state = upstream(layer, 1, 5)
    copies = [a.copy() for a in (x, d_output, *d_state)]
    layer(x, state=state)
    layer.backward(d_output, d_state)
    for original, copy in zip((x, d_output, *d_state), copies):
        np.testing.assert_array_equal(original, copy)


CELL_MODULES = {"rnn": rnn, "lstm": lstm, "gru": gru}


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_none_is_the_full_bptt_path(cell):
    # checkpoint_every=None runs each cell once over the whole sequence, as before: the
    # layer's results are exactly those of the cell functions called directly, also after
    # checkpointing was switched on and off again.
    layer = make_layer(cell)
    assert layer.checkpoint_every is None
    x, lengths, state = random_case(layer, batch=3, steps=6)
    mask = np.arange(6)[None, :] < lengths[:, None]
    d_output, d_state = upstream(layer, 3, 6)
    module = CELL_MODULES[cell]
    params = layer._cell_params(0, 0)
    state0 = tuple(s[0] for s in state) if cell == "lstm" else state[0]
    d_last = tuple(d[0] for d in d_state) if cell == "lstm" else d_state[0]
    y, cache = module.forward(params, x, state0, mask)
    grads = module.backward(params, cache, d_output.copy(), d_last)
    for every in (None, 2, None):
        result = run(layer, every, x, lengths, state, d_output, d_state)
    np.testing.assert_array_equal(result["output"], y)
    np.testing.assert_array_equal(result["dx"], grads.dx)
    np.testing.assert_array_equal(result["grad weight_hh_l0"], grads.dweight_hh)
    np.testing.assert_array_equal(result["grad weight_ih_l0"], grads.dweight_ih)
    for k, part in enumerate(parts(grads.d_state0)):
        np.testing.assert_array_equal(result[f"d_state0[{k}]"], part[None])


def test_constructor_attribute_and_repr():
    layer = rnnlab.LSTM(3, 4, checkpoint_every=10, forget_bias=1.0)
    assert layer.checkpoint_every == 10 and layer.forget_bias == 1.0
    assert "checkpoint_every=10" in repr(layer)
    layer.checkpoint_every = np.int64(5)
    assert layer.checkpoint_every == 5 and type(layer.checkpoint_every) is int
    layer.checkpoint_every = None
    assert "checkpoint_every" not in repr(layer)
    assert rnnlab.GRU(3, 4, checkpoint_every=1).checkpoint_every == 1
    assert "checkpoint_every=7" in repr(rnnlab.RNN(3, 4, nonlinearity="relu",
                                                   checkpoint_every=7))


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError),
                                        ("10", TypeError), (True, TypeError)])
def test_bad_checkpoint_every(bad, error):
    with pytest.raises(error, match="checkpoint_every must be a positive int"):
        rnnlab.GRU(3, 4, checkpoint_every=bad)
    layer = rnnlab.RNN(3, 4, checkpoint_every=6)
    with pytest.raises(error, match="checkpoint_every"):
        layer.checkpoint_every = bad
    assert layer.checkpoint_every == 6  # unchanged


def test_backward_follows_the_mode_forward_ran_in():
    layer = make_layer("gru", num_layers=2)
    x, lengths, state = random_case(layer, batch=3, steps=7)
    d_output, d_state = upstream(layer, 3, 7)
    full = run(layer, None, x, lengths, state, d_output, d_state)
    layer.checkpoint_every = 2
    layer.zero_grad()
    layer(x, lengths=lengths, state=state)
    layer.checkpoint_every = None  # set after forward: backward still recomputes segments
    dx, _ = layer.backward(d_output.copy(), d_state)
    np.testing.assert_allclose(dx, full["dx"], **TIGHT)
    np.testing.assert_allclose(layer.grad_dict()["weight_ih_l1"], full["grad weight_ih_l1"],
                               **TIGHT)


def peak_bytes(layer, x, d_output) -> int:
    """tracemalloc's peak during forward + backward, above what existed before."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        layer(x)
        layer.backward(d_output)
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_peak_memory_is_far_below_full_bptt():
    steps, batch, hidden = 2000, 8, 32
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, 4))
    d_output = rng.standard_normal((batch, steps, hidden))
    peaks = {}
    for every in (None, 45):
        layer = rnnlab.LSTM(4, hidden, dtype="float64", seed=0, checkpoint_every=every)
        layer(x[:, :100])  # compile (or load) the cell's kernels before measuring
        layer.backward(d_output[:, :100])
        peaks[every] = peak_bytes(layer, x, d_output)
    # Full BPTT keeps x, h, c, tanh c and the 4H gates of every step, and its backward as
    # much again; the checkpointed run holds the output and dx (the caller's, O(T) in both
    # modes), 45 states and one segment's activations.
    caller = (hidden + 4) * steps * batch * 8
    assert peaks[None] > 8 * caller
    assert peaks[45] < 0.35 * peaks[None]
    assert peaks[45] - caller < 0.05 * (peaks[None] - caller)
