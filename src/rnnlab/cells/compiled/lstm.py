"""The compiled time step of the LSTM (:mod:`rnnlab.cells.lstm` drives it, and holds its
numbered equations): the gate arithmetic of one step, forward and backward, each equation
its own loop over the hidden units; and the whole loops for small sizes. How and why the
loops are cut so: :mod:`rnnlab.cells.compiled`.
"""

from __future__ import annotations

from numba import njit

from rnnlab.cells.compiled.scalar import (JIT, accumulate, copy_row, dsigmoid, dtanh, flush,
                                          sigmoid, split4, tanh, zero_row)
from rnnlab.cells.compiled.tile import matmul_packed, matmul_stacked

# Numba's on-disk cache checks a compiled function's own file only: when a function this
# file calls changes in another file, this file must change too, or the old machine code
# keeps running. So it records the SHA-256 of those files (first 16 hex digits), and
# tests/test_kernels.py fails until the record matches them.
DEPENDS = {"scalar.py": "4596c690ac9375e3", "tile.py": "9421444b8bcb5c4d"}


@njit(**JIT)
def forward_step(t, a, hw, bias, valid, h, c, tanh_c):
    """Equations (1)-(5) of :mod:`rnnlab.cells.lstm` for step t (0-based) of the sequence.

    Parameters
    ----------
    t : int
    a : (T, B, 4H)
        In at t: W_ih x_t. Out at t: the activated gates i, f, g, o.
    hw : (B, 4H)
        W_hh h_{t-1}, the recurrent half of (1).
    bias : (4H,)
        b_ih + b_hh (zeros for a layer without biases).
    valid : (T, B) bool
        False at a padded step: the state passes through.
    h, c : (T+1, B, H)
        Read h_{t-1}, c_{t-1} at [t]; write h_t, c_t at [t + 1].
    tanh_c : (T, B, H)
        Out at t: tanh(c_t).
    """
    for b in range(hw.shape[0]):
        forward_row(t, b, a, hw[b], bias, valid, h, c, tanh_c)


@njit(**JIT)
def forward_row(t, b, a, hw_b, bias, valid, h, c, tanh_c):
    """:func:`forward_step` for row b alone; ``hw_b`` (4H,) is the row's recurrent half."""
    b_i, b_f, b_g, b_o = split4(bias)
    i, f, g, o = split4(a[t, b])
    r_i, r_f, r_g, r_o = split4(hw_b)
    for k in range(i.size):  # (1), (2)
        i[k] = sigmoid(i[k] + b_i[k] + r_i[k])
    for k in range(f.size):
        f[k] = sigmoid(f[k] + b_f[k] + r_f[k])
    for k in range(g.size):
        g[k] = tanh(g[k] + b_g[k] + r_g[k])
    for k in range(o.size):
        o[k] = sigmoid(o[k] + b_o[k] + r_o[k])
    c_prev, c_t, h_t, tanh_c_t = c[t, b], c[t + 1, b], h[t + 1, b], tanh_c[t, b]
    for k in range(c_t.size):
        c_t[k] = flush(f[k] * c_prev[k] + i[k] * g[k])  # (3)
    for k in range(c_t.size):
        tanh_c_t[k] = tanh(c_t[k])  # (4)
        h_t[k] = flush(o[k] * tanh_c_t[k])
    if not valid[t, b]:  # (5)
        copy_row(c_prev, c_t)
        copy_row(h[t, b], h_t)


@njit(**JIT)
def gate_grads(dh, dc_t, tanh_c, c_prev, gates, da, dc):
    """One row's gate gradients: da = dL/d(pre-activations) (4H,) from dh = dL/dh_t, dc_t =
    dL/dc_t and the step's activated gates; dc <- dL/dc_{t-1}. Equations (4)-(2) backward
    (``tanh_c`` is tanh of what (4) squashes: c_t, or LN_c(c_t) in the normalized LSTM)."""
    i, f, g, o = split4(gates)
    da_i, da_f, da_g, da_o = split4(da)
    for k in range(dh.size):
        da_o[k] = flush(dh[k] * tanh_c[k] * dsigmoid(o[k]))  # (4), (2)
    for k in range(dh.size):
        da_i[k] = flush(dc_t[k] * g[k] * dsigmoid(i[k]))  # (3), (2)
    for k in range(dh.size):
        da_f[k] = flush(dc_t[k] * c_prev[k] * dsigmoid(f[k]))
    for k in range(dh.size):
        da_g[k] = flush(dc_t[k] * i[k] * dtanh(g[k]))
    for k in range(dh.size):
        dc[k] = flush(dc_t[k] * f[k])  # (3) dL/dc_{t-1}


@njit(**JIT)
def backward_step(t, dy, dh_next, carry, dc, gates, c, tanh_c, valid, da, dc_all, dbias):
    """The backward equations of :mod:`rnnlab.cells.lstm` for step t, up to (1).

    Parameters
    ----------
    t : int
    dy : (T, B, H)
        In at t: dL/dy_t. Out at t: dh, the total dL/dh_t (6).
    dh_next : (B, H)
        The part of dL/dh_t that went through W_hh at the step after.
    carry : (B, H)
        In: the part of dL/dh_t passed straight through padded steps after. Out: the same
        for h_{t-1} (all of dh at a padded step, else 0).
    dc : (B, H)
        In: dL/dc_t from the future. Out: dL/dc_{t-1}.
    gates : (T, B, 4H)
        The activated i, f, g, o.
    c : (T+1, B, H)
        The cell states; c_{t-1} at [t].
    tanh_c : (T, B, H)
    valid : (T, B) bool
    da : (T, B, 4H)
        Out at t: dL/d of the pre-activations, zero at a padded step.
    dc_all : (T, B, H)
        Out at t: the total dL/dc_t (diagnostics).
    dbias : (4H,)
        Accumulates the sum over the batch of da (1): the bias gradient.
    """
    for b in range(dc.shape[0]):
        if backward_row(t, b, dy, dh_next, carry, dc, gates, c, tanh_c, valid, da, dc_all):
            accumulate(dbias, da[t, b])  # (1)


@njit(**JIT)
def backward_row(t, b, dy, dh_next, carry, dc, gates, c, tanh_c, valid, da, dc_all):
    """:func:`backward_step` for row b alone, but for the bias gradient: returns whether
    the step is valid (at a padded one da[t, b] is zero)."""
    hidden = dc.shape[1]
    dh, dc_b, dc_t, carry_b, dh_next_b = dy[t, b], dc[b], dc_all[t, b], carry[b], dh_next[b]
    if not valid[t, b]:  # (5): nothing computed here, the gradients pass through
        for k in range(hidden):
            carry_b[k] = flush(dh_next_b[k] + carry_b[k])
        copy_row(carry_b, dh)
        copy_row(dc_b, dc_t)
        zero_row(da[t, b])
        return False
    o = split4(gates[t, b])[3]
    tc, c_prev = tanh_c[t, b], c[t, b]
    for k in range(hidden):
        dh[k] = flush(dh[k] + dh_next_b[k] + carry_b[k])  # (6)
    zero_row(carry_b)
    for k in range(hidden):
        dc_t[k] = flush(dc_b[k] + dh[k] * o[k] * dtanh(tc[k]))  # (4)
    gate_grads(dh, dc_t, tc, c_prev, gates[t, b], da[t, b], dc_b)  # (4)-(2)
    return True


# -- the whole loop, for products small enough for the packed kernel ----------------------
# Exactly the loop rnnlab.cells.common.forward_steps / backward_steps write out in Python
# for the BLAS case: forward, the recurrent product then the step; backward, the step then
# the product.
@njit(**JIT)
def forward_loop(panels, a, hw, bias, valid, h, c, tanh_c):
    """For t = 0..T-1: hw = h[t] @ W_hh^T (packed), then :func:`forward_step`."""
    for t in range(a.shape[0]):
        matmul_packed(h[t], panels, hw)
        forward_step(t, a, hw, bias, valid, h, c, tanh_c)


@njit(**JIT)
def backward_loop(panels, dy, dh_next, carry, dc, gates, c, tanh_c, valid, da, dc_all,
                  dbias):
    """For t = T-1..0: :func:`backward_step`, then dh_next = da[t] @ W_hh (packed)."""
    for t in range(dy.shape[0] - 1, -1, -1):
        backward_step(t, dy, dh_next, carry, dc, gates, c, tanh_c, valid, da, dc_all,
                      dbias)
        matmul_packed(da[t], panels, dh_next)



# -- the training loops on rnnlab's threads: one block of rows each ----------------------
# (rnnlab.cells.parallel). The arrays are those of forward_step and backward_step; each
# thread reads and writes its own rows lo..hi-1 only.
@njit(**JIT)
def forward_rows(lo, hi, panels, x, zero, bias, valid, z, a, h, c, tanh_c):
    """For t = 0..T-1, rows lo..hi-1: a[t] = [x_t, h_{t-1}] @ [W_ih^T; W_hh^T] (both halves
    of (1) in one packed product, ``panels``; ``x`` (B, T, I); ``z`` (B, I+H) work rows),
    then :func:`forward_row` with ``zero`` (4H,) zeros for its recurrent half."""
    z = z[lo:hi]
    for t in range(x.shape[1]):
        matmul_stacked(x, t, h[t], lo, z, panels, a[t, lo:hi])
        for b in range(lo, hi):
            forward_row(t, b, a, zero, bias, valid, h, c, tanh_c)


@njit(**JIT)
def backward_rows(lo, hi, panels, dy, dh_next, carry, dc, gates, c, tanh_c, valid, da, dc_all,
                  dbias_rows):
    """For t = T-1..0, rows lo..hi-1: :func:`backward_row`, da[t, b] added to row b of
    ``dbias_rows`` (B, 4H) (the caller sums them), then dh_next = da[t] @ W_hh (packed)."""
    for t in range(dy.shape[0] - 1, -1, -1):
        for b in range(lo, hi):
            if backward_row(t, b, dy, dh_next, carry, dc, gates, c, tanh_c, valid, da,
                            dc_all):
                accumulate(dbias_rows[b], da[t, b])  # (1)
        matmul_packed(da[t, lo:hi], panels, dh_next[lo:hi])


# -- the inference forward: no cache, one block of rows per thread ------------------------
@njit(**JIT)
def infer_rows(lo, hi, panels, x, bias, valid, z, pre, h, c, y):
    """Equations (1)-(6) for rows lo..hi-1 of the batch over the whole sequence, keeping
    nothing for backward (``cells.lstm.infer``).

    Parameters
    ----------
    lo, hi : int
        The block of rows; other threads may run other blocks of the same arrays at once.
    panels : (P, I+H, L)
        [W_ih^T; W_hh^T] packed: one product per step gives both halves of (1).
    x : (B, T, I)
    bias : (4H,)
        b_ih + b_hh.
    valid : (T, B) bool
    z : (B, I+H)
        Work rows: [x_t, h_{t-1}] of each row (the block's rows only are touched).
    pre : (B, 4H)
        Work rows: the pre-activations, then the gates, in place.
    h, c : (B, H)
        In: h_0, c_0. Out: each row's state at its last valid step.
    y : (B, T, H)
        Out: h_t, zero at padded steps (6).
    """
    hidden = h.shape[1]
    b_i, b_f, b_g, b_o = split4(bias)
    z, pre = z[lo:hi], pre[lo:hi]
    for t in range(x.shape[1]):
        matmul_stacked(x, t, h, lo, z, panels, pre)  # (1) without the biases
        for r in range(hi - lo):
            b = lo + r
            if not valid[t, b]:  # (5), (6)
                zero_row(y[b, t])
                continue
            i, f, g, o = split4(pre[r])
            for k in range(hidden):  # (1), (2)
                i[k] = sigmoid(i[k] + b_i[k])
            for k in range(hidden):
                f[k] = sigmoid(f[k] + b_f[k])
            for k in range(hidden):
                g[k] = tanh(g[k] + b_g[k])
            for k in range(hidden):
                o[k] = sigmoid(o[k] + b_o[k])
            c_b, h_b, y_t = c[b], h[b], y[b, t]
            for k in range(hidden):
                c_b[k] = flush(f[k] * c_b[k] + i[k] * g[k])  # (3)
            for k in range(hidden):
                h_b[k] = flush(o[k] * tanh(c_b[k]))  # (4)
                y_t[k] = h_b[k]
