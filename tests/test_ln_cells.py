"""The layer-normalized RNN and GRU (Ba, Kiros & Hinton 2016): their specifications
(rnnlab.reference.ln_rnn, ln_gru) against central finite differences (float64) and against
PyTorch autograd running the same equations (1e-10), and their fast paths
(rnnlab.cells.ln_rnn, ln_gru) against the specifications (1e-12)."""

import numpy as np
import pytest

from rnnlab.cells import ln_gru as fast_gru
from rnnlab.cells import ln_rnn as fast_rnn
from rnnlab.gradcheck import numerical_gradient
from rnnlab.reference import ln_gru, ln_rnn
from helpers import rel_err

H, I, B, T = 3, 2, 3, 5
CASES = [("rnn", "tanh"), ("rnn", "relu"), ("rnn", "sigmoid"), ("gru", None)]


def make(cell, seed=0, bias=True):
    """params, x, h0, mask, r (dL/dy) and s (dL/dh_T) for one cell."""
    g = 1 if cell == "rnn" else 3
    rng = np.random.default_rng(seed)
    params = {"weight_ih": rng.uniform(-0.7, 0.7, (g * H, I)),
              "weight_hh": rng.uniform(-0.7, 0.7, (g * H, H)),
              "bias_ih": rng.uniform(-0.3, 0.3, g * H) if bias else None,
              "bias_hh": rng.uniform(-0.3, 0.3, g * H) if bias else None,
              "ln_ih_weight": 1 + 0.2 * rng.standard_normal(g * H),
              "ln_ih_bias": 0.1 * rng.standard_normal(g * H),
              "ln_hh_weight": 1 + 0.2 * rng.standard_normal(g * H),
              "ln_hh_bias": 0.1 * rng.standard_normal(g * H)}
    x = rng.standard_normal((B, T, I))
    h0 = 0.5 * rng.standard_normal((B, H))
    mask = np.arange(T)[None, :] < np.array([T, 3, 1])[:, None]
    return params, x, h0, mask, rng.standard_normal((B, T, H)), rng.standard_normal((B, H))


def spec_run(cell, f, params, x, h0, mask):
    if cell == "rnn":
        return ln_rnn.forward(params, x, h0, mask, f)
    return ln_gru.forward(params, x, h0, mask)


def spec_grads(cell, params, cache, r, s):
    return (ln_rnn if cell == "rnn" else ln_gru).backward(params, cache, r, s)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("cell, f", CASES)
def test_backward_equals_finite_differences(cell, f, bias):
    params, x, h0, mask, r, s = make(cell, bias=bias)
    _, _, cache = spec_run(cell, f, params, x, h0, mask)
    grads = spec_grads(cell, params, cache, r, s)
    targets = {k: v for k, v in params.items() if v is not None}
    targets.update({"x": x, "state0": h0})

    def loss():
        y, h, _ = spec_run(cell, f, params, x, h0, mask)
        return float(np.sum(y * r) + np.sum(h * s))

    worst = 0.0
    for name, array in targets.items():
        error = rel_err(grads[name], numerical_gradient(loss, array, 1e-6))
        worst = max(worst, error)
        assert error <= 1e-6, (name, error)
    assert worst > 0  # the check compared real numbers


def torch_run(torch, cell, f, params, x, h0, mask, eps=1e-5):
    """The same equations, written with autograd: the test's own reference."""
    F = torch.nn.functional
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items() if v is not None}
    xt = torch.tensor(x, requires_grad=True)
    h = torch.tensor(h0, requires_grad=True)
    leaves = {**p, "x": xt, "state0": h}
    g = params["weight_hh"].shape[0]
    zero = torch.zeros(g, dtype=torch.float64)
    b_ih, b_hh = p.get("bias_ih", zero), p.get("bias_hh", zero)
    act = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}.get(f)
    ys = []
    for t in range(x.shape[1]):
        m = torch.tensor(mask[:, t:t + 1].astype(np.float64))
        z_ih = F.layer_norm(xt[:, t] @ p["weight_ih"].T, (g,), p["ln_ih_weight"],
                            p["ln_ih_bias"], eps) + b_ih
        z_hh = F.layer_norm(h @ p["weight_hh"].T, (g,), p["ln_hh_weight"], p["ln_hh_bias"],
                            eps) + b_hh
        if cell == "rnn":
            h_new = act(z_ih + z_hh)
        else:
            x_r, x_z, x_n = z_ih.chunk(3, dim=1)
            h_r, h_z, h_n = z_hh.chunk(3, dim=1)
            rg, zg = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + rg * h_n)
            h_new = (1 - zg) * n + zg * h
        h = m * h_new + (1 - m) * h
        ys.append(m * h)
    return torch.stack(ys, dim=1), h, leaves


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("cell, f", CASES)
def test_equals_pytorch_autograd_on_the_same_equations(torch, cell, f, bias):
    params, x, h0, mask, r, s = make(cell, seed=3, bias=bias)
    y, h, cache = spec_run(cell, f, params, x, h0, mask)
    grads = spec_grads(cell, params, cache, r, s)
    ty, th, leaves = torch_run(torch, cell, f, params, x, h0, mask)
    assert rel_err(y, ty.detach().numpy()) <= 1e-12
    assert rel_err(h, th.detach().numpy()) <= 1e-12
    ((ty * torch.tensor(r)).sum() + (th * torch.tensor(s)).sum()).backward()
    for name, leaf in leaves.items():
        assert rel_err(grads[name], leaf.grad.numpy()) <= 1e-10, name


@pytest.mark.parametrize("blas", [False, True])
@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("cell, f", CASES)
def test_the_fast_path_equals_its_specification(cell, f, bias, masked, blas, monkeypatch):
    """rnnlab.cells.ln_rnn and ln_gru (the input side hoisted out of the loop, a compiled
    step; the whole loop compiled when W_hh is packed, or the product by BLAS and the step
    kernel called per step) equal the plain loops to 1e-12."""
    if blas:
        monkeypatch.setattr("rnnlab.cells.gemm.SMALL", 0)
    params, x, h0, mask, r, s = make(cell, seed=5, bias=bias)
    mask = mask if masked else None
    fast = fast_rnn if cell == "rnn" else fast_gru
    p = fast.LNParams(**params, eps=1e-5)
    y_ref, h_ref, cache_ref = spec_run(cell, f, params, x, h0, mask)
    g_ref = spec_grads(cell, params, cache_ref, r, s)
    if cell == "rnn":
        y, cache = fast.forward(p, x, h0, mask, f)
    else:
        y, cache = fast.forward(p, x, h0, mask)
    g = fast.backward(p, cache, r, s)
    assert rel_err(y, y_ref) <= 1e-12
    assert rel_err(fast.final_state(cache), h_ref) <= 1e-12
    assert rel_err(g.dx, g_ref["x"]) <= 1e-12
    assert rel_err(g.d_state0, g_ref["state0"]) <= 1e-12
    assert rel_err(g.d_states.swapaxes(0, 1), g_ref["d_states"]) <= 1e-12
    assert rel_err(g.dweight_ih, g_ref["weight_ih"]) <= 1e-12
    assert rel_err(g.dweight_hh, g_ref["weight_hh"]) <= 1e-12
    for name in fast.NORMS:
        assert rel_err(g.d_norm[name], g_ref[name]) <= 1e-12, name
    if bias:
        assert rel_err(g.dbias_ih, g_ref["bias_ih"]) <= 1e-12
        assert rel_err(g.dbias_hh, g_ref["bias_hh"]) <= 1e-12
    else:
        assert g.dbias_ih is None and g.dbias_hh is None
