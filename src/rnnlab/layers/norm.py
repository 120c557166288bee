"""Layer normalization over the last axes, like ``torch.nn.LayerNorm`` (Ba et al. 2016).

Shapes: N any leading dimensions (e.g. B, or B and T), S the normalized shape (the last
len(S) axes of the input; one axis of F features when ``normalized_shape`` is an int), and
"mean" a mean over the S axes, per leading index.

Notes
-----
The specification, :mod:`rnnlab.reference.layernorm`, normalizes over one last axis; this
module flattens the S axes into one, runs it, and shapes the result back:

Forward:  (1) mu = mean(x),  var = mean((x - mu)^2),  s = sqrt(var + eps)
          (2) xhat = (x - mu) / s
          (3) y = xhat w + b
Backward: (3) dw = sum_N dy xhat,  db = sum_N dy,  dxhat = dy w
          (2), (1) dx = (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / s
where x (N..., S) is the input, mu and var (N..., 1) its mean and (biased) variance over S,
eps a small constant, s (N..., 1) the standard deviation, xhat (N..., S) the normalized
input, w (S) the weight (ones without ``elementwise_affine``) and b (S) the bias (zeros
without one). The two mean terms of dx are the paths through mu and var, which depend on
every element of x.
"""

from __future__ import annotations

import numpy as np

from rnnlab._checks import boolean, expect_shape, finite_number, float_array, positive_int
from rnnlab._checks import seed as check_seed
from rnnlab.backend import resolve_dtype
from rnnlab.layers.module import Module
from rnnlab.reference import layernorm


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last axes.

    Parameters
    ----------
    normalized_shape : int or tuple of int
        S, the shape of the last axes to normalize over (an int: one axis of that size).
    eps : float
        Added to the variance, > 0.
    elementwise_affine : bool
        Whether to have ``weight`` (ones) and ``bias`` (zeros) of shape S.
    bias : bool
        Whether to have ``bias`` (with ``elementwise_affine``), as PyTorch.
    dtype : float32 or float64
    seed : int or numpy.random.Generator, optional
        Accepted as every module's is; the initialization (ones and zeros) uses no randomness.
    """

    steps_pointwise = True  # step: the forward of one step (see Module.step)

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, *,
                 dtype=None, seed=None):
        super().__init__(resolve_dtype(dtype))
        shape = normalized_shape if isinstance(normalized_shape, (tuple, list)) \
            else (normalized_shape,)
        if not shape:
            raise ValueError("normalized_shape must be a positive int or a non-empty tuple of "
                             "them, got ()")
        self.normalized_shape = tuple(positive_int(n, "normalized_shape") for n in shape)
        self.eps = finite_number(eps, "eps")
        if self.eps <= 0:
            raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
        self.elementwise_affine = boolean(elementwise_affine, "elementwise_affine")
        check_seed(seed)
        if self.elementwise_affine:
            self._add_parameter("weight", np.ones(self.normalized_shape, dtype=self.dtype))
            if boolean(bias, "bias"):
                self._add_parameter("bias", np.zeros(self.normalized_shape, dtype=self.dtype))

    def forward(self, x):
        """(N..., S) -> (N..., S)."""
        x = float_array(x, "x", self.dtype, "(..., *normalized_shape)")
        k = len(self.normalized_shape)
        if x.shape[x.ndim - k:] != self.normalized_shape:
            raise ValueError(f"x must end in normalized_shape = {self.normalized_shape}, "
                             f"got shape {x.shape}")
        w, b = self._affine()
        rows = x.reshape(x.shape[:x.ndim - k] + (w.size,))  # (N..., prod S)
        y, cache = layernorm.forward(rows, w.reshape(-1), b.reshape(-1), self.eps)  # (1)-(3)
        self._save_for_backward(cache)
        return y.reshape(x.shape)

    def backward(self, d_output):
        """Accumulate dw and db; return dx (N..., S)."""
        cache = self._saved()
        shape = cache[0].shape[:-1] + self.normalized_shape  # (N..., S) of the input
        d_output = float_array(d_output, "d_output", self.dtype, "(..., *normalized_shape)")
        expect_shape(d_output, "d_output", shape, "(N..., S) of the input")
        self._mark_read()
        dx, dw, db = layernorm.backward(cache, d_output.reshape(cache[0].shape))  # (3)-(1)
        if self.elementwise_affine:
            self._grads["weight"] += dw.reshape(self.normalized_shape)
            if "bias" in self._params:
                self._grads["bias"] += db.reshape(self.normalized_shape)
        return dx.reshape(shape)

    def _affine(self):
        """(w, b) of shape S: the parameters, or ones and zeros in their absence."""
        ones = np.ones(self.normalized_shape, dtype=self.dtype)
        w = self._params.get("weight", ones)
        return w, self._params.get("bias", np.zeros_like(ones))

    def __repr__(self) -> str:
        shape = self.normalized_shape
        return (f"LayerNorm({shape[0] if len(shape) == 1 else shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, dtype={self.dtype.name})")
