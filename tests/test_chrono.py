"""Chrono initialization (Tallec & Ollivier 2018) of LSTM and GRU: ``chrono=T_max``.

For every layer and direction, u ~ U(1, T_max - 1) per hidden unit; LSTM: b_f = log(u),
b_i = -log(u); GRU: b_z = log(u). The value sits in ``bias_ih``'s gate block and the same
block of ``bias_hh`` is zero. The draws come after the weights, so everything else equals a
layer built with the same seed and no chrono.
"""

import numpy as np
import pytest

import rnnlab
from helpers import rel_err

CLASSES = {"lstm": rnnlab.LSTM, "gru": rnnlab.GRU}
GATES = {"lstm": "ifgo", "gru": "rzn"}
CHRONO_GATE = {"lstm": "f", "gru": "z"}  # the gate whose bias is log(u)
SLACK = 1e-12  # relative rounding allowed on exp(log(u)) in float64


def make(kind, input_size=3, hidden_size=6, **kwargs):
    kwargs.setdefault("dtype", "float64")
    kwargs.setdefault("seed", 0)
    return CLASSES[kind](input_size, hidden_size, **kwargs)


def block(layer, name, gate):
    """The gate block (H,) of the bias ``name``."""
    kind = "lstm" if isinstance(layer, rnnlab.LSTM) else "gru"
    k = GATES[kind].index(gate)
    h = layer.hidden_size
    return layer.parameters()[name][k * h:(k + 1) * h]


def suffixes(layer):
    """"_l{k}[_reverse]" of every layer and direction."""
    return [f"_l{k}" + ("_reverse" if d else "")
            for k in range(layer.num_layers) for d in range(layer.num_directions)]


def chrono_values(layer):
    """log(u) of every layer and direction, stacked: (L*D, H)."""
    kind = "lstm" if isinstance(layer, rnnlab.LSTM) else "gru"
    return np.stack([block(layer, f"bias_ih{s}", CHRONO_GATE[kind]) for s in suffixes(layer)])


def assert_within(log_u, t_max):
    """exp(log_u) lies in [1, T_max - 1], up to rounding."""
    u = np.exp(np.asarray(log_u, dtype=np.float64))
    assert u.min() >= 1.0 - SLACK
    assert u.max() <= (t_max - 1) * (1.0 + SLACK)


# -- where the values go ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_chrono_sets_the_gate_blocks_and_nothing_else(kind):
    t_max = 30
    chrono = make(kind, hidden_size=50, num_layers=2, bidirectional=True, seed=3, chrono=t_max)
    base = make(kind, hidden_size=50, num_layers=2, bidirectional=True, seed=3)
    assert chrono.chrono == t_max and base.chrono is None
    changed = {"lstm": "if", "gru": "z"}[kind]
    for s in suffixes(chrono):
        log_u = block(chrono, f"bias_ih{s}", CHRONO_GATE[kind])
        assert_within(log_u, t_max)
        assert np.ptp(log_u) > 0.5  # drawn per unit, not one value
        if kind == "lstm":
            np.testing.assert_array_equal(block(chrono, f"bias_ih{s}", "i"), -log_u)
        for gate in GATES[kind]:
            if gate in changed:
                assert not block(chrono, f"bias_hh{s}", gate).any(), (s, gate)
                assert not np.array_equal(block(chrono, f"bias_ih{s}", gate),
                                          block(base, f"bias_ih{s}", gate))
            else:  # untouched: the same draws as without chrono
                for b in ("bias_ih", "bias_hh"):
                    np.testing.assert_array_equal(block(chrono, f"{b}{s}", gate),
                                                  block(base, f"{b}{s}", gate))
    for name, value in base.parameters().items():
        if name.startswith("weight"):
            np.testing.assert_array_equal(chrono.parameters()[name], value)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_chrono_sum_of_the_biases_is_log_u(kind):
    layer = make(kind, hidden_size=20, num_layers=2, bidirectional=True, chrono=12)
    gate = CHRONO_GATE[kind]
    for s in suffixes(layer):
        total = block(layer, f"bias_ih{s}", gate) + block(layer, f"bias_hh{s}", gate)
        assert_within(total, 12)
        np.testing.assert_array_equal(total, block(layer, f"bias_ih{s}", gate))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_chrono_with_another_init_keeps_the_other_blocks_at_zero(kind):
    layer = make(kind, hidden_size=10, init="orthogonal", chrono=20)
    changed = {"lstm": "if", "gru": "z"}[kind]
    assert_within(block(layer, "bias_ih_l0", CHRONO_GATE[kind]), 20)
    assert block(layer, "bias_ih_l0", CHRONO_GATE[kind]).min() >= 0.0
    for gate in GATES[kind]:
        assert not block(layer, "bias_hh_l0", gate).any()
        if gate not in changed:
            assert not block(layer, "bias_ih_l0", gate).any()


def test_chrono_none_is_todays_initialization_bit_for_bit():
    for kind in CLASSES:
        one = make(kind, num_layers=2, bidirectional=True, seed=5).state_dict()
        two = make(kind, num_layers=2, bidirectional=True, seed=5, chrono=None).state_dict()
        assert all(np.array_equal(one[k], two[k]) for k in one)


# -- the distribution ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_chrono_u_is_uniform_between_1_and_t_max_minus_1(kind):
    # 4000 values of u: H = 1000 units from each of four seeded layers (a single layer with
    # H = 4000 would hold 64M weights, too heavy for a unit test; the draws are the same
    # i.i.d. U(1, T_max - 1) either way).
    t_max = 100
    u = np.exp(np.concatenate([chrono_values(make(kind, 1, 1000, seed=seed, chrono=t_max))
                               for seed in range(4)]).ravel())
    n, low, high = u.size, 1.0, t_max - 1.0
    assert n == 4000
    assert u.min() >= low - SLACK and u.max() <= high * (1.0 + SLACK)
    assert u.min() < low + 0.5 and u.max() > high - 0.5  # it reaches both ends
    # mean 50, std 98 / sqrt(12) = 28.3: the mean's standard error is 0.45
    assert abs(u.mean() - 50.0) <= 2.0
    assert abs(u.std() / (98.0 / np.sqrt(12.0)) - 1.0) <= 0.05
    # empirical CDF against the uniform one at a few quantiles, then everywhere (KS):
    # the CDF's standard error is at most 0.5 / sqrt(4000) = 0.008
    for q in (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95):
        assert abs(np.mean(u <= low + q * (high - low)) - q) <= 0.03, q
    ranks = np.arange(1, n + 1) / n
    cdf = (np.sort(u) - low) / (high - low)
    ks = max(np.max(ranks - cdf), np.max(cdf - (ranks - 1.0 / n)))
    assert ks <= 1.63 / np.sqrt(n)  # the KS test's 1% critical value
    # log(u) itself is not uniform: a uniform log would put half the u below sqrt(99) = 9.9
    assert np.mean(u <= np.sqrt(high)) < 0.15


# -- randomness ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_chrono_is_seeded(kind):
    config = dict(hidden_size=16, num_layers=2, bidirectional=True, chrono=50)
    one = chrono_values(make(kind, seed=7, **config))
    two = chrono_values(make(kind, seed=7, **config))
    other = chrono_values(make(kind, seed=8, **config))
    np.testing.assert_array_equal(one, two)
    assert not np.isclose(one, other).all(axis=1).any()
    generator = chrono_values(make(kind, seed=np.random.default_rng(7), **config))
    np.testing.assert_array_equal(one, generator)  # a seed or its Generator: the same draws


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_chrono_draws_differ_between_layers_and_directions(kind):
    values = chrono_values(make(kind, hidden_size=16, num_layers=2, bidirectional=True,
                                chrono=50))
    assert values.shape == (4, 16)
    for a in range(4):
        for b in range(a + 1, 4):
            assert not np.isclose(values[a], values[b]).any(), (a, b)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_chrono_2_gives_zero_biases(kind):
    layer = make(kind, num_layers=2, bidirectional=True, chrono=2)
    gates = {"lstm": "if", "gru": "z"}[kind]
    for s in suffixes(layer):
        for gate in gates:
            for b in ("bias_ih", "bias_hh"):
                assert not block(layer, f"{b}{s}", gate).any(), (s, gate, b)


def test_chrono_in_float32_and_numpy_ints():
    layer = rnnlab.LSTM(2, 8, chrono=np.int64(40), seed=0)
    assert layer.chrono == 40 and type(layer.chrono) is int
    log_u = block(layer, "bias_ih_l0", "f")
    assert log_u.dtype == np.float32
    assert np.exp(log_u.astype(np.float64)).min() >= 1.0 - 1e-6
    assert np.exp(log_u.astype(np.float64)).max() <= 39.0 * (1.0 + 1e-6)


def test_repr_names_chrono_when_set():
    assert repr(rnnlab.GRU(3, 4, chrono=25)) == (
        "GRU(3, 4, num_layers=1, bias=True, bidirectional=False, dtype=float32, chrono=25)")
    assert repr(rnnlab.LSTM(3, 4, chrono=25, checkpoint_every=5)).endswith(
        "dtype=float32, checkpoint_every=5, chrono=25)")
    assert "chrono" not in repr(rnnlab.LSTM(3, 4))
    assert "chrono" not in repr(rnnlab.GRU(3, 4))


# -- bad input -------------------------------------------------------------------------------
BAD = [
    (dict(chrono="100"), TypeError, ["chrono", ">= 2", "'100'"]),
    (dict(chrono=100.0), TypeError, ["chrono", ">= 2", "100.0"]),
    (dict(chrono=True), TypeError, ["chrono", ">= 2", "True"]),
    (dict(chrono=np.float64(10)), TypeError, ["chrono", ">= 2", "10"]),
    (dict(chrono=1), ValueError, ["chrono", ">= 2", "got 1"]),
    (dict(chrono=0), ValueError, ["chrono", ">= 2", "got 0"]),
    (dict(chrono=-5), ValueError, ["chrono", ">= 2", "got -5"]),
    (dict(chrono=10, bias=False), ValueError, ["chrono", "bias=True", "bias=False"]),
]


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("kwargs,error,words", BAD)
def test_bad_chrono_is_refused(kind, kwargs, error, words):
    with pytest.raises(error) as info:
        CLASSES[kind](3, 4, **kwargs)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_chrono_with_a_forget_bias_is_refused():
    with pytest.raises(ValueError) as info:
        rnnlab.LSTM(3, 4, chrono=10, forget_bias=1.0)
    for word in ("chrono", "forget_bias=0", "forget_bias=1.0"):
        assert word in str(info.value)
    assert rnnlab.LSTM(3, 4, chrono=10, forget_bias=0.0).chrono == 10


def test_chrono_is_not_a_keyword_of_rnn():
    with pytest.raises(TypeError, match="chrono"):
        rnnlab.RNN(3, 4, chrono=10)


# -- agreement with PyTorch ------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_torch_agrees_after_chrono(torch, kind):
    layer = make(kind, 5, 6, num_layers=2, bidirectional=True, seed=11, chrono=40)
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    twin = cls(5, 6, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    x = np.random.default_rng(12).standard_normal((4, 9, 5))
    out, state = layer.forward(x)
    with torch.no_grad():
        t_out, t_state = twin(torch.from_numpy(x))
    assert rel_err(out, t_out.numpy()) <= 1e-10
    ours = state if isinstance(state, tuple) else (state,)
    theirs = t_state if isinstance(t_state, tuple) else (t_state,)
    for a, b in zip(ours, theirs):
        assert rel_err(a, b.numpy()) <= 1e-10
    # the twin's gates see the chrono biases: at x = 0 and h_0 = 0 the pre-activation of the
    # chrono gate is exactly bias_ih + bias_hh = sign * log(u)
    gate = GATES[kind].index(CHRONO_GATE[kind])
    h = layer.hidden_size
    bias = (twin.bias_ih_l0 + twin.bias_hh_l0).detach().numpy()[gate * h:(gate + 1) * h]
    np.testing.assert_array_equal(bias, block(layer, "bias_ih_l0", CHRONO_GATE[kind]))
