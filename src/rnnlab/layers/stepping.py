"""One time step of a recurrent layer, for inference: the forward that generation, streaming
prediction and stateful inference need. :class:`Stepping` is the part of
``rnnlab.layers.recurrent._Recurrent`` that gives it.

Shapes: B batch, I input_size, H hidden_size, L num_layers.

``step(x_t, state)`` advances every layer by one step from ``state`` and returns the last
layer's h_t and the new state, computed by the same cell functions as ``forward`` (a
sequence of one step; :mod:`rnnlab.cells`), so that stepping through a sequence equals the
whole-sequence forward. Nothing is kept for a backward. Each layer's recurrent product
(W_hh, packed when small) is kept between calls in the step's own workspace, and built again
when the layer's weights change (an optimizer step, ``load_state_dict``, ``mark_changed``):
a call costs the step's arithmetic and a few small copies. Dropout, between layers and in the
recurrence, is not applied: a step is the evaluation-mode forward.

As ``torch.nn.RNNCell / LSTMCell / GRUCell`` take it, a step may be unbatched: x (I,) with a
state (L, H) (or a pair) gives an output (H,) and a state (L, H).
"""

from __future__ import annotations

from rnnlab._checks import float_array
from rnnlab.cells.common import Workspace


class Stepping:
    """``step`` for a stacked, one-directional recurrent layer (a mixin of ``_Recurrent``)."""

    def step(self, x, state=None):
        """Advance one time step.

        Parameters
        ----------
        x : (B, I) float, or (I,) for one unbatched sequence
            The step's input.
        state : (L, B, H), or for LSTM the pair (h, c), optional; (L, H) when x is (I,)
            The state before the step (what ``forward`` or the last ``step`` returned as
            h_n); zeros by default.

        Returns
        -------
        output : (B, H), or (H,) for an unbatched x
            The last layer's h_t.
        state : (L, B, H), or for LSTM the pair (h_t, c_t); (L, H) for an unbatched x
            The state after the step, to pass to the next call.

        A bidirectional layer has no step: its reverse direction needs the whole sequence.
        """
        if self.bidirectional:
            raise ValueError("step needs a one-directional layer: a bidirectional layer's "
                             "reverse direction reads the sequence from its end (use forward)")
        x = float_array(x, "x", self.dtype, "(B, I), or (I,) unbatched")
        if x.ndim == 1:  # one sequence: a batch of one, then without its batch axis
            output, state = self._step(x[None], self._batch_state(state, "state", "(L, H)"))
            return output[0], self._unbatch_state(state)
        if x.ndim != 2:
            raise ValueError(f"x must have 2 dimensions (B, I), or 1 (I,) unbatched, "
                             f"got shape {x.shape}")
        return self._step(x, state)

    def _step(self, x, state):
        """:meth:`step` on a batch x (B, I) float of the layer's dtype."""
        batch, features = x.shape
        if batch < 1 or features != self.input_size:
            raise ValueError(f"x must have shape (B, I) with B >= 1 and I = input_size = "
                             f"{self.input_size}, got {x.shape}")
        states0 = self._state_components(state, "state", batch, allow_none=False)
        ws = self._step_workspace()
        finals, inputs = [], x[:, None, :]  # (B, 1, I)
        for layer in range(self.num_layers):
            y, cache = self._cell_forward(self._cell_params(layer, 0), inputs,
                                          self._cell_state(states0, layer), None, ws[layer])
            finals.append(self.cell.final_state(cache))
            inputs = y
        # copies: the workspace's arrays are overwritten by the next step
        return inputs[:, 0].copy(), self._stack_states(finals)

    def _step_workspace(self) -> list:
        """Per layer, a workspace that keeps its packed W_hh; new when the weights changed
        since the last step (their version), or the layer was never stepped."""
        version = self._version
        if getattr(self, "_step_state", None) is None or self._step_state[0] != version:
            self._step_state = (version, [Workspace(keep_products=True)
                                          for _ in range(self.num_layers)])
        return self._step_state[1]
