"""Checkpointed BPTT for the recurrent layers (``checkpoint_every=k``): memory-efficient
backpropagation through long sequences. :class:`Checkpointed` is the part of the layers
(``rnnlab.layers.recurrent``) that does it.

Checkpointed BPTT (Chen et al. 2016, "Training deep nets with sublinear memory cost";
Gruslys et al. 2016, "Memory-efficient backpropagation through time"). Full BPTT keeps
every step's activations for backward, the cell caches (LSTM: x_t, h_t, c_t, tanh c_t
and the 4H gates, 7H + I numbers a step and sequence), O(T) in all, and backward adds
as much again. With ``checkpoint_every=k``, forward cuts [0, T) into segments of k
steps (the last one shorter),

    S_j = [j k, min((j + 1) k, T)),    j = 0 .. ceil(T / k) - 1

runs the cell over each S_j from s_j, the state where S_{j-1} ended (s_0 the initial
state), and keeps only s_j, each layer's input and the mask. Backward walks j from the
last segment to the first: it recomputes S_j's forward from s_j, then backpropagates
through it with

    dL/ds_{j+1} = d_state0 of segment j + 1        (dL/dh_n, dL/dc_n for the last one)

as the gradient reaching its final state; the weight gradients are sums over the
segments, and each segment's dx lands at its own steps. Padded steps carry the state,
so every s_j is right with ``lengths``; the reverse direction is cut the same way in
its own (reversed) time.

Memory: ceil(T / k) states plus one segment's activations, O(T / k + k) steps instead
of O(T), smallest near k = sqrt(T) (the layers' inputs and outputs, O(T), remain).
Time: one more forward pass, at most about a third more work, which the far smaller
working set can pay back (measured: docs/performance.md, ``python
benchmarks/checkpointing.py``).
Results: the same operations on the same numbers as full BPTT, so the outputs, final
states and gradients equal full BPTT's up to rounding: the weight gradients' sums over
t are grouped by segment, and the hoisted input products (W_ih x_t for every t, one
matrix product per segment instead of one per sequence) may round differently in
the last bit, as BLAS may order a row's sum differently in matrices of different
heights (and GRU's backward adds the two parts of dL/dh_t at a segment's first step,
a step earlier than full BPTT). With input_size 1 and one layer no such sum exists in
forward, and the outputs and final states are identical bit for bit.
"""

from __future__ import annotations

from typing import NamedTuple

from rnnlab.backend import get_xp


class _Checkpoints(NamedTuple):
    """What checkpointed backward needs: states at segment starts, no cell caches."""

    inputs: list  # per layer, its input (B, T, F) in input time order: x, then layer outputs
    starts: list  # per (layer, direction), index k * D + d: each segment's initial state
    bounds: tuple  # (start, stop) of every segment, in the direction's own time order
    mask: object  # (B, T) bool or None
    lengths: object  # (B,) int or None
    batch: int
    steps: int
    keeps: list  # dropout between layers k and k + 1: the scaled mask, or None
    recurrent_keeps: list  # per (layer, direction): recurrent dropout's mask (B, H), or None


def _segment_bounds(steps: int, every: int) -> tuple:
    """[0, T) cut into segments of ``every`` steps, the last one shorter when needed.

    Returns
    -------
    tuple of (start, stop)
        ``((0, k), (k, 2k), ..., (m k, T))``.
    """
    return tuple((start, min(start + every, steps)) for start in range(0, steps, every))


def _step_index(steps: int, lengths, direction: int, start: int, stop: int):
    """Where steps start..stop-1 of a direction's own time order sit in input time order.

    Returns a slice (the forward direction, and the reverse one without lengths), or a (B, n)
    int array: ``reverse_padded(a, lengths)[:, start:stop]`` without reversing all of ``a``.
    """
    if direction == 0:
        return slice(start, stop)
    if lengths is None:
        return slice(steps - 1 - start, None if stop == steps else steps - 1 - stop, -1)
    xp = get_xp(lengths)
    t = xp.arange(start, stop)[None, :]  # (1, n)
    lengths = xp.asarray(lengths)[:, None]  # (B, 1)
    return xp.where(t < lengths, lengths - 1 - t, t)  # (B, n), as in reverse_padded


def _take_steps(a, index):
    """a[:, index] for an index from :func:`_step_index`: (B, T, F) -> (B, n, F)."""
    if isinstance(index, slice):
        return a[:, index]
    return get_xp(a).take_along_axis(a, index[..., None], axis=1)


def _put_steps(out, index, values, add: bool = False) -> None:
    """out[:, index] = values (or += values): the inverse of :func:`_take_steps`, in place."""
    if isinstance(index, slice):
        if add:
            out[:, index] += values
        else:
            out[:, index] = values
        return
    xp = get_xp(out)
    if add:
        values = xp.take_along_axis(out, index[..., None], axis=1) + values
    xp.put_along_axis(out, index[..., None], values, axis=1)


def _copy_state(state):
    """A copy of a cell state (an array, or a tuple for LSTM) that holds no larger array."""
    if isinstance(state, tuple):
        return tuple(part.copy() for part in state)
    return state.copy()


class Checkpointed:
    """The checkpointed forward, backward and gate recomputation of a recurrent layer (a
    mixin of ``_Recurrent``, whose cell functions, parameters and states it uses)."""

    def _forward_checkpointed(self, x, lengths, mask, states0):
        """:meth:`forward` with ``checkpoint_every`` set: keep segment starts, not caches."""
        batch, steps, _ = x.shape
        bounds = _segment_bounds(steps, self.checkpoint_every)
        hidden, directions = self.hidden_size, self.num_directions
        inputs, starts, finals, layer_in, keeps, recurrent_keeps = [], [], [], x, [], []
        for layer in range(self.num_layers):
            out = get_xp(x).empty((batch, steps, directions * hidden), dtype=x.dtype)
            for direction in range(directions):
                index = layer * directions + direction
                columns = out[..., direction * hidden:(direction + 1) * hidden]  # (B, T, H)
                recurrent_keeps.append(self._recurrent_keep(batch))
                checkpoints, final = self._run_segments(
                    layer, direction, layer_in, self._cell_state(states0, index), mask,
                    lengths, bounds, columns, recurrent_keeps[-1])
                starts.append(checkpoints)
                finals.append(final)
            inputs.append(layer_in)
            layer_in = out
            if layer < self.num_layers - 1:
                layer_in, keep = self._drop(out)
                keeps.append(keep)
        self._save_for_backward(_Checkpoints(inputs, starts, bounds, mask, lengths, batch, steps,
                                             keeps, recurrent_keeps))
        return layer_in, self._stack_states(finals)

    def _run_segments(self, layer, direction, layer_in, state0, mask, lengths, bounds, out,
                      keep):
        """Run one layer and direction segment by segment, each from the last one's end.

        Writes the outputs into ``out`` (B, T, H), in input time order, and returns the state
        at the start of every segment (copies, so that no segment's cache stays alive) and
        the final state. A padded step carries the state, so each segment's final state is
        right even for sequences that ended before it. ``keep``: recurrent dropout's mask,
        the same in every segment, or None.
        """
        params = self._cell_params(layer, direction)
        steps = layer_in.shape[1]
        checkpoints, state = [], _copy_state(state0)
        for start, stop in bounds:
            checkpoints.append(state)
            where = _step_index(steps, lengths, direction, start, stop)
            seg_mask = None if mask is None else mask[:, start:stop]
            y, cache = self._cell_forward(params, _take_steps(layer_in, where), state, seg_mask,
                                          keep=keep)
            _put_steps(out, where, y)
            state = _copy_state(self.cell.final_state(cache))  # not a view into the cache
        return checkpoints, state

    def _backward_checkpointed(self, cache: _Checkpoints, d_output, d_last):
        """:meth:`backward` after a checkpointed forward: segment by segment, last to first."""
        hidden, directions = self.hidden_size, self.num_directions
        d_states0 = [None] * len(cache.starts)
        traces = [None] * len(cache.starts)
        d_y = d_output
        for layer in reversed(range(self.num_layers)):
            layer_in = cache.inputs[layer]
            d_in = get_xp(layer_in).empty(layer_in.shape, dtype=layer_in.dtype)  # (B, T, F)
            for direction in range(directions):
                index = layer * directions + direction
                d_y_d = d_y[..., direction * hidden:(direction + 1) * hidden]  # (B, T, H)
                d_states0[index], d_states = self._backprop_segments(
                    cache, layer, direction, d_y_d, self._cell_state(d_last, index), d_in)
                if self.track_state_grads:
                    traces[index] = self._state_trace(d_states, direction, cache.lengths)
            d_y = d_in if layer == 0 else self._undrop(d_in, cache.keeps[layer - 1])
        self.state_grads = traces if self.track_state_grads else None
        return d_y, self._stack_states(d_states0)

    def _backprop_segments(self, cache: _Checkpoints, layer, direction, d_y, d_last, d_in):
        """Backpropagate one layer and direction through its segments, last to first.

        Each segment's forward is recomputed from its checkpoint, then ``cell.backward`` runs
        on it with d_last = the d_state0 of the segment after it (the caller's ``d_last`` for
        the last). The parameter gradients accumulate segment by segment; dx goes into
        ``d_in`` (B, T, F) in input time order (added to the forward direction's there).

        Returns
        -------
        d_state0 : (B, H), or for LSTM a pair
            dL/d state at the first step.
        d_states : (T, B, H), or for LSTM a pair, or None
            dL/dh_t (and dL/dc_t), time-major in the direction's own order; only with
            ``track_state_grads``.
        """
        params = self._cell_params(layer, direction)
        steps, lengths = cache.steps, cache.lengths
        layer_in = cache.inputs[layer]
        index = layer * self.num_directions + direction
        starts, keep = cache.starts[index], cache.recurrent_keeps[index]
        pieces, d_state = [], d_last
        for (start, stop), state0 in zip(reversed(cache.bounds), reversed(starts)):
            where = _step_index(steps, lengths, direction, start, stop)
            seg_mask = None if cache.mask is None else cache.mask[:, start:stop]
            _, seg_cache = self._cell_forward(params, _take_steps(layer_in, where), state0,
                                              seg_mask, keep=keep)  # the recomputation
            d_y_seg = _take_steps(d_y, where)  # (B, n, H)
            if isinstance(where, slice):
                # The cells' backward writes into its time-major "copy" of d_out, which
                # is a view of it when B == 1: hand it our own copy, not the caller's.
                d_y_seg = d_y_seg.copy()
            grads = self.cell.backward(params, seg_cache, d_y_seg, d_state)
            del seg_cache  # free before the next segment's recomputation
            _put_steps(d_in, where, grads.dx, add=direction == 1)
            self._accumulate(layer, direction, grads)
            d_state = grads.d_state0
            if self.track_state_grads:
                pieces.append(grads.d_states)
            del grads
        return d_state, self._concat_steps(pieces[::-1]) if pieces else None

    def _concat_steps(self, pieces: list):
        """Time-major pieces (n_i, B, H) (pairs for LSTM), in time order -> (T, B, H)."""
        xp = get_xp(pieces[0] if len(self.state_names) == 1 else pieces[0][0])
        if len(self.state_names) == 1:
            return xp.concatenate(pieces, axis=0)
        return tuple(xp.concatenate(parts, axis=0) for parts in zip(*pieces))

    def _recompute_gates(self, cache: _Checkpoints, layer: int, direction: int):
        """The activated gates (T, B, G*H), time-major, recomputed segment by segment."""
        params = self._cell_params(layer, direction)
        layer_in = cache.inputs[layer]
        index = layer * self.num_directions + direction
        starts, keep = cache.starts[index], cache.recurrent_keeps[index]
        pieces = []
        for (start, stop), state0 in zip(cache.bounds, starts):
            where = _step_index(cache.steps, cache.lengths, direction, start, stop)
            seg_mask = None if cache.mask is None else cache.mask[:, start:stop]
            _, seg_cache = self._cell_forward(params, _take_steps(layer_in, where), state0,
                                              seg_mask, keep=keep)
            pieces.append(seg_cache.gates)  # (n, B, G*H)
        return get_xp(layer_in).concatenate(pieces, axis=0)
