"""The LSTM over a whole sequence, and its Backpropagation Through Time.

Shapes: B batch, T steps, I input features, H hidden units; the four gates stack to 4H in
PyTorch's order i, f, g, o.

Notes
-----
Forward, for t = 1..T (PyTorch's ``nn.LSTM``; the tutorial's gates with [h_{t-1}, x_t] split
into W_ih x_t + W_hh h_{t-1}):

    (1) [a_i, a_f, a_g, a_o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    (2) i = sigmoid(a_i), f = sigmoid(a_f), g = tanh(a_g), o = sigmoid(a_o)
    (3) c_t = f * c_{t-1} + i * g
    (4) h_t = o * tanh(c_t)
    (5) (h_t, c_t) = (h_{t-1}, c_{t-1})     at a padded step (m_t = 0)
    (6) y_t = m_t h_t

where i is the input gate, f the forget gate, g the candidate (the tutorial's C~_t), o the output
gate, c_t the cell state (c_0 given), h_t the hidden state (h_0 given), W_ih (4H, I), W_hh
(4H, H), b_ih and b_hh (4H,), and m_t in {0, 1} marks valid steps.

Backward, for t = T..1, carrying dh_next = dL/dh_t and dc_next = dL/dc_t from the future:

    (6) dh = m_t dy_t + dh_next
    (4) do = dh * tanh(c_t)
    (4) dc = dc_next + dh * o * (1 - tanh(c_t)^2)
    (3) di = dc * g,  dg = dc * i,  df = dc * c_{t-1},  dc_next <- dc * f
    (2) da_i = di i (1 - i),  da_f = df f (1 - f),  da_g = dg (1 - g^2),  da_o = do o (1 - o)
    (1) dh_next <- da W_hh
    (5) at a padded step da = 0 and (dh_next, dc_next) <- (dh, dc_next) unchanged

The additive path (3), dc_{t-1} = dc_t * f, is why the gradient can survive many steps: it
is scaled by the forget gate, not by a weight matrix and a squashing derivative.
The shared weights' gradients are sums over t, each one matrix product after the loop; the
bias gradient db_ih = db_hh = sum_t da (and over the batch) is added up by the step kernel.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnlab.backend import get_xp
from rnnlab.cells import parallel
from rnnlab.cells.compiled import lstm as compiled
from rnnlab.cells.common import (Grads, Params, Workspace, backward_product, backward_steps,
                                 bias_grads, final_state_grad, forward_steps, kernel_biases,
                                 masked_outputs, recurrent_inputs, recurrent_product,
                                 sequence_inputs, time_major, weight_grads)

GATES = ("i", "f", "g", "o")  # PyTorch's order of the 4H rows of W_ih, W_hh, b_ih, b_hh


def split_gates(a):
    """(..., 4H) -> the views i, f, g, o, each (..., H); the one place that knows the order."""
    hidden = a.shape[-1] // 4
    return tuple(a[..., k * hidden:(k + 1) * hidden] for k in range(4))


class Cache(NamedTuple):
    """What backward needs from forward."""

    x: object  # (T, B, I) inputs, time-major
    h: object  # (T+1, B, H) hidden states h_0..h_T
    c: object  # (T+1, B, H) cell states c_0..c_T
    gates: object  # (T, B, 4H) activated gates i, f, g, o
    tanh_c: object  # (T, B, H) tanh(c_t)
    valid: object  # (T, B) bool, False at padded steps (all True without a mask)
    keep: object = None  # (B, H) recurrent dropout's scaled mask on h_{t-1}, or None


def forward(params: Params, x, state0, mask=None, workspace=None, keep=None):
    """Equations (1)-(6) over a whole sequence: ``(y (B, T, H), cache)`` from x (B, T, I) and
    state0 = (h_0, c_0), each (B, H).
    The interface: :mod:`rnnlab.cells`; ``params``: weight_ih (4H, I), weight_hh (4H, H),
    bias_ih and bias_hh (4H,) or None.
    """
    ws = Workspace() if workspace is None else workspace
    h0, c0 = state0
    batch, steps, _ = x.shape
    hidden = h0.shape[-1]
    threads = parallel.usable(params, x, keep)  # the loop on rnnlab's threads, (1) in it
    x_tm, valid, gates = sequence_inputs(params, x, mask, ws, "gates", project=not threads)
    b_ih, b_hh = kernel_biases(params)
    bias = b_ih + b_hh  # (4H,) added by the kernel
    h = ws.empty("h", (steps + 1, batch, hidden), x)  # (T+1, B, H)
    c = ws.empty("c", h.shape, x)  # (T+1, B, H)
    tanh_c = ws.empty("tanh_c", (steps, batch, hidden), x)  # (T, B, H)
    h[0] = h0
    c[0] = c0
    if threads:  # for t, each block of rows: (1) as one packed product, then (1)-(5)
        parallel.forward(compiled.forward_rows, params, x, ws, bias, valid, gates, h, c, tanh_c)
    else:
        product = recurrent_product(params, batch, keep, ws)  # h_{t-1} @ W_hh^T
        # for t: (1) W_hh h_{t-1} into product.out (B, 4H), then (1)-(5) by the step kernel
        forward_steps(product, compiled, h, gates, product.out, bias, valid, h, c, tanh_c)
    y = masked_outputs(h, valid, mask is not None)  # (6)
    return y, Cache(x_tm, h, c, gates, tanh_c, valid, keep)


def infer(params: Params, x, state0, mask=None, workspace=None, keep=None):
    """Equations (1)-(6) without a cache, for ``rnnlab.no_grad()``: ``(y, (h_T, c_T))``,
    forward's y and final state (each row's at its last valid step) as new arrays.

    The same arithmetic as :func:`forward` but for the order of one sum: both halves of (1)
    are one packed product per step, [x_t, h_{t-1}] @ [W_ih^T; W_hh^T] (within 1e-12 of
    forward in float64). Nothing is written but the rolling state and y; the batch runs in
    one block of rows per core (:mod:`rnnlab.cells.threads`). With recurrent dropout's
    ``keep``, or CuPy arrays, it is :func:`forward` with the cache dropped.
    """
    if keep is not None or get_xp(x) is not np:
        y, cache = forward(params, x, state0, mask, workspace, keep)
        return y, tuple(s.copy() for s in final_state(cache))
    y, h, c = parallel.inference_run(compiled.infer_rows, x, state0, mask,
                                     *parallel.stacked_weights(params))
    return y, (h, c)


def backward(params: Params, cache: Cache, d_out, d_last=None, workspace=None) -> Grads:
    """BPTT of equations (6)-(1) for t = T..1, the weight sums as matrix products after the
    loop (the interface: :mod:`rnnlab.cells`). d_last: (dL/dh_T, dL/dc_T), either may be
    None; Grads.d_states: (dL/dh_t, dL/dc_t), time-major (T, B, H).
    """
    xp = get_xp(d_out)
    ws = Workspace() if workspace is None else workspace
    x_tm, h, c, gates, tanh_c, valid, keep = cache
    dh_last, dc_last = (None, None) if d_last is None else d_last
    dy = time_major(d_out, ws.empty("dy", tanh_c.shape, tanh_c))  # (T, B, H), our own copy
    dc = final_state_grad(dc_last, c[0])  # dL/dc_T  (B, H), then dL/dc_{t-1}, in place
    da = ws.empty("da", gates.shape, gates)  # (T, B, 4H)
    dc_all = ws.empty("dc_all", dy.shape, dy)  # (T, B, H) dL/dc_t, kept for diagnostics
    carry = xp.zeros_like(dc)  # what padded steps pass straight through
    h_prev = recurrent_inputs(h, keep)  # (T, B, H), what W_hh multiplied
    if parallel.usable(params, x_tm.swapaxes(0, 1), keep):  # on rnnlab's threads
        dh_next = final_state_grad(dh_last, h[0])
        dbias = parallel.backward(compiled.backward_rows, params, dy, dh_next, carry, dc,
                                  gates, c, tanh_c, valid, da, dc_all)
        dx, dw_ih, dw_hh = parallel.weight_grads(params.weight_ih, x_tm, h_prev, da, da)
    else:
        product = backward_product(params, dh_last, h[0], keep)  # da_t @ W_hh
        dh_next = product.out  # dL/dh_T (B, H), then the part of dL/dh_{t-1} through W_hh
        dbias = xp.zeros_like(gates[0, 0])  # (4H,) sum over t and the batch of da
        # for t: (6)-(2), (5) by the step kernel, then (1) dL/dh_{t-1} through W_hh
        backward_steps(product, compiled, da, dy, dh_next, carry, dc, gates, c, tanh_c, valid,
                       da, dc_all, dbias)
        dx, dw_ih, dw_hh = weight_grads(params, x_tm, h_prev, da, da)
    dh0 = dh_next + carry  # dL/dh_0  (B, H)
    db_ih, db_hh = bias_grads(params, dbias)
    # dy now holds dh_t (6), the total gradient at every step: kept with dc_t for diagnostics.
    return Grads(dx, (dh0, dc), dw_ih, dw_hh, db_ih, db_hh, (dy, dc_all))


def final_state(cache: Cache):
    """(h_T, c_T), each (B, H): each sequence's state at its own last valid step."""
    return cache.h[-1], cache.c[-1]
