"""Parameters follow PyTorch: names, order, shapes, gate order and counts."""

import numpy as np
import pytest

import rnnlab
from helpers import make_layer

CONFIGS = [(1, False, True), (2, True, True), (3, False, False), (2, True, False)]


def torch_layer(torch, cell, num_layers, bidirectional, bias):
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    return cls(5, 7, num_layers=num_layers, bias=bias, bidirectional=bidirectional)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers,bidirectional,bias", CONFIGS)
def test_names_order_shapes_and_counts_match_torch(torch, cell, num_layers, bidirectional, bias):
    ours = make_layer(cell, 5, 7, num_layers, bidirectional, bias)
    theirs = torch_layer(torch, cell, num_layers, bidirectional, bias)
    expected = [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == expected
    assert list(ours.grad_dict()) == [k for k, _ in expected]
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())


@pytest.mark.parametrize("bias", [True, False])
def test_lstm_has_four_times_and_gru_three_times_the_parameters_of_a_vanilla_rnn(bias):
    """The seeds' "LSTM has 4x the parameters": exact, for every size and depth."""
    for sizes in [(1, 1, 1), (12, 64, 1), (32, 128, 3)]:
        n_rnn = rnnlab.RNN(*sizes, bias=bias).num_parameters()
        assert rnnlab.LSTM(*sizes, bias=bias).num_parameters() == 4 * n_rnn
        assert rnnlab.GRU(*sizes, bias=bias).num_parameters() == 3 * n_rnn


def test_vanilla_rnn_parameter_count_formula():
    # H (I + H) weights and 2 H biases per direction and layer; layer 2 reads D*H features.
    layer = rnnlab.RNN(10, 20, num_layers=2, bidirectional=True)
    per_layer0 = 20 * (10 + 20) + 2 * 20
    per_layer1 = 20 * (40 + 20) + 2 * 20
    assert layer.num_parameters() == 2 * (per_layer0 + per_layer1)


def test_gate_order_is_torchs():
    """Setting one gate block of the bias moves exactly the gate torch says it should."""
    from rnnlab.cells import gru, lstm

    assert lstm.GATES == ("i", "f", "g", "o") and gru.GATES == ("r", "z", "n")
    layer = make_layer("lstm", 1, 2, seed=0)
    for w in layer.parameters().values():
        w[...] = 0.0
    layer.parameters()["bias_ih_l0"][2:4] = -50.0  # forget gate block f: shut
    layer.parameters()["bias_ih_l0"][4:6] = 1.0  # candidate block g
    layer.parameters()["bias_ih_l0"][0:2] = 50.0  # input gate i: open
    layer.parameters()["bias_ih_l0"][6:8] = 50.0  # output gate o: open
    x = np.zeros((1, 1, 1))
    _, (h, c) = layer.forward(x, state=(np.zeros((1, 1, 2)), np.full((1, 1, 2), 7.0)))
    assert np.allclose(c, np.tanh(1.0))  # c = f*7 + i*g with f = 0, i = 1, g = tanh(1)
    assert np.allclose(h, np.tanh(np.tanh(1.0)))


def test_default_dtype_is_float32_and_float64_is_kept():
    assert rnnlab.LSTM(3, 4).parameters()["weight_ih_l0"].dtype == np.float32
    layer = rnnlab.GRU(3, 4, dtype=np.float64)
    assert all(p.dtype == np.float64 for p in layer.parameters().values())
    out, h = layer.forward(np.zeros((2, 3, 3), dtype=np.float32))
    assert out.dtype == h.dtype == np.float64


def test_state_dict_is_a_copy_and_parameters_are_live():
    layer = make_layer("rnn")
    snapshot = layer.state_dict()
    snapshot["weight_hh_l0"][...] = 0.0
    assert not np.all(layer.parameters()["weight_hh_l0"] == 0.0)
    layer.parameters()["weight_hh_l0"][...] = 0.0
    assert np.all(layer.state_dict()["weight_hh_l0"] == 0.0)


def test_load_state_dict_round_trip_gives_identical_outputs():
    a, b = make_layer("gru", 3, 4, 2, True, seed=1), make_layer("gru", 3, 4, 2, True, seed=2)
    x = np.random.default_rng(3).standard_normal((2, 5, 3))
    assert not np.allclose(a.forward(x)[0], b.forward(x)[0])
    b.load_state_dict(a.state_dict())
    assert np.array_equal(a.forward(x)[0], b.forward(x)[0])


def test_same_seed_same_weights():
    one, two = rnnlab.LSTM(3, 4, seed=5).state_dict(), rnnlab.LSTM(3, 4, seed=5).state_dict()
    other = rnnlab.LSTM(3, 4, seed=6).state_dict()
    assert all(np.array_equal(one[k], two[k]) for k in one)
    assert not np.array_equal(one["weight_hh_l0"], other["weight_hh_l0"])


def test_repr_names_the_configuration():
    assert repr(rnnlab.RNN(3, 4, 2, "relu", bidirectional=True)) == (
        "RNN(3, 4, num_layers=2, nonlinearity='relu', bias=True, bidirectional=True, "
        "dtype=float32)")


def test_lstm_forget_bias_opens_only_the_forget_gate():
    base = rnnlab.LSTM(3, 4, num_layers=2, bidirectional=True, seed=0)
    opened = rnnlab.LSTM(3, 4, num_layers=2, bidirectional=True, seed=0, forget_bias=1.0)
    for name, value in opened.state_dict().items():
        diff = value - base.state_dict()[name]
        if name.startswith("bias_ih"):
            np.testing.assert_array_equal(diff, np.repeat([0.0, 1.0, 0.0, 0.0], 4))
        else:
            assert not diff.any()
    with pytest.raises(TypeError, match="forget_bias"):
        rnnlab.LSTM(3, 4, forget_bias="1")
    with pytest.raises(ValueError, match="forget_bias"):
        rnnlab.LSTM(3, 4, bias=False, forget_bias=1.0)
