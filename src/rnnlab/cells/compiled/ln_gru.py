"""The compiled time step of the layer-normalized GRU (:mod:`rnnlab.cells.ln_gru` drives it;
the numbered equations are those of :mod:`rnnlab.reference.ln_gru`): the recurrent layer norm
LN_hh and the gate work of one step, forward and backward, each a loop over the hidden units
per row; and the whole loops for small sizes. How and why the loops are cut so:
:mod:`rnnlab.cells.compiled`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rnnlab.cells.compiled.gru import gate_grads
from rnnlab.cells.compiled.layernorm import normalize, normalize_back
from rnnlab.cells.compiled.scalar import (JIT, accumulate, copy_row, flush, sigmoid, split3, tanh,
                                          zero_row)
from rnnlab.cells.compiled.tile import matmul_packed

# Numba's on-disk cache checks a compiled function's own file only: when a function this
# file calls changes in another file, this file must change too, or the old machine code
# keeps running. So it records the SHA-256 of those files (first 16 hex digits), and
# tests/test_kernels.py fails until the record matches them.
DEPENDS = {"gru.py": "ed9fd5dc9c437166", "layernorm.py": "d0de0fe1eacef7ca",
           "scalar.py": "4596c690ac9375e3", "tile.py": "9421444b8bcb5c4d"}


@njit(**JIT)
def forward_step(t, z_ih, hw, norms, eps, bias_hh, valid, h, gates, h_n, hh_hat, scales):
    """Equations (1)-(6) for step t: ``z_ih`` (T, B, 3H) holds (1), LN_ih(W_ih x_t) + b_ih;
    ``hw`` (B, 3H) W_hh h_{t-1}; ``norms`` LN_hh's gain and bias; ``bias_hh`` (3H,) b_hh
    (zeros without biases); out at t: ``gates`` (T, B, 3H) r, z, n, ``h_n`` (T, B, H) (2)'s
    h_n, LN_hh's normalized rows ``hh_hat`` (T, B, 3H) and their s, ``scales`` (T, B);
    h (T+1, B, H): read at [t], written at [t + 1]."""
    g_hh, b_ln = norms
    batch, hidden = h_n.shape[1], h_n.shape[2]
    b_r, b_z, b_n = split3(bias_hh)
    for b in range(batch):
        row = gates[t, b]
        scales[t, b] = normalize(hw[b], g_hh, b_ln, eps, hh_hat[t, b], row)  # (2) LN_hh
        r, z, n = split3(row)
        x_r, x_z, x_n = split3(z_ih[t, b])
        hn, h_prev, h_t = h_n[t, b], h[t, b], h[t + 1, b]
        for k in range(hidden):
            hn[k] = n[k] + b_n[k]  # (2)
        for k in range(hidden):
            r[k] = sigmoid(x_r[k] + r[k] + b_r[k])  # (2), (3)
        for k in range(hidden):
            z[k] = sigmoid(x_z[k] + z[k] + b_z[k])  # (2), (3)
        for k in range(hidden):
            n[k] = tanh(x_n[k] + r[k] * hn[k])  # (4)
        if valid[t, b]:
            for k in range(hidden):
                h_t[k] = flush(n[k] + z[k] * (h_prev[k] - n[k]))  # (5) (1 - z) n + z h_{t-1}
        else:  # (6)
            copy_row(h_prev, h_t)


@njit(**JIT)
def backward_step(t, dy, dh_next, carry, gates, h, h_n, valid, hh_hat, scales, gain, d_norms,
                  d_in, dz_hh, dbias_ih, dbias_hh):
    """The backward equations for step t, down to dz_hh = LN_hh'(d_rec) (the product through
    W_hh follows). ``dy``, ``dh_next``, ``carry`` as in
    :func:`rnnlab.cells.compiled.gru.backward_step`; ``gain`` LN_hh's; ``d_norms``
    accumulates its gain's and bias's gradients; out at t: ``d_in`` (T, B, 3H), the input
    side's [da_r, da_z, da_n], and ``dz_hh`` (T, B, 3H), zero at a padded step;
    ``dbias_ih``, ``dbias_hh`` (3H,) accumulate the sums of d_in and d_rec."""
    dg_hh, db_hh = d_norms
    batch, hidden = carry.shape
    d_rec = np.empty_like(d_in[0, 0])  # a row's [da_r, da_z, dh_n], (3H,)
    for b in range(batch):
        dh, carry_b, dh_next_b = dy[t, b], carry[b], dh_next[b]
        if not valid[t, b]:  # (6)
            for k in range(hidden):
                carry_b[k] = flush(dh_next_b[k] + carry_b[k])
            copy_row(carry_b, dh)
            zero_row(d_in[t, b])
            zero_row(dz_hh[t, b])
            continue
        in_row = d_in[t, b]
        hn, h_prev = h_n[t, b], h[t, b]
        for k in range(hidden):
            dh[k] = flush(dh[k] + dh_next_b[k] + carry_b[k])  # (7)
        gate_grads(dh, gates[t, b], hn, h_prev, in_row, d_rec, carry_b)  # (5)-(3)
        accumulate(dbias_ih, in_row)  # (1)
        accumulate(dbias_hh, d_rec)  # (2)
        normalize_back(d_rec, hh_hat[t, b], scales[t, b], gain, dg_hh, db_hh,
                        dz_hh[t, b])  # (2) through LN_hh


# -- the whole loop, for products small enough for the packed kernel ----------------------
# Exactly the loop rnnlab.cells.common.forward_steps / backward_steps write out in Python
# for the BLAS case: forward, the recurrent product then the step; backward, the step then
# the product.
@njit(**JIT)
def forward_loop(panels, z_ih, hw, norms, eps, bias_hh, valid, h, gates, h_n, hh_hat, scales):
    """For t = 0..T-1: hw = h[t] @ W_hh^T (packed), then :func:`forward_step`."""
    for t in range(z_ih.shape[0]):
        matmul_packed(h[t], panels, hw)
        forward_step(t, z_ih, hw, norms, eps, bias_hh, valid, h, gates, h_n, hh_hat, scales)


@njit(**JIT)
def backward_loop(panels, dy, dh_next, carry, gates, h, h_n, valid, hh_hat, scales, gain,
                  d_norms, d_in, dz_hh, dbias_ih, dbias_hh):
    """For t = T-1..0: :func:`backward_step`, then dh_next = dz_hh[t] @ W_hh (packed)."""
    for t in range(dy.shape[0] - 1, -1, -1):
        backward_step(t, dy, dh_next, carry, gates, h, h_n, valid, hh_hat, scales, gain,
                      d_norms, d_in, dz_hh, dbias_ih, dbias_hh)
        matmul_packed(dz_hh[t], panels, dh_next)
