"""Layer normalization over the last axes, like ``torch.nn.LayerNorm`` (Ba et al. 2016).

Shapes: N any leading dimensions (e.g. B, or B and T), S the normalized shape (the last
len(S) axes of the input; one axis of F features when ``normalized_shape`` is an int), and
"mean" a mean over the S axes, per leading index.

Notes
-----
Forward:  (1) mu = mean(x)
          (2) var = mean((x - mu)^2)
          (3) r = 1 / sqrt(var + eps)
          (4) xhat = (x - mu) r
          (5) y = xhat w + b
Backward: (5) dw = sum_N dy xhat,  db = sum_N dy,  dxhat = dy w
          (1-4) dx = r (dxhat - mean(dxhat) - xhat mean(dxhat xhat))
where x (N..., S) is the input, mu and var (N..., 1) its mean and (biased) variance over S,
eps a small constant, r (N..., 1) the reciprocal standard deviation, xhat (N..., S) the
normalized input, w (S) the weight and b (S) the bias. The backward line for x gathers the
paths through xhat, r and mu: d mu and d var each reach every element of x.
"""

from __future__ import annotations

import numpy as np

from rnnlab._checks import boolean, expect_shape, finite_number, float_array, positive_int
from rnnlab._checks import seed as check_seed
from rnnlab.backend import resolve_dtype
from rnnlab.layers.module import Module


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
        axes = tuple(range(x.ndim - k, x.ndim))
        mu = x.mean(axis=axes, keepdims=True)  # (1) (N..., 1)
        centered = x - mu
        var = (centered * centered).mean(axis=axes, keepdims=True)  # (2) (N..., 1)
        r = 1.0 / np.sqrt(var + self.eps)  # (3) (N..., 1)
        xhat = centered * r  # (4)
        self._save_for_backward((xhat, r))
        if not self.elementwise_affine:
            return xhat
        y = xhat * self._params["weight"]  # (5)
        if "bias" in self._params:
            y += self._params["bias"]
        return y

    def backward(self, d_output):
        """Accumulate dw and db; return dx (N..., S)."""
        xhat, r = self._saved()
        d_output = float_array(d_output, "d_output", self.dtype, "(..., *normalized_shape)")
        expect_shape(d_output, "d_output", xhat.shape, "(N..., S) of the input")
        self._mark_read()
        lead = tuple(range(xhat.ndim - len(self.normalized_shape)))  # the N axes
        axes = tuple(range(len(lead), xhat.ndim))  # the S axes
        dxhat = d_output
        if self.elementwise_affine:
            self._grads["weight"] += (d_output * xhat).sum(axis=lead)  # (5)
            if "bias" in self._params:
                self._grads["bias"] += d_output.sum(axis=lead)  # (5)
            dxhat = d_output * self._params["weight"]  # (5)
        mean_dxhat = dxhat.mean(axis=axes, keepdims=True)  # (N..., 1)
        mean_dxhat_xhat = (dxhat * xhat).mean(axis=axes, keepdims=True)  # (N..., 1)
        return r * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)  # (1-4)

    def __repr__(self) -> str:
        shape = self.normalized_shape
        return (f"LayerNorm({shape[0] if len(shape) == 1 else shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, dtype={self.dtype.name})")
