"""A fully connected layer over the last axis, like ``torch.nn.Linear``.

Shapes: N any leading dimensions (e.g. B, or B and T), I in_features, O out_features.

Notes
-----
Forward:  (1) y = x W^T + b
Backward: dW = sum_N dy^T x,  db = sum_N dy,  dx = dy W
where x (N..., I) is the input, W (O, I) the weight, b (O,) the bias.
"""

from __future__ import annotations

import math

import numpy as np

from rnnlab import init as initializers
from rnnlab._checks import boolean, expect_shape, float_array, one_of, positive_int
from rnnlab._checks import seed as check_seed
from rnnlab.backend import resolve_dtype
from rnnlab.layers.module import Module


class Linear(Module):
    """y = x W^T + b over the last axis.

    Parameters
    ----------
    in_features, out_features : int
        I and O.
    bias : bool
        Whether to have b.
    dtype : float32 or float64
    seed : int or numpy.random.Generator, optional
    init : str
        "default" is PyTorch's U(-1/sqrt(I), 1/sqrt(I)) for weight and bias; any other name
        of ``rnnlab.init.NAMES`` sets the weight, with a zero bias.
    """

    steps_pointwise = True  # step: the forward of one step (see Module.step)

    def __init__(self, in_features, out_features, bias=True, *, dtype=None, seed=None,
                 init="default"):
        super().__init__(resolve_dtype(dtype))
        self.in_features = positive_int(in_features, "in_features")
        self.out_features = positive_int(out_features, "out_features")
        one_of(init, "init", initializers.NAMES)
        self.init = init
        rng = np.random.default_rng(check_seed(seed))  # an int, None, or a Generator as is
        shape = (self.out_features, self.in_features)
        bound = 1.0 / math.sqrt(self.in_features)
        if init == "default":
            weight = initializers.uniform(shape, rng, self.dtype, bound)
        else:
            weight = initializers.INITIALIZERS[init](shape, rng, self.dtype)
        self._add_parameter("weight", weight)
        if boolean(bias, "bias"):
            b = (initializers.uniform((self.out_features,), rng, self.dtype, bound)
                 if init == "default" else np.zeros(self.out_features, dtype=self.dtype))
            self._add_parameter("bias", b)

    def forward(self, x):
        """(N..., I) -> (N..., O)."""
        x = float_array(x, "x", self.dtype, "(..., in_features)")
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have in_features = {self.in_features} on its last axis, "
                             f"got shape {x.shape}")
        self._save_for_backward(x)
        y = x @ self._params["weight"].T  # (1)
        if "bias" in self._params:
            y += self._params["bias"]
        return y

    def backward(self, d_output):
        """Accumulate dW and db; return dx (N..., I)."""
        x = self._saved()
        d_output = float_array(d_output, "d_output", self.dtype, "(..., out_features)")
        expect_shape(d_output, "d_output", x.shape[:-1] + (self.out_features,), "(..., O)")
        self._mark_read()
        dy2 = d_output.reshape(-1, self.out_features)  # (N, O)
        self._grads["weight"] += dy2.T @ x.reshape(-1, self.in_features)
        if "bias" in self._params:
            self._grads["bias"] += dy2.sum(axis=0)
        return d_output @ self._params["weight"]

    def __repr__(self) -> str:
        return (f"Linear({self.in_features}, {self.out_features}, "
                f"bias={'bias' in self._params}, dtype={self.dtype.name})")
