"""The compiled time step of the vanilla RNN (:mod:`rnnlab.cells.rnn` drives it, and holds its
numbered equations): the gate arithmetic of one step, forward and backward, each equation
its own loop over the hidden units; and the whole loops for small sizes. How and why the
loops are cut so: :mod:`rnnlab.cells.compiled`.
"""

from __future__ import annotations

from numba import njit

from rnnlab.cells.compiled.scalar import (JIT, accumulate, copy_row, drelu, dsigmoid, dtanh, flush,
                                          relu, sigmoid, tanh, zero_row)
from rnnlab.cells.compiled.tile import matmul_packed, matmul_stacked

# Numba's on-disk cache checks a compiled function's own file only: when a function this
# file calls changes in another file, this file must change too, or the old machine code
# keeps running. So it records the SHA-256 of those files (first 16 hex digits), and
# tests/test_kernels.py fails until the record matches them.
DEPENDS = {"scalar.py": "4596c690ac9375e3", "tile.py": "9421444b8bcb5c4d"}


TANH, RELU, SIGMOID = 0, 1, 2  # the nonlinearity codes the RNN kernels take


@njit(**JIT)
def activate_row(a, code):
    """a = f(a) in place over one row; the branch on ``code`` stays outside the loops."""
    if code == TANH:
        for k in range(a.size):
            a[k] = flush(tanh(a[k]))
    elif code == SIGMOID:
        for k in range(a.size):
            a[k] = flush(sigmoid(a[k]))
    else:
        for k in range(a.size):
            a[k] = relu(a[k])


@njit(**JIT)
def derivative_row(y, out, code):
    """out *= f'(a), written from y = f(a), over one row."""
    if code == TANH:
        for k in range(y.size):
            out[k] = flush(out[k] * dtanh(y[k]))
    elif code == SIGMOID:
        for k in range(y.size):
            out[k] = flush(out[k] * dsigmoid(y[k]))
    else:
        for k in range(y.size):
            out[k] = out[k] * drelu(y[k])


@njit(**JIT)
def forward_step(t, a, hw, bias, valid, code, h):
    """Equations (1)-(3) of :mod:`rnnlab.cells.rnn` for step t: h_t = f(a_t + W_hh h_{t-1}).

    ``a`` (T, B, H) holds W_ih x_t; ``hw`` (B, H) W_hh h_{t-1}; ``bias`` (H,) b_ih + b_hh
    (zeros without biases); ``code`` is TANH, RELU or SIGMOID; ``h`` (T+1, B, H): reads
    h_{t-1} at [t], writes h_t at [t + 1].
    """
    for b in range(hw.shape[0]):
        forward_row(t, b, a, hw[b], bias, valid, code, h)


@njit(**JIT)
def forward_row(t, b, a, hw_b, bias, valid, code, h):
    """:func:`forward_step` for row b alone; ``hw_b`` (H,) is the row's recurrent half."""
    h_t, a_t = h[t + 1, b], a[t, b]
    if valid[t, b]:
        for k in range(h_t.size):
            h_t[k] = a_t[k] + bias[k] + hw_b[k]  # (1)
        activate_row(h_t, code)  # (2)
    else:  # (3)
        copy_row(h[t, b], h_t)


@njit(**JIT)
def backward_step(t, dy, dh_next, carry, h, valid, code, da, dbias):
    """The backward equations of :mod:`rnnlab.cells.rnn` for step t, up to (1).

    ``dy`` (T, B, H): in at t dL/dy_t, out the total dL/dh_t. ``dh_next`` (B, H): the part
    through W_hh from the step after; ``carry`` (B, H): in, the part passed straight through
    padded steps after; out, the same for h_{t-1}. ``h`` (T+1, B, H): h_t at [t + 1].
    ``da`` (T, B, H): out at t, dL/da_t (zero at a padded step). ``dbias`` (H,) accumulates
    the sum over the batch of da: the bias gradient.
    """
    for b in range(dh_next.shape[0]):
        if backward_row(t, b, dy, dh_next, carry, h, valid, code, da):
            accumulate(dbias, da[t, b])  # (1)


@njit(**JIT)
def backward_row(t, b, dy, dh_next, carry, h, valid, code, da):
    """:func:`backward_step` for row b alone, but for the bias gradient: returns whether
    the step is valid (at a padded one da[t, b] is zero)."""
    dh, carry_b, dh_next_b, da_b = dy[t, b], carry[b], dh_next[b], da[t, b]
    if not valid[t, b]:  # (3)
        for k in range(dh.size):
            carry_b[k] = flush(dh_next_b[k] + carry_b[k])
        copy_row(carry_b, dh)
        zero_row(da_b)
        return False
    for k in range(dh.size):
        dh[k] = flush(dh[k] + dh_next_b[k] + carry_b[k])  # (4)
    zero_row(carry_b)
    copy_row(dh, da_b)
    derivative_row(h[t + 1, b], da_b, code)  # (2)
    return True


# -- the whole loop, for products small enough for the packed kernel ----------------------
# Exactly the loop rnnlab.cells.common.forward_steps / backward_steps write out in Python
# for the BLAS case: forward, the recurrent product then the step; backward, the step then
# the product.
@njit(**JIT)
def forward_loop(panels, a, hw, bias, valid, code, h):
    """For t = 0..T-1: hw = h[t] @ W_hh^T (packed), then :func:`forward_step`."""
    for t in range(a.shape[0]):
        matmul_packed(h[t], panels, hw)
        forward_step(t, a, hw, bias, valid, code, h)


@njit(**JIT)
def backward_loop(panels, dy, dh_next, carry, h, valid, code, da, dbias):
    """For t = T-1..0: :func:`backward_step`, then dh_next = da[t] @ W_hh (packed)."""
    for t in range(dy.shape[0] - 1, -1, -1):
        backward_step(t, dy, dh_next, carry, h, valid, code, da, dbias)
        matmul_packed(da[t], panels, dh_next)



# -- the training loops on rnnlab's threads: one block of rows each ----------------------
# (rnnlab.cells.parallel; as in rnnlab.cells.compiled.lstm).
@njit(**JIT)
def forward_rows(lo, hi, panels, x, zero, bias, valid, z, a, code, h):
    """For t = 0..T-1, rows lo..hi-1: a[t] = [x_t, h_{t-1}] @ [W_ih^T; W_hh^T] (packed),
    then :func:`forward_row` with ``zero`` (H,) for its recurrent half."""
    z = z[lo:hi]
    for t in range(x.shape[1]):
        matmul_stacked(x, t, h[t], lo, z, panels, a[t, lo:hi])
        for b in range(lo, hi):
            forward_row(t, b, a, zero, bias, valid, code, h)


@njit(**JIT)
def backward_rows(lo, hi, panels, dy, dh_next, carry, h, valid, code, da, dbias_rows):
    """For t = T-1..0, rows lo..hi-1: :func:`backward_row`, da[t, b] added to row b of
    ``dbias_rows`` (B, H), then dh_next = da[t] @ W_hh (packed)."""
    for t in range(dy.shape[0] - 1, -1, -1):
        for b in range(lo, hi):
            if backward_row(t, b, dy, dh_next, carry, h, valid, code, da):
                accumulate(dbias_rows[b], da[t, b])  # (1)
        matmul_packed(da[t, lo:hi], panels, dh_next[lo:hi])


# -- the inference forward: no cache, one block of rows per thread ------------------------
@njit(**JIT)
def infer_rows(lo, hi, panels, x, bias, valid, z, pre, h, y, code):
    """Equations (1)-(4) for rows lo..hi-1 of the batch over the whole sequence, keeping
    nothing for backward (``cells.rnn.infer``; the arrays as in
    :func:`rnnlab.cells.compiled.lstm.infer_rows`): ``pre`` (B, H), ``h`` (B, H) in h_0, out
    each row's last valid state, ``y`` (B, T, H), ``code`` the nonlinearity."""
    z, pre = z[lo:hi], pre[lo:hi]
    for t in range(x.shape[1]):
        matmul_stacked(x, t, h, lo, z, panels, pre)  # (1) without the biases
        for r in range(hi - lo):
            b = lo + r
            h_b, a, y_t = h[b], pre[r], y[b, t]
            if not valid[t, b]:  # (3), (4)
                zero_row(y_t)
                continue
            for k in range(a.size):
                a[k] = a[k] + bias[k]  # (1)
            activate_row(a, code)  # (2)
            copy_row(a, h_b)
            copy_row(a, y_t)
