"""Compiled kernels for the elementwise work of one time step, one fused pass each.

Shapes: B batch, H hidden units; gate blocks stacked as in PyTorch (LSTM i, f, g, o).

The time loops of the cells do two kinds of work per step: one matrix product (NumPy's BLAS,
``h_{t-1} @ W_hh^T`` forward and ``da_t @ W_hh`` backward) and the gate arithmetic around it.
Written as NumPy expressions, the gate arithmetic is a dozen or more separate passes over
(B, H) arrays per step, each with its own call overhead and temporary; at small B and H the
overhead dominates, and at large ones the passes over memory and NumPy's scalar tanh do. Here
each step's gate arithmetic is one loop over (b, k), compiled by Numba, that reads every
input once and writes every output once, the same equations as the cells' docstrings.

Nonlinearities: :func:`tanh` and :func:`sigmoid` work on one scalar. In float64 they are the
C library's tanh (sigmoid(a) = (1 + tanh(a/2)) / 2, which never overflows), accurate to the
last bit or two, which is what the gradient checks need. In float32, tanh is a rational
approximation (Eigen's ``ptanh_float``: clamp |a| to 7.9053, then odd polynomial / even
polynomial), which the compiler vectorizes: within 4e-7 of the exact tanh everywhere
(``tests/test_kernels.py`` measures it), about eight times faster than NumPy's float32 tanh
on this kind of machine, and NaN stays NaN so that a diverging run is still caught.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

# error_model "numpy": a division never raises, so loops vectorize; "contract": fused
# multiply-adds allowed (nothing else of fastmath: NaN and inf keep their meaning).
JIT = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}, "nogil": True}

TANH_CLAMP = 7.90531110763549805  # beyond it the float32 rational is +-1 within 3e-7
SATURATED = 9.011  # from here on float32's tanh rounds to exactly +-1
_P = (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
      5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03)
_Q = (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)


# -- scalar nonlinearities, one implementation per float type -----------------------------
def tanh(a):
    """tanh(a) for one scalar (compiled; see the module docstring)."""
    return math.tanh(a)


def sigmoid(a):
    """1 / (1 + exp(-a)) = (1 + tanh(a / 2)) / 2 for one scalar (compiled)."""
    return 0.5 + 0.5 * math.tanh(0.5 * a)


def dsigmoid(y):
    """sigmoid'(a) = y (1 - y), from y = sigmoid(a)."""
    return y * (1.0 - y)


def dtanh(y):
    """tanh'(a) = 1 - y^2, from y = tanh(a)."""
    return 1.0 - y * y


def relu(a):
    """max(a, 0); NaN stays NaN."""
    return 0.0 if a < 0 else a


def drelu(y):
    """relu'(a) = 1 where y > 0, else 0 (PyTorch's convention at a = 0)."""
    return 1.0 if y > 0 else 0.0


def one_minus(y):
    """1 - y, in y's type."""
    return 1.0 - y


def flush(v):
    """v, or 0 where |v| is below the smallest normal number of its type (denormals)."""
    return 0.0 if abs(v) < np.finfo(np.float64).tiny else v


@njit(**JIT)
def _tanh32(a):
    """Eigen's float32 rational tanh; exactly +-1 where float32's tanh rounds to it (|a| >=
    9.011); NaN in gives NaN out (the comparisons leave it alone)."""
    if a >= np.float32(SATURATED):
        return np.float32(1.0)
    if a <= -np.float32(SATURATED):
        return np.float32(-1.0)
    limit = np.float32(TANH_CLAMP)
    if a > limit:
        a = limit
    if a < -limit:
        a = -limit
    a2 = a * a
    p = np.float32(_P[0])
    p = p * a2 + np.float32(_P[1])
    p = p * a2 + np.float32(_P[2])
    p = p * a2 + np.float32(_P[3])
    p = p * a2 + np.float32(_P[4])
    p = p * a2 + np.float32(_P[5])
    p = p * a2 + np.float32(_P[6])
    q = np.float32(_Q[0])
    q = q * a2 + np.float32(_Q[1])
    q = q * a2 + np.float32(_Q[2])
    q = q * a2 + np.float32(_Q[3])
    return a * p / q


@overload(tanh)
def _tanh_typed(a):
    if a == types.float32:
        return lambda a: _tanh32(a)
    return lambda a: math.tanh(a)


@overload(sigmoid)
def _sigmoid_typed(a):
    if a == types.float32:
        half = np.float32(0.5)
        return lambda a: half + half * _tanh32(half * a)
    return lambda a: 0.5 + 0.5 * math.tanh(0.5 * a)


@overload(dsigmoid)
def _dsigmoid_typed(y):
    if y == types.float32:
        one = np.float32(1.0)
        return lambda y: y * (one - y)
    return lambda y: y * (1.0 - y)


@overload(dtanh)
def _dtanh_typed(y):
    if y == types.float32:
        one = np.float32(1.0)
        return lambda y: one - y * y
    return lambda y: 1.0 - y * y


@overload(relu)
def _relu_typed(a):
    zero = np.float32(0.0) if a == types.float32 else 0.0
    return lambda a: zero if a < zero else a


@overload(drelu)
def _drelu_typed(y):
    zero, one = (np.float32(0.0), np.float32(1.0)) if y == types.float32 else (0.0, 1.0)
    return lambda y: one if y > zero else zero


@overload(one_minus)
def _one_minus_typed(y):
    one = np.float32(1.0) if y == types.float32 else 1.0
    return lambda y: one - y


@overload(flush)
def _flush_typed(v):
    if v == types.float32:
        zero, tiny = np.float32(0.0), np.float32(np.finfo(np.float32).tiny)
    else:
        zero, tiny = 0.0, np.finfo(np.float64).tiny
    return lambda v: zero if abs(v) < tiny else v


@njit(**JIT)
def tanh_array(a, out):
    """out = tanh(a), elementwise over flat contiguous arrays (for tests and callers)."""
    for n in range(a.size):
        out.flat[n] = tanh(a.flat[n])


# -- LSTM ----------------------------------------------------------------------------------
@njit(**JIT)
def lstm_forward_step(a, hw, h_prev, c_prev, valid, h, c, tanh_c):
    """Equations (1)-(5) of :mod:`rnnlab.cells.lstm` for one step.

    Parameters
    ----------
    a : (B, 4H)
        In: W_ih x_t + b_ih + b_hh. Out: the activated gates i, f, g, o.
    hw : (B, 4H)
        W_hh h_{t-1}, the recurrent half of (1).
    h_prev, c_prev : (B, H)
    valid : (B,) bool
        False at a padded step: the state passes through.
    h, c, tanh_c : (B, H)
        Out: h_t, c_t and tanh(c_t).
    """
    batch, hidden = c.shape
    for b in range(batch):
        keep = valid[b]
        for k in range(hidden):
            i = sigmoid(a[b, k] + hw[b, k])  # (1), (2)
            f = sigmoid(a[b, hidden + k] + hw[b, hidden + k])
            g = tanh(a[b, 2 * hidden + k] + hw[b, 2 * hidden + k])
            o = sigmoid(a[b, 3 * hidden + k] + hw[b, 3 * hidden + k])
            a[b, k] = i
            a[b, hidden + k] = f
            a[b, 2 * hidden + k] = g
            a[b, 3 * hidden + k] = o
            c_t = flush(f * c_prev[b, k] + i * g)  # (3)
            tc = tanh(c_t)  # (4)
            tanh_c[b, k] = tc
            if keep:
                c[b, k] = c_t
                h[b, k] = flush(o * tc)
            else:  # (5)
                c[b, k] = c_prev[b, k]
                h[b, k] = h_prev[b, k]


@njit(**JIT)
def lstm_backward_step(dy, dh_next, carry, dc, gates, c_prev, tanh_c, valid, da, dc_t):
    """The backward equations of :mod:`rnnlab.cells.lstm` for one step, up to (1).

    Parameters
    ----------
    dy : (B, H)
        In: dL/dy_t. Out: dh, the total dL/dh_t (6).
    dh_next : (B, H)
        The part of dL/dh_t that went through W_hh at the step after.
    carry : (B, H)
        In: the part of dL/dh_t passed straight through padded steps after. Out: the same
        for h_{t-1} (all of dh at a padded step, else 0).
    dc : (B, H)
        In: dL/dc_t from the future. Out: dL/dc_{t-1}.
    gates : (B, 4H)
        The step's activated i, f, g, o.
    c_prev, tanh_c : (B, H)
        c_{t-1} and tanh(c_t).
    valid : (B,) bool
    da : (B, 4H)
        Out: dL/d of the pre-activations, zero at a padded step.
    dc_t : (B, H)
        Out: the total dL/dc_t (diagnostics).
    """
    batch, hidden = dc.shape
    for b in range(batch):
        keep = valid[b]
        for k in range(hidden):
            i = gates[b, k]
            f = gates[b, hidden + k]
            g = gates[b, 2 * hidden + k]
            o = gates[b, 3 * hidden + k]
            if keep:
                dh = flush(dy[b, k] + dh_next[b, k] + carry[b, k])  # (6)
                tc = tanh_c[b, k]
                dc_total = flush(dc[b, k] + dh * o * dtanh(tc))  # (4)
                da[b, k] = flush(dc_total * g * dsigmoid(i))  # (3), (2)
                da[b, hidden + k] = flush(dc_total * c_prev[b, k] * dsigmoid(f))
                da[b, 2 * hidden + k] = flush(dc_total * i * dtanh(g))
                da[b, 3 * hidden + k] = flush(dh * tc * dsigmoid(o))  # (4), (2)
                dc[b, k] = flush(dc_total * f)  # (3) dL/dc_{t-1}
                carry[b, k] = 0
            else:  # (5): nothing computed here, the gradients pass through
                dh = flush(dh_next[b, k] + carry[b, k])
                carry[b, k] = dh
                dc_total = dc[b, k]
                da[b, k] = 0
                da[b, hidden + k] = 0
                da[b, 2 * hidden + k] = 0
                da[b, 3 * hidden + k] = 0
            dy[b, k] = dh
            dc_t[b, k] = dc_total


# -- GRU -----------------------------------------------------------------------------------
@njit(**JIT)
def gru_forward_step(a, hw, bias_hh, h_prev, valid, h, h_n):
    """Equations (2)-(6) of :mod:`rnnlab.cells.gru` for one step.

    Parameters
    ----------
    a : (B, 3H)
        In: W_ih x_t + b_ih. Out: the activated gates r, z, n.
    hw : (B, 3H)
        W_hh h_{t-1}, without its bias.
    bias_hh : (3H,)
        b_hh (zeros for a layer without biases).
    h_prev : (B, H)
    valid : (B,) bool
    h, h_n : (B, H)
        Out: h_t, and W_hn h_{t-1} + b_hn (the candidate's recurrent part, for backward).
    """
    batch, hidden = h.shape
    for b in range(batch):
        keep = valid[b]
        for k in range(hidden):
            hn = hw[b, 2 * hidden + k] + bias_hh[2 * hidden + k]  # (2)
            r = sigmoid(a[b, k] + hw[b, k] + bias_hh[k])  # (3)
            z = sigmoid(a[b, hidden + k] + hw[b, hidden + k] + bias_hh[hidden + k])
            n = tanh(a[b, 2 * hidden + k] + r * hn)  # (4)
            a[b, k] = r
            a[b, hidden + k] = z
            a[b, 2 * hidden + k] = n
            h_n[b, k] = hn
            if keep:
                h[b, k] = flush(n + z * (h_prev[b, k] - n))  # (5) (1 - z) n + z h_{t-1}
            else:  # (6)
                h[b, k] = h_prev[b, k]


@njit(**JIT)
def gru_backward_step(dy, dh_next, carry, gates, h_prev, h_n, valid, da_x, da_h):
    """The backward equations of :mod:`rnnlab.cells.gru` for one step, up to (2).

    Parameters
    ----------
    dy : (B, H)
        In: dL/dy_t. Out: dh, the total dL/dh_t (7).
    dh_next : (B, H)
        The part of dL/dh_t that went through W_hh at the step after.
    carry : (B, H)
        In: the part of dL/dh_t that went straight from the step after (dh * z, or all of
        dh at a padded step). Out: the same for h_{t-1}.
    gates : (B, 3H)
        The step's activated r, z, n.
    h_prev, h_n : (B, H)
        h_{t-1}, and W_hn h_{t-1} + b_hn.
    valid : (B,) bool
    da_x, da_h : (B, 3H)
        Out: the gradients of the input-side and recurrent-side pre-activations, zero at a
        padded step.
    """
    batch, hidden = carry.shape
    for b in range(batch):
        keep = valid[b]
        for k in range(hidden):
            r = gates[b, k]
            z = gates[b, hidden + k]
            n = gates[b, 2 * hidden + k]
            if keep:
                dh = flush(dy[b, k] + dh_next[b, k] + carry[b, k])  # (7)
                da_n = flush(dh * one_minus(z) * dtanh(n))  # (5), (4)
                da_r = flush(da_n * h_n[b, k] * dsigmoid(r))  # (4), (3)
                da_z = flush(dh * (h_prev[b, k] - n) * dsigmoid(z))  # (5), (3)
                da_x[b, k] = da_r
                da_x[b, hidden + k] = da_z
                da_x[b, 2 * hidden + k] = da_n
                da_h[b, k] = da_r
                da_h[b, hidden + k] = da_z
                da_h[b, 2 * hidden + k] = flush(da_n * r)  # (4) dh_n
                carry[b, k] = flush(dh * z)  # (5) the direct path to h_{t-1}
            else:  # (6)
                dh = flush(dh_next[b, k] + carry[b, k])
                for gate in range(3):
                    da_x[b, gate * hidden + k] = 0
                    da_h[b, gate * hidden + k] = 0
                carry[b, k] = dh
            dy[b, k] = dh


# -- vanilla RNN ---------------------------------------------------------------------------
TANH, RELU, SIGMOID = 0, 1, 2  # the nonlinearity codes the RNN kernels take


@njit(**JIT)
def _activate(a, code):
    if code == TANH:
        return tanh(a)
    if code == SIGMOID:
        return sigmoid(a)
    return relu(a)


@njit(**JIT)
def _derivative(y, code):
    if code == TANH:
        return dtanh(y)
    if code == SIGMOID:
        return dsigmoid(y)
    return drelu(y)


@njit(**JIT)
def rnn_forward_step(a, hw, h_prev, valid, code, h):
    """Equations (1)-(3) of :mod:`rnnlab.cells.rnn` for one step: h_t = f(a_t + W_hh h_{t-1}).

    ``a`` (B, H) holds W_ih x_t + b; ``code`` is TANH, RELU or SIGMOID.
    """
    batch, hidden = h.shape
    for b in range(batch):
        keep = valid[b]
        for k in range(hidden):
            if keep:
                h[b, k] = flush(_activate(a[b, k] + hw[b, k], code))
            else:
                h[b, k] = h_prev[b, k]


@njit(**JIT)
def rnn_backward_step(dy, dh_next, carry, h, valid, code, da):
    """The backward equations of :mod:`rnnlab.cells.rnn` for one step, up to (1).

    ``dy`` (B, H): in dL/dy_t, out the total dL/dh_t. ``dh_next``: the part through W_hh
    from the step after; ``carry``: in, the part passed straight through padded steps after;
    out, the same for h_{t-1}. ``da`` (B, H): out, dL/da_t (zero at a padded step).
    """
    batch, hidden = h.shape
    for b in range(batch):
        keep = valid[b]
        for k in range(hidden):
            if keep:
                dh = flush(dy[b, k] + dh_next[b, k] + carry[b, k])  # (4)
                da[b, k] = flush(dh * _derivative(h[b, k], code))  # (2)
                carry[b, k] = 0
            else:  # (3)
                dh = flush(dh_next[b, k] + carry[b, k])
                da[b, k] = 0
                carry[b, k] = dh
            dy[b, k] = dh
