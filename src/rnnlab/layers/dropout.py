"""Inverted dropout, like ``torch.nn.Dropout``.

Shapes: N any dimensions (e.g. B, T, F).

Notes
-----
In train mode, each element is kept with probability 1 - p and scaled so that its expected
value is unchanged (Srivastava et al. 2014, "inverted" scaling as in PyTorch):

Forward:  (1) m ~ Bernoulli(1 - p), elementwise
          (2) y = x * m / (1 - p)
Backward: (2) dx = dy * m / (1 - p)
where x (N...) is the input, m (N...) the mask of kept elements, p the probability of
dropping one. In evaluation mode (the ``eval`` method) y = x and dx = dy.
"""

from __future__ import annotations

import numpy as np

from rnnlab._checks import expect_shape, float_array, probability
from rnnlab._checks import seed as check_seed
from rnnlab.backend import resolve_dtype
from rnnlab.layers.module import Module


def keep_scaled(rng, shape, p: float, dtype):
    """Inverted dropout's factor m / (1 - p), with m ~ Bernoulli(1 - p) drawn from ``rng``:
    what multiplies the kept elements forward, and their gradients backward (1), (2)."""
    return ((rng.random(shape) >= p) / (1.0 - p)).astype(dtype)


class Dropout(Module):
    """y = x * m / (1 - p) in train mode, with m drawn afresh each forward; y = x in eval mode.

    Parameters
    ----------
    p : float
        The probability of dropping an element, 0 <= p < 1.
    dtype : float32 or float64, optional
        None keeps each input's float dtype.
    seed : int or numpy.random.Generator, optional
        Seeds the module's own generator, from which every mask is drawn.

    Notes
    -----
    The mask is drawn over the whole input, padded steps included: a padded step's output is
    ignored downstream, but the draws of the valid steps depend on the padded shape.
    """

    steps_pointwise = True  # step: the forward of one step (see Module.step)

    def __init__(self, p=0.5, *, dtype=None, seed=None):
        super().__init__(None if dtype is None else resolve_dtype(dtype))
        self.p = probability(p, "p")
        self.rng = np.random.default_rng(check_seed(seed))  # an int, None, or a Generator

    def forward(self, x, mask=None):
        """(N...) -> (N...).

        Parameters
        ----------
        x : (N...) float
        mask : (N...) bool or 0/1 array, optional
            The elements to keep (train mode only), instead of a draw: a fixed mask for
            finite-difference checks.
        """
        x = float_array(x, "x", self.dtype, "(...)")
        if not self.training:
            if mask is not None:
                raise ValueError("mask must be None in evaluation mode, where dropout is the "
                                 "identity; call train() first")
            self._save_for_backward((x.shape, x.dtype, None))
            return x
        if mask is None:
            scaled = keep_scaled(self.rng, x.shape, self.p, x.dtype)  # (1)
        else:
            scaled = self._mask(mask, x.shape).astype(x.dtype) / x.dtype.type(1 - self.p)
        self._save_for_backward((x.shape, x.dtype, scaled))
        return x * scaled  # (2)

    def backward(self, d_output):
        """dL/dy (N...) -> dL/dx (N...) = dy * m / (1 - p), or dy in evaluation mode."""
        shape, dtype, scaled = self._saved()
        d_output = float_array(d_output, "d_output", dtype, "(...)")
        expect_shape(d_output, "d_output", shape, "(N...) of the input")
        self._mark_read()
        return d_output if scaled is None else d_output * scaled  # (2)

    @staticmethod
    def _mask(mask, shape):
        """``mask`` as a bool array of ``shape``, or raise naming it."""
        mask = np.asarray(mask)
        if mask.dtype.kind not in "biuf":
            raise TypeError(f"mask must be a bool or 0/1 array, got dtype {mask.dtype}")
        expect_shape(mask, "mask", shape, "(N...) of x")
        if mask.dtype.kind != "b" and not np.isin(mask, (0, 1)).all():
            raise ValueError("mask must hold only 0 and 1 (or True and False)")
        return mask.astype(bool)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
