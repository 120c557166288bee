"""Layer normalization (Ba, Kiros & Hinton 2016) over the last axis, forward and backward.

Forward, for a vector a of n features (the last axis):

    (1) mu = mean(a),  var = mean((a - mu)^2),  s = sqrt(var + eps)
    (2) a^ = (a - mu) / s
    (3) y = gamma * a^ + beta

Backward, from dy:

    (3) dgamma = sum dy * a^ (over every other axis),  dbeta = sum dy,  da^ = dy * gamma
    (2), (1) da = (da^ - mean(da^) - a^ * mean(da^ * a^)) / s

(the mean and the variance depend on every a_j: the two mean terms are their paths).
"""

from __future__ import annotations

import numpy as np


def forward(a, gamma, beta, eps: float = 1e-5):
    """(y, cache) for a (..., n), gamma and beta (n,)."""
    mu = a.mean(axis=-1, keepdims=True)  # (1)
    s = np.sqrt(((a - mu) ** 2).mean(axis=-1, keepdims=True) + eps)  # (1)
    a_hat = (a - mu) / s  # (2)
    return gamma * a_hat + beta, (a_hat, s, gamma)  # (3)


def backward(cache, dy):
    """(da, dgamma, dbeta) from dy (..., n); dgamma and dbeta summed over the other axes."""
    a_hat, s, gamma = cache
    rows = dy.reshape(-1, dy.shape[-1])
    dgamma = (rows * a_hat.reshape(rows.shape)).sum(axis=0)  # (3)
    dbeta = rows.sum(axis=0)  # (3)
    d_hat = dy * gamma  # (3)
    da = (d_hat - d_hat.mean(axis=-1, keepdims=True)
          - a_hat * (d_hat * a_hat).mean(axis=-1, keepdims=True)) / s  # (2), (1)
    return da, dgamma, dbeta
