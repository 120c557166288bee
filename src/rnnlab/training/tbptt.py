"""Truncated Backpropagation Through Time over one batch, and the checks it needs.

Shapes: B batch, T steps, F features.

Notes
-----
Truncated BPTT, TBPTT(k1, k2) (Williams & Peng 1990; Sutskever 2013, section 2.8.6): every k1
steps, run BPTT back over the last k2 steps and update. Here the update at chunk end t uses
the losses of the k1 new steps [t - k1, t), back-propagated to the window start t - k2, where
the state is taken as a constant (a last, shorter chunk keeps the window start of a full
one). So the loss at step s keeps exactly the gradient paths through the weights' uses at
steps r >= t - k2, and drops the longer ones. With k1 = 1 (t = s + 1) that is every path of
s - r < k2 steps; with k1 = k2 = T it is full BPTT. k2 >= k1, or some new losses would have
no path at all.
"""

from __future__ import annotations

import math

import numpy as np

from rnnlab._checks import NonFiniteError, positive_int
from rnnlab.data import lengths_to_mask


def _recurrent_modules(model) -> list:
    modules = getattr(model, "modules", [model])
    return [m for m in modules if hasattr(m, "state_names")]


def _forward_with_state(model, x, lengths, state):
    """(output, final state) of a recurrent layer, or of a Sequential holding some."""
    if hasattr(model, "state_names"):
        return model.forward(x, lengths=lengths, state=state)
    return model.forward(x, lengths=lengths, state=state, return_state=True)


def _rows(state, rows):
    """The batch rows ``rows`` of a state: an (L*D, B, H) array, or nested tuples/lists."""
    if state is None:
        return None
    if isinstance(state, (list, tuple)):
        return type(state)(_rows(s, rows) for s in state)
    return state[:, rows]


def _put_rows(state, rows, new):
    """``state[:, rows] = new``, through nested tuples/lists, in place."""
    if isinstance(state, (list, tuple)):
        for s, n in zip(state, new):
            _put_rows(s, rows, n)
    else:
        state[:, rows] = new


def _full_state(model, batch: int, dtype):
    """Zeros shaped like ``model``'s state for ``batch`` sequences."""
    def zeros(m):
        shape = (m.num_layers * m.num_directions, batch, m.hidden_size)
        parts = tuple(np.zeros(shape, dtype=dtype) for _ in m.state_names)
        return parts[0] if len(parts) == 1 else parts
    if hasattr(model, "state_names"):
        return zeros(model)
    return [zeros(m) for m in _recurrent_modules(model)]


def check_tbptt(model, k1: int, k2: int) -> tuple:
    """Check (k1, k2) and that ``model`` can carry its state forward chunk by chunk."""
    k1, k2 = positive_int(k1, "k1"), positive_int(k2, "k2")
    if k2 < k1:
        raise ValueError(f"k2 must be >= k1 (each update back-propagates through at least its "
                         f"k1 new steps), got k1 = {k1}, k2 = {k2}")
    recurrent = _recurrent_modules(model)
    if not recurrent:
        raise TypeError(f"model must be a recurrent layer or a Sequential holding one for "
                        f"truncated BPTT, got {type(model).__name__}")
    if any(m.bidirectional for m in recurrent):
        raise ValueError("truncated BPTT needs a unidirectional model: a bidirectional layer's "
                         "reverse direction reads the future, which a chunk does not have")
    if any(hasattr(m, "chunk") for m in recurrent):
        raise ValueError("truncated BPTT needs a model with an output per step: a "
                         "HierarchicalRNN's state and outputs are per chunk")
    return k1, k2


def truncated_bptt(model, x, y, lengths, loss, k1: int, k2: int):
    """Run TBPTT(k1, k2) over one batch; yield after each chunk's backward pass.

    The model's gradients then hold that chunk's gradient: the caller clips, updates and
    zeroes them before asking for the next chunk (which runs on the updated weights). The
    state carries across chunks, and a sequence drops out of the chunks past its length.

    Parameters
    ----------
    model : recurrent layer, or Sequential holding one or more
        Its output must be per step, (B, T, ...).
    x : (B, T, F) float, or (B, T) int token ids for a Sequential that reads them
    y : (B, T, ...) per-step targets
    lengths : (B,) int
    loss : callable ``loss(prediction, target, mask) -> (value, d_prediction)``
        A mean over the elements the mask selects (``rnnlab.losses``).
    k1, k2 : int
        Steps between updates, steps back-propagated (k2 >= k1).

    Yields
    ------
    (value, count) : (float, int)
        The chunk's mean loss and the number of (sequence, step) pairs it averaged.
    """
    k1, k2 = check_tbptt(model, k1, k2)
    steps = x.shape[1]
    dtype = x.dtype if x.dtype.kind == "f" else model.dtype  # token ids: the model's floats
    anchor, anchor_state = 0, _full_state(model, x.shape[0], dtype)  # the state at `anchor`
    for start in range(0, steps, k1):
        end = min(start + k1, steps)
        window = max(0, start + k1 - k2)  # k2 steps back from the chunk's nominal end
        if window > anchor:  # advance the carried state to the window start, without backward
            rows = np.flatnonzero(lengths > window)
            _, state = _forward_with_state(model, x[rows, anchor:window], None,
                                           _rows(anchor_state, rows))
            _put_rows(anchor_state, rows, state)
            anchor = window
        rows = np.flatnonzero(lengths > start)  # the sequences with a loss in this chunk
        if rows.size == 0:
            break
        chunk_lengths = np.minimum(lengths[rows] - window, end - window)
        output, state = _forward_with_state(model, x[rows, window:end], chunk_lengths,
                                            _rows(anchor_state, rows))
        t = np.arange(end - window)
        mask = lengths_to_mask(chunk_lengths, end - window) & (t >= start - window)[None, :]
        value, d_output = loss(output, y[rows, window:end], mask)
        check_loss(value)
        model.backward(d_output)
        if k1 == k2:  # the next window starts at `end`: reuse this state instead of recomputing
            _put_rows(anchor_state, rows, state)
            anchor = end
        yield value, int(mask.sum())


def check_loss(value: float) -> None:
    """Raise ``NonFiniteError`` for a NaN or infinite loss, before its backward pass."""
    if not math.isfinite(value):
        raise NonFiniteError(f"the loss is {value}", "loss")

