"""The layer-normalized GRU over a whole sequence, and its BPTT: the fast path of the
specification :mod:`rnnlab.reference.ln_gru` (Ba, Kiros & Hinton 2016), whose numbered
equations (1)-(7) tag the lines here.

Shapes: B batch, T steps, I inputs, H hidden units, gates r, z, n stacked to 3H.

What is hoisted out of the time loop: the input side (1), W_ih x_t, its layer norm LN_ih
and b_ih, for every t at once (none depends on the past), and after the loop LN_ih's
backward and the weight sums, each one operation over all T*B rows.
The loop keeps the recurrent product and one compiled step
(:mod:`rnnlab.cells.compiled.ln_gru`: LN_hh and the gate work), the skeleton every cell
shares (:mod:`rnnlab.cells.common`).
"""

from __future__ import annotations

from typing import NamedTuple

from rnnlab.backend import get_xp
from rnnlab.cells.common import (Grads, Workspace, backward_product, backward_steps, bias_grads,
                                 forward_steps, kernel_biases, masked_outputs, normalized_inputs,
                                 normalized_inputs_back, recurrent_inputs, recurrent_product,
                                 sequence_inputs, time_major, weight_grads)
from rnnlab.cells.compiled import ln_gru as compiled
from rnnlab.cells.gru import GATES, split_gates

__all__ = ["GATES", "NORMS", "LNParams", "forward", "backward", "final_state", "split_gates"]

NORMS = ("ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias")


class LNParams(NamedTuple):
    """One direction of one layer: the GRU's parameters, the two layer norms' gains and
    biases, and their eps."""

    weight_ih: object  # (3H, I)
    weight_hh: object  # (3H, H)
    bias_ih: object  # (3H,) or None
    bias_hh: object  # (3H,) or None
    ln_ih_weight: object  # (3H,)
    ln_ih_bias: object  # (3H,)
    ln_hh_weight: object  # (3H,)
    ln_hh_bias: object  # (3H,)
    eps: float


class Cache(NamedTuple):
    """What backward needs from forward."""

    x: object  # (T, B, I) inputs, time-major
    h: object  # (T+1, B, H) states h_0..h_T
    gates: object  # (T, B, 3H) activated r, z, n
    h_n: object  # (T, B, H) the candidate's recurrent part, (2)'s h_n
    ln_ih: tuple  # LN_ih's cache, every t at once
    hh_hat: object  # (T, B, 3H) LN_hh's normalized rows
    scales: object  # (T, B) LN_hh's s = sqrt(var + eps)
    valid: object  # (T, B) bool
    keep: object = None  # (B, H) recurrent dropout's scaled mask on h_{t-1}, or None


def forward(params: LNParams, x, h0, mask=None, workspace=None, keep=None):
    """Equations (1)-(7) over a whole sequence: ``(y (B, T, H), cache)``; the interface of
    :mod:`rnnlab.cells`."""
    ws = Workspace() if workspace is None else workspace
    batch, steps, _ = x.shape
    hidden = h0.shape[-1]
    x_tm, valid, a_ih = sequence_inputs(params, x, mask, ws, "a_ih")  # W_ih x_t, every t
    z_ih, ln_ih = normalized_inputs(params, a_ih, ws, with_bias_hh=False)  # (1), every t
    _, b_hh = kernel_biases(params)  # added on the recurrent side, (2)
    h = ws.empty("h", (steps + 1, batch, hidden), x)  # (T+1, B, H)
    h[0] = h0
    gates = ws.empty("gates", (steps, batch, 3 * hidden), x)
    hh_hat = ws.empty("hh_hat", gates.shape, x)
    h_n = ws.empty("h_n", (steps, batch, hidden), x)
    scales = ws.empty("scales", (steps, batch), x)
    product = recurrent_product(params, batch, keep, ws)  # h_{t-1} @ W_hh^T, packed if small
    norms = (params.ln_hh_weight, params.ln_hh_bias)
    # for t: W_hh h_{t-1} into product.out, then (2)-(6) by the step kernel
    forward_steps(product, compiled, h, z_ih, product.out, norms, params.eps, b_hh, valid, h,
                  gates, h_n, hh_hat, scales)
    y = masked_outputs(h, valid, mask is not None)  # (7)
    return y, Cache(x_tm, h, gates, h_n, ln_ih, hh_hat, scales, valid, keep)


def backward(params: LNParams, cache: Cache, d_out, d_last=None, workspace=None) -> Grads:
    """BPTT of equations (7)-(1) for t = T..1; LN_ih's backward and the weight sums after
    the loop. ``Grads.d_norm`` holds the layer norms' gains' and biases'
    gradients; ``Grads.d_states``: dL/dh_t, time-major (T, B, H)."""
    xp = get_xp(d_out)
    ws = Workspace() if workspace is None else workspace
    x_tm, h, gates, h_n, ln_ih, hh_hat, scales, valid, keep = cache
    dy = time_major(d_out, ws.empty("dy", h_n.shape, h_n))  # (T, B, H), our own copy
    product = backward_product(params, d_last, h[0], keep)  # dz_hh_t @ W_hh
    dh_next = product.out  # dL/dh_T, then the part of dL/dh_{t-1} through W_hh
    carry = xp.zeros_like(h[0])  # the part of dL/dh_t that bypasses W_hh
    d_in = ws.empty("d_in", gates.shape, gates)  # (T, B, 3H) input side, (1)
    dz_hh = ws.empty("dz_hh", gates.shape, gates)  # (T, B, 3H) through LN_hh, (2)
    dbias_ih = xp.zeros_like(gates[0, 0])  # (3H,) sums over t and the batch, by the kernel
    dbias_hh = xp.zeros_like(dbias_ih)
    d_norms = (xp.zeros_like(params.ln_hh_weight), xp.zeros_like(params.ln_hh_bias))
    # for t: (7)-(2), (6) and LN_hh' by the step kernel; then dL/dh_{t-1} through W_hh
    backward_steps(product, compiled, dz_hh, dy, dh_next, carry, gates, h, h_n, valid, hh_hat,
                   scales, params.ln_hh_weight, d_norms, d_in, dz_hh, dbias_ih, dbias_hh)
    dh0 = dh_next + carry  # dL/dh_0  (B, H)
    dz_ih, dg_ih, db_ih_ln = normalized_inputs_back(params, ln_ih, d_in, ws)  # (1), every t
    dx, dw_ih, dw_hh = weight_grads(params, x_tm, recurrent_inputs(h, keep), dz_ih, dz_hh)
    db_ih, db_hh = bias_grads(params, dbias_ih, dbias_hh)
    d_norm = dict(zip(NORMS, (dg_ih, db_ih_ln) + d_norms))
    # dy now holds dh_t (7), the total gradient at every step: kept for diagnostics.
    return Grads(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dy, d_norm)


def final_state(cache: Cache):
    """h_T (B, H): each sequence's state at its own last valid step."""
    return cache.h[-1]
