"""Single-step inference: ``step`` on the recurrent layers and ``Sequential`` equals the
whole-sequence forward step by step, keeps nothing for a backward, and follows the weights."""

import pickle

import numpy as np
import pytest

import rnnlab
from rnnlab.optim import Adam
from helpers import rel_err

CLASSES = {"rnn": rnnlab.RNN, "lstm": rnnlab.LSTM, "gru": rnnlab.GRU}


def stepped(model, x, state=None):
    """Step through x (B, T, ...) one step at a time: (outputs (B, T, ...), final state)."""
    outputs = []
    for t in range(x.shape[1]):
        y, state = model.step(x[:, t], state)
        outputs.append(y)
    return np.stack(outputs, axis=1), state


def parts(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("norm", [None, "layer"])
@pytest.mark.parametrize("layers", [1, 3])
def test_step_by_step_equals_the_whole_sequence(cell, norm, layers):
    rng = np.random.default_rng(layers)
    layer = CLASSES[cell](3, 5, layers, dtype="float64", seed=0, norm=norm, dropout=0.3,
                          recurrent_dropout=0.2).eval()
    x = rng.standard_normal((4, 9, 3))
    state = tuple(rng.standard_normal((layers, 4, 5)) for _ in layer.state_names)
    state = state if len(state) > 1 else state[0]
    y, final = layer.forward(x, state=state)
    ys, final_steps = stepped(layer, x, state)
    assert rel_err(ys, y) <= 1e-12
    for a, b in zip(parts(final_steps), parts(final)):
        assert rel_err(a, b) <= 1e-12
    # from zeros, and in float32
    layer32 = CLASSES[cell](3, 5, layers, seed=0, norm=norm)
    y32, _ = layer32.forward(x.astype(np.float32))
    assert np.abs(stepped(layer32, x.astype(np.float32))[0] - y32).max() <= 1e-5


def test_step_keeps_nothing_for_backward_and_leaves_a_pending_one_alone():
    rng = np.random.default_rng(1)
    x, dy = rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 6, 4))
    layer = rnnlab.LSTM(3, 4, 2, dtype="float64", seed=0)
    with pytest.raises(RuntimeError):
        layer.step(x[:, 0])
        layer.backward(dy)  # no forward ran: nothing to backpropagate
    layer.forward(x)
    stepped(layer, x)  # steps between a forward and its backward
    dx, _ = layer.backward(dy)
    twin = rnnlab.LSTM(3, 4, 2, dtype="float64", seed=0)
    twin.forward(x)
    np.testing.assert_array_equal(dx, twin.backward(dy)[0])
    np.testing.assert_array_equal(layer.grad_dict()["weight_hh_l1"],
                                  twin.grad_dict()["weight_hh_l1"])


def test_step_follows_the_weights_as_they_change():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5, 2))
    layer = rnnlab.GRU(2, 6, seed=0, dtype="float64")
    stepped(layer, x)  # the packed W_hh is kept from here on ...
    layer.forward(x)
    layer.backward(np.ones((3, 5, 6)))
    Adam(layer, lr=0.1).step()  # ... until the weights change
    np.testing.assert_allclose(stepped(layer, x)[0], layer.forward(x)[0], rtol=0, atol=1e-12)
    other = rnnlab.GRU(2, 6, seed=9, dtype="float64")
    layer.load_state_dict(other.state_dict())
    np.testing.assert_allclose(stepped(layer, x)[0], other.forward(x)[0], rtol=0, atol=1e-12)
    clone = pickle.loads(pickle.dumps(layer))  # the kept products are not pickled
    assert clone._step_state is None
    np.testing.assert_allclose(stepped(clone, x)[0], other.forward(x)[0], rtol=0, atol=1e-12)


def test_sequential_steps_a_character_model():
    rng = np.random.default_rng(3)
    model = rnnlab.Sequential(rnnlab.Embedding(7, 4, dtype="float64", seed=0),
                              rnnlab.LSTM(4, 8, 2, dtype="float64", seed=1, dropout=0.5),
                              rnnlab.Dropout(0.4, seed=2), rnnlab.LayerNorm(8, dtype="float64"),
                              rnnlab.Tanh(), rnnlab.Linear(8, 7, dtype="float64", seed=3))
    tokens = rng.integers(0, 7, size=(3, 10))
    state = [tuple(rng.standard_normal((2, 3, 8)) for _ in range(2))]
    logits, finals = model.eval().forward(tokens, state=state, return_state=True)
    model.train()  # a step runs as in evaluation mode, whatever the mode
    ys, final = stepped(model, tokens, state)
    assert model.training and model.modules[2].training
    assert rel_err(ys, logits) <= 1e-12
    for a, b in zip(final[0], finals[0]):
        assert rel_err(a, b) <= 1e-12


def test_what_cannot_step_says_so():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="one-directional"):
        rnnlab.LSTM(3, 4, bidirectional=True).step(x)
    with pytest.raises(TypeError, match="LastStep has no step"):
        rnnlab.Sequential(rnnlab.LSTM(3, 4), rnnlab.LastStep(), rnnlab.Linear(4, 2)).step(x)
    with pytest.raises(TypeError, match="HierarchicalRNN has no step"):
        rnnlab.HierarchicalRNN(3, 4, 2).step(x)
    with pytest.raises(ValueError, match="x must have shape"):
        rnnlab.GRU(3, 4).step(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="x"):
        rnnlab.GRU(3, 4).step(np.zeros((2, 1, 3)))
    with pytest.raises(ValueError, match="state"):
        rnnlab.GRU(3, 4).step(x, np.zeros((2, 2, 4)))
    with pytest.raises(TypeError, match="state"):
        rnnlab.Sequential(rnnlab.GRU(3, 4)).step(x, state=np.zeros((1, 2, 4)))
