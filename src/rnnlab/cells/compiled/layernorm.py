"""Layer normalization over rows, compiled: one row (:func:`normalize`, the per-step norms of
the layer-normalized cells), or every row of an array (:func:`normalize_rows`, the input
side, every step at once), and their backwards. The equations are those of the
specification, :mod:`rnnlab.reference.layernorm`.
"""

from __future__ import annotations

import math

from numba import njit

from rnnlab.cells.compiled.scalar import JIT, flush

# Numba's on-disk cache checks a compiled function's own file only (see the package's
# docstring; tests/test_kernels.py checks the record).
DEPENDS = {"scalar.py": "4596c690ac9375e3"}

# The sums over a row (its mean and variance, and the two of the backward) may be summed in
# any order, so that they vectorize (fastmath "reassoc" on these functions alone): a row's
# statistics then differ from the specification's ordered sums in the last bits.
SUMS = {**JIT, "fastmath": {"contract", "reassoc"}}


@njit(**SUMS)
def normalize(a, gain, bias, eps, a_hat, out):
    """out = gain * (a - mean a) / s + bias over one row, a_hat = (a - mean a) / s; returns
    s = sqrt(var a + eps) (layer normalization, equations (1)-(3) of
    :mod:`rnnlab.reference.layernorm`)."""
    n = a.size
    total = 0.0
    for k in range(n):
        total += a[k]
    mean = total / n
    total = 0.0
    for k in range(n):
        total += (a[k] - mean) * (a[k] - mean)
    s = math.sqrt(total / n + eps)
    inv_s = 1.0 / s
    for k in range(n):
        a_hat[k] = (a[k] - mean) * inv_s
        out[k] = gain[k] * a_hat[k] + bias[k]
    return s


@njit(**SUMS)
def normalize_back(dy, a_hat, s, gain, d_gain, d_bias, da):
    """da from dy through one row's layer norm (its backward, (3)-(1)); d_gain += dy a_hat,
    d_bias += dy."""
    n = dy.size
    mean_d = 0.0
    mean_da = 0.0
    for k in range(n):
        d_hat = dy[k] * gain[k]
        mean_d += d_hat
        mean_da += d_hat * a_hat[k]
        d_gain[k] += dy[k] * a_hat[k]
        d_bias[k] += dy[k]
    mean_d /= n
    mean_da /= n
    inv_s = 1.0 / s
    for k in range(n):
        da[k] = flush((dy[k] * gain[k] - mean_d - a_hat[k] * mean_da) * inv_s)


@njit(**JIT)
def normalize_rows(a, gain, bias, eps, a_hat, out, scale):
    """LN over every row of ``a`` (R, n) at once (the input side, every step): out, a_hat
    (R, n) and scale (R,) as :func:`normalize` gives them row by row."""
    for r in range(a.shape[0]):
        scale[r] = normalize(a[r], gain, bias, eps, a_hat[r], out[r])


@njit(**JIT)
def normalize_rows_back(dy, a_hat, scale, gain, d_gain, d_bias, da):
    """The backward of :func:`normalize_rows`, row by row; d_gain and d_bias accumulate."""
    for r in range(dy.shape[0]):
        normalize_back(dy[r], a_hat[r], scale[r], gain, d_gain, d_bias, da[r])
