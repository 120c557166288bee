"""The vanilla (Elman) RNN over a whole sequence, and its Backpropagation Through Time.

Shapes: B batch, T steps, I input features, H hidden units.

Notes
-----
Forward, for t = 1..T (PyTorch's ``nn.RNN``; the tutorial's h_t = f(W_h h_{t-1} + W_x x_t + b)):

    (1) a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    (2) h_t = f(a_t)
    (3) h_t = h_{t-1}            at a padded step (m_t = 0): the state passes through
    (4) y_t = m_t h_t            outputs at padded steps are zero

where x_t is the input at step t, h_t the hidden state (h_0 given), W_ih (H, I) and W_hh
(H, H) the shared weights, b_ih and b_hh (H,) the biases, f one of tanh, relu, sigmoid, and
m_t in {0, 1} marks the valid steps of each sequence.

Backward, for t = T..1, carrying dh_next = dL/dh_t from the future (dL/dh_T given):

    (4) dh_t = m_t dy_t + dh_next
    (2) da_t = m_t dh_t * f'(a_t)            f' from the output: tanh' = 1 - h_t^2
    (1) dh_next = da_t W_hh                  (3) or dh_t at a padded step

and the shared weights' gradients are the tutorial's sums over t, each one matrix product:
dW_ih = sum_t da_t^T x_t, dW_hh = sum_t da_t^T h_{t-1}, dx_t = da_t W_ih; the bias gradient
db_ih = db_hh = sum_t da_t (summed over the batch too) is added up by the step kernel.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnlab.backend import get_xp
from rnnlab.cells import parallel
from rnnlab.cells.compiled import rnn as compiled
from rnnlab.cells.common import (Grads, Params, Workspace, backward_product, backward_steps,
                                 bias_grads, final_state_grad, forward_steps, kernel_biases,
                                 masked_outputs, recurrent_inputs, recurrent_product,
                                 sequence_inputs, time_major, weight_grads)

CODES = {"tanh": compiled.TANH, "relu": compiled.RELU, "sigmoid": compiled.SIGMOID}


class Cache(NamedTuple):
    """What backward needs from forward."""

    x: object  # (T, B, I) inputs, time-major
    h: object  # (T+1, B, H) states h_0..h_T; h_t = f(a_t) at valid steps
    valid: object  # (T, B) bool, False at padded steps (all True without a mask)
    nonlinearity: str
    keep: object = None  # (B, H) recurrent dropout's scaled mask on h_{t-1}, or None


def forward(params: Params, x, h0, mask=None, nonlinearity: str = "tanh", workspace=None,
            keep=None):
    """Equations (1)-(4) over a whole sequence: ``(y (B, T, H), cache)`` from x (B, T, I) and
    h0 (B, H), the initial state.
    The interface: :mod:`rnnlab.cells`; ``params``: weight_ih (H, I), weight_hh (H, H),
    bias_ih and bias_hh (H,) or None.
    ``nonlinearity`` is f: "tanh", "relu" or "sigmoid".
    """
    ws = Workspace() if workspace is None else workspace
    batch, steps, _ = x.shape
    threads = parallel.usable(params, x, keep)  # the loop on rnnlab's threads, (1) in it
    x_tm, valid, a = sequence_inputs(params, x, mask, ws, "a", project=not threads)
    b_ih, b_hh = kernel_biases(params)
    bias = b_ih + b_hh  # (H,) added by the kernel
    h = ws.empty("h", (steps + 1, batch, h0.shape[-1]), x)  # (T+1, B, H)
    h[0] = h0
    code = CODES[nonlinearity]
    if threads:  # for t, each block of rows: (1) as one packed product, then (1)-(3)
        parallel.forward(compiled.forward_rows, params, x, ws, bias, valid, a, code, h)
    else:
        product = recurrent_product(params, batch, keep, ws)  # h_{t-1} @ W_hh^T
        # for t: (1) W_hh h_{t-1} into product.out, then (1)-(3) by the step kernel
        forward_steps(product, compiled, h, a, product.out, bias, valid, code, h)
    y = masked_outputs(h, valid, mask is not None)  # (4)
    return y, Cache(x_tm, h, valid, nonlinearity, keep)


def infer(params: Params, x, h0, mask=None, nonlinearity: str = "tanh", workspace=None,
          keep=None):
    """Equations (1)-(4) without a cache, for ``rnnlab.no_grad()``: ``(y, h_T)``, forward's
    y and final state (each row's at its last valid step) as new arrays; as
    :func:`rnnlab.cells.lstm.infer` (one packed product per step for both halves of (1),
    one block of rows per core; with ``keep`` or CuPy, :func:`forward`)."""
    if keep is not None or get_xp(x) is not np:
        y, cache = forward(params, x, h0, mask, nonlinearity, workspace, keep)
        return y, final_state(cache).copy()
    y, h = parallel.inference_run(compiled.infer_rows, x, h0, mask,
                                  *parallel.stacked_weights(params), CODES[nonlinearity])
    return y, h


def backward(params: Params, cache: Cache, d_out, d_last=None, workspace=None) -> Grads:
    """BPTT of equations (4)-(1) for t = T..1, the weight sums as matrix products after the
    loop (the interface: :mod:`rnnlab.cells`). d_last: dL/dh_T (B, H); Grads.d_states:
    dL/dh_t, time-major (T, B, H).
    """
    xp = get_xp(d_out)
    ws = Workspace() if workspace is None else workspace
    x_tm, h, valid, nonlinearity, keep = cache
    dy = time_major(d_out, ws.empty("dy", h[1:].shape, h))  # (T, B, H), our own copy
    carry = xp.zeros_like(h[0])  # what padded steps pass straight through
    da = ws.empty("da", dy.shape, dy)  # (T, B, H)
    code, h_prev = CODES[nonlinearity], recurrent_inputs(h, keep)
    if parallel.usable(params, x_tm.swapaxes(0, 1), keep):  # on rnnlab's threads
        dh_next = final_state_grad(d_last, h[0])
        dbias = parallel.backward(compiled.backward_rows, params, dy, dh_next, carry, h, valid,
                                  code, da)
        dx, dw_ih, dw_hh = parallel.weight_grads(params.weight_ih, x_tm, h_prev, da, da)
    else:
        product = backward_product(params, d_last, h[0], keep)  # da_t @ W_hh
        dh_next = product.out  # dL/dh_T (B, H), then the part of dL/dh_{t-1} through W_hh
        dbias = xp.zeros_like(h[0, 0])  # (H,) sum over t and the batch of da, by the kernel
        # for t: (4), (2), (3) by the step kernel, then (1) dL/dh_{t-1} through W_hh
        backward_steps(product, compiled, da, dy, dh_next, carry, h, valid, code, da, dbias)
        dx, dw_ih, dw_hh = weight_grads(params, x_tm, h_prev, da, da)
    dh0 = dh_next + carry  # dL/dh_0  (B, H)
    db_ih, db_hh = bias_grads(params, dbias)
    # dy now holds dh_t (4), the total gradient at every step: kept for diagnostics.
    return Grads(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dy)


def final_state(cache: Cache):
    """h_T (B, H): each sequence's state at its own last valid step."""
    return cache.h[-1]
