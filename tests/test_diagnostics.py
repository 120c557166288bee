"""Diagnostics: the gradients they report are the real backward's, checked against PyTorch
autograd, and the Pascanu et al. bound holds for what they measure."""

import numpy as np
import pytest

import rnnlab
from rnnlab import diagnostics
from helpers import make_layer, random_case, rel_err


def torch_cell_loop(torch, layer, x, state, direction=0):
    """Run one direction of a 1-layer rnnlab layer as a torch cell loop keeping every state.

    Returns the torch states h_1..h_T (and c_1..c_T) with ``retain_grad``, the stacked
    outputs (B, T, H) and the inputs as a leaf tensor.
    """
    suffix = "_l0" + ("_reverse" if direction else "")
    kind = type(layer).__name__
    cls = {"RNN": torch.nn.RNNCell, "LSTM": torch.nn.LSTMCell, "GRU": torch.nn.GRUCell}[kind]
    kwargs = {"nonlinearity": layer.nonlinearity} if kind == "RNN" else {}
    if kind == "RNN" and layer.nonlinearity == "sigmoid":
        pytest.skip("torch.nn.RNNCell has no sigmoid")
    cell = cls(layer.input_size, layer.hidden_size, **kwargs).double()
    cell.load_state_dict({k: torch.from_numpy(layer.state_dict()[k + suffix])
                          for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
    xt = torch.from_numpy(x).requires_grad_(True)
    steps = x.shape[1]
    order = range(steps) if direction == 0 else reversed(range(steps))
    states = [torch.from_numpy(s[direction]) for s in
              (state if isinstance(state, tuple) else (state,))]
    hs, cs = [None] * steps, [None] * steps
    for t in order:
        if kind == "LSTM":
            h, c = cell(xt[:, t], tuple(states))
            c.retain_grad()
            cs[t] = c
            states = [h, c]
        else:
            h = cell(xt[:, t], states[0])
            states = [h]
        h.retain_grad()
        hs[t] = h
    return hs, cs, torch.stack(hs, dim=1)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_state_gradients_equal_torch_autograd_at_every_step(torch, cell, bidirectional):
    layer = make_layer(cell, bidirectional=bidirectional, hidden_size=5)
    x, _, state = random_case(layer, batch=3, steps=6, variable=False)
    rng = np.random.default_rng(2)
    out, _ = layer.forward(x, state=state)
    r = rng.standard_normal(out.shape)
    layer.track_state_grads = True
    layer.backward(r)
    hidden = layer.hidden_size
    for direction in range(layer.num_directions):
        hs, cs, outs = torch_cell_loop(torch, layer, x, state, direction)
        loss = (outs * torch.from_numpy(r[..., direction * hidden:(direction + 1) * hidden]))
        loss.sum().backward()
        trace = layer.state_grads[direction]
        want_h = np.stack([h.grad.numpy() for h in hs], axis=1)  # (B, T, H)
        assert rel_err(trace["h"], want_h) < 1e-12
        if cell == "lstm":
            want_c = np.stack([c.grad.numpy() for c in cs], axis=1)
            assert rel_err(trace["c"], want_c) < 1e-12


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_state_gradients_of_padded_sequences_equal_unpadded(cell):
    layer = make_layer(cell, num_layers=2, bidirectional=True, hidden_size=4)
    model = rnnlab.Sequential(layer, rnnlab.LastStep(),
                              rnnlab.Linear(8, 2, seed=3, dtype=np.float64))
    x, lengths, _ = random_case(layer, batch=4, steps=7)
    y = np.random.default_rng(4).standard_normal((4, 2))
    for b in range(4):
        n = int(lengths[b])
        padded = diagnostics.state_gradients(model, x[b:b + 1], y[b:b + 1], rnnlab.mse_loss,
                                             lengths[b:b + 1])
        alone = diagnostics.state_gradients(model, x[b:b + 1, :n], y[b:b + 1], rnnlab.mse_loss)
        assert len(padded) == len(alone) == 4  # 2 layers x 2 directions
        for p, a in zip(padded, alone):
            assert (p.layer, p.direction) == (a.layer, a.direction)
            np.testing.assert_allclose(p.h[:n], a.h, rtol=1e-12, atol=1e-300)
            assert np.isnan(p.h[n:]).all()  # no sequence runs there
            if cell == "lstm":
                np.testing.assert_allclose(p.c[:n], a.c, rtol=1e-12, atol=1e-300)
    for layer_ in diagnostics.recurrent_layers(model):
        assert not layer_.track_state_grads and layer_.state_grads is None
    assert all(not g.any() for g in model.gradients().values())  # measuring does not train


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_jacobian_norms_equal_torch_jacobians(torch, cell):
    layer = make_layer(cell, hidden_size=3, input_size=2, bidirectional=True, seed=5)
    x, _, _ = random_case(layer, batch=2, steps=5, variable=False)
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    for direction in (0, 1):
        measured = diagnostics.jacobian_norms(layer, x, direction=direction)
        uni = module(2, 3, batch_first=True).double()  # this direction alone
        suffix = "_l0" + ("_reverse" if direction else "")
        uni.load_state_dict({k + "_l0": torch.from_numpy(layer.state_dict()[k + suffix])
                             for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
        want = np.zeros(6)  # by gap 0..5
        for b in range(2):
            xs = torch.from_numpy(x[b:b + 1])
            xs = xs.flip(1) if direction else xs  # the order this direction reads x in
            for t in range(6):  # h_t: the state after reading t steps
                zeros = torch.zeros(1, 1, 3, dtype=torch.float64)
                state = (zeros, zeros) if cell == "lstm" else zeros
                if t > 0:
                    _, state = uni(xs[:, :t])
                h_t = (state[0] if cell == "lstm" else state).detach().view(3)
                c_t = state[1].detach() if cell == "lstm" else None

                def h_end(h, c_t=c_t, t=t, xs=xs):
                    """h_T as a function of h_t, c_t held fixed."""
                    if t == 5:
                        return h
                    start = (h.view(1, 1, 3), c_t) if cell == "lstm" else h.view(1, 1, 3)
                    _, end = uni(xs[:, t:], start)
                    return (end[0] if cell == "lstm" else end).view(3)
                jac = torch.autograd.functional.jacobian(h_end, h_t).numpy()
                want[5 - t] += np.linalg.norm(jac, 2) / 2
        np.testing.assert_allclose(measured.h, want, rtol=1e-10)
        assert measured.h[0] == pytest.approx(1.0)
        np.testing.assert_array_equal(measured.gaps, np.arange(6))


@pytest.mark.parametrize("nonlinearity, lambda_1", [("tanh", 0.9), ("sigmoid", 3.5),
                                                     ("relu", 0.8)])
def test_measured_jacobians_stay_under_the_pascanu_bound(nonlinearity, lambda_1):
    layer = make_layer("rnn", input_size=2, hidden_size=32, nonlinearity=nonlinearity, seed=7)
    diagnostics.scale_recurrent_weights(layer, lambda_1)
    (bound,) = diagnostics.pascanu_bounds(layer)
    assert bound.lambda_1 == pytest.approx(lambda_1)
    assert bound.vanishing_guaranteed and not bound.exploding_possible
    x = np.random.default_rng(0).standard_normal((8, 60, 2))
    measured = diagnostics.jacobian_norms(layer, x)
    ceiling = bound.bound(measured.gaps)
    assert np.all(measured.h <= ceiling * (1 + 1e-9))
    assert measured.h[-1] < 1e-2  # it vanishes, as the bound says it must


def test_pascanu_verdicts_and_gated_cells():
    layer = make_layer("rnn", hidden_size=16, seed=1)
    diagnostics.scale_recurrent_weights(layer, 2.0)
    (bound,) = diagnostics.pascanu_bounds(layer)
    assert bound.exploding_possible and not bound.vanishing_guaranteed
    assert bound.rate == pytest.approx(2.0)
    lstm = make_layer("lstm", hidden_size=4, num_layers=2, bidirectional=True)
    bounds = diagnostics.pascanu_bounds(lstm)
    assert [b.name for b in bounds] == ["weight_hh_l0", "weight_hh_l0_reverse",
                                        "weight_hh_l1", "weight_hh_l1_reverse"]
    assert all(b.gamma is None and b.rate is None for b in bounds)
    with pytest.raises(ValueError, match="vanilla"):
        bounds[0].bound([1, 2])
    with pytest.raises(TypeError, match="vanilla"):
        diagnostics.scale_recurrent_weights(lstm, 0.5)
    with pytest.raises(ValueError, match="lambda_1"):
        diagnostics.scale_recurrent_weights(layer, -1.0)


def test_gate_activity_matches_the_gate_equations(torch):
    layer = make_layer("lstm", input_size=3, hidden_size=4, seed=2)
    x, lengths, _ = random_case(layer, batch=3, steps=6)
    report = {g.gate: g for g in diagnostics.gate_activity(layer, x, lengths, margin=0.2)}
    assert sorted(report) == ["f", "i", "o"]
    twin = torch.nn.LSTM(3, 4, batch_first=True).double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    p = layer.state_dict()
    h = np.zeros((3, 1, 4))
    out, _ = twin(torch.from_numpy(x))
    h = np.concatenate([h, out.detach().numpy()[:, :-1]], axis=1)  # h_{t-1}
    a = x @ p["weight_ih_l0"].T + h @ p["weight_hh_l0"].T + p["bias_ih_l0"] + p["bias_hh_l0"]
    s = 1 / (1 + np.exp(-a))  # (B, T, 4H) before any padding (lengths applied below)
    valid = np.arange(6)[None, :] < lengths[:, None]
    for k, name in ((0, "i"), (1, "f"), (3, "o")):
        gate = s[..., 4 * k:4 * (k + 1)]
        # Only each sequence's valid steps count; torch ran the full (garbage-padded) x, but
        # the valid steps' values equal because the padding comes after them.
        vals = gate[valid]
        assert report[name].mean_overall == pytest.approx(vals.mean(), rel=1e-12)
        sat = (vals < 0.2) | (vals > 0.8)
        assert report[name].saturated_overall == pytest.approx(sat.mean(), rel=1e-12)
        assert report[name].low == pytest.approx((vals < 0.2).mean(), rel=1e-12)
        t = 2
        col = gate[:, t][valid[:, t]]
        assert report[name].mean[t] == pytest.approx(col.mean(), rel=1e-12)
    gru = diagnostics.gate_activity(make_layer("gru"), x)
    assert [g.gate for g in gru] == ["r", "z"]
    assert diagnostics.gate_activity(make_layer("rnn"), x) == []
    with pytest.raises(ValueError, match="margin"):
        diagnostics.gate_activity(layer, x, margin=0.7)


def test_horizons_and_suggested_k2():
    assert diagnostics.horizon_of([5, 10, 20, 50], [True, True, False, True]) == 10
    assert diagnostics.horizon_of([5, 10], [False, True]) is None
    gaps = np.arange(6)
    norms = np.array([1.0, 0.5, 0.1, 1e-3, 1e-4, 1e-6])
    assert diagnostics.gradient_horizon(gaps, norms, tol=1e-2) == 3
    assert diagnostics.gradient_horizon(gaps, np.ones(6)) == 5
    assert diagnostics.suggest_k2(4, gaps, norms, tol=1e-2) == 4
    assert diagnostics.suggest_k2(None, gaps, norms, tol=1e-2) == 3
    with pytest.raises(ValueError, match="tol"):
        diagnostics.gradient_horizon(gaps, norms, tol=2.0)
    with pytest.raises(ValueError, match="same"):
        diagnostics.gradient_horizon(gaps, norms[:3])


def test_diagnostics_refuse_models_without_recurrent_layers():
    with pytest.raises(TypeError, match="model must"):
        diagnostics.state_gradients(rnnlab.Linear(2, 2), np.zeros((1, 2, 2)), np.zeros((1, 2, 2)),
                                    rnnlab.mse_loss)
    layer = make_layer("rnn")
    with pytest.raises(ValueError, match="layer_index"):
        diagnostics.jacobian_norms(layer, np.zeros((1, 3, 3)), layer_index=1)
