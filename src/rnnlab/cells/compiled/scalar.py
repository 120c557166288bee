"""What the compiled step kernels are made of: the scalar nonlinearities and their
derivatives, one implementation per float type, the denormal flush, and the row helpers
(copy, zero, split into gate blocks, accumulate a bias gradient).

Nonlinearities: :func:`tanh` and :func:`sigmoid` work on one scalar. In float64 they are the
C library's tanh (sigmoid(a) = (1 + tanh(a/2)) / 2, which never overflows), accurate to the
last bit or two, which is what the gradient checks need. In float32, tanh is a rational
approximation (Eigen's ``ptanh_float``: clamp |a| to 7.9053, then odd polynomial / even
polynomial), which the compiler vectorizes where NumPy's float32 tanh is a scalar library
call (docs/performance.md): within 4e-7 of the exact tanh everywhere (``tests/test_kernels.py``
measures it), and NaN stays NaN so that a diverging run is still caught.

Derivatives are written from the output (tanh' = 1 - y^2, sigmoid' = y (1 - y),
relu' = [y > 0]), as in :mod:`rnnlab.reference.activations`, which is the specification.
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


@njit(**JIT)
def copy_row(src, dst):
    """dst = src, for two rows of the same length."""
    for k in range(dst.size):
        dst[k] = src[k]


@njit(**JIT)
def zero_row(dst):
    """dst = 0 over one row."""
    for k in range(dst.size):
        dst[k] = 0


@njit(**JIT)
def split4(row):
    """One row of 4H -> its four gate blocks, in PyTorch's order (LSTM i, f, g, o)."""
    hidden = row.size // 4
    return row[:hidden], row[hidden:2 * hidden], row[2 * hidden:3 * hidden], row[3 * hidden:]


@njit(**JIT)
def split3(row):
    """One row of 3H -> its three gate blocks, in PyTorch's order (GRU r, z, n)."""
    hidden = row.size // 3
    return row[:hidden], row[hidden:2 * hidden], row[2 * hidden:]


@njit(**JIT)
def accumulate(total, row):
    """total += row: a bias gradient, summed over the batch while the step's row is in cache."""
    for j in range(total.size):
        total[j] += row[j]
