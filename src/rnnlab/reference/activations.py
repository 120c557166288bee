"""Elementwise nonlinearities, each with its derivative written from its output.

Backward passes keep outputs, not pre-activations, because every derivative here is a
function of the output: tanh' = 1 - y^2, sigmoid' = y (1 - y), relu' = [y > 0]. The
compiled kernels (``rnnlab.cells.compiled.scalar``) write the same formulas per element.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np


def tanh(a):
    """y = tanh(a)."""
    return np.tanh(a)


def sigmoid(a):
    """y = 1 / (1 + exp(-a)), computed as (1 + tanh(a / 2)) / 2, which never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def relu(a):
    """y = max(a, 0)."""
    return np.maximum(a, 0)


def dtanh(y):
    """tanh'(a) = 1 - y^2, from y = tanh(a)."""
    return 1.0 - y * y


def dsigmoid(y):
    """sigmoid'(a) = y (1 - y), from y = sigmoid(a); at most 1/4."""
    return y * (1.0 - y)


def drelu(y):
    """relu'(a) = 1 where y > 0, else 0 (PyTorch's convention at a = 0)."""
    return (y > 0).astype(y.dtype)


class Activation(NamedTuple):
    """A nonlinearity f and its derivative f' written from f's output."""

    f: Callable
    df_from_output: Callable


ACTIVATIONS = {
    "tanh": Activation(tanh, dtanh),
    "sigmoid": Activation(sigmoid, dsigmoid),
    "relu": Activation(relu, drelu),
}
