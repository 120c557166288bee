"""Tier 2: agreement with torch.nn.RNN / LSTM / GRU after copying weights.

Weights go from rnnlab to PyTorch through ``load_state_dict`` unchanged. Variable lengths
are compared with PyTorch's packed sequences. Outputs, final states, dx, d(initial state) and
every parameter gradient agree within 1e-10 relative in float64 and 1e-4 in float32.
"""

import itertools

import numpy as np
import pytest

from helpers import make_layer, parts, random_case, rel_err

TOL = {"float64": 1e-10, "float32": 1e-4}
KINDS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]
GRID = list(itertools.product([1, 2], [False, True], [True, False], [False, True]))


def torch_twin(torch, layer, cell, nonlinearity):
    """The torch.nn layer with the same configuration and weights."""
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    kwargs = dict(num_layers=layer.num_layers, bias=layer.bias, batch_first=True,
                  bidirectional=layer.bidirectional,
                  dtype=torch.float64 if layer.dtype == np.float64 else torch.float32)
    if cell == "rnn":
        kwargs["nonlinearity"] = nonlinearity
    twin = cls(layer.input_size, layer.hidden_size, **kwargs)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    return twin


def run_torch(torch, twin, x, lengths, state, d_out, d_state):
    """Forward, the loss sum(out * d_out) + sum(state_n * d_state), backward; all as numpy."""
    xt = torch.tensor(x, requires_grad=True)
    st = [torch.tensor(s, requires_grad=True) for s in parts(state)]
    inp = xt
    if lengths is not None:
        inp = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths),
                                                      batch_first=True, enforce_sorted=False)
    out, state_n = twin(inp, tuple(st) if len(st) > 1 else st[0])
    if lengths is not None:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                        total_length=x.shape[1])
    loss = (out * torch.tensor(d_out)).sum()
    for s, d in zip(parts(state_n), parts(d_state)):
        loss = loss + (s * torch.tensor(d)).sum()
    loss.backward()
    grads = {k: p.grad.numpy() for k, p in twin.named_parameters()}
    return (out.detach().numpy(), [s.detach().numpy() for s in parts(state_n)],
            xt.grad.numpy(), [s.grad.numpy() for s in st], grads)


def compare(torch, cell, nonlinearity, num_layers, bidirectional, bias, variable, dtype):
    layer = make_layer(cell, 5, 6, num_layers, bidirectional, bias, nonlinearity, dtype, seed=11)
    x, lengths, state = random_case(layer, batch=4, steps=7, variable=variable, seed=12)
    rng = np.random.default_rng(13)
    out, state_n = layer.forward(x, lengths, state)
    d_out = rng.standard_normal(out.shape).astype(layer.dtype)
    d_state = tuple(rng.standard_normal(s.shape).astype(layer.dtype) for s in parts(state_n))
    d_state = d_state if len(d_state) > 1 else d_state[0]
    dx, d_state0 = layer.backward(d_out, d_state)

    twin = torch_twin(torch, layer, cell, nonlinearity)
    t_out, t_state_n, t_dx, t_d_state0, t_grads = run_torch(torch, twin, x, lengths, state,
                                                            d_out, d_state)
    tol = TOL[dtype]
    assert rel_err(out, t_out) <= tol
    for ours, theirs in zip(parts(state_n), t_state_n):
        assert rel_err(ours, theirs) <= tol
    assert rel_err(dx, t_dx) <= tol
    for ours, theirs in zip(parts(d_state0), t_d_state0):
        assert rel_err(ours, theirs) <= tol
    grads = layer.grad_dict()
    assert set(grads) == set(t_grads)
    for name, g in grads.items():
        assert rel_err(g, t_grads[name]) <= tol, name


@pytest.mark.parametrize("cell,nonlinearity", KINDS)
@pytest.mark.parametrize("num_layers,bidirectional,bias,variable", GRID)
def test_float64_agrees_with_torch(torch, cell, nonlinearity, num_layers, bidirectional, bias,
                                   variable):
    compare(torch, cell, nonlinearity, num_layers, bidirectional, bias, variable, "float64")


@pytest.mark.parametrize("cell,nonlinearity", KINDS)
@pytest.mark.parametrize("num_layers,bidirectional,bias,variable", GRID[::3])
def test_float32_agrees_with_torch(torch, cell, nonlinearity, num_layers, bidirectional, bias,
                                   variable):
    compare(torch, cell, nonlinearity, num_layers, bidirectional, bias, variable, "float32")


@pytest.mark.parametrize("variable", [False, True])
def test_sigmoid_rnn_agrees_with_a_torch_autograd_loop(torch, variable):
    """PyTorch has no sigmoid nn.RNN, so the reference is its autograd through a plain loop."""
    layer = make_layer("rnn", 5, 6, nonlinearity="sigmoid", seed=14)
    x, lengths, state = random_case(layer, batch=4, steps=7, variable=variable, seed=15)
    rng = np.random.default_rng(16)
    out, h_n = layer.forward(x, lengths, state)
    d_out, d_h = rng.standard_normal(out.shape), rng.standard_normal(h_n.shape)
    dx, dh0 = layer.backward(d_out, d_h)

    p = {k: torch.tensor(v, requires_grad=True) for k, v in layer.state_dict().items()}
    xt, h = torch.tensor(x, requires_grad=True), torch.tensor(state[0], requires_grad=True)
    h0, steps = h, x.shape[1]
    valid = torch.ones(x.shape[:2], dtype=torch.bool) if lengths is None else (
        torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None])
    outs = []
    for t in range(steps):
        new = torch.sigmoid(xt[:, t] @ p["weight_ih_l0"].T + p["bias_ih_l0"]
                            + h @ p["weight_hh_l0"].T + p["bias_hh_l0"])
        h = torch.where(valid[:, t, None], new, h)
        outs.append(h * valid[:, t, None])
    t_out = torch.stack(outs, dim=1)
    ((t_out * torch.tensor(d_out)).sum() + (h * torch.tensor(d_h[0])).sum()).backward()
    assert rel_err(out, t_out.detach()) <= 1e-12
    assert rel_err(h_n[0], h.detach()) <= 1e-12
    assert rel_err(dx, xt.grad) <= 1e-12
    assert rel_err(dh0[0], h0.grad) <= 1e-12
    for name, g in layer.grad_dict().items():
        assert rel_err(g, p[name].grad) <= 1e-12, name


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_torch_weights_load_into_rnnlab_unchanged(torch, cell):
    """The other direction: a torch state dict loads as is and gives torch's outputs."""
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    twin = cls(5, 6, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
    layer = make_layer(cell, 5, 6, num_layers=2, bidirectional=True, seed=17)
    layer.load_state_dict(twin.state_dict())
    x = np.random.default_rng(18).standard_normal((3, 4, 5))
    out, _ = layer.forward(x)
    t_out, _ = twin(torch.tensor(x))
    assert rel_err(out, t_out.detach()) <= 1e-12
