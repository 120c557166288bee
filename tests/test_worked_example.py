"""The seeds' worked example, through the library's own layers, loss and backward.

One input, one tanh hidden unit, one linear output, no biases: W_x = 0.5, W_h = 0.8,
W_y = 0.3, x_1 = 1, y = 0.6, h_0 = 0, loss 1/2 (y - y_pred)^2, learning rate 0.1.
The seeds round; the exact values are computed here in closed form and checked to 1e-12.
"""

import math

import numpy as np
import pytest

import rnnlab

W_X, W_H, W_Y, X1, Y, LR = 0.5, 0.8, 0.3, 1.0, 0.6, 0.1


def build():
    rnn = rnnlab.RNN(1, 1, bias=False, dtype=np.float64)
    rnn.load_state_dict({"weight_ih_l0": [[W_X]], "weight_hh_l0": [[W_H]]})
    head = rnnlab.Linear(1, 1, bias=False, dtype=np.float64)
    head.load_state_dict({"weight": [[W_Y]]})
    return rnn, head


def step(rnn, head, xs, ys):
    """Forward, loss, BPTT; returns (hidden states, predictions, loss, {name: grad})."""
    out, _ = rnn.forward(np.reshape(xs, (1, -1, 1)), state=np.zeros((1, 1, 1)))
    y_pred = head.forward(out)
    loss, d_pred = rnnlab.mse_loss(y_pred, np.reshape(ys, (1, -1, 1)), reduction="sum", half=True)
    d_out = head.backward(d_pred)
    rnn.backward(d_out)
    grads = {"W_x": rnn.grad_dict()["weight_ih_l0"].item(),
             "W_h": rnn.grad_dict()["weight_hh_l0"].item(),
             "W_y": head.grad_dict()["weight"].item()}
    return out.ravel(), y_pred.ravel(), loss, grads


def test_seeds_worked_example_exactly():
    rnn, head = build()
    h, y_pred, loss, grads = step(rnn, head, [X1], [Y])

    h1 = math.tanh(W_X * X1 + W_H * 0.0)
    pred = W_Y * h1
    d_pred = pred - Y
    exact = {"W_y": d_pred * h1, "W_h": d_pred * W_Y * (1 - h1 ** 2) * 0.0,
             "W_x": d_pred * W_Y * (1 - h1 ** 2) * X1}
    assert h[0] == pytest.approx(h1, abs=1e-12)
    assert y_pred[0] == pytest.approx(pred, abs=1e-12)
    assert loss == pytest.approx(0.5 * (Y - pred) ** 2, abs=1e-12)
    for name, value in exact.items():
        assert grads[name] == pytest.approx(value, abs=1e-12)

    # The seeds' rounded figures.
    assert round(h[0], 3) == 0.462 and round(y_pred[0], 4) == 0.1386
    assert round(loss, 4) == 0.1064  # the seeds print 0.1065 after rounding 0.4614^2 to 0.213
    assert round(grads["W_y"], 4) == -0.2132 and grads["W_h"] == 0.0
    assert round(grads["W_x"], 4) == -0.1089

    # Step 5, W <- W - eta dL/dW.
    updated = {"W_x": W_X - LR * grads["W_x"], "W_h": W_H - LR * grads["W_h"],
               "W_y": W_Y - LR * grads["W_y"]}
    assert updated["W_x"] == pytest.approx(W_X - LR * exact["W_x"], abs=1e-12)
    assert round(updated["W_x"], 5) == 0.51089
    assert updated["W_h"] == 0.8
    assert round(updated["W_y"], 5) == 0.32132


def test_two_steps_give_a_nonzero_recurrent_gradient_matching_finite_differences():
    """With T = 2, h_1 != 0 feeds W_h, so dL/dW_h is no longer zero (the seeds' sum over t)."""
    xs, ys = [1.0, -0.5], [0.6, 0.2]
    rnn, head = build()
    _, _, _, grads = step(rnn, head, xs, ys)
    assert abs(grads["W_h"]) > 1e-3

    def loss_at(w_x, w_h, w_y):
        h, total = 0.0, 0.0
        for x, y in zip(xs, ys):
            h = math.tanh(w_x * x + w_h * h)
            total += 0.5 * (y - w_y * h) ** 2
        return total

    eps = 1e-6
    for name, index in (("W_x", 0), ("W_h", 1), ("W_y", 2)):
        plus, minus = [W_X, W_H, W_Y], [W_X, W_H, W_Y]
        plus[index] += eps
        minus[index] -= eps
        numerical = (loss_at(*plus) - loss_at(*minus)) / (2 * eps)
        assert grads[name] == pytest.approx(numerical, rel=1e-8, abs=1e-10)
