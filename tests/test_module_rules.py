"""One forward, one backward: a module used twice, or weights changed between forward and
backward, raise instead of giving a wrong gradient (rnnlab.layers.module)."""

import copy
import pickle

import numpy as np
import pytest

from rnnlab import GRU, LSTM, RNN, LastStep, Linear, Sequential
from rnnlab.optim import SGD, Adam


def lstm_model(seed=0):
    return Sequential(LSTM(2, 3, dtype="float64", seed=seed), LastStep(),
                      Linear(3, 2, dtype="float64", seed=seed))


def test_a_module_held_twice_is_refused_at_construction():
    lin = Linear(4, 4)
    with pytest.raises(ValueError, match="already held here as 0"):
        Sequential(lin, lin)
    inner = Sequential(Linear(4, 4), lin)
    with pytest.raises(ValueError, match=r"already held here as 1\.1"):
        Sequential(Linear(4, 4), inner, lin)
    with pytest.raises(ValueError, match="already held"):
        Sequential(inner, inner)


def test_shared_parameter_arrays_are_refused():
    a, b = Linear(3, 3), Linear(3, 3)
    b._params["weight"] = a._params["weight"]  # tied by hand: updated twice per step
    with pytest.raises(ValueError, match="shares its parameter 'weight' with '0.weight'"):
        Sequential(a, b)


def test_the_same_module_in_two_models_is_allowed():
    encoder = LSTM(2, 3)
    first, second = Sequential(encoder, LastStep()), Sequential(encoder, LastStep())
    assert first.parameters()["0.weight_hh_l0"] is second.parameters()["0.weight_hh_l0"]


@pytest.mark.parametrize("layer", [RNN(2, 3, dtype="float64"), LSTM(2, 3, dtype="float64"),
                                   GRU(2, 3, dtype="float64", checkpoint_every=2),
                                   Linear(2, 3, dtype="float64"), LastStep()])
def test_a_second_backward_after_one_forward_raises(layer):
    x = np.random.default_rng(0).standard_normal((4, 5, 2))
    out = layer.forward(x)
    out = out[0] if isinstance(out, tuple) else out
    layer.backward(np.ones_like(out))
    with pytest.raises(RuntimeError, match="backward called twice after one forward"):
        layer.backward(np.ones_like(out))
    layer.forward(x)  # a new forward: its backward runs
    layer.backward(np.ones_like(out))


def test_a_siamese_pass_written_by_hand_raises_rather_than_mixing_caches():
    """h1 = enc(x1), h2 = enc(x2): the second forward replaced the first's cache, so the
    backward for x1 would have used x2's values. It raises instead."""
    enc = LSTM(2, 3, dtype="float64", seed=1)
    rng = np.random.default_rng(1)
    x1, x2 = rng.standard_normal((2, 4, 5, 2))
    h1, _ = enc.forward(x1)
    h2, _ = enc.forward(x2)
    enc.backward(np.ones_like(h2))
    with pytest.raises(RuntimeError, match="siamese"):
        enc.backward(np.ones_like(h1))


def test_a_bad_d_output_does_not_use_up_the_backward():
    layer = LSTM(2, 3, dtype="float64")
    out, _ = layer.forward(np.zeros((2, 4, 2)))
    with pytest.raises(ValueError, match="d_output"):
        layer.backward(np.ones((2, 4, 5)))
    layer.backward(np.ones_like(out))  # the corrected call runs


@pytest.mark.parametrize("change", ["optimizer", "adam", "load_state_dict", "mark_changed"])
def test_weights_changed_between_forward_and_backward_raise(change):
    model = lstm_model()
    x = np.random.default_rng(2).standard_normal((4, 6, 2))
    logits = model.forward(x)
    model.backward(np.ones_like(logits))
    logits = model.forward(x)
    if change == "optimizer":
        SGD(model, lr=0.1).step()
    elif change == "adam":  # an optimizer built on plain arrays finds their modules
        Adam((model.parameters(), model.gradients()), lr=0.1).step()
    elif change == "load_state_dict":
        model.load_state_dict(lstm_model(seed=5).state_dict())
    else:
        model.parameters()["0.weight_hh_l0"][0, 0] += 1.0
        model.mark_changed()
    with pytest.raises(RuntimeError, match="changed between forward and backward"):
        model.backward(np.ones_like(logits))
    logits = model.forward(x)  # a forward with the new weights: its backward runs
    model.backward(np.ones_like(logits))


def test_checkpointed_backward_refuses_changed_weights():
    """A checkpointed backward recomputes each segment with the weights it finds: it must not
    find new ones."""
    layer = RNN(2, 3, dtype="float64", checkpoint_every=2, seed=3)
    out, _ = layer.forward(np.ones((2, 6, 2)))
    layer.load_state_dict(RNN(2, 3, dtype="float64", seed=4).state_dict())
    with pytest.raises(RuntimeError, match="changed between forward and backward"):
        layer.backward(np.ones_like(out))


def test_gates_stay_readable_after_backward():
    layer = LSTM(2, 3, dtype="float64")
    out, _ = layer.forward(np.ones((2, 4, 2)))
    before = layer.gates()["f"].copy()
    layer.backward(np.ones_like(out))
    np.testing.assert_array_equal(layer.gates()["f"], before)


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))])
def test_copies_keep_the_rules(clone):
    model = clone(lstm_model())
    x = np.ones((2, 3, 2))
    logits = model.forward(x)
    SGD(model, lr=0.1).step()  # the copy's arrays are registered to the copy's modules
    with pytest.raises(RuntimeError, match="changed between forward and backward"):
        model.backward(np.ones_like(logits))
