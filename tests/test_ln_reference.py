"""The layer-normalized LSTM's specification (rnnlab.reference.ln_lstm, Ba et al. 2016) and
layer normalization itself: the hand-written backward against central finite differences
(float64) and against PyTorch autograd running the same equations (1e-10)."""

import numpy as np
import pytest

from rnnlab.gradcheck import numerical_gradient
from rnnlab.reference import layernorm, ln_lstm
from helpers import rel_err

H, I, B, T = 3, 2, 3, 5


def make(seed=0, bias=True):
    rng = np.random.default_rng(seed)
    params = {"weight_ih": rng.uniform(-0.7, 0.7, (4 * H, I)),
              "weight_hh": rng.uniform(-0.7, 0.7, (4 * H, H)),
              "bias_ih": rng.uniform(-0.3, 0.3, 4 * H) if bias else None,
              "bias_hh": rng.uniform(-0.3, 0.3, 4 * H) if bias else None,
              "ln_ih_weight": 1 + 0.2 * rng.standard_normal(4 * H),
              "ln_ih_bias": 0.1 * rng.standard_normal(4 * H),
              "ln_hh_weight": 1 + 0.2 * rng.standard_normal(4 * H),
              "ln_hh_bias": 0.1 * rng.standard_normal(4 * H),
              "ln_c_weight": 1 + 0.2 * rng.standard_normal(H),
              "ln_c_bias": 0.1 * rng.standard_normal(H)}
    x = rng.standard_normal((B, T, I))
    state0 = (0.5 * rng.standard_normal((B, H)), 0.5 * rng.standard_normal((B, H)))
    mask = np.arange(T)[None, :] < np.array([T, 3, 1])[:, None]
    r = rng.standard_normal((B, T, H))
    s = (rng.standard_normal((B, H)), rng.standard_normal((B, H)))
    return params, x, state0, mask, r, s


def loss_of(params, x, state0, mask, r, s):
    y, (h, c), _ = ln_lstm.forward(params, x, state0, mask)
    return float(np.sum(y * r) + np.sum(h * s[0]) + np.sum(c * s[1]))


@pytest.mark.parametrize("bias", [True, False])
def test_ln_lstm_backward_equals_finite_differences(bias):
    params, x, state0, mask, r, s = make(bias=bias)
    _, _, cache = ln_lstm.forward(params, x, state0, mask)
    grads = ln_lstm.backward(params, cache, r, s)
    targets = {k: v for k, v in params.items() if v is not None}
    targets.update({"x": x, "h0": state0[0], "c0": state0[1]})
    analytic = {**grads, "h0": grads["state0"][0], "c0": grads["state0"][1]}
    worst = 0.0
    for name, array in targets.items():
        numerical = numerical_gradient(lambda: loss_of(params, x, state0, mask, r, s),
                                       array, 1e-6)
        error = rel_err(analytic[name], numerical)
        worst = max(worst, error)
        assert error <= 1e-6, (name, error)
    assert worst > 0  # the check compared real numbers


def test_layernorm_backward_equals_finite_differences():
    rng = np.random.default_rng(1)
    a, gamma, beta = rng.standard_normal((4, 6)), rng.standard_normal(6), rng.standard_normal(6)
    r = rng.standard_normal((4, 6))
    y, cache = layernorm.forward(a, gamma, beta)
    da, dgamma, dbeta = layernorm.backward(cache, r)
    for name, array, analytic in (("a", a, da), ("gamma", gamma, dgamma), ("beta", beta, dbeta)):
        numerical = numerical_gradient(
            lambda: float(np.sum(layernorm.forward(a, gamma, beta)[0] * r)), array, 1e-6)
        assert rel_err(analytic, numerical) <= 1e-7, name


def torch_ln_lstm(torch, params, x, state0, mask, eps=1e-5):
    """The same equations, written with autograd: the test's own reference."""
    F = torch.nn.functional
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items() if v is not None}
    xt = torch.tensor(x, requires_grad=True)
    h = torch.tensor(state0[0], requires_grad=True)
    c = torch.tensor(state0[1], requires_grad=True)
    leaves = {**p, "x": xt, "h0": h, "c0": c}
    b = p["bias_ih"] + p["bias_hh"] if "bias_ih" in p else 0.0
    ys = []
    for t in range(x.shape[1]):
        m = torch.tensor(mask[:, t:t + 1].astype(np.float64))
        a = (F.layer_norm(xt[:, t] @ p["weight_ih"].T, (4 * H,), p["ln_ih_weight"],
                          p["ln_ih_bias"], eps)
             + F.layer_norm(h @ p["weight_hh"].T, (4 * H,), p["ln_hh_weight"], p["ln_hh_bias"],
                            eps) + b)
        i, f, g, o = a.chunk(4, dim=1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        n = F.layer_norm(c_new, (H,), p["ln_c_weight"], p["ln_c_bias"], eps)
        h_new = torch.sigmoid(o) * torch.tanh(n)
        c = m * c_new + (1 - m) * c
        h = m * h_new + (1 - m) * h
        ys.append(m * h)
    return torch.stack(ys, dim=1), h, c, leaves


def test_ln_lstm_equals_pytorch_autograd_on_the_same_equations(torch):
    params, x, state0, mask, r, s = make(seed=3)
    y, (h, c), cache = ln_lstm.forward(params, x, state0, mask)
    grads = ln_lstm.backward(params, cache, r, s)
    ty, th, tc, leaves = torch_ln_lstm(torch, params, x, state0, mask)
    assert rel_err(y, ty.detach().numpy()) <= 1e-12
    assert rel_err(h, th.detach().numpy()) <= 1e-12 and rel_err(c, tc.detach().numpy()) <= 1e-12
    loss = (ty * torch.tensor(r)).sum() + (th * torch.tensor(s[0])).sum() \
        + (tc * torch.tensor(s[1])).sum()
    loss.backward()
    ours = {**grads, "h0": grads["state0"][0], "c0": grads["state0"][1]}
    for name, leaf in leaves.items():
        assert rel_err(ours[name], leaf.grad.numpy()) <= 1e-10, name


@pytest.mark.parametrize("dtype_bias", [True, False])
def test_the_fast_ln_lstm_equals_its_specification(dtype_bias):
    """rnnlab.cells.ln_lstm (input side hoisted out of the loop, LN_ih's backward and the
    weight sums as one operation each) equals the plain loops to 1e-12."""
    from rnnlab.cells import ln_lstm as fast

    params, x, state0, mask, r, s = make(seed=5, bias=dtype_bias)
    p = fast.LNParams(**params, eps=1e-5)
    y_ref, final_ref, cache_ref = ln_lstm.forward(params, x, state0, mask)
    g_ref = ln_lstm.backward(params, cache_ref, r, s)
    y, cache = fast.forward(p, x, state0, mask)
    g = fast.backward(p, cache, r, s)
    assert rel_err(y, y_ref) <= 1e-12
    for ours, theirs in zip(fast.final_state(cache), final_ref):
        assert rel_err(ours, theirs) <= 1e-12
    assert rel_err(g.dx, g_ref["x"]) <= 1e-12
    assert rel_err(g.dweight_ih, g_ref["weight_ih"]) <= 1e-12
    assert rel_err(g.dweight_hh, g_ref["weight_hh"]) <= 1e-12
    for ours, theirs in zip(g.d_state0, g_ref["state0"]):
        assert rel_err(ours, theirs) <= 1e-12
    for name in ln_lstm.LN_NAMES:
        assert rel_err(g.d_norm[name], g_ref[name]) <= 1e-12, name
    if dtype_bias:
        assert rel_err(g.dbias_ih, g_ref["bias_ih"]) <= 1e-12
