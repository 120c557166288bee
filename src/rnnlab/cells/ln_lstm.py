"""The layer-normalized LSTM over a whole sequence, and its BPTT: the fast path of the
specification :mod:`rnnlab.reference.ln_lstm` (Ba, Kiros & Hinton 2016), whose numbered
equations (1)-(6) tag the lines here.

Shapes: B batch, T steps, I inputs, H hidden units, gates i, f, g, o stacked to 4H.

What is hoisted out of the time loop: the input side of (1), W_ih x_t and its layer norm
LN_ih, for every t at once (neither depends on the past), and after the loop LN_ih's
backward and the weight sums, each one operation over all T*B rows. The loop keeps the
recurrent product and one compiled step (:mod:`rnnlab.cells.compiled.ln_lstm`: LN_hh, the
gates, the cell update, LN_c), the skeleton every cell shares (:mod:`rnnlab.cells.common`).
"""

from __future__ import annotations

from typing import NamedTuple

from rnnlab.backend import get_xp
from rnnlab.cells.common import (Grads, Workspace, backward_product, backward_steps, bias_grads,
                                 final_state_grad, forward_steps, masked_outputs, normalized_inputs,
                                 normalized_inputs_back, recurrent_inputs, recurrent_product,
                                 sequence_inputs, time_major, weight_grads)
from rnnlab.cells.compiled import ln_lstm as compiled

GATES = ("i", "f", "g", "o")
NORMS = ("ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias", "ln_c_weight",
         "ln_c_bias")


def split_gates(a):
    """(..., 4H) -> the views i, f, g, o, each (..., H)."""
    hidden = a.shape[-1] // 4
    return tuple(a[..., k * hidden:(k + 1) * hidden] for k in range(4))


class LNParams(NamedTuple):
    """One direction of one layer: the LSTM's parameters, the three layer norms' gains and
    biases, and their eps."""

    weight_ih: object  # (4H, I)
    weight_hh: object  # (4H, H)
    bias_ih: object  # (4H,) or None
    bias_hh: object  # (4H,) or None
    ln_ih_weight: object  # (4H,)
    ln_ih_bias: object  # (4H,)
    ln_hh_weight: object  # (4H,)
    ln_hh_bias: object  # (4H,)
    ln_c_weight: object  # (H,)
    ln_c_bias: object  # (H,)
    eps: float


class Cache(NamedTuple):
    """What backward needs from forward."""

    x: object  # (T, B, I) inputs, time-major
    h: object  # (T+1, B, H)
    c: object  # (T+1, B, H)
    gates: object  # (T, B, 4H) activated gates i, f, g, o
    tanh_n: object  # (T, B, H) tanh(LN_c(c_t))
    ln_ih: tuple  # LN_ih's normalized rows (T*B, 4H) and scales (T*B,), every t at once
    hh_hat: object  # (T, B, 4H) LN_hh's normalized rows
    c_hat: object  # (T, B, H) LN_c's normalized rows
    scales: object  # (T, B, 2) their s = sqrt(var + eps): LN_hh's, LN_c's
    valid: object  # (T, B) bool
    keep: object = None  # (B, H) recurrent dropout's scaled mask on h_{t-1}, or None


def _norms(params: LNParams) -> tuple:
    return params.ln_hh_weight, params.ln_hh_bias, params.ln_c_weight, params.ln_c_bias


def forward(params: LNParams, x, state0, mask=None, workspace=None, keep=None):
    """Equations (1)-(6) over a whole sequence: ``(y (B, T, H), cache)``; the interface of
    :mod:`rnnlab.cells`."""
    ws = Workspace() if workspace is None else workspace
    h0, c0 = state0
    batch, steps, _ = x.shape
    hidden = h0.shape[-1]
    x_tm, valid, a_ih = sequence_inputs(params, x, mask, ws, "a_ih")  # W_ih x_t, every t
    z_ih, ln_ih = normalized_inputs(params, a_ih, ws)  # (1), the input side and b, every t
    h = ws.empty("h", (steps + 1, batch, hidden), x)
    c = ws.empty("c", h.shape, x)
    h[0], c[0] = h0, c0
    gates = ws.empty("gates", (steps, batch, 4 * hidden), x)
    hh_hat = ws.empty("hh_hat", gates.shape, x)
    tanh_n = ws.empty("tanh_n", (steps, batch, hidden), x)
    c_hat = ws.empty("c_hat", tanh_n.shape, x)
    scales = ws.empty("scales", (steps, batch, 2), x)
    product = recurrent_product(params, batch, keep, ws)  # h_{t-1} @ W_hh^T, packed if small
    # for t: W_hh h_{t-1} into product.out, then (1)-(5) by the step kernel
    forward_steps(product, compiled, h, z_ih, product.out, _norms(params), params.eps, valid,
                  h, c, gates, tanh_n, hh_hat, c_hat, scales)
    y = masked_outputs(h, valid, mask is not None)  # (6)
    return y, Cache(x_tm, h, c, gates, tanh_n, ln_ih, hh_hat, c_hat, scales, valid, keep)


def backward(params: LNParams, cache: Cache, d_out, d_last=None, workspace=None) -> Grads:
    """BPTT of equations (6)-(1) for t = T..1; LN_ih's backward and the weight sums after
    the loop. ``Grads.d_norm`` holds the layer norms' gains' and biases' gradients."""
    xp = get_xp(d_out)
    ws = Workspace() if workspace is None else workspace
    x_tm, h, c, gates, tanh_n, ln_ih, hh_hat, c_hat, scales, valid, keep = cache
    dh_last, dc_last = (None, None) if d_last is None else d_last
    dy = time_major(d_out, ws.empty("dy", tanh_n.shape, tanh_n))  # (T, B, H), our own copy
    product = backward_product(params, dh_last, h[0], keep)  # dz_hh_t @ W_hh
    dh_next = product.out  # dL/dh_T, then the part of dL/dh_{t-1} through W_hh
    dc = final_state_grad(dc_last, c[0])  # dL/dc_T, then dL/dc_{t-1}, in place
    carry = xp.zeros_like(dc)  # what padded steps pass straight through
    da = ws.empty("da", gates.shape, gates)  # (T, B, 4H) dL/d(pre-activations)
    dz_hh = ws.empty("dz_hh", gates.shape, gates)  # (T, B, 4H) through LN_hh
    dc_all = ws.empty("dc_all", dy.shape, dy)  # (T, B, H) dL/dc_t, for diagnostics
    dbias = xp.zeros_like(gates[0, 0])  # (4H,) sum over t and the batch of da
    norms = _norms(params)
    d_norms = tuple(xp.zeros_like(n) for n in norms)
    # for t: (6)-(1) by the step kernel, down to LN_hh'; then dL/dh_{t-1} through W_hh
    backward_steps(product, compiled, dz_hh, dy, dh_next, carry, dc, gates, c, tanh_n, hh_hat,
                   c_hat, scales, norms, d_norms, valid, da, dz_hh, dc_all, dbias)
    dh0 = dh_next + carry  # dL/dh_0
    dz_ih, dg_ih, db_ih_ln = normalized_inputs_back(params, ln_ih, da, ws)  # (1) LN_ih', every t
    dx, dw_ih, dw_hh = weight_grads(params, x_tm, recurrent_inputs(h, keep), dz_ih, dz_hh)
    db_ih, db_hh = bias_grads(params, dbias)
    d_norm = dict(zip(NORMS, (dg_ih, db_ih_ln) + d_norms))
    # dy now holds dh_t, the total gradient at every step: kept with dc_t for diagnostics.
    return Grads(dx, (dh0, dc), dw_ih, dw_hh, db_ih, db_hh, (dy, dc_all), d_norm)


def final_state(cache: Cache):
    """(h_T, c_T), each (B, H): each sequence's state at its own last valid step."""
    return cache.h[-1], cache.c[-1]
