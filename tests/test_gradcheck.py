"""Tier 1: every hand-written backward against central finite differences, in float64.

Every parameter, the input x and the initial state of every layer and direction are checked
element by element: max relative error <= 1e-6.
"""

import pytest

from helpers import make_layer, random_case
from rnnlab.gradcheck import check_gradients

KINDS = [("rnn", "tanh"), ("rnn", "relu"), ("rnn", "sigmoid"), ("lstm", "tanh"), ("gru", "tanh")]
# (num_layers, bidirectional, bias, variable lengths)
SHAPES = [(1, False, True, False), (1, False, False, True), (2, False, True, True),
          (1, True, False, True), (2, True, True, True)]


def assert_gradients_match(layer, x, lengths, state, tol=1e-6):
    checks = check_gradients(layer, x, lengths, state)
    names = {c.name for c in checks}
    assert set(layer.parameters()) <= names and "x" in names
    assert any(n.startswith("state") for n in names)
    worst = max(checks, key=lambda c: c.relative_error)
    assert worst.relative_error <= tol, worst


@pytest.mark.parametrize("cell,nonlinearity", KINDS)
@pytest.mark.parametrize("num_layers,bidirectional,bias,variable", SHAPES)
def test_backward_matches_finite_differences(cell, nonlinearity, num_layers, bidirectional,
                                             bias, variable):
    layer = make_layer(cell, 3, 3, num_layers, bidirectional, bias, nonlinearity, seed=2)
    x, lengths, state = random_case(layer, batch=3, steps=4, variable=variable, seed=3)
    assert_gradients_match(layer, x, lengths, state)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_longer_sequence_with_larger_weights(cell):
    # Larger weights push units toward saturation and make the gradient paths long.
    layer = make_layer(cell, 2, 3, seed=4)
    for w in layer.parameters().values():
        w *= 3.0
    x, lengths, state = random_case(layer, batch=2, steps=12, seed=5)
    assert_gradients_match(layer, x, lengths, state)


def test_checker_catches_a_wrong_gradient(monkeypatch):
    """The check can fail: a backward that drops a term is caught."""
    from rnnlab.cells import lstm

    real_backward = lstm.backward

    def wrong_backward(*args, **kwargs):
        grads = real_backward(*args, **kwargs)
        return grads._replace(dweight_hh=grads.dweight_hh * 0.99)

    monkeypatch.setattr(lstm, "backward", wrong_backward)
    layer = make_layer("lstm", seed=6)
    x, lengths, state = random_case(layer, seed=7)
    checks = {c.name: c for c in check_gradients(layer, x, lengths, state)}
    assert checks["weight_hh_l0"].relative_error > 1e-3
    assert checks["weight_ih_l0"].relative_error < 1e-6


def test_checker_refuses_float32():
    layer = make_layer("gru", dtype="float32")
    x, lengths, state = random_case(layer)
    with pytest.raises(ValueError, match="float64"):
        check_gradients(layer, x, lengths, state)
