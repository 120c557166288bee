"""The layer-normalized Elman RNN over a whole sequence, and its BPTT: the fast path of the
specification :mod:`rnnlab.reference.ln_rnn` (Ba, Kiros & Hinton 2016), whose numbered
equations (1)-(4) tag the lines here.

Shapes: B batch, T steps, I inputs, H hidden units.

What is hoisted out of the time loop: the input side of (1), W_ih x_t and its layer norm
LN_ih, for every t at once (neither depends on the past), and after the loop LN_ih's
backward and the weight sums, each one operation over all T*B rows. The loop keeps the
recurrent product and one compiled step (:mod:`rnnlab.cells.compiled.ln_rnn`: LN_hh and the
nonlinearity), the skeleton every cell shares (:mod:`rnnlab.cells.common`).
"""

from __future__ import annotations

from typing import NamedTuple

from rnnlab.backend import get_xp
from rnnlab.cells.common import (Grads, Workspace, backward_product, backward_steps, bias_grads,
                                 forward_steps, masked_outputs, normalized_inputs,
                                 normalized_inputs_back, recurrent_inputs, recurrent_product,
                                 sequence_inputs, time_major, weight_grads)
from rnnlab.cells.compiled import ln_rnn as compiled
from rnnlab.cells.rnn import CODES

NORMS = ("ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias")


class LNParams(NamedTuple):
    """One direction of one layer: the RNN's parameters, the two layer norms' gains and
    biases, and their eps."""

    weight_ih: object  # (H, I)
    weight_hh: object  # (H, H)
    bias_ih: object  # (H,) or None
    bias_hh: object  # (H,) or None
    ln_ih_weight: object  # (H,)
    ln_ih_bias: object  # (H,)
    ln_hh_weight: object  # (H,)
    ln_hh_bias: object  # (H,)
    eps: float


class Cache(NamedTuple):
    """What backward needs from forward."""

    x: object  # (T, B, I) inputs, time-major
    h: object  # (T+1, B, H) states h_0..h_T; h_t = f(a_t) at valid steps
    ln_ih: tuple  # LN_ih's cache, every t at once
    hh_hat: object  # (T, B, H) LN_hh's normalized rows
    scales: object  # (T, B) LN_hh's s = sqrt(var + eps)
    valid: object  # (T, B) bool
    nonlinearity: str
    keep: object = None  # (B, H) recurrent dropout's scaled mask on h_{t-1}, or None


def forward(params: LNParams, x, h0, mask=None, nonlinearity: str = "tanh", workspace=None,
            keep=None):
    """Equations (1)-(4) over a whole sequence: ``(y (B, T, H), cache)``; the interface of
    :mod:`rnnlab.cells`, ``nonlinearity`` f as :func:`rnnlab.cells.rnn.forward`'s."""
    ws = Workspace() if workspace is None else workspace
    batch, steps, _ = x.shape
    hidden = h0.shape[-1]
    x_tm, valid, a_ih = sequence_inputs(params, x, mask, ws, "a_ih")  # W_ih x_t, every t
    z_ih, ln_ih = normalized_inputs(params, a_ih, ws)  # (1), the input side and b, every t
    h = ws.empty("h", (steps + 1, batch, hidden), x)  # (T+1, B, H)
    h[0] = h0
    hh_hat = ws.empty("hh_hat", (steps, batch, hidden), x)
    scales = ws.empty("scales", (steps, batch), x)
    product = recurrent_product(params, batch, keep, ws)  # h_{t-1} @ W_hh^T, packed if small
    norms = (params.ln_hh_weight, params.ln_hh_bias)
    # for t: W_hh h_{t-1} into product.out, then (1)-(3) by the step kernel
    forward_steps(product, compiled, h, z_ih, product.out, norms, params.eps, valid,
                  CODES[nonlinearity], h, hh_hat, scales)
    y = masked_outputs(h, valid, mask is not None)  # (4)
    return y, Cache(x_tm, h, ln_ih, hh_hat, scales, valid, nonlinearity, keep)


def backward(params: LNParams, cache: Cache, d_out, d_last=None, workspace=None) -> Grads:
    """BPTT of equations (4)-(1) for t = T..1; LN_ih's backward and the weight sums after
    the loop. ``Grads.d_norm`` holds the layer norms' gains' and biases' gradients;
    ``Grads.d_states``: dL/dh_t, time-major (T, B, H)."""
    xp = get_xp(d_out)
    ws = Workspace() if workspace is None else workspace
    x_tm, h, ln_ih, hh_hat, scales, valid, nonlinearity, keep = cache
    dy = time_major(d_out, ws.empty("dy", hh_hat.shape, hh_hat))  # (T, B, H), our own copy
    product = backward_product(params, d_last, h[0], keep)  # dz_hh_t @ W_hh
    dh_next = product.out  # dL/dh_T, then the part of dL/dh_{t-1} through W_hh
    carry = xp.zeros_like(h[0])  # what padded steps pass straight through
    da = ws.empty("da", dy.shape, dy)  # (T, B, H) dL/d(pre-activations)
    dz_hh = ws.empty("dz_hh", dy.shape, dy)  # (T, B, H) through LN_hh
    dbias = xp.zeros_like(h[0, 0])  # (H,) sum over t and the batch of da
    d_norms = (xp.zeros_like(params.ln_hh_weight), xp.zeros_like(params.ln_hh_bias))
    # for t: (4), (2), (3) and LN_hh' by the step kernel; then dL/dh_{t-1} through W_hh
    backward_steps(product, compiled, dz_hh, dy, dh_next, carry, h, valid, CODES[nonlinearity],
                   hh_hat, scales, params.ln_hh_weight, d_norms, da, dz_hh, dbias)
    dh0 = dh_next + carry  # dL/dh_0  (B, H)
    dz_ih, dg_ih, db_ih_ln = normalized_inputs_back(params, ln_ih, da, ws)  # (1), every t
    dx, dw_ih, dw_hh = weight_grads(params, x_tm, recurrent_inputs(h, keep), dz_ih, dz_hh)
    db_ih, db_hh = bias_grads(params, dbias)
    d_norm = dict(zip(NORMS, (dg_ih, db_ih_ln) + d_norms))
    # dy now holds dh_t (4), the total gradient at every step: kept for diagnostics.
    return Grads(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dy, d_norm)


def final_state(cache: Cache):
    """h_T (B, H): each sequence's state at its own last valid step."""
    return cache.h[-1]
