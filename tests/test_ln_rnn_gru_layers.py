"""RNN(norm="layer") and GRU(norm="layer"): the layer-normalized RNN and GRU as layers
(stacked, bidirectional, variable lengths, states, checkpointed BPTT), checked against finite
differences and against their specifications (themselves checked against PyTorch autograd,
tests/test_ln_cells.py)."""

import pickle

import numpy as np
import pytest

import rnnlab
from rnnlab.gradcheck import check_gradients
from rnnlab.reference import ln_gru, ln_rnn
from helpers import rel_err

KINDS = [("rnn", "tanh"), ("rnn", "relu"), ("rnn", "sigmoid"), ("gru", "tanh")]


def ln_layer(cell, nonlinearity="tanh", num_layers=2, bidirectional=True, seed=0, **kwargs):
    if cell == "rnn":
        layer = rnnlab.RNN(3, 4, num_layers, nonlinearity, bidirectional=bidirectional,
                           norm="layer", dtype="float64", seed=seed, **kwargs)
    else:
        layer = rnnlab.GRU(3, 4, num_layers, bidirectional=bidirectional, norm="layer",
                           dtype="float64", seed=seed, **kwargs)
    rng = np.random.default_rng(seed + 100)
    for name, p in layer.parameters().items():  # gains and biases away from 1 and 0
        if name.startswith("ln_"):
            p += 0.3 * rng.standard_normal(p.shape)
    return layer


@pytest.mark.parametrize("cell, f", KINDS)
def test_finite_differences_every_parameter_x_and_state(cell, f):
    layer = ln_layer(cell, f)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 3))
    lengths = np.array([6, 4, 1])
    state = 0.5 * rng.standard_normal((4, 3, 4))
    checks = check_gradients(layer, x, lengths, state, seed=2)
    names = {c.name for c in checks}
    assert {"ln_hh_weight_l1_reverse", "ln_ih_bias_l0", "bias_hh_l1", "x", "state"} <= names
    worst = max(checks, key=lambda c: c.relative_error)
    assert worst.relative_error <= 1e-6, worst


@pytest.mark.parametrize("cell, f", KINDS)
def test_one_layer_equals_the_specification(cell, f):
    layer = ln_layer(cell, f, num_layers=1, bidirectional=False, seed=3)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 5, 3))
    lengths = np.array([5, 2, 4])
    h0 = 0.5 * rng.standard_normal((1, 3, 4))
    dy = rng.standard_normal((3, 5, 4))
    y, h = layer.forward(x, lengths=lengths, state=h0)
    dx, dh0 = layer.backward(dy)
    p = {k.rsplit("_l0", 1)[0]: v for k, v in layer.parameters().items()}
    mask = np.arange(5)[None, :] < lengths[:, None]
    if cell == "rnn":
        y_ref, h_ref, cache = ln_rnn.forward(p, x, h0[0], mask, f)
        g = ln_rnn.backward(p, cache, dy)
    else:
        y_ref, h_ref, cache = ln_gru.forward(p, x, h0[0], mask)
        g = ln_gru.backward(p, cache, dy)
    assert rel_err(y, y_ref) <= 1e-12 and rel_err(h[0], h_ref) <= 1e-12
    assert rel_err(dx, g["x"]) <= 1e-12 and rel_err(dh0[0], g["state0"]) <= 1e-12
    for name, grad in layer.grad_dict().items():
        assert rel_err(grad, g[name.rsplit("_l0", 1)[0]]) <= 1e-12, name


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_checkpointed_padded_and_pickled_equal_the_plain_run(cell):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 7, 3))
    lengths = np.array([7, 5, 2])
    dy = rng.standard_normal((3, 7, 8))
    full = ln_layer(cell, seed=6)
    full.track_state_grads = True
    y, h = full.forward(x, lengths=lengths)
    dx, dh0 = full.backward(dy)
    grads = full.grad_dict()
    for other in (ln_layer(cell, seed=6, checkpoint_every=3), pickle.loads(pickle.dumps(full))):
        other.zero_grad()
        other.track_state_grads = True
        y2, h2 = other.forward(x, lengths=lengths)
        dx2, dh02 = other.backward(dy)
        assert rel_err(y2, y) <= 1e-12 and rel_err(h2, h) <= 1e-12
        assert rel_err(dx2, dx) <= 1e-12 and rel_err(dh02, dh0) <= 1e-12
        for name, grad in other.grad_dict().items():
            assert rel_err(grad, grads[name]) <= 1e-12, name
        for ours, theirs in zip(other.state_grads, full.state_grads):
            assert rel_err(ours["h"], theirs["h"]) <= 1e-12
    alone = ln_layer(cell, seed=6)
    y1, _ = alone.forward(x[1:2, :5])  # the second sequence alone, unpadded
    assert rel_err(y1[0], y[1, :5]) <= 1e-12


@pytest.mark.parametrize("cls, size", [(rnnlab.RNN, 4), (rnnlab.GRU, 12)])
def test_names_counts_gates_and_float32(cls, size):
    layer = cls(3, 4, norm="layer", bidirectional=True, seed=0)
    gains = {k: v for k, v in layer.state_dict().items() if k.startswith("ln_")}
    assert sorted(gains) == sorted(f"ln_{side}_{kind}_l0{rev}" for side in ("ih", "hh")
                                   for kind in ("weight", "bias") for rev in ("", "_reverse"))
    assert all(v.shape == (size,) for v in gains.values())
    assert all((v == 1).all() if "weight" in k else (v == 0).all() for k, v in gains.items())
    plain = cls(3, 4, bidirectional=True, seed=0)
    assert layer.num_parameters() == plain.num_parameters() + 2 * 4 * size
    for name, value in plain.state_dict().items():  # the same seed, the same weights
        assert np.array_equal(layer.state_dict()[name], value), name
    out, h = layer.forward(np.ones((2, 3, 3), np.float32))
    assert out.dtype == h.dtype == np.float32 and out.shape == (2, 3, 8)
    dx, _ = layer.backward(np.ones_like(out))
    assert dx.dtype == np.float32 and np.isfinite(dx).all()
    assert set(layer.gates()) == (set() if cls is rnnlab.RNN else {"r", "z", "n"})
    assert "norm='layer'" in repr(layer) and layer.cell.__name__.startswith("rnnlab.cells.ln_")
    assert plain.cell.__name__ in ("rnnlab.cells.rnn", "rnnlab.cells.gru")


@pytest.mark.parametrize("cls", [rnnlab.RNN, rnnlab.GRU, rnnlab.LSTM])
def test_bad_norm_and_eps_name_the_argument(cls):
    with pytest.raises(ValueError, match="norm must be one of"):
        cls(3, 4, norm="batch")
    for eps in (0.0, -1e-5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="eps must be a finite number"):
            cls(3, 4, norm="layer", eps=eps)
    with pytest.raises(TypeError, match="eps"):
        cls(3, 4, norm="layer", eps="small")
    assert cls(3, 4, norm="layer", eps=1e-3).eps == 1e-3
