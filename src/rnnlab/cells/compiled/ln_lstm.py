"""The compiled time step of the layer-normalized LSTM (:mod:`rnnlab.cells.ln_lstm` drives
it; the numbered equations are those of :mod:`rnnlab.reference.ln_lstm`): the recurrent
layer norm LN_hh, the gates, the cell update and LN_c of one step, forward and backward,
each a loop over the hidden units per row; and the whole loops for small sizes. How and why
the loops are cut so: :mod:`rnnlab.cells.compiled`.
"""

from __future__ import annotations

from numba import njit

from rnnlab.cells.compiled.layernorm import normalize, normalize_back
from rnnlab.cells.compiled.lstm import gate_grads
from rnnlab.cells.compiled.scalar import (JIT, accumulate, copy_row, dtanh, flush, sigmoid, split4,
                                          tanh, zero_row)
from rnnlab.cells.compiled.tile import matmul_packed

# Numba's on-disk cache checks a compiled function's own file only: when a function this
# file calls changes in another file, this file must change too, or the old machine code
# keeps running. So it records the SHA-256 of those files (first 16 hex digits), and
# tests/test_kernels.py fails until the record matches them.
DEPENDS = {"lstm.py": "5e09c9fafcc7eb31", "layernorm.py": "d0de0fe1eacef7ca",
           "scalar.py": "4596c690ac9375e3", "tile.py": "9421444b8bcb5c4d"}


@njit(**JIT)
def forward_step(t, z_ih, hw, norms, eps, valid, h, c, gates, tanh_n, hh_hat, c_hat, scales):
    """Equations (1)-(5) for step t: ``z_ih`` (T, B, 4H) holds LN_ih(W_ih x_t) + b, ``hw``
    (B, 4H) W_hh h_{t-1}; ``norms`` the gains and biases (ln_hh_weight, ln_hh_bias,
    ln_c_weight, ln_c_bias); out at t: ``gates`` (T, B, 4H) i, f, g, o, ``tanh_n`` (T, B, H)
    tanh(LN_c(c_t)), the normalized rows ``hh_hat`` (T, B, 4H) and ``c_hat`` (T, B, H), and
    ``scales`` (T, B, 2) their s; h, c (T+1, B, H): read at [t], written at [t + 1]."""
    g_hh, b_hh, g_c, b_c = norms
    batch = hw.shape[0]
    for b in range(batch):
        row = gates[t, b]
        scales[t, b, 0] = normalize(hw[b], g_hh, b_hh, eps, hh_hat[t, b], row)  # LN_hh
        z = z_ih[t, b]
        i, f, g, o = split4(row)
        z_i, z_f, z_g, z_o = split4(z)
        for k in range(i.size):  # (1), (2)
            i[k] = sigmoid(i[k] + z_i[k])
        for k in range(f.size):
            f[k] = sigmoid(f[k] + z_f[k])
        for k in range(g.size):
            g[k] = tanh(g[k] + z_g[k])
        for k in range(o.size):
            o[k] = sigmoid(o[k] + z_o[k])
        c_prev, c_t, h_t, tn = c[t, b], c[t + 1, b], h[t + 1, b], tanh_n[t, b]
        for k in range(c_t.size):
            c_t[k] = flush(f[k] * c_prev[k] + i[k] * g[k])  # (3)
        scales[t, b, 1] = normalize(c_t, g_c, b_c, eps, c_hat[t, b], tn)  # LN_c
        for k in range(tn.size):
            tn[k] = tanh(tn[k])  # (4)
            h_t[k] = flush(o[k] * tn[k])
        if not valid[t, b]:  # (5)
            copy_row(c_prev, c_t)
            copy_row(h[t, b], h_t)


@njit(**JIT)
def backward_step(t, dy, dh_next, carry, dc, gates, c, tanh_n, hh_hat, c_hat, scales, norms,
                  d_norms, valid, da, dz_hh, dc_all, dbias):
    """The backward equations for step t, down to dz_hh = LN_hh'(da) (the product through
    W_hh follows). ``dy`` (T, B, H): in dL/dy_t, out the total dL/dh_t; ``carry``, ``dc``
    (B, H) as in :func:`rnnlab.cells.compiled.lstm.backward_step`; ``d_norms`` accumulates
    the gains' and biases' gradients, ``dbias`` (4H,) sum of da, ``dc_all`` (T, B, H) dL/dc_t."""
    g_hh, _, g_c, _ = norms
    dg_hh, db_hh, dg_c, db_c = d_norms
    batch, hidden = dc.shape
    dn = carry[0].copy()  # a row's scratch
    for b in range(batch):
        dh, dc_b, dc_t, carry_b, dh_next_b = dy[t, b], dc[b], dc_all[t, b], carry[b], dh_next[b]
        if not valid[t, b]:  # (5): the gradients pass through
            for k in range(hidden):
                carry_b[k] = flush(dh_next_b[k] + carry_b[k])
            copy_row(carry_b, dh)
            copy_row(dc_b, dc_t)
            zero_row(da[t, b])
            zero_row(dz_hh[t, b])
            continue
        o = split4(gates[t, b])[3]
        tn, c_prev = tanh_n[t, b], c[t, b]
        for k in range(hidden):
            dh[k] = flush(dh[k] + dh_next_b[k] + carry_b[k])  # (6)
        zero_row(carry_b)
        for k in range(hidden):
            dn[k] = dh[k] * o[k] * dtanh(tn[k])  # (4)
        normalize_back(dn, c_hat[t, b], scales[t, b, 1], g_c, dg_c, db_c, dc_t)  # LN_c
        for k in range(hidden):
            dc_t[k] = flush(dc_t[k] + dc_b[k])  # (4): with dL/dc_t from the future
        gate_grads(dh, dc_t, tn, c_prev, gates[t, b], da[t, b], dc_b)  # (4)-(2)
        accumulate(dbias, da[t, b])  # (1)
        normalize_back(da[t, b], hh_hat[t, b], scales[t, b, 0], g_hh, dg_hh, db_hh,
                        dz_hh[t, b])  # (1) through LN_hh


# -- the whole loop, for products small enough for the packed kernel ----------------------
# Exactly the loop rnnlab.cells.common.forward_steps / backward_steps write out in Python
# for the BLAS case: forward, the recurrent product then the step; backward, the step then
# the product.
@njit(**JIT)
def forward_loop(panels, z_ih, hw, norms, eps, valid, h, c, gates, tanh_n, hh_hat, c_hat,
                 scales):
    """For t = 0..T-1: hw = h[t] @ W_hh^T (packed), then :func:`forward_step`."""
    for t in range(z_ih.shape[0]):
        matmul_packed(h[t], panels, hw)
        forward_step(t, z_ih, hw, norms, eps, valid, h, c, gates, tanh_n, hh_hat, c_hat,
                     scales)


@njit(**JIT)
def backward_loop(panels, dy, dh_next, carry, dc, gates, c, tanh_n, hh_hat, c_hat, scales,
                  norms, d_norms, valid, da, dz_hh, dc_all, dbias):
    """For t = T-1..0: :func:`backward_step`, then dh_next = dz_hh[t] @ W_hh (packed)."""
    for t in range(dy.shape[0] - 1, -1, -1):
        backward_step(t, dy, dh_next, carry, dc, gates, c, tanh_n, hh_hat, c_hat, scales,
                      norms, d_norms, valid, da, dz_hh, dc_all, dbias)
        matmul_packed(dz_hh[t], panels, dh_next)
