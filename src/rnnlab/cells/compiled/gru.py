"""The compiled time step of the GRU (:mod:`rnnlab.cells.gru` drives it, and holds its
numbered equations): the gate arithmetic of one step, forward and backward, each equation
its own loop over the hidden units; and the whole loops for small sizes. How and why the
loops are cut so: :mod:`rnnlab.cells.compiled`.
"""

from __future__ import annotations

from numba import njit

from rnnlab.cells.compiled.scalar import (JIT, accumulate, copy_row, dsigmoid, dtanh, flush,
                                          one_minus, sigmoid, split3, tanh, zero_row)
from rnnlab.cells.compiled.tile import matmul_packed, matmul_stacked

# Numba's on-disk cache checks a compiled function's own file only: when a function this
# file calls changes in another file, this file must change too, or the old machine code
# keeps running. So it records the SHA-256 of those files (first 16 hex digits), and
# tests/test_kernels.py fails until the record matches them.
DEPENDS = {"scalar.py": "4596c690ac9375e3", "tile.py": "9421444b8bcb5c4d"}


@njit(**JIT)
def forward_step(t, a, hw, bias_ih, bias_hh, valid, h, h_n):
    """Equations (1)-(6) of :mod:`rnnlab.cells.gru` for step t (0-based) of the sequence.

    Parameters
    ----------
    t : int
    a : (T, B, 3H)
        In at t: W_ih x_t. Out at t: the activated gates r, z, n.
    hw : (B, 3H)
        W_hh h_{t-1}, without its bias.
    bias_ih, bias_hh : (3H,)
        b_ih and b_hh (zeros for a layer without biases).
    valid : (T, B) bool
    h : (T+1, B, H)
        Reads h_{t-1} at [t], writes h_t at [t + 1].
    h_n : (T, B, H)
        Out at t: W_hn h_{t-1} + b_hn (the candidate's recurrent part, for backward).
    """
    batch, hidden = hw.shape[0], hw.shape[1] // 3
    _, _, b_in = split3(bias_ih)
    _, _, b_hn = split3(bias_hh)
    for b in range(batch):
        gates, recurrent = a[t, b], hw[b]
        for j in range(2 * hidden):  # (1)-(3): r and z
            gates[j] = sigmoid(gates[j] + bias_ih[j] + recurrent[j] + bias_hh[j])
        r, z, n = split3(gates)
        _, _, w_hn_h = split3(recurrent)
        hn, h_prev, h_t = h_n[t, b], h[t, b], h[t + 1, b]
        for k in range(hidden):
            hn[k] = w_hn_h[k] + b_hn[k]  # (2)
        for k in range(hidden):
            n[k] = tanh(n[k] + b_in[k] + r[k] * hn[k])  # (1), (4)
        if valid[t, b]:
            for k in range(hidden):
                h_t[k] = flush(n[k] + z[k] * (h_prev[k] - n[k]))  # (5) (1 - z) n + z h_{t-1}
        else:  # (6)
            copy_row(h_prev, h_t)


@njit(**JIT)
def gate_grads(dh, gates, h_n, h_prev, d_in, d_rec, carry):
    """One row's gate gradients from dh = dL/dh_t: ``d_in`` (3H,) = [da_r, da_z, da_n] on the
    input side, ``d_rec`` (3H,) = [da_r, da_z, dh_n] on the recurrent side, and ``carry`` <-
    dh z, the direct path to h_{t-1}. Equations (5)-(3) backward (``h_n`` is the
    candidate's recurrent term, normalized or not)."""
    hidden = dh.size
    r, z, n = split3(gates)
    da_r, da_z, da_n = split3(d_in)
    _, _, dh_n = split3(d_rec)
    for k in range(hidden):
        da_n[k] = flush(dh[k] * one_minus(z[k]) * dtanh(n[k]))  # (5), (4)
    for k in range(hidden):
        da_r[k] = flush(da_n[k] * h_n[k] * dsigmoid(r[k]))  # (4), (3)
    for k in range(hidden):
        da_z[k] = flush(dh[k] * (h_prev[k] - n[k]) * dsigmoid(z[k]))  # (5), (3)
    copy_row(d_in[:2 * hidden], d_rec[:2 * hidden])  # r and z: the same on both sides
    for k in range(hidden):
        dh_n[k] = flush(da_n[k] * r[k])  # (4)
    for k in range(hidden):
        carry[k] = flush(dh[k] * z[k])  # (5) the direct path to h_{t-1}


@njit(**JIT)
def backward_step(t, dy, dh_next, carry, gates, h, h_n, valid, da_x, da_h, dbias_ih,
                      dbias_hh):
    """The backward equations of :mod:`rnnlab.cells.gru` for step t, up to (1) and (2).

    Parameters
    ----------
    t : int
    dy : (T, B, H)
        In at t: dL/dy_t. Out at t: dh, the total dL/dh_t (7).
    dh_next : (B, H)
        The part of dL/dh_t that went through W_hh at the step after.
    carry : (B, H)
        In: the part of dL/dh_t that went straight from the step after (dh * z, or all of
        dh at a padded step). Out: the same for h_{t-1}.
    gates : (T, B, 3H)
        The activated r, z, n.
    h : (T+1, B, H)
        The states; h_{t-1} at [t].
    h_n : (T, B, H)
        W_hn h_{t-1} + b_hn.
    valid : (T, B) bool
    da_x, da_h : (T, B, 3H)
        Out at t: the gradients of the input-side and recurrent-side pre-activations, zero
        at a padded step.
    dbias_ih, dbias_hh : (3H,)
        Accumulate the sums over the batch of da_x and da_h: the bias gradients.
    """
    batch, hidden = carry.shape
    for b in range(batch):
        dh, carry_b, dh_next_b = dy[t, b], carry[b], dh_next[b]
        if not valid[t, b]:  # (6)
            for k in range(hidden):
                carry_b[k] = flush(dh_next_b[k] + carry_b[k])
            copy_row(carry_b, dh)
            zero_row(da_x[t, b])
            zero_row(da_h[t, b])
            continue
        dx_row, dh_row = da_x[t, b], da_h[t, b]
        hn, h_prev = h_n[t, b], h[t, b]
        for k in range(hidden):
            dh[k] = flush(dh[k] + dh_next_b[k] + carry_b[k])  # (7)
        gate_grads(dh, gates[t, b], hn, h_prev, dx_row, dh_row, carry_b)  # (5)-(3)
        accumulate(dbias_ih, dx_row)  # (1)
        accumulate(dbias_hh, dh_row)  # (2)


# -- the whole loop, for products small enough for the packed kernel ----------------------
# Exactly the loop rnnlab.cells.common.forward_steps / backward_steps write out in Python
# for the BLAS case: forward, the recurrent product then the step; backward, the step then
# the product.
@njit(**JIT)
def forward_loop(panels, a, hw, bias_ih, bias_hh, valid, h, h_n):
    """For t = 0..T-1: hw = h[t] @ W_hh^T (packed), then :func:`forward_step`."""
    for t in range(a.shape[0]):
        matmul_packed(h[t], panels, hw)
        forward_step(t, a, hw, bias_ih, bias_hh, valid, h, h_n)


@njit(**JIT)
def backward_loop(panels, dy, dh_next, carry, gates, h, h_n, valid, da_x, da_h, dbias_ih,
                  dbias_hh):
    """For t = T-1..0: :func:`backward_step`, then dh_next = da_h[t] @ W_hh (packed)."""
    for t in range(dy.shape[0] - 1, -1, -1):
        backward_step(t, dy, dh_next, carry, gates, h, h_n, valid, da_x, da_h, dbias_ih,
                      dbias_hh)
        matmul_packed(da_h[t], panels, dh_next)



# -- the inference forward: no cache, one block of rows per thread ------------------------
@njit(**JIT)
def infer_rows(lo, hi, panels, x, bias, valid, z, pre, h, y):
    """Equations (1)-(7) for rows lo..hi-1 of the batch over the whole sequence, keeping
    nothing for backward (``cells.gru.infer``; the arrays as in
    :func:`rnnlab.cells.compiled.lstm.infer_rows`). One packed product gives ``pre`` (B, 4H)
    = [a_r, a_z, W_in x_t, W_hn h_{t-1}] without biases; ``bias`` (4H,) = [b_ir + b_hr,
    b_iz + b_hz, b_in, b_hn]; ``h`` (B, H) in h_0, out each row's last valid state."""
    hidden = h.shape[1]
    z, pre = z[lo:hi], pre[lo:hi]
    b_rz, b_in, b_hn = bias[:2 * hidden], bias[2 * hidden:3 * hidden], bias[3 * hidden:]
    for t in range(x.shape[1]):
        matmul_stacked(x, t, h, lo, z, panels, pre)  # (1), (2) without the biases
        for r in range(hi - lo):
            b = lo + r
            h_b, row, y_t = h[b], pre[r], y[b, t]
            if not valid[t, b]:  # (6), (7)
                zero_row(y_t)
                continue
            for j in range(2 * hidden):  # (1)-(3): r and z
                row[j] = sigmoid(row[j] + b_rz[j])
            gate_r, gate_z = row[:hidden], row[hidden:2 * hidden]
            n, hn = row[2 * hidden:3 * hidden], row[3 * hidden:]
            for k in range(hidden):
                hn[k] = hn[k] + b_hn[k]  # (2)
            for k in range(hidden):
                n[k] = tanh(n[k] + b_in[k] + gate_r[k] * hn[k])  # (1), (4)
            for k in range(hidden):
                h_b[k] = flush(n[k] + gate_z[k] * (h_b[k] - n[k]))  # (5)
                y_t[k] = h_b[k]
