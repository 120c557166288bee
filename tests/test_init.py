"""Weight initializers, through the ``init=`` / ``init_hh=`` options of the layers.

Recurrent layers initialize each gate block (H, fan_in) on its own, so every statistical check
here is made per block. The checks use large layers and fixed seeds, with tolerances of
several standard errors: they pass deterministically and still catch a wrong fan or scale.
"""

import math

import numpy as np
import pytest

import rnnlab
from rnnlab import init as initializers

LAYERS = {"rnn": rnnlab.RNN, "lstm": rnnlab.LSTM, "gru": rnnlab.GRU, "linear": rnnlab.Linear}
RANDOM_INITS = [name for name in initializers.NAMES if name != "identity"]


def make(kind, inputs, outputs, dtype="float64", seed=0, **kwargs):
    """A layer of ``kind`` ("rnn", "lstm", "gru" or "linear") from ``inputs`` to ``outputs``."""
    return LAYERS[kind](inputs, outputs, dtype=dtype, seed=seed, **kwargs)


def weight_blocks(layer):
    """Every gate block of every weight, ``[(name, block)]``; a Linear weight is one block."""
    out = []
    for name, value in layer.parameters().items():
        if not name.startswith("weight"):
            continue
        rows = getattr(layer, "hidden_size", len(value))  # H, or a Linear's O
        blocks = np.split(value, len(value) // rows)
        out += [(f"{name}[{k}]", block) for k, block in enumerate(blocks)]
    return out


def biases(layer):
    """Every bias, ``[(name, array)]``."""
    return [(k, v) for k, v in layer.parameters().items() if k.startswith("bias")]


def assert_uniform(values, bound, label, tol=0.05):
    """``values`` look like U(-bound, bound): inside it, near its edge, with its spread.

    ``tol`` is the relative tolerance on the std bound / sqrt(3); loosen it for few values.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    assert np.abs(values).max() <= bound, label
    assert np.abs(values).max() >= (1.0 - tol) * bound, label
    assert abs(values.std() / (bound / math.sqrt(3.0)) - 1.0) <= tol, label
    assert abs(values.mean()) <= 2.0 * tol * bound, label


def assert_normal(values, std, label):
    """``values`` look like N(0, std^2): its spread, and the 4.55% of a normal beyond 2 std."""
    values = np.asarray(values, dtype=np.float64).ravel()
    assert abs(values.std() / std - 1.0) <= 0.03, label
    assert abs(values.mean()) <= 0.04 * std, label
    assert 0.037 <= np.mean(np.abs(values) > 2.0 * std) <= 0.055, label  # uniform: 0
    assert np.abs(values).max() >= 3.3 * std, label  # uniform: at most sqrt(3) std


# -- default: PyTorch's U(-1/sqrt(H), 1/sqrt(H)) -----------------------------------------------
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_recurrent_default_is_uniform_in_one_over_sqrt_h(kind):
    hidden = 128
    layer = make(kind, 40, hidden, num_layers=2, bidirectional=True)
    bound = 1.0 / math.sqrt(hidden)
    params = layer.parameters()
    assert len(params) == 16
    for name, value in params.items():
        assert_uniform(value, bound, name, tol=0.05 if name.startswith("weight") else 0.15)
    assert_uniform(np.concatenate([v.ravel() for v in params.values()]), bound, "all")


def test_linear_default_is_uniform_in_one_over_sqrt_in_features():
    layer = make("linear", 300, 200)
    bound = 1.0 / math.sqrt(300)
    assert_uniform(layer.parameters()["weight"], bound, "weight")
    assert_uniform(layer.parameters()["bias"], bound, "bias", tol=0.15)


# -- xavier and kaiming, per gate block --------------------------------------------------------
SCALES = {
    # name: (distribution, its bound or std from (fan_out, fan_in))
    "xavier_uniform": ("uniform", lambda fan_out, fan_in: math.sqrt(6.0 / (fan_in + fan_out))),
    "xavier_normal": ("normal", lambda fan_out, fan_in: math.sqrt(2.0 / (fan_in + fan_out))),
    "kaiming_uniform": ("uniform", lambda fan_out, fan_in: math.sqrt(6.0 / fan_in)),
    "kaiming_normal": ("normal", lambda fan_out, fan_in: math.sqrt(2.0 / fan_in)),
}


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("name", list(SCALES))
def test_xavier_and_kaiming_scale_each_gate_block(kind, name):
    """I = 300, H = 120: per-block fans give other scales than the whole (G*H, I) weight."""
    layer = make(kind, 300, 120, init=name)
    distribution, scale = SCALES[name]
    blocks = weight_blocks(layer)
    assert len(blocks) == {"rnn": 2, "lstm": 8, "gru": 6, "linear": 1}[kind]
    for label, block in blocks:
        expected = scale(*block.shape)
        if distribution == "uniform":
            assert_uniform(block, expected, label)
        else:
            assert_normal(block, expected, label)
    for label, bias in biases(layer):
        assert not bias.any(), label


# -- orthogonal and identity -------------------------------------------------------------------
def assert_orthonormal(block, label, tol=1e-10):
    """Orthonormal rows (W W^T = I) or columns (W^T W = I), whichever are fewer."""
    rows, cols = block.shape
    gram = block @ block.T if rows <= cols else block.T @ block
    assert np.abs(gram - np.eye(min(rows, cols))).max() <= tol, label


@pytest.mark.parametrize("inputs", [5, 8, 13])
@pytest.mark.parametrize("kind", list(LAYERS))
def test_orthogonal_blocks_are_orthonormal(kind, inputs):
    layer = make(kind, inputs, 8, init="orthogonal")
    for label, block in weight_blocks(layer):
        assert_orthonormal(block, label)
    blocks = [block for _, block in weight_blocks(layer)]
    for a, b in zip(blocks, blocks[1:]):
        assert a.shape != b.shape or not np.allclose(a, b)  # each gate block its own draw
    for label, bias in biases(layer):
        assert not bias.any(), label


def test_orthogonal_in_float32_and_as_init_hh_only():
    layer = make("lstm", 6, 16, dtype="float32", init="xavier_uniform", init_hh="orthogonal")
    params = layer.parameters()
    assert params["weight_hh_l0"].dtype == np.float32
    for label, block in weight_blocks(layer):
        if "hh" in label:
            assert_orthonormal(block, label, tol=1e-5)
        else:
            assert 0 < np.abs(block).max() <= math.sqrt(6.0 / (6 + 16)), label


def test_orthogonal_is_haar_not_a_raw_qr():
    """Folding the signs of R's diagonal into Q centres Q's diagonal; a raw QR biases it."""
    layer = make("lstm", 64, 64, num_layers=4, init="orthogonal")
    diagonals = np.concatenate([np.diag(block) for _, block in weight_blocks(layer)])  # 2048
    assert abs(diagonals.mean()) <= 0.015  # standard error 1/8 / sqrt(2048) = 0.003
    assert abs(diagonals.std() * 8.0 - 1.0) <= 0.1  # a Haar diagonal entry has variance 1/n


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_identity_gives_identity_gate_blocks(kind):
    layer = make(kind, 7, 7, num_layers=2, init="identity")
    for label, block in weight_blocks(layer):
        np.testing.assert_array_equal(block, np.eye(7), err_msg=label)
    for label, bias in biases(layer):
        assert not bias.any(), label


def test_identity_as_init_hh_only():
    layer = make("rnn", 5, 9, nonlinearity="relu", init_hh="identity")  # an IRNN
    np.testing.assert_array_equal(layer.parameters()["weight_hh_l0"], np.eye(9))
    assert 0 < np.abs(layer.parameters()["weight_ih_l0"]).max() <= 1.0 / 3.0  # default, H = 9
    for label, bias in biases(layer):
        assert not bias.any(), label
    linear = make("linear", 6, 6, init="identity")
    np.testing.assert_array_equal(linear.parameters()["weight"], np.eye(6))
    assert not linear.parameters()["bias"].any()


@pytest.mark.parametrize("kind, kwargs", [
    ("rnn", dict(init="identity")),
    ("lstm", dict(init="identity", init_hh="orthogonal")),
    ("gru", dict(init="identity", init_hh="identity")),
    ("linear", dict(init="identity")),
])
def test_identity_on_a_non_square_weight_raises(kind, kwargs):
    with pytest.raises(ValueError, match="identity"):
        make(kind, 5, 8, **kwargs)


# -- biases, seeds, names ----------------------------------------------------------------------
@pytest.mark.parametrize("init, init_hh", [
    ("xavier_uniform", None), ("kaiming_normal", None), ("orthogonal", None),
    ("default", "orthogonal"), ("xavier_normal", "default"),
])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_non_default_init_gives_zero_biases(kind, init, init_hh):
    layer = make(kind, 6, 10, num_layers=2, bidirectional=True, init=init, init_hh=init_hh)
    assert len(biases(layer)) == 8
    for label, bias in biases(layer):
        assert not bias.any(), label
    for label, block in weight_blocks(layer):
        assert np.abs(block).min() > 0, label  # every weight drawn, none left at zero


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("init", RANDOM_INITS)
@pytest.mark.parametrize("kind", list(LAYERS))
def test_seed_fixes_the_weights(kind, init, dtype):
    def state(seed):
        return make(kind, 6, 5, dtype=dtype, seed=seed, init=init).state_dict()

    same, again, other = state(3), state(3), state(4)
    from_generator = state(np.random.default_rng(3))
    for name, value in same.items():
        assert value.dtype == np.dtype(dtype), name
        np.testing.assert_array_equal(value, again[name], err_msg=name)
        np.testing.assert_array_equal(value, from_generator[name], err_msg=name)
        if value.any():
            assert not np.array_equal(value, other[name]), name


def test_a_shared_generator_advances():
    rng = np.random.default_rng(0)
    first, second = make("gru", 4, 6, seed=rng), make("gru", 4, 6, seed=rng)
    for name, value in first.parameters().items():
        assert not np.array_equal(value, second.parameters()[name]), name


@pytest.mark.parametrize("kind, kwargs, argument", [
    ("rnn", dict(init="glorot"), "init"),
    ("lstm", dict(init="Orthogonal"), "init"),
    ("gru", dict(init_hh="eye"), "init_hh"),
    ("lstm", dict(init="orthogonal", init_hh="he"), "init_hh"),
    ("rnn", dict(init=None), "init"),
    ("linear", dict(init="xavier"), "init"),
])
def test_unknown_init_raises_naming_the_argument(kind, kwargs, argument):
    with pytest.raises(ValueError, match=rf"^{argument} "):
        make(kind, 4, 4, **kwargs)
