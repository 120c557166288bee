"""What a recurrent layer's passes leave for diagnostics: the activated gates of the last
forward (:meth:`Traces.gates`) and the per-step state gradients of the last backward
(``state_grads``, with ``track_state_grads``). :class:`Traces` is that part of the layers
(``rnnlab.layers.recurrent``).
"""

from __future__ import annotations

from rnnlab.cells.common import batch_first
from rnnlab.data.padding import reverse_padded
from rnnlab.layers.checkpointed import _Checkpoints


class Traces:
    """The gates and state gradients of a recurrent layer's last passes, in input time
    order (the mixin of :class:`rnnlab.layers.recurrent._Recurrent`)."""

    def gates(self, layer: int = 0, direction: int = 0) -> dict:
        """The last forward's activated gates of one layer and direction, by name.

        Returns
        -------
        dict of (B, T, H)
            LSTM: i, f, g, o; GRU: r, z, n; RNN: empty. In input time order; values at
            padded steps are meaningless (mask them with ``lengths``). With
            ``checkpoint_every`` set the gates are not kept: they are recomputed here from
            the checkpoints (one more forward pass of this layer and direction), equal to
            the ones that forward computed.
        """
        cache = self._saved(for_backward=False)
        lengths = cache.lengths
        if not 0 <= layer < self.num_layers or not 0 <= direction < self.num_directions:
            raise ValueError(f"layer must be in [0, {self.num_layers}) and direction in "
                             f"[0, {self.num_directions}), got {layer} and {direction}")
        if not hasattr(self.cell, "GATES"):
            return {}
        if isinstance(cache, _Checkpoints):
            gates = batch_first(self._recompute_gates(cache, layer, direction))
        else:
            gates = batch_first(cache.cells[layer * self.num_directions + direction].gates)
        if direction == 1:
            gates = reverse_padded(gates, lengths)
        return self._unbatch_trace(dict(zip(self.cell.GATES, self.cell.split_gates(gates))))

    def _state_trace(self, d_states, direction: int, lengths) -> dict:
        """A cell's time-major dL/dh_t (and dL/dc_t) -> {"h": (B, T, H), ...} in input time
        order (the reverse direction's steps put back where they were read)."""
        parts = d_states if len(self.state_names) > 1 else (d_states,)
        trace = {}
        for name, part in zip(self.state_names, parts):
            part = batch_first(part)  # (B, T, H)
            trace[name] = part if direction == 0 else reverse_padded(part, lengths)
        return trace
