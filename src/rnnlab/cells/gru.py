"""The GRU over a whole sequence, and its Backpropagation Through Time.

Shapes: B batch, T steps, I input features, H hidden units; the three gates stack to 3H in
PyTorch's order r, z, n.

Notes
-----
Forward, for t = 1..T (PyTorch's ``nn.GRU``, with the reset gate applied after W_hn):

    (1) [x_r, x_z, x_n] = W_ih x_t + b_ih
    (2) [h_r, h_z, h_n] = W_hh h_{t-1} + b_hh
    (3) r = sigmoid(x_r + h_r),  z = sigmoid(x_z + h_z)
    (4) n = tanh(x_n + r * h_n)
    (5) h_t = (1 - z) * n + z * h_{t-1}
    (6) h_t = h_{t-1}       at a padded step (m_t = 0)
    (7) y_t = m_t h_t

where r is the reset gate, z the update gate, n the candidate state, h_t the hidden state
(h_0 given), W_ih (3H, I), W_hh (3H, H), b_ih and b_hh (3H,), and m_t in {0, 1} marks valid
steps.

Backward, for t = T..1, carrying dh_next = dL/dh_t from the future:

    (7) dh = m_t dy_t + dh_next
    (5) dn = dh * (1 - z),  dz = dh * (h_{t-1} - n),  and dh * z flows straight to h_{t-1}
    (4) da_n = dn (1 - n^2),  dh_n = da_n * r,  dr = da_n * h_n
    (3) da_r = dr r (1 - r),  da_z = dz z (1 - z)
    (2) dh_next <- dh * z + [da_r, da_z, dh_n] W_hh
    (6) at a padded step the gradients of (1)-(5) are zero and dh_next <- dh

The input side (1) sees [da_r, da_z, da_n] and the recurrent side (2) [da_r, da_z, dh_n]:
the two differ in the candidate block, so W_ih and W_hh get different sums over t (one
matrix product each, after the loop), and so do b_ih and b_hh (added up by the step kernel).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnlab.backend import get_xp
from rnnlab.cells import parallel
from rnnlab.cells.compiled import gru as compiled
from rnnlab.cells.common import (Grads, Params, Workspace, backward_product, backward_steps,
                                 bias_grads, forward_steps, kernel_biases,
                                 masked_outputs, recurrent_inputs, recurrent_product,
                                 sequence_inputs, time_major, weight_grads)

GATES = ("r", "z", "n")  # PyTorch's order of the 3H rows of W_ih, W_hh, b_ih, b_hh


def split_gates(a):
    """(..., 3H) -> the views r, z, n, each (..., H); the one place that knows the order."""
    hidden = a.shape[-1] // 3
    return tuple(a[..., k * hidden:(k + 1) * hidden] for k in range(3))


class Cache(NamedTuple):
    """What backward needs from forward."""

    x: object  # (T, B, I) inputs, time-major
    h: object  # (T+1, B, H) states h_0..h_T
    gates: object  # (T, B, 3H) activated r, z, n
    h_n: object  # (T, B, H) W_hn h_{t-1} + b_hn, the candidate's recurrent part
    valid: object  # (T, B) bool, False at padded steps (all True without a mask)
    keep: object = None  # (B, H) recurrent dropout's scaled mask on h_{t-1}, or None


def forward(params: Params, x, h0, mask=None, workspace=None, keep=None):
    """Equations (1)-(7) over a whole sequence: ``(y (B, T, H), cache)`` from x (B, T, I) and
    h0 (B, H), the initial state.
    The interface: :mod:`rnnlab.cells`; ``params``: weight_ih (3H, I), weight_hh (3H, H),
    bias_ih and bias_hh (3H,) or None.
    """
    ws = Workspace() if workspace is None else workspace
    batch, steps, _ = x.shape
    hidden = h0.shape[-1]
    x_tm, valid, gates = sequence_inputs(params, x, mask, ws, "gates")  # (1) without b_ih
    h = ws.empty("h", (steps + 1, batch, hidden), x)  # (T+1, B, H)
    h_n = ws.empty("h_n", (steps, batch, hidden), x)  # (T, B, H)
    h[0] = h0
    bias_ih, bias_hh = kernel_biases(params)  # (3H,) each, added by the kernel
    product = recurrent_product(params, batch, keep, ws)  # h_{t-1} @ W_hh^T, packed if small
    # for t: (2) without b_hh into product.out (B, 3H), then (1)-(6) by the step kernel
    forward_steps(product, compiled, h, gates, product.out, bias_ih, bias_hh, valid, h, h_n)
    y = masked_outputs(h, valid, mask is not None)  # (7)
    return y, Cache(x_tm, h, gates, h_n, valid, keep)


def infer(params: Params, x, h0, mask=None, workspace=None, keep=None):
    """Equations (1)-(7) without a cache, for ``rnnlab.no_grad()``: ``(y, h_T)``, forward's
    y and final state (each row's at its last valid step) as new arrays; as
    :func:`rnnlab.cells.lstm.infer`, one block of rows per core (with ``keep`` or CuPy,
    :func:`forward`). One packed product per step gives [a_r, a_z, W_in x_t, W_hn h_{t-1}]:
    the candidate keeps its two halves apart, since r multiplies the recurrent one (4)."""
    if keep is not None or get_xp(x) is not np:
        y, cache = forward(params, x, h0, mask, workspace, keep)
        return y, final_state(cache).copy()
    w_ih, w_hh = params.weight_ih, params.weight_hh
    hidden, n_in = w_hh.shape[1], w_ih.shape[1]
    weights = np.zeros((n_in + hidden, 4 * hidden), dtype=w_ih.dtype)  # (I+H, 4H)
    weights[:n_in, :3 * hidden] = w_ih.T  # x_t -> a_r, a_z, W_in x_t
    weights[n_in:, :2 * hidden] = w_hh[:2 * hidden].T  # h_{t-1} -> a_r, a_z
    weights[n_in:, 3 * hidden:] = w_hh[2 * hidden:].T  # h_{t-1} -> W_hn h_{t-1}
    b_ih, b_hh = kernel_biases(params)
    bias = np.concatenate([b_ih[:2 * hidden] + b_hh[:2 * hidden], b_ih[2 * hidden:],
                           b_hh[2 * hidden:]])
    y, h = parallel.inference_run(compiled.infer_rows, x, h0, mask, weights, bias)
    return y, h


def backward(params: Params, cache: Cache, d_out, d_last=None, workspace=None) -> Grads:
    """BPTT of equations (7)-(1) for t = T..1, the weight sums as matrix products after the
    loop (the interface: :mod:`rnnlab.cells`). d_last: dL/dh_T (B, H); Grads.d_states:
    dL/dh_t, time-major (T, B, H).
    """
    xp = get_xp(d_out)
    ws = Workspace() if workspace is None else workspace
    x_tm, h, gates, h_n, valid, keep = cache
    dy = time_major(d_out, ws.empty("dy", h_n.shape, h_n))  # (T, B, H), our own copy
    product = backward_product(params, d_last, h[0], keep)  # da_h_t @ W_hh, packed if small
    dh_next = product.out  # dL/dh_T (B, H), then the part of dL/dh_{t-1} through W_hh
    carry = xp.zeros_like(h[0])  # the part of dL/dh_t that bypasses W_hh
    da_x = ws.empty("da_x", gates.shape, gates)  # (T, B, 3H) input-side pre-activations
    da_h = ws.empty("da_h", gates.shape, gates)  # (T, B, 3H) ... and the recurrent side
    dbias_ih = xp.zeros_like(gates[0, 0])  # (3H,) sums over t and the batch, by the kernel
    dbias_hh = xp.zeros_like(dbias_ih)
    # for t: (7)-(3), (6) by the step kernel, then (2) dL/dh_{t-1} through W_hh
    backward_steps(product, compiled, da_h, dy, dh_next, carry, gates, h, h_n, valid, da_x,
                   da_h, dbias_ih, dbias_hh)
    dh0 = dh_next + carry  # dL/dh_0  (B, H)
    dx, dw_ih, dw_hh = weight_grads(params, x_tm, recurrent_inputs(h, keep), da_x, da_h)
    db_ih, db_hh = bias_grads(params, dbias_ih, dbias_hh)
    # dy now holds dh_t (7), the total gradient at every step: kept for diagnostics.
    return Grads(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dy)


def final_state(cache: Cache):
    """h_T (B, H): each sequence's state at its own last valid step."""
    return cache.h[-1]
