"""Unbatched input to the recurrent layers: one sequence (T, I) rather than a batch (B, T, I),
as ``torch.nn.RNN / LSTM / GRU`` take it. :class:`Unbatched` is the part of
``rnnlab.layers.recurrent._Recurrent`` that gives it.

Shapes: T steps, I input_size, H hidden_size, L num_layers, D directions.

As in PyTorch (with or without ``batch_first``), a 2-D ``x`` (T, I) is one sequence: the
output is (T, D*H) and the final state (L*D, H) (LSTM: h_n and c_n each (L*D, H)); an initial
state must then be unbatched too, (L*D, H), and a 3-D state beside a 2-D ``x`` is refused (so
is a 2-D state beside a 3-D ``x``). ``lengths`` must be None: every step of a single sequence
counts (PyTorch cannot pack an unbatched sequence either; slice ``x[:n]`` instead). The
computation is the batched one on a batch of one, ``x[None]``, so the results are the same
numbers. ``backward`` after an unbatched forward takes d_output (T, D*H) and d_state
(L*D, H), and returns dx (T, I) and d_state0 (L*D, H); ``gates`` and ``state_grads`` then
hold (T, H) arrays. ``step`` takes one unbatched step, x (I,) with a state (L, H).
"""

from __future__ import annotations

import numpy as np

from rnnlab._checks import expect_shape, float_array


def _ndim(value) -> int | None:
    """The number of dimensions of an array-like, without converting it when it says;
    None when it has no ``ndim`` (a list: its conversion and checks happen later)."""
    ndim = getattr(value, "ndim", None)
    return ndim if isinstance(ndim, (int, np.integer)) else None


class Unbatched:
    """Unbatched (T, I) input, state and gradients for a recurrent layer (a mixin of
    ``_Recurrent``, whose ``forward`` and ``backward`` call these at their start and end)."""

    _unbatched = False  # whether the last forward ran on one unbatched sequence

    # -- forward -------------------------------------------------------------------------
    def _batch_input(self, x, lengths, state):
        """Return ``(x, state, unbatched)``, x a float array (B, T, I) of the layer's dtype:
        an unbatched x (T, I) as the batch (1, T, I) and its state (L*D, H) as (L*D, 1, H);
        a batched x and its state as they are. Checks ``lengths`` and the state's form
        against x's; errors name the argument."""
        ndim = _ndim(x)
        if ndim is None:  # a list, or another array-like without ndim
            x = float_array(x, "x", self.dtype, "(B, T, I) or unbatched (T, I)")
            ndim = x.ndim
        if ndim not in (2, 3):
            raise ValueError(f"x must have 3 dimensions (B, T, I), or 2 (T, I) for one "
                             f"unbatched sequence, got shape {tuple(np.shape(x))}")
        if ndim == 3:
            return float_array(x, "x", self.dtype, "(B, T, I)", ndim=3), state, False
        if lengths is not None:
            raise ValueError(f"lengths must be None for an unbatched x (T, I), whose every "
                             f"step counts (slice x[:n] instead): x must have 3 dimensions "
                             f"(B, T, I) to take lengths, got shape {tuple(np.shape(x))}")
        x = float_array(x, "x", self.dtype, "(T, I) unbatched", ndim=2)
        if x.shape[0] < 1 or x.shape[1] != self.input_size:
            raise ValueError(f"x must have shape (T, I) with T >= 1 and I = input_size = "
                             f"{self.input_size} for one unbatched sequence, got {x.shape}")
        return x[None], self._batch_state(state, "state", "(L*D, H)"), True

    def _unbatch_result(self, output, final, unbatched: bool):
        """``forward``'s result ``(output, h_n)``, without the batch axis when ``unbatched``;
        remembers which for ``backward``."""
        self._unbatched = unbatched
        if not unbatched:
            return output, final
        return output[0], self._unbatch_state(final)

    # -- backward ------------------------------------------------------------------------
    def _batch_gradients(self, d_output, d_state, steps: int):
        """Return ``(d_output, d_state)``, d_output a float array (B, T, D*H) of the layer's
        dtype. After an unbatched forward: d_output (T, D*H) -> (1, T, D*H) and d_state
        (L*D, H) -> (L*D, 1, H); after a batched one, d_state as it is."""
        if not self._unbatched:
            return float_array(d_output, "d_output", self.dtype, "(B, T, D*H)", ndim=3), d_state
        shape_doc = "(T, D*H) after an unbatched forward"
        d_output = float_array(d_output, "d_output", self.dtype, shape_doc, ndim=2)
        expect_shape(d_output, "d_output", (steps, self.num_directions * self.hidden_size),
                     shape_doc)
        return d_output[None], self._batch_state(d_state, "d_state", "(L*D, H)")

    def _unbatch_gradients(self, dx, d_state0):
        """``backward``'s result ``(dx, d_state0)``, without the batch axis after an unbatched
        forward (and so ``state_grads``, when kept)."""
        if not self._unbatched:
            return dx, d_state0
        if self.state_grads is not None:
            self.state_grads = [self._unbatch_trace(trace) for trace in self.state_grads]
        return dx[0], self._unbatch_state(d_state0)

    def _unbatch_trace(self, arrays: dict) -> dict:
        """``gates`` or one entry of ``state_grads``, {name: (B, T, H)}: (T, H) arrays after an
        unbatched forward."""
        if not self._unbatched:
            return arrays
        return {name: a[0] for name, a in arrays.items()}

    # -- states --------------------------------------------------------------------------
    def _batch_state(self, state, name: str, shape_doc: str):
        """An unbatched state (L*D, H), or for LSTM a pair of them (parts may be None), as
        the batch of one (L*D, 1, H); None stays None. A batched (3-D) state is refused."""
        if state is None:
            return None
        pair = len(self.state_names) > 1
        if pair and (not isinstance(state, (tuple, list)) or len(state) != 2):
            raise TypeError(f"{name} must be a pair (h, c) of arrays of shape {shape_doc} for "
                            f"an unbatched input, got {type(state).__name__}")
        shape = (self.num_layers * self.num_directions, self.hidden_size)
        doc = f"{shape_doc} for an unbatched input"
        out = []
        for k, part in enumerate(state if pair else (state,)):
            if part is None:
                out.append(None)
                continue
            label = f"{name}[{k}] ({self.state_names[k]})" if pair else name
            part = float_array(part, label, self.dtype, doc, ndim=2)
            expect_shape(part, label, shape, doc)
            out.append(part[:, None, :])  # (L*D, 1, H)
        return tuple(out) if pair else out[0]

    def _unbatch_state(self, state):
        """A state (L*D, 1, H), or a pair of them, without its batch axis: (L*D, H)."""
        if isinstance(state, tuple):
            return tuple(None if part is None else part[:, 0] for part in state)
        return state[:, 0]
