"""Elementwise nonlinearities as modules, like ``torch.nn.Tanh``, ``ReLU`` and ``Sigmoid``.

Shapes: N any dimensions. The functions and their derivatives live in
:mod:`rnnlab.reference.activations`, the one place the scalar nonlinearities are written.

Notes
-----
Forward:  (1) y = f(x)
Backward: (1) dx = dy f'(x), with f' written from the output y:
              tanh' = 1 - y^2,  sigmoid' = y (1 - y),  relu' = [y > 0]
where x (N...) is the input and y (N...) the output.
"""

from __future__ import annotations

from rnnlab._checks import expect_shape, float_array
from rnnlab.backend import resolve_dtype
from rnnlab.layers.module import Module
from rnnlab.reference.activations import ACTIVATIONS


class _Activation(Module):
    """y = f(x) elementwise; backward from the output y."""

    steps_pointwise = True  # step: the forward of one step (see Module.step)

    nonlinearity = ""  # the key of f in rnnlab.reference.activations.ACTIVATIONS

    def __init__(self, *, dtype=None):
        """``dtype`` None keeps each input's float dtype; float32 or float64 casts to it."""
        super().__init__(None if dtype is None else resolve_dtype(dtype))

    def forward(self, x):
        """(N...) -> (N...)."""
        x = float_array(x, "x", self.dtype, "(...)")
        y = ACTIVATIONS[self.nonlinearity].f(x)  # (1)
        self._save_for_backward(y)
        return y

    def backward(self, d_output):
        """dL/dy (N...) -> dL/dx (N...) = dy f'(x), f' from the output."""
        y = self._saved()
        d_output = float_array(d_output, "d_output", y.dtype, "(...)")
        expect_shape(d_output, "d_output", y.shape, "(N...) of the input")
        self._mark_read()
        return d_output * ACTIVATIONS[self.nonlinearity].df_from_output(y)  # (1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Tanh(_Activation):
    """y = tanh(x)."""

    nonlinearity = "tanh"


class Sigmoid(_Activation):
    """y = 1 / (1 + exp(-x))."""

    nonlinearity = "sigmoid"


class ReLU(_Activation):
    """y = max(x, 0); its derivative at 0 is 0, as in PyTorch."""

    nonlinearity = "relu"
