"""Heads and containers: Linear, LastStep, MeanPool and Sequential, in float64.

Linear agrees with ``torch.nn.Linear``; every head's backward agrees with finite differences;
the pools read only the valid steps; a Sequential of GRU, MeanPool and Linear agrees with the
same model built from PyTorch on packed sequences; names and parameter counts are PyTorch's.
"""

import numpy as np
import pytest

import rnnlab
from helpers import rel_err
from rnnlab.gradcheck import check_gradients, numerical_gradient

F64 = "float64"
LENGTHS = np.array([5, 3, 1, 4])  # one full sequence, one of length 1


def numpy_of(a):
    """A torch tensor (or an array) as a NumPy array."""
    return a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)


def assert_close(a, b, tol):
    assert rel_err(numpy_of(a), numpy_of(b)) <= tol


def padded_batch(features=3, lengths=LENGTHS, seed=0, garbage=0.0):
    """x (B, T, F) with T = max(lengths); padded steps hold ``garbage`` times noise."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((len(lengths), int(max(lengths)), features))
    pad = np.arange(x.shape[1])[None, :] >= np.asarray(lengths)[:, None]  # (B, T)
    x[pad] = garbage * rng.standard_normal((int(pad.sum()), features))
    return x, np.asarray(lengths)


def torch_state(torch, model):
    """rnnlab's state_dict as torch tensors, ready for ``torch_module.load_state_dict``."""
    return {k: torch.from_numpy(v) for k, v in model.state_dict().items()}


def assert_grads_match_torch(model, twin, tol):
    """Every parameter gradient of ``model`` equals the twin's, under the same names."""
    grads = model.grad_dict()
    named = dict(twin.named_parameters())
    assert list(grads) == list(named)
    for name, p in named.items():
        assert_close(grads[name], p.grad, tol)


# -- Linear against torch.nn.Linear --------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("shape", [(4, 5), (3, 6, 5)], ids=["BF", "BTF"])
def test_linear_matches_torch(torch, bias, shape):
    torch.manual_seed(0)
    twin = torch.nn.Linear(5, 3, bias=bias, dtype=torch.float64)
    layer = rnnlab.Linear(5, 3, bias=bias, dtype=F64, seed=1)
    layer.load_state_dict({k: v.numpy() for k, v in twin.state_dict().items()})
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    r = rng.standard_normal(shape[:-1] + (3,))  # dL/dy for L = sum(y * r)
    xt = torch.tensor(x, requires_grad=True)
    yt = twin(xt)
    (yt * torch.from_numpy(r)).sum().backward()

    assert_close(layer(x), yt, 1e-12)
    assert_close(layer.backward(r), xt.grad, 1e-12)
    assert_grads_match_torch(layer, twin, 1e-12)


# -- finite differences --------------------------------------------------------------------
def heads():
    """Factories of the heads and head-topped models under test, by name."""
    return {
        "last-step": lambda: rnnlab.LastStep(dtype=F64),
        "mean-pool": lambda: rnnlab.MeanPool(dtype=F64),
        "linear": lambda: rnnlab.Linear(3, 2, dtype=F64, seed=0),
        "lstm-last-linear": lambda: rnnlab.Sequential(
            rnnlab.LSTM(3, 5, bidirectional=True, dtype=F64, seed=0),
            rnnlab.LastStep(dtype=F64), rnnlab.Linear(10, 2, dtype=F64, seed=1)),
        "gru-mean-linear": lambda: rnnlab.Sequential(
            rnnlab.GRU(3, 4, dtype=F64, seed=0), rnnlab.MeanPool(dtype=F64),
            rnnlab.Linear(4, 2, dtype=F64, seed=1)),
    }


@pytest.mark.parametrize("name", list(heads()))
def test_backward_matches_finite_differences(name):
    model = heads()[name]()
    x, lengths = padded_batch(garbage=10.0)
    checks = check_gradients(model, x, lengths=lengths)
    assert [c.name for c in checks] == [*model.parameters(), "x"]
    assert checks[-1].scale > 0  # dL/dx is not trivially zero
    worst = max(checks, key=lambda c: c.relative_error)
    assert worst.relative_error <= 1e-6, worst


def test_check_gradients_gives_a_sequential_its_lengths(monkeypatch):
    model = heads()["lstm-last-linear"]()
    seen = []
    forward = model.forward

    def spy(x, lengths=None):
        seen.append(lengths)
        return forward(x, lengths=lengths)

    monkeypatch.setattr(model, "forward", spy)
    x, lengths = padded_batch(garbage=10.0)
    check_gradients(model, x, lengths=lengths)
    assert seen and all(s is not None and np.array_equal(s, lengths) for s in seen)


# -- the pools read only the valid steps ---------------------------------------------------
def test_last_step_picks_each_sequences_last_valid_step():
    x, lengths = padded_batch(garbage=10.0)
    pool = rnnlab.LastStep(dtype=F64)
    rows = np.arange(len(lengths))
    np.testing.assert_array_equal(pool(x, lengths=lengths), x[rows, lengths - 1])
    d_output = np.random.default_rng(1).standard_normal((len(lengths), 3))
    expected = np.zeros_like(x)
    expected[rows, lengths - 1] = d_output
    np.testing.assert_array_equal(pool.backward(d_output), expected)
    # Without lengths every sequence is full: the last step is T - 1.
    np.testing.assert_array_equal(pool(x), x[:, -1])


def test_mean_pool_averages_the_valid_steps_only():
    x, lengths = padded_batch(garbage=10.0)
    pool = rnnlab.MeanPool(dtype=F64)
    expected = np.stack([x[b, :n].mean(axis=0) for b, n in enumerate(lengths)])
    assert_close(pool(x, lengths=lengths), expected, 1e-14)
    d_output = np.random.default_rng(1).standard_normal((len(lengths), 3))
    expected_dx = np.zeros_like(x)
    for b, n in enumerate(lengths):
        expected_dx[b, :n] = d_output[b] / n
    assert_close(pool.backward(d_output), expected_dx, 1e-14)
    assert_close(pool(x), x.mean(axis=1), 1e-14)


@pytest.mark.parametrize("name", [n for n in heads() if n != "linear"])
def test_padding_changes_nothing(name):
    """Output, gradients and dx (zero at padded steps) are the same whatever padding holds."""
    results = []
    for garbage in (0.0, 1e6):
        model = heads()[name]()
        x, lengths = padded_batch(garbage=garbage)
        output = model(x, lengths=lengths)
        dx = model.backward(np.random.default_rng(1).standard_normal(output.shape))
        results.append([output, dx, *model.grad_dict().values()])
    pad = np.arange(x.shape[1])[None, :] >= lengths[:, None]
    assert not results[0][1][pad].any()
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# -- Sequential against PyTorch ------------------------------------------------------------
def test_gru_mean_pool_linear_matches_torch(torch):
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    model = rnnlab.Sequential(rnnlab.GRU(3, 4, num_layers=2, bidirectional=True, dtype=F64,
                                         seed=0),
                              rnnlab.MeanPool(dtype=F64), rnnlab.Linear(8, 2, dtype=F64, seed=1))
    gru = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True,
                       dtype=torch.float64)
    head = torch.nn.Linear(8, 2, dtype=torch.float64)
    twin = torch.nn.ModuleList([gru, torch.nn.Identity(), head])  # names "0.*", "2.*"
    twin.load_state_dict(torch_state(torch, model))

    x, lengths = padded_batch(garbage=10.0)
    r = np.random.default_rng(1).standard_normal((len(lengths), 2))  # dL/dy
    xt = torch.tensor(x, requires_grad=True)
    packed = pack_padded_sequence(xt, torch.from_numpy(lengths), batch_first=True,
                                  enforce_sorted=False)
    out, _ = pad_packed_sequence(gru(packed)[0], batch_first=True, total_length=x.shape[1])
    mask = torch.from_numpy(np.arange(x.shape[1])[None, :, None] < lengths[:, None, None])
    pooled = (out * mask).sum(dim=1) / torch.from_numpy(lengths[:, None].astype(np.float64))
    yt = head(pooled)
    (yt * torch.from_numpy(r)).sum().backward()

    assert_close(model(x, lengths=lengths), yt, 1e-10)
    assert_close(model.backward(r), xt.grad, 1e-10)
    assert_grads_match_torch(model, twin, 1e-10)


def test_nested_sequential_equals_flat():
    """A Sequential inside a Sequential still gets the lengths."""
    def layers():
        return (rnnlab.GRU(3, 4, dtype=F64, seed=0), rnnlab.MeanPool(dtype=F64),
                rnnlab.Linear(4, 2, dtype=F64, seed=1))

    gru, pool, linear = layers()
    nested = rnnlab.Sequential(rnnlab.Sequential(gru, pool), linear)
    flat = rnnlab.Sequential(*layers())
    x, lengths = padded_batch(garbage=10.0)
    np.testing.assert_array_equal(nested(x, lengths=lengths), flat(x, lengths=lengths))


def test_sequential_names_are_prefixed_with_the_position(torch):
    model = rnnlab.Sequential(rnnlab.LSTM(3, 5, bidirectional=True, dtype=F64, seed=0),
                              rnnlab.LastStep(dtype=F64), rnnlab.Linear(10, 2, dtype=F64))
    twin = torch.nn.ModuleList([torch.nn.LSTM(3, 5, bidirectional=True), torch.nn.Identity(),
                                torch.nn.Linear(10, 2)])
    names = list(model.state_dict())
    assert names[0] == "0.weight_ih_l0" and names[-2:] == ["2.weight", "2.bias"]
    assert "0.bias_hh_l0_reverse" in names
    assert names == list(twin.state_dict()) == list(model.grad_dict())


def test_sequential_state_dict_moves_to_and_from_torch_sequential(torch):
    def model(seed):
        return rnnlab.Sequential(rnnlab.Linear(3, 5, dtype=F64, seed=seed),
                                 rnnlab.Linear(5, 2, dtype=F64, seed=seed + 1))

    torch.manual_seed(0)
    twin = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Linear(5, 2)).double()
    x = np.random.default_rng(2).standard_normal((4, 6, 3))

    ours = model(seed=0)
    twin.load_state_dict(torch_state(torch, ours))  # rnnlab -> torch
    assert_close(ours(x), twin(torch.from_numpy(x)), 1e-12)

    torch.manual_seed(1)
    twin = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Linear(5, 2)).double()
    ours = model(seed=10)
    ours.load_state_dict({k: v.numpy() for k, v in twin.state_dict().items()})  # torch -> rnnlab
    assert_close(ours(x), twin(torch.from_numpy(x)), 1e-12)


# -- parameter counts ----------------------------------------------------------------------
COUNT_CASES = {
    "linear": (lambda: rnnlab.Linear(5, 3), lambda nn: nn.Linear(5, 3)),
    "linear-no-bias": (lambda: rnnlab.Linear(5, 3, bias=False),
                       lambda nn: nn.Linear(5, 3, bias=False)),
    "last-step": (lambda: rnnlab.LastStep(), lambda nn: nn.Identity()),
    "mean-pool": (lambda: rnnlab.MeanPool(), lambda nn: nn.Identity()),
    "lstm-last-linear": (
        lambda: rnnlab.Sequential(rnnlab.LSTM(3, 5, num_layers=2, bidirectional=True),
                                  rnnlab.LastStep(), rnnlab.Linear(10, 2)),
        lambda nn: nn.ModuleList([nn.LSTM(3, 5, num_layers=2, bidirectional=True),
                                  nn.Identity(), nn.Linear(10, 2)])),
    "gru-mean-linear-no-bias": (
        lambda: rnnlab.Sequential(rnnlab.GRU(3, 4, bias=False), rnnlab.MeanPool(),
                                  rnnlab.Linear(4, 2, bias=False)),
        lambda nn: nn.ModuleList([nn.GRU(3, 4, bias=False), nn.Identity(),
                                  nn.Linear(4, 2, bias=False)])),
}


@pytest.mark.parametrize("name", list(COUNT_CASES))
def test_num_parameters_matches_torch(torch, name):
    ours, theirs = COUNT_CASES[name]
    assert ours().num_parameters() == sum(p.numel() for p in theirs(torch.nn).parameters())


# -- many-to-many: a per-step head and a masked loss ---------------------------------------
def test_many_to_many_with_masked_loss_matches_finite_differences():
    """LSTM -> Linear at every step, MSE over the valid steps only: the whole chain's
    gradient (loss, head, BPTT) equals central differences of the loss."""
    model = rnnlab.Sequential(rnnlab.LSTM(3, 4, num_layers=2, dtype=F64, seed=11),
                              rnnlab.Linear(4, 2, dtype=F64, seed=12))
    x, _ = padded_batch(seed=13, garbage=100.0)
    target = np.random.default_rng(14).standard_normal(x.shape[:2] + (2,))
    mask = np.arange(x.shape[1])[None, :] < LENGTHS[:, None]

    def loss():
        return rnnlab.mse_loss(model(x, lengths=LENGTHS), target, mask=mask)[0]

    model.zero_grad()
    _, d_pred = rnnlab.mse_loss(model(x, lengths=LENGTHS), target, mask=mask)
    dx = model.backward(d_pred)
    analytic = dict(model.grad_dict(), x=dx)
    for name, array in dict(model.parameters(), x=x).items():
        numerical = numerical_gradient(loss, array)
        assert rel_err(analytic[name], numerical) <= 1e-6, name
    assert np.all(dx[~mask] == 0)  # padded steps receive no gradient
