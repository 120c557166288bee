"""Many-to-one heads: reduce a (B, T, F) sequence of outputs to one (B, F) vector each.

Shapes: B batch, T steps, F features. Both respect ``lengths``: padded steps never count.

One unbatched sequence (T, F), what a recurrent layer returns for an unbatched input (as in
PyTorch), reduces to one vector (F,), as a batch of one would (``lengths`` must then be None;
``backward`` takes d_output (F,) and returns dx (T, F)).
"""

from __future__ import annotations

import numpy as np

from rnnlab._checks import expect_shape, float_array, lengths_array
from rnnlab.backend import resolve_dtype
from rnnlab.data.padding import lengths_to_mask
from rnnlab.layers.module import Module


class _Pool(Module):
    uses_lengths = True

    def __init__(self, dtype=None):
        """``dtype`` None keeps each input's float dtype; float32 or float64 casts to it."""
        super().__init__(None if dtype is None else resolve_dtype(dtype))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _inputs(self, x, lengths):
        """Return ``(x, lengths, unbatched)``: x as a float (B, T, F), an unbatched (T, F) as
        the batch of one (1, T, F); lengths (B,), all T by default."""
        x = float_array(x, "x", self.dtype, "(B, T, F), or (T, F) unbatched")
        unbatched = x.ndim == 2
        if unbatched and lengths is not None:
            raise ValueError(f"lengths must be None for an unbatched x (T, F): x must have 3 "
                             f"dimensions (B, T, F) to take lengths, got shape {x.shape}")
        if unbatched:
            x = x[None]
        if x.ndim != 3:
            raise ValueError(f"x must have 3 dimensions (B, T, F), or 2 (T, F) unbatched, "
                             f"got shape {x.shape}")
        batch, steps, _ = x.shape
        if lengths is None:
            lengths = np.full(batch, steps, dtype=np.int64)
        return x, lengths_array(lengths, batch, steps), unbatched

    def _d_output(self, d_output, x_shape, dtype, unbatched):
        """Check dL/dy against the (B, T, F) input forward saw, (F,) after an unbatched one;
        cast it to that input's dtype; return it as (B, F)."""
        if unbatched:
            d_output = float_array(d_output, "d_output", dtype, "(F,) after an unbatched x",
                                   ndim=1)
            expect_shape(d_output, "d_output", x_shape[2:], "(F,)")
            d_output = d_output[None]
        d_output = float_array(d_output, "d_output", dtype, "(B, F)", ndim=2)
        expect_shape(d_output, "d_output", (x_shape[0], x_shape[2]), "(B, F)")
        self._mark_read()
        return d_output


class LastStep(_Pool):
    """y_b = x_b at its last valid step, lengths[b] - 1: the many-to-one head.

    For a bidirectional layer's output this is the forward direction's final state beside the
    reverse direction's first step.
    """

    def forward(self, x, lengths=None):
        """(B, T, F) -> (B, F); unbatched (T, F) -> (F,), the last step."""
        x, lengths, unbatched = self._inputs(x, lengths)
        self._save_for_backward((x.shape, x.dtype, lengths, unbatched))
        y = x[np.arange(x.shape[0]), lengths - 1]  # (B, F)
        return y[0] if unbatched else y

    def backward(self, d_output):
        """dL/dy (B, F) -> dL/dx (B, T, F), nonzero only at each last valid step; (F,) ->
        (T, F) after an unbatched forward."""
        shape, dtype, lengths, unbatched = self._saved()
        d_output = self._d_output(d_output, shape, dtype, unbatched)
        dx = np.zeros(shape, dtype=dtype)
        dx[np.arange(shape[0]), lengths - 1] = d_output
        return dx[0] if unbatched else dx


class MeanPool(_Pool):
    """y_b = (1 / lengths[b]) sum_{t < lengths[b]} x_{b, t}: the mean over valid steps."""

    def forward(self, x, lengths=None):
        """(B, T, F) -> (B, F); unbatched (T, F) -> (F,), the mean over T."""
        x, lengths, unbatched = self._inputs(x, lengths)
        weights = lengths_to_mask(lengths, x.shape[1]) / lengths[:, None]  # (B, T)
        weights = weights.astype(x.dtype)
        self._save_for_backward((x.shape, weights, unbatched))
        y = np.einsum("bt,btf->bf", weights, x)  # (B, F)
        return y[0] if unbatched else y

    def backward(self, d_output):
        """dL/dy (B, F) -> dL/dx (B, T, F) = dy / lengths at valid steps, zero elsewhere;
        (F,) -> (T, F) after an unbatched forward."""
        shape, weights, unbatched = self._saved()
        d_output = self._d_output(d_output, shape, weights.dtype, unbatched)
        dx = weights[:, :, None] * d_output[:, None, :]  # (B, T, F)
        return dx[0] if unbatched else dx
