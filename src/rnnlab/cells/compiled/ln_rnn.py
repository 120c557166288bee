"""The compiled time step of the layer-normalized RNN (:mod:`rnnlab.cells.ln_rnn` drives it;
the numbered equations are those of :mod:`rnnlab.reference.ln_rnn`): the recurrent layer norm
LN_hh and the nonlinearity of one step, forward and backward, each a loop over the hidden
units per row; and the whole loops for small sizes. How and why the loops are cut so:
:mod:`rnnlab.cells.compiled`.
"""

from __future__ import annotations

from numba import njit

from rnnlab.cells.compiled.layernorm import normalize, normalize_back
from rnnlab.cells.compiled.rnn import activate_row, derivative_row
from rnnlab.cells.compiled.scalar import JIT, accumulate, copy_row, flush, zero_row
from rnnlab.cells.compiled.tile import matmul_packed

# Numba's on-disk cache checks a compiled function's own file only: when a function this
# file calls changes in another file, this file must change too, or the old machine code
# keeps running. So it records the SHA-256 of those files (first 16 hex digits), and
# tests/test_kernels.py fails until the record matches them.
DEPENDS = {"layernorm.py": "d0de0fe1eacef7ca", "rnn.py": "502a66ab07b63f2d",
           "scalar.py": "4596c690ac9375e3", "tile.py": "9421444b8bcb5c4d"}


@njit(**JIT)
def forward_step(t, z_ih, hw, norms, eps, valid, code, h, hh_hat, scales):
    """Equations (1)-(3) for step t: ``z_ih`` (T, B, H) holds LN_ih(W_ih x_t) + b_ih + b_hh,
    ``hw`` (B, H) W_hh h_{t-1}; ``norms`` LN_hh's gain and bias; ``code`` the nonlinearity
    (:mod:`rnnlab.cells.compiled.rnn`); out at t: LN_hh's normalized rows ``hh_hat``
    (T, B, H) and their s, ``scales`` (T, B); h (T+1, B, H): read at [t], written at [t + 1]."""
    g_hh, b_hh = norms
    batch, hidden = hw.shape
    for b in range(batch):
        h_t, z = h[t + 1, b], z_ih[t, b]
        scales[t, b] = normalize(hw[b], g_hh, b_hh, eps, hh_hat[t, b], h_t)  # (1) LN_hh
        if valid[t, b]:
            for k in range(hidden):
                h_t[k] = h_t[k] + z[k]  # (1)
            activate_row(h_t, code)  # (2)
        else:  # (3)
            copy_row(h[t, b], h_t)


@njit(**JIT)
def backward_step(t, dy, dh_next, carry, h, valid, code, hh_hat, scales, gain, d_norms, da,
                  dz_hh, dbias):
    """The backward equations for step t, down to dz_hh = LN_hh'(da) (the product through
    W_hh follows). ``dy``, ``dh_next``, ``carry`` as in
    :func:`rnnlab.cells.compiled.rnn.backward_step`; ``gain`` LN_hh's; ``d_norms``
    accumulates its gain's and bias's gradients; out at t: ``da`` and ``dz_hh`` (T, B, H),
    zero at a padded step; ``dbias`` (H,) accumulates the sum of da."""
    dg_hh, db_hh = d_norms
    batch, hidden = dh_next.shape
    for b in range(batch):
        dh, carry_b, dh_next_b, da_b = dy[t, b], carry[b], dh_next[b], da[t, b]
        if not valid[t, b]:  # (3): the gradient passes through
            for k in range(hidden):
                carry_b[k] = flush(dh_next_b[k] + carry_b[k])
            copy_row(carry_b, dh)
            zero_row(da_b)
            zero_row(dz_hh[t, b])
            continue
        for k in range(hidden):
            dh[k] = flush(dh[k] + dh_next_b[k] + carry_b[k])  # (4)
        zero_row(carry_b)
        copy_row(dh, da_b)
        derivative_row(h[t + 1, b], da_b, code)  # (2)
        accumulate(dbias, da_b)  # (1)
        normalize_back(da_b, hh_hat[t, b], scales[t, b], gain, dg_hh, db_hh,
                        dz_hh[t, b])  # (1) through LN_hh


# -- the whole loop, for products small enough for the packed kernel ----------------------
# Exactly the loop rnnlab.cells.common.forward_steps / backward_steps write out in Python
# for the BLAS case: forward, the recurrent product then the step; backward, the step then
# the product.
@njit(**JIT)
def forward_loop(panels, z_ih, hw, norms, eps, valid, code, h, hh_hat, scales):
    """For t = 0..T-1: hw = h[t] @ W_hh^T (packed), then :func:`forward_step`."""
    for t in range(z_ih.shape[0]):
        matmul_packed(h[t], panels, hw)
        forward_step(t, z_ih, hw, norms, eps, valid, code, h, hh_hat, scales)


@njit(**JIT)
def backward_loop(panels, dy, dh_next, carry, h, valid, code, hh_hat, scales, gain, d_norms,
                  da, dz_hh, dbias):
    """For t = T-1..0: :func:`backward_step`, then dh_next = dz_hh[t] @ W_hh (packed)."""
    for t in range(dy.shape[0] - 1, -1, -1):
        backward_step(t, dy, dh_next, carry, h, valid, code, hh_hat, scales, gain, d_norms,
                      da, dz_hh, dbias)
        matmul_packed(dz_hh[t], panels, dh_next)
