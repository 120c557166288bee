"""recurrent_dropout=p on RNN, LSTM and GRU: variational recurrent dropout (Gal & Ghahramani
2016). One mask k (B, H), scaled by 1 / (1 - p), per forward, layer and direction,
multiplies h_{t-1} where it enters the recurrent product, the same at every step; the
identity in evaluation mode; backward through the forward's masks."""

import numpy as np
import pytest

import rnnlab
from rnnlab.gradcheck import FixedDraws, check_gradients, fixed_masks
from helpers import rel_err

CLASSES = {"rnn": rnnlab.RNN, "lstm": rnnlab.LSTM, "gru": rnnlab.GRU}


class Zeros:
    """A generator whose uniform draws are all 0."""

    def random(self, shape):
        return np.zeros(shape)


class RecordingDraws:
    """A real generator that keeps every draw, in order, for a second implementation."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.draws = []

    def random(self, shape):
        self.draws.append(self.rng.random(shape))
        return self.draws[-1]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("norm", [None, "layer"])
@pytest.mark.parametrize("checkpoint_every", [None, 2])
def test_finite_differences_with_fixed_masks(cell, norm, checkpoint_every):
    layer = CLASSES[cell](3, 4, 2, bidirectional=True, recurrent_dropout=0.4, dropout=0.3,
                          norm=norm, dtype="float64", seed=0, checkpoint_every=checkpoint_every)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5, 3))
    states = [rng.standard_normal((4, 3, 4)) for _ in layer.state_names]
    state = tuple(states) if len(states) > 1 else states[0]
    with fixed_masks(layer, seed=1):
        checks = check_gradients(layer, x, np.array([5, 3, 1]), state, training=True)
    assert isinstance(layer.rng, np.random.Generator)  # put back
    assert {c.name for c in checks} >= {"x", "weight_hh_l1_reverse"}
    assert max(c.relative_error for c in checks) <= 1e-6


def torch_stack(torch, cell, weights, x, h0, c0, draws, p_rec, p_drop, layers):
    """The same stacked, one-directional layer with autograd, written from the equations
    (PyTorch has no recurrent dropout): per layer, k * h_{t-1} into W_hh, and between layers
    inverted dropout, the masks taken from ``draws`` in the layer's order."""
    draws = iter(draws)
    inputs, finals_h, finals_c = x, [], []
    for k in range(layers):
        w_ih, w_hh, b_ih, b_hh = (weights[f"{name}_l{k}"] for name in
                                  ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        keep = torch.tensor((next(draws) >= p_rec) / (1 - p_rec))  # (B, H)
        h, c, outputs = h0[k], c0[k], []
        for t in range(x.shape[1]):
            a_x = inputs[:, t] @ w_ih.T + b_ih
            a_h = (h * keep) @ w_hh.T + b_hh
            if cell == "rnn":
                h = torch.tanh(a_x + a_h)
            elif cell == "lstm":
                i, f, g, o = (a_x + a_h).chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            else:
                x_r, x_z, x_n = a_x.chunk(3, dim=-1)
                h_r, h_z, h_n = a_h.chunk(3, dim=-1)
                r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
                h = (1 - z) * torch.tanh(x_n + r * h_n) + z * h
            outputs.append(h)
        inputs = torch.stack(outputs, dim=1)
        finals_h.append(h)
        finals_c.append(c)
        if k < layers - 1:
            inputs = inputs * torch.tensor((next(draws) >= p_drop) / (1 - p_drop))
    return inputs, torch.stack(finals_h), torch.stack(finals_c)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_equals_pytorch_autograd_with_the_same_masks(torch, cell):
    layers, batch, steps, hidden = 2, 3, 6, 5
    layer = CLASSES[cell](2, hidden, layers, recurrent_dropout=0.35, dropout=0.25,
                          dtype="float64", seed=3)
    layer.rng = RecordingDraws(4)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((batch, steps, 2))
    h0 = rng.standard_normal((layers, batch, hidden))
    c0 = rng.standard_normal((layers, batch, hidden))
    state = (h0, c0) if cell == "lstm" else h0
    d_out = rng.standard_normal((batch, steps, hidden))
    d_h = rng.standard_normal((layers, batch, hidden))

    y, finals = layer.forward(x, state=state)
    dx, d_state = layer.backward(d_out, (d_h, None) if cell == "lstm" else d_h)
    assert len(layer.rng.draws) == 3  # a mask per layer, one between the layers

    weights = {k: torch.tensor(v, requires_grad=True) for k, v in layer.state_dict().items()}
    x_t, h0_t, c0_t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    y_t, h_n, _ = torch_stack(torch, cell, weights, x_t, h0_t, c0_t, layer.rng.draws, 0.35,
                              0.25, layers)
    ((y_t * torch.tensor(d_out)).sum() + (h_n * torch.tensor(d_h)).sum()).backward()

    assert rel_err(y, y_t.detach().numpy()) <= 1e-12
    assert rel_err(finals[0] if cell == "lstm" else finals, h_n.detach().numpy()) <= 1e-12
    assert rel_err(dx, x_t.grad.numpy()) <= 1e-10
    assert rel_err(d_state[0] if cell == "lstm" else d_state, h0_t.grad.numpy()) <= 1e-10
    for name, grad in layer.grad_dict().items():
        assert rel_err(grad, weights[name].grad.numpy()) <= 1e-10, name


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_one_mask_per_sequence_the_same_at_every_step(cell):
    """With every unit of h_{t-1} dropped, the recurrent product is zero at every step: the
    layer equals one fed h_{t-1} = 0, i.e. W_hh = 0, at every step and not only the first."""
    x = np.random.default_rng(6).standard_normal((2, 7, 3))
    layer = CLASSES[cell](3, 4, recurrent_dropout=0.5, dtype="float64", seed=1)
    layer.rng = Zeros()  # every draw 0 < p: every unit dropped
    without = CLASSES[cell](3, 4, dtype="float64", seed=1)
    without.parameters()["weight_hh_l0"][...] = 0  # (GRU's direct z * h_{t-1} stays)
    np.testing.assert_allclose(layer.forward(x)[0], without.forward(x)[0], rtol=0, atol=1e-14)


def test_evaluation_mode_is_the_identity_and_train_mode_draws_per_forward():
    x = np.random.default_rng(7).standard_normal((4, 6, 3))
    layer = rnnlab.LSTM(3, 8, 2, recurrent_dropout=0.5, dtype="float64", seed=0)
    plain = rnnlab.LSTM(3, 8, 2, dtype="float64", seed=0)
    assert layer.state_dict().keys() == plain.state_dict().keys()
    y_eval, _ = layer.eval().forward(x)
    np.testing.assert_array_equal(y_eval, plain.forward(x)[0])
    y1, _ = layer.train().forward(x)
    y2, _ = layer.forward(x)
    assert rel_err(y1, y_eval) > 1e-3 and rel_err(y1, y2) > 1e-3  # a fresh mask per forward
    again = rnnlab.LSTM(3, 8, 2, recurrent_dropout=0.5, dtype="float64", seed=0)
    np.testing.assert_array_equal(again.forward(x)[0], y1)  # seeded
    zero = rnnlab.LSTM(3, 8, 2, recurrent_dropout=0.0, dtype="float64", seed=0)
    np.testing.assert_array_equal(zero.forward(x)[0], y_eval)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_checkpointed_equals_full_bptt_with_the_same_masks(cell):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 9, 2))
    d_out = rng.standard_normal((3, 9, 8))
    results = []
    for every in (None, 4):
        layer = CLASSES[cell](2, 4, 2, bidirectional=True, recurrent_dropout=0.3, dtype="float64",
                              seed=2, checkpoint_every=every)
        layer.rng = FixedDraws(3)
        y, _ = layer.forward(x, lengths=[9, 4, 6])
        dx, _ = layer.backward(d_out)
        results.append((y, dx, layer.grad_dict()))
    (y0, dx0, g0), (y1, dx1, g1) = results
    assert rel_err(y0, y1) <= 1e-13 and rel_err(dx0, dx1) <= 1e-12
    for name in g0:
        assert rel_err(g0[name], g1[name]) <= 1e-12, name


def test_float32_and_large_sizes_take_the_blas_product():
    """At B * H * G*H above the packed kernel's limit the product runs through BLAS; the
    masked product must be right there too (against the same layer in float64)."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((64, 4, 8))
    outs = []
    for dtype in ("float64", "float32"):
        layer = rnnlab.GRU(8, 160, recurrent_dropout=0.2, dtype=dtype, seed=4)
        layer.rng = FixedDraws(5)
        y, _ = layer.forward(x)
        dx, _ = layer.backward(np.ones_like(y))
        outs.append((y, dx, layer.grad_dict()["weight_hh_l0"]))
    for a, b in zip(*outs):
        assert rel_err(a, b) <= 1e-4


def test_bad_recurrent_dropout_is_refused():
    for bad in (-0.1, 1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="recurrent_dropout"):
            rnnlab.GRU(3, 4, recurrent_dropout=bad)
    for bad in ("0.5", None, True):
        with pytest.raises(TypeError, match="recurrent_dropout"):
            rnnlab.RNN(3, 4, recurrent_dropout=bad)
    assert "recurrent_dropout=0.25" in repr(rnnlab.LSTM(3, 4, recurrent_dropout=0.25))
