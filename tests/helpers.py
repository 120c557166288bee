"""Helpers that keep each test case to a line."""

from __future__ import annotations

import numpy as np

import rnnlab

CELLS = {"rnn": rnnlab.RNN, "lstm": rnnlab.LSTM, "gru": rnnlab.GRU}


def make_layer(cell: str, input_size=3, hidden_size=4, num_layers=1, bidirectional=False,
               bias=True, nonlinearity="tanh", dtype="float64", seed=0):
    """An rnnlab recurrent layer; ``cell`` is "rnn", "lstm" or "gru"."""
    kwargs = dict(num_layers=num_layers, bias=bias, bidirectional=bidirectional,
                  dtype=dtype, seed=seed)
    if cell == "rnn":
        kwargs["nonlinearity"] = nonlinearity
    return CELLS[cell](input_size, hidden_size, **kwargs)


def random_case(layer, batch=3, steps=5, variable=True, seed=1, garbage=True):
    """Random (x, lengths, state) for ``layer``; padded steps of x hold garbage values."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, steps, layer.input_size)).astype(layer.dtype)
    lengths = None
    if variable:
        lengths = rng.integers(1, steps + 1, size=batch)
        lengths[0] = steps  # one full sequence, one of length 1
        if batch > 1:
            lengths[-1] = 1
        if garbage:
            pad = np.arange(steps)[None, :] >= lengths[:, None]
            x[pad] = 100.0 * rng.standard_normal((int(pad.sum()), layer.input_size))
    shape = (layer.num_layers * layer.num_directions, batch, layer.hidden_size)
    state = rng.standard_normal(shape).astype(layer.dtype)
    if isinstance(layer, rnnlab.LSTM):
        state = (state, rng.standard_normal(shape).astype(layer.dtype))
    return x, lengths, state


def rel_err(a, b) -> float:
    """max |a - b| / max(max |a|, max |b|)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0))
    err = np.abs(a - b).max(initial=0.0)
    return float(err / scale) if scale > 0 else float(err)


def parts(state):
    """A state (array or pair) as a list of arrays."""
    return list(state) if isinstance(state, tuple) else [state]


def numerical_grad(loss_of, z, eps=1e-6):
    """Central differences of the scalar ``loss_of(z)`` with respect to every element of z."""
    grad = np.zeros_like(z)
    for index in np.ndindex(z.shape):
        plus, minus = z.copy(), z.copy()
        plus[index] += eps
        minus[index] -= eps
        grad[index] = (loss_of(plus) - loss_of(minus)) / (2.0 * eps)
    return grad
