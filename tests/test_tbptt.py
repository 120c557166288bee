"""Truncated BPTT: k1 = k2 = T is full BPTT exactly, and in general the truncated gradient is
the full gradient with the long paths removed (checked against PyTorch autograd with one copy
of the weights per time step, so that every path's contribution can be told apart)."""

import numpy as np
import pytest

import rnnlab
from rnnlab.losses import mse_loss
from rnnlab.training import truncated_bptt
from helpers import rel_err


def sum_mse(prediction, target, mask):
    return mse_loss(prediction, target, mask, reduction="sum")


def make_case(cell, steps=11, batch=3, seed=0):
    rng = np.random.default_rng(seed)
    layer = rnnlab.LSTM(2, 4, dtype="float64", seed=seed) if cell == "lstm" \
        else rnnlab.RNN(2, 4, dtype="float64", seed=seed)
    model = rnnlab.Sequential(layer, rnnlab.Linear(4, 1, dtype="float64", seed=seed + 1))
    x = rng.standard_normal((batch, steps, 2))
    y = rng.standard_normal((batch, steps, 1))
    lengths = np.array([steps, steps - 4, 3][:batch])
    return model, x, y, lengths


def run_tbptt(model, x, y, lengths, k1, k2, loss=sum_mse):
    """Accumulate the gradients of every chunk (no updates in between)."""
    model.zero_grad()
    chunks = list(truncated_bptt(model, x, y, lengths, loss, k1, k2))
    return model.grad_dict(), chunks


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_k1_equal_k2_equal_T_is_full_bptt_exactly(cell):
    model, x, y, lengths = make_case(cell)
    steps = x.shape[1]
    model.zero_grad()
    prediction = model(x, lengths=lengths)
    loss, d_prediction = mse_loss(prediction, y, rnnlab.lengths_to_mask(lengths, steps))
    model.backward(d_prediction)
    full = model.grad_dict()
    truncated, chunks = run_tbptt(model, x, y, lengths, steps, steps,
                                  loss=lambda p, t, m: mse_loss(p, t, m))
    assert len(chunks) == 1 and chunks[0][0] == loss
    for name in full:
        np.testing.assert_array_equal(truncated[name], full[name], err_msg=name)


def window_starts(steps, k1, k2):
    """The window start of the chunk holding each step s."""
    return np.array([max(0, (s // k1) * k1 + k1 - k2) for s in range(steps)])


def path_gradients(torch, model, x, y, lengths, cell):
    """g[s][r][name]: dL_s/d(the weights' use at step r), by autograd with per-step copies."""
    params = {k: torch.tensor(v) for k, v in model.state_dict().items()}
    batch, steps, _ = x.shape
    copies = [{k: v.clone().requires_grad_(True) for k, v in params.items()}
              for _ in range(steps)]
    xt, yt = torch.tensor(x), torch.tensor(y)
    h = torch.zeros(batch, 4, dtype=torch.float64)
    c = torch.zeros(batch, 4, dtype=torch.float64)
    losses = []
    for t in range(steps):
        p = copies[t]
        pre = (xt[:, t] @ p["0.weight_ih_l0"].T + p["0.bias_ih_l0"]
               + h @ p["0.weight_hh_l0"].T + p["0.bias_hh_l0"])
        if cell == "lstm":
            i, f, g, o = pre.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        else:
            h = torch.tanh(pre)
        out = h @ p["1.weight"].T + p["1.bias"]
        valid = torch.tensor(t < lengths, dtype=torch.float64)[:, None]
        losses.append((valid * (out - yt[:, t]) ** 2).sum())
    grads = []
    for s in range(steps):
        flat = [v for copy in copies[:s + 1] for v in copy.values()]
        g = torch.autograd.grad(losses[s], flat, retain_graph=True, allow_unused=True)
        names = list(params)
        grads.append([{n: (g[r * len(names) + j] if g[r * len(names) + j] is not None
                           else torch.zeros_like(params[n])).numpy()
                       for j, n in enumerate(names)} for r in range(s + 1)])
    return grads


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("k1,k2", [(1, 3), (2, 5), (3, 3), (4, 6), (11, 11)])
def test_truncated_gradient_is_full_gradient_without_long_paths(torch, cell, k1, k2):
    model, x, y, lengths = make_case(cell)
    steps = x.shape[1]
    truncated, _ = run_tbptt(model, x, y, lengths, k1, k2)
    paths = path_gradients(torch, model, x, y, lengths, cell)
    starts = window_starts(steps, k1, k2)
    kept = {name: sum(paths[s][r][name] for s in range(steps) for r in range(starts[s], s + 1))
            for name in truncated}
    full = {name: sum(paths[s][r][name] for s in range(steps) for r in range(s + 1))
            for name in truncated}
    for name in truncated:
        assert rel_err(truncated[name], kept[name]) < 1e-12, name
    if k2 < steps:  # the test has teeth: the dropped paths carried gradient
        assert rel_err(truncated["0.weight_hh_l0"], full["0.weight_hh_l0"]) > 1e-6


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_k1_1_keeps_exactly_the_paths_shorter_than_k2(torch, cell):
    """TBPTT(1, k2): the loss at step s keeps the paths through the weights' uses at steps
    r with s - r < k2, and no other (Williams & Peng's definition, written out here without
    the window arithmetic of window_starts)."""
    k2 = 4
    model, x, y, lengths = make_case(cell)
    steps = x.shape[1]
    truncated, chunks = run_tbptt(model, x, y, lengths, 1, k2)
    assert len(chunks) == steps  # one update per step
    paths = path_gradients(torch, model, x, y, lengths, cell)
    for name in truncated:
        short = sum(paths[s][r][name] for s in range(steps) for r in range(s + 1)
                    if s - r < k2)
        assert rel_err(truncated[name], short) < 1e-12, name
    longer = sum(paths[s][r]["0.weight_hh_l0"] for s in range(steps) for r in range(s + 1)
                 if s - r < k2 + 1)
    assert rel_err(truncated["0.weight_hh_l0"], longer) > 1e-6  # one step more would differ


def test_state_is_carried_across_chunks():
    """With lr = 0, the forward outputs of the chunks are the whole-sequence outputs."""
    model, x, y, lengths = make_case("lstm", steps=13)
    outputs = []

    def recording_loss(prediction, target, mask):
        outputs.append(prediction.copy())
        return sum_mse(prediction, target, mask)

    list(truncated_bptt(model, x, y, lengths, recording_loss, 4, 4))
    whole = model(x, lengths=lengths)
    for k, chunk in enumerate(outputs):
        rows = np.flatnonzero(lengths > 4 * k)
        valid = rnnlab.lengths_to_mask(np.minimum(lengths[rows] - 4 * k, 4), chunk.shape[1])
        np.testing.assert_allclose(chunk[valid], whole[rows, 4 * k:4 * k + 4][valid],
                                   rtol=0, atol=1e-13)


def test_tbptt_refuses_bad_settings():
    model, x, y, lengths = make_case("rnn")
    with pytest.raises(ValueError, match="k2 must be >= k1"):
        next(truncated_bptt(model, x, y, lengths, sum_mse, 4, 2))
    with pytest.raises(ValueError, match="k1 must be a positive int"):
        next(truncated_bptt(model, x, y, lengths, sum_mse, 0, 2))
    bi = rnnlab.Sequential(rnnlab.GRU(2, 4, bidirectional=True, dtype="float64"),
                           rnnlab.Linear(8, 1, dtype="float64"))
    with pytest.raises(ValueError, match="unidirectional"):
        next(truncated_bptt(bi, x, y, lengths, sum_mse, 2, 2))
    with pytest.raises(TypeError, match="recurrent layer"):
        next(truncated_bptt(rnnlab.Linear(2, 1), x, y, lengths, sum_mse, 2, 2))
