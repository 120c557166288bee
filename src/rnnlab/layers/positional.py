"""Sinusoidal positional encoding (Vaswani et al. 2017, section 3.5), batch first.

Shapes: B batch, T steps, E d_model, T_max max_len.

Notes
-----
Forward:  (1) PE[t, 2i] = sin(t / 10000^(2i / E)),  PE[t, 2i + 1] = cos(t / 10000^(2i / E))
          (2) y = Dropout(x + PE[:T])
Backward: (2) dx = Dropout'(dy)  (dy itself with p = 0 or in evaluation mode)
where x (B, T, E) is the input, t = 0 .. T_max - 1 the position, i = 0 .. ceil(E / 2) - 1,
PE (T_max, E) the fixed table (no parameters: nothing is learned), Dropout the module's own
dropout with probability p and Dropout' its backward pass. An odd E keeps the sine of its
last pair.
"""

from __future__ import annotations

import math

import numpy as np

from rnnlab._checks import expect_shape, float_array, positive_int, probability
from rnnlab._checks import seed as check_seed
from rnnlab.backend import resolve_dtype
from rnnlab.layers.dropout import Dropout
from rnnlab.layers.module import Module


def sinusoids(max_len: int, d_model: int):
    """(1) The table PE (T_max, E), float64."""
    position = np.arange(max_len, dtype=np.float64)[:, None]  # (T_max, 1)
    rate = np.exp(np.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))  # (ceil(E/2),)
    table = np.zeros((max_len, d_model))
    table[:, 0::2] = np.sin(position * rate)  # (1)
    table[:, 1::2] = np.cos(position * rate[:d_model // 2])  # (1)
    return table


class PositionalEncoding(Module):
    """Add the sinusoidal table to a (B, T, E) input, then dropout.

    Parameters
    ----------
    d_model : int
        E.
    max_len : int
        T_max, the longest sequence accepted.
    dropout : float
        The probability of dropping an element in train mode, 0 <= p < 1.
    dtype : float32 or float64, optional
        None keeps each input's float dtype.
    seed : int or numpy.random.Generator, optional
        Seeds the dropout's generator.
    """

    def __init__(self, d_model, max_len=5000, dropout=0.0, *, dtype=None, seed=None):
        super().__init__(None if dtype is None else resolve_dtype(dtype))
        self.d_model = positive_int(d_model, "d_model")
        self.max_len = positive_int(max_len, "max_len")
        p = probability(dropout, "dropout")
        self.pe = sinusoids(self.max_len, self.d_model)  # (T_max, E), float64
        self.dropout = Dropout(p, dtype=dtype, seed=check_seed(seed))
        self._add_child("dropout", self.dropout)

    def forward(self, x):
        """(B, T, E) -> (B, T, E)."""
        x = float_array(x, "x", self.dtype, "(B, T, E)", ndim=3)
        if x.shape[2] != self.d_model or x.shape[1] > self.max_len:
            raise ValueError(f"x must have shape (B, T, E) with T <= max_len = {self.max_len} "
                             f"and E = d_model = {self.d_model}, got {x.shape}")
        self._save_for_backward(x.shape)
        y = x + self.pe[:x.shape[1]].astype(x.dtype)  # (2)
        return self.dropout.forward(y) if self.dropout.p > 0 else y  # (2)

    def backward(self, d_output):
        """dL/dy (B, T, E) -> dL/dx (B, T, E)."""
        shape = self._saved()
        d_output = float_array(d_output, "d_output", self.dtype, "(B, T, E)")
        expect_shape(d_output, "d_output", shape, "(B, T, E) of x")
        self._mark_read()
        return self.dropout.backward(d_output) if self.dropout.p > 0 else d_output  # (2)

    def __repr__(self) -> str:
        return (f"PositionalEncoding({self.d_model}, max_len={self.max_len}, "
                f"dropout={self.dropout.p})")
