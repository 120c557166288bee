"""The layer-normalized LSTM over a whole sequence, and its BPTT: the fast path of the
specification :mod:`rnnlab.reference.ln_lstm` (Ba, Kiros & Hinton 2016), whose numbered
equations (1)-(6) tag the lines here.

Shapes: B batch, T steps, I inputs, H hidden units, gates i, f, g, o stacked to 4H.

What is hoisted out of the time loop: the input side of (1), W_ih x_t and its layer norm
LN_ih, for every t at once (neither depends on the past), and after the loop LN_ih's
backward and the weight sums, each one operation over all T*B rows. The loop keeps the
recurrent product, LN_hh, the gates, the cell update and LN_c.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnlab.cells.common import (Grads, Workspace, bias_grads, final_state_grad, kernel_biases,
                                 masked_outputs, sequence_inputs, weight_grads)
from rnnlab.reference import layernorm
from rnnlab.reference.activations import sigmoid

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
    gates: object  # (T, B, 4H) activated i, f, g, o
    tanh_n: object  # (T, B, H) tanh(LN_c(c_t))
    ln_ih: tuple  # LN_ih's cache, every t
    ln_hh: list  # LN_hh's cache, per step
    ln_c: list  # LN_c's cache, per step
    valid: object  # (T, B) bool


def forward(params: LNParams, x, state0, mask=None, workspace=None):
    """Equations (1)-(6) over a whole sequence: ``(y (B, T, H), cache)``; the interface of
    :mod:`rnnlab.cells`."""
    ws = Workspace() if workspace is None else workspace
    h0, c0 = state0
    batch, steps, _ = x.shape
    hidden = h0.shape[-1]
    x_tm, valid, a_ih = sequence_inputs(params, x, mask, ws, "a_ih")  # W_ih x_t, every t
    z_ih, ln_ih = layernorm.forward(a_ih, params.ln_ih_weight, params.ln_ih_bias, params.eps)
    b_ih, b_hh = kernel_biases(params)
    z_ih += b_ih + b_hh  # (1), the input side and the biases, every t
    m = valid[..., None].astype(x.dtype)  # (T, B, 1)
    h = np.empty((steps + 1, batch, hidden), x.dtype)
    c = np.empty_like(h)
    h[0], c[0] = h0, c0
    gates = np.empty((steps, batch, 4 * hidden), x.dtype)
    tanh_n = np.empty((steps, batch, hidden), x.dtype)
    ln_hh, ln_c = [], []
    for t in range(steps):
        z_hh, cache_hh = layernorm.forward(h[t] @ params.weight_hh.T, params.ln_hh_weight,
                                           params.ln_hh_bias, params.eps)
        a = z_ih[t] + z_hh  # (1)
        i, f, g, o = split_gates(gates[t])
        a_i, a_f, a_g, a_o = split_gates(a)
        i[...], f[...], g[...], o[...] = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
        c_new = f * c[t] + i * g  # (3)
        n, cache_c = layernorm.forward(c_new, params.ln_c_weight, params.ln_c_bias, params.eps)
        tanh_n[t] = np.tanh(n)
        c[t + 1] = m[t] * c_new + (1 - m[t]) * c[t]  # (3), (5)
        h[t + 1] = m[t] * (o * tanh_n[t]) + (1 - m[t]) * h[t]  # (4), (5)
        ln_hh.append(cache_hh)
        ln_c.append(cache_c)
    y = masked_outputs(h, valid, mask is not None)  # (6)
    return y, Cache(x_tm, h, c, gates, tanh_n, ln_ih, ln_hh, ln_c, valid)


def backward(params: LNParams, cache: Cache, d_out, d_last=None, workspace=None) -> Grads:
    """BPTT of equations (6)-(1) for t = T..1; LN_ih's backward and the weight sums after
    the loop. ``Grads.d_norm`` holds the layer norms' gains' and biases' gradients."""
    x_tm, h, c, gates, tanh_n, ln_ih, ln_hh, ln_c, valid = cache
    dh_last, dc_last = (None, None) if d_last is None else d_last
    dy = np.ascontiguousarray(np.swapaxes(d_out, 0, 1))  # (T, B, H)
    m = valid[..., None].astype(dy.dtype)
    dh_next = final_state_grad(dh_last, h[0])
    dc_next = final_state_grad(dc_last, c[0])
    da = np.empty_like(gates)  # (T, B, 4H) dL/d(pre-activations)
    dz_hh = np.empty_like(gates)  # (T, B, 4H) dL/d(W_hh h_{t-1}), through LN_hh
    d_norm = {name: np.zeros_like(getattr(params, name)) for name in NORMS}
    dhs, dcs = np.empty_like(dy), np.empty_like(dy)
    for t in reversed(range(dy.shape[0])):
        i, f, g, o = split_gates(gates[t])
        dh = dhs[t] = m[t] * dy[t] + dh_next  # (6)
        dn = m[t] * dh * o * (1 - tanh_n[t] ** 2)  # (4)
        dc_ln, dg, db = layernorm.backward(ln_c[t], dn)  # (4) through LN_c
        d_norm["ln_c_weight"] += dg
        d_norm["ln_c_bias"] += db
        dc = dcs[t] = m[t] * dc_next + dc_ln  # (4)
        da_i, da_f, da_g, da_o = split_gates(da[t])
        da_o[...] = m[t] * dh * tanh_n[t] * o * (1 - o)  # (4), (2)
        da_i[...] = dc * g * i * (1 - i)  # (3), (2)
        da_f[...] = dc * c[t] * f * (1 - f)  # (3), (2)
        da_g[...] = dc * i * (1 - g ** 2)  # (3), (2)
        dz_hh[t], dg, db = layernorm.backward(ln_hh[t], da[t])  # (1) through LN_hh
        d_norm["ln_hh_weight"] += dg
        d_norm["ln_hh_bias"] += db
        dh_next = dz_hh[t] @ params.weight_hh + (1 - m[t]) * dh  # (1), (5)
        dc_next = dc * f + (1 - m[t]) * dc_next  # (3), (5)
    dz_ih, d_norm["ln_ih_weight"], d_norm["ln_ih_bias"] = layernorm.backward(ln_ih, da)  # (1)
    dx, dw_ih, dw_hh = weight_grads(params, x_tm, h[:-1], dz_ih, dz_hh)
    db_ih, db_hh = bias_grads(params, da.sum(axis=(0, 1)))
    return Grads(dx, (dh_next, dc_next), dw_ih, dw_hh, db_ih, db_hh, (dhs, dcs), d_norm)


def final_state(cache: Cache):
    """(h_T, c_T), each (B, H): each sequence's state at its own last valid step."""
    return cache.h[-1], cache.c[-1]
