"""LSTM(norm="layer"): the layer-normalized LSTM as a layer (stacked, bidirectional,
variable lengths, states, checkpointed BPTT), checked against finite differences and against
its specification (itself checked against PyTorch autograd, tests/test_ln_reference.py)."""

import pickle

import numpy as np
import pytest

import rnnlab
from rnnlab.gradcheck import check_gradients
from rnnlab.reference import ln_lstm as spec
from helpers import rel_err


def ln_layer(num_layers=2, bidirectional=True, seed=0, **kwargs):
    layer = rnnlab.LSTM(3, 4, num_layers, bidirectional=bidirectional, norm="layer",
                        dtype="float64", seed=seed, **kwargs)
    rng = np.random.default_rng(seed + 100)
    for name, p in layer.parameters().items():  # gains and biases away from 1 and 0
        if name.startswith("ln_"):
            p += 0.3 * rng.standard_normal(p.shape)
    return layer


def test_finite_differences_every_parameter_x_and_state():
    layer = ln_layer()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 3))
    lengths = np.array([6, 4, 1])
    state = tuple(0.5 * rng.standard_normal((4, 3, 4)) for _ in range(2))
    checks = check_gradients(layer, x, lengths, state, seed=2)
    names = {c.name for c in checks}
    assert {"ln_c_weight_l1_reverse", "ln_ih_bias_l0", "x", "state[0]", "state[1]"} <= names
    worst = max(checks, key=lambda c: c.relative_error)
    assert worst.relative_error <= 1e-6, worst


def test_one_layer_equals_the_specification():
    layer = ln_layer(num_layers=1, bidirectional=False, seed=3)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 5, 3))
    lengths = np.array([5, 2, 4])
    h0, c0 = (0.5 * rng.standard_normal((1, 3, 4)) for _ in range(2))
    dy = rng.standard_normal((3, 5, 4))
    y, (h, c) = layer.forward(x, lengths=lengths, state=(h0, c0))
    dx, (dh0, dc0) = layer.backward(dy)
    p = {k.rsplit("_l0", 1)[0]: v for k, v in layer.parameters().items()}
    mask = np.arange(5)[None, :] < lengths[:, None]
    y_ref, (h_ref, c_ref), cache = spec.forward(p, x, (h0[0], c0[0]), mask)
    g = spec.backward(p, cache, dy)
    assert rel_err(y, y_ref) <= 1e-12 and rel_err(h[0], h_ref) <= 1e-12
    assert rel_err(dx, g["x"]) <= 1e-12 and rel_err(dh0[0], g["state0"][0]) <= 1e-12
    for name, grad in layer.grad_dict().items():
        assert rel_err(grad, g[name.rsplit("_l0", 1)[0]]) <= 1e-12, name


def test_checkpointed_padded_and_pickled_equal_the_plain_run():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 7, 3))
    lengths = np.array([7, 5, 2])
    dy = rng.standard_normal((3, 7, 8))
    full = ln_layer(seed=6)
    y, _ = full.forward(x, lengths=lengths)
    dx, _ = full.backward(dy)
    for other in (ln_layer(seed=6, checkpoint_every=3), pickle.loads(pickle.dumps(full))):
        other.zero_grad()
        y2, _ = other.forward(x, lengths=lengths)
        dx2, _ = other.backward(dy)
        assert rel_err(y2, y) <= 1e-12 and rel_err(dx2, dx) <= 1e-12
    alone = ln_layer(seed=6)
    y1, _ = alone.forward(x[1:2, :5])  # the second sequence alone, unpadded
    assert rel_err(y1[0], y[1, :5]) <= 1e-12


def test_names_counts_gates_and_bad_input():
    layer = rnnlab.LSTM(3, 4, norm="layer", seed=0)
    gains = {k: v for k, v in layer.state_dict().items() if k.startswith("ln_")}
    assert sorted(gains) == ["ln_c_bias_l0", "ln_c_weight_l0", "ln_hh_bias_l0",
                             "ln_hh_weight_l0", "ln_ih_bias_l0", "ln_ih_weight_l0"]
    assert all((v == 1).all() if "weight" in k else (v == 0).all() for k, v in gains.items())
    plain = rnnlab.LSTM(3, 4, seed=0)
    assert layer.num_parameters() == plain.num_parameters() + 2 * 16 + 2 * 16 + 2 * 4
    out, _ = layer.forward(np.ones((2, 3, 3), np.float32))
    assert set(layer.gates()) == {"i", "f", "g", "o"}
    assert "norm='layer'" in repr(layer)
    with pytest.raises(ValueError, match="norm must be one of"):
        rnnlab.LSTM(3, 4, norm="batch")
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        rnnlab.LSTM(3, 4, norm="layer", eps=0.0)


def test_truncated_bptt_with_one_window_is_full_bptt():
    from rnnlab.losses import mse_loss
    from rnnlab.training import truncated_bptt

    rng = np.random.default_rng(7)
    model = rnnlab.Sequential(ln_layer(num_layers=1, bidirectional=False, seed=8),
                              rnnlab.Linear(4, 1, dtype="float64", seed=9))
    x, y = rng.standard_normal((3, 6, 3)), rng.standard_normal((3, 6, 1))
    lengths = np.array([6, 4, 2])
    prediction = model(x, lengths=lengths)
    _, d = mse_loss(prediction, y, rnnlab.lengths_to_mask(lengths, 6))
    model.backward(d)
    full = model.grad_dict()
    model.zero_grad()
    list(truncated_bptt(model, x, y, lengths, mse_loss, 6, 6))
    for name, grad in model.grad_dict().items():
        np.testing.assert_array_equal(grad, full[name], err_msg=name)
