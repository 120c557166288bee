"""Losses, each returning the loss and its gradient with respect to the prediction.

Shapes: N any leading dimensions (B, or B and T), C classes. Every loss takes an optional
``mask`` over the leading dimensions (True or 1 where an element counts), so padded steps of
a many-to-many model drop out; ``reduction="mean"`` divides by the number of elements that
count, ``"sum"`` does not. An optional ``weight`` over the same leading dimensions weighs each
element (sample weights, non-negative): the mean is then sum_n w_n m_n L_n / sum_n w_n m_n.

Notes
-----
=================== ======================================= ===============================
loss                L                                       dL/d prediction (per element)
=================== ======================================= ===============================
mse_loss            (y_hat - y)^2                           2 (y_hat - y)
mse_loss, half=True 1/2 (y_hat - y)^2  (the tutorial's form)    y_hat - y
bce_with_logits     max(z, 0) - z y + log(1 + exp(-|z|))    sigmoid(z) - y
cross_entropy       -log softmax(z)_y                       softmax(z) - onehot(y)
=================== ======================================= ===============================

where y_hat is a prediction, y a target, z a logit, and each per-element derivative is then
scaled by the mask and the reduction.
"""

from __future__ import annotations

import numpy as np

from rnnlab._checks import boolean, float_array, one_of

REDUCTIONS = ("mean", "sum")


def _leading(value, name: str, shape: tuple, holds: str) -> np.ndarray:
    """``value`` as an array of numbers over the leading dimensions of ``shape``, or raise
    naming ``name``."""
    value = np.asarray(value)
    if value.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be {holds}, got dtype {value.dtype}")
    if value.ndim > len(shape) or value.shape != tuple(shape[:value.ndim]):
        raise ValueError(f"{name} must cover the leading dimensions of {tuple(shape)}, "
                         f"got shape {value.shape}")
    return value


def _weights(mask, shape: tuple, reduction: str, dtype, name: str, weight=None):
    """Each element's weight in the loss, broadcastable to ``shape``.

    ``mask`` covers the leading dimensions, ``shape[:mask.ndim]``; it is 1 (True) where an
    element counts. For a mean, the weights are the mask over the number of elements that
    count. ``weight`` (non-negative, over leading dimensions too) multiplies the mask, and a
    mean then divides by the weights' sum.
    """
    one_of(reduction, "reduction", REDUCTIONS)
    if weight is not None:
        weight = _leading(weight, "weight", shape, "non-negative numbers")
        if not np.isfinite(weight).all() or (weight < 0).any():
            raise ValueError("weight must hold finite non-negative numbers, got negative or "
                             "non-finite values")
        # both over the leading dimensions, padded with 1s to len(shape) axes
        weights = weight.astype(dtype).reshape(weight.shape + (1,) * (len(shape) - weight.ndim))
        if mask is not None:
            weights = weights * _weights(mask, shape, "sum", dtype, name)
        if reduction == "mean":
            total = float(np.broadcast_to(weights, shape).sum())
            if total == 0:
                raise ValueError("weight must not be 0 on every element that counts, for "
                                 "reduction='mean'")
            weights = weights / total
        return weights
    if mask is None:
        count = int(np.prod(shape))
        if count == 0 and reduction == "mean":
            raise ValueError(f"{name} must have at least one element for reduction='mean', "
                             f"got shape {tuple(shape)}")
        return np.asarray(1.0 / count if reduction == "mean" else 1.0, dtype=dtype)
    mask = _leading(mask, "mask", shape, "bool or 0/1 numbers")
    if not np.all((mask == 0) | (mask == 1)):
        raise ValueError("mask must hold only 0 and 1 (or False and True), got other values")
    weights = mask.astype(dtype).reshape(mask.shape + (1,) * (len(shape) - mask.ndim))
    if reduction == "mean":
        count = float(np.broadcast_to(weights, shape).sum())
        if count == 0:
            raise ValueError("mask must select at least one element for reduction='mean'")
        weights = weights / count
    return weights


def mse_loss(prediction, target, mask=None, reduction: str = "mean", half: bool = False,
             weight=None):
    """Squared error, mean or sum; ``half=True`` gives the tutorial's 1/2 (y - y_hat)^2.

    Parameters
    ----------
    prediction, target : (N..., K) float, the same shape
    mask : (N...) bool or 0/1, optional
        Over ``prediction.shape[:mask.ndim]``; a masked-out element contributes nothing.
    reduction : {"mean", "sum"}
        "mean" divides by the number of elements that count (all K outputs of each).
    half : bool
        Multiply by 1/2, so that the gradient is y_hat - y.
    weight : (N...) non-negative numbers, optional
        Each element's weight (sample weights); a mean divides by their sum where counted.

    Returns
    -------
    loss : float
    grad : like ``prediction``
    """
    scale = 0.5 if boolean(half, "half") else 1.0
    prediction = float_array(prediction, "prediction", None, "(N..., K)")
    target = float_array(target, "target", prediction.dtype, "(N..., K)")
    if target.shape != prediction.shape:
        raise ValueError(f"target must have the shape of prediction {prediction.shape}, "
                         f"got {target.shape}")
    weights = _weights(mask, prediction.shape, reduction, prediction.dtype, "prediction", weight)
    diff = prediction - target
    loss = scale * float(np.sum(weights * diff * diff))
    return loss, (2.0 * scale) * weights * diff


def bce_with_logits(logits, target, mask=None, reduction: str = "mean", weight=None):
    """Binary cross-entropy on logits, computed without overflow.

    Parameters
    ----------
    logits : (N...) float
    target : (N...) float in [0, 1]
    mask : (N...) bool or 0/1, optional
    reduction : {"mean", "sum"}
    weight : (N...) non-negative numbers, optional (see :func:`mse_loss`)

    Returns
    -------
    loss : float
    grad : like ``logits``: (sigmoid(z) - y) times the mask and reduction weights
    """
    logits = float_array(logits, "logits", None, "(N...)")
    target = float_array(target, "target", logits.dtype, "(N...)")
    if target.shape != logits.shape:
        raise ValueError(f"target must have the shape of logits {logits.shape}, "
                         f"got {target.shape}")
    if target.size and (target.min() < 0 or target.max() > 1):
        raise ValueError("target must lie in [0, 1] for binary cross-entropy")
    weights = _weights(mask, logits.shape, reduction, logits.dtype, "logits", weight)
    z = logits
    per_element = np.maximum(z, 0) - z * target + np.log1p(np.exp(-np.abs(z)))
    probability = 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid(z) without overflow
    return float(np.sum(weights * per_element)), weights * (probability - target)


def cross_entropy(logits, target, mask=None, reduction: str = "mean", weight=None):
    """Softmax cross-entropy on logits with integer class targets.

    Parameters
    ----------
    logits : (N..., C) float
    target : (N...) int in [0, C)
        Any integer (e.g. -1) where the mask is 0.
    mask : (N...) bool or 0/1, optional
    reduction : {"mean", "sum"}
    weight : (N...) non-negative numbers, optional (see :func:`mse_loss`)

    Returns
    -------
    loss : float
    grad : (N..., C): softmax(z) - onehot(y), times the mask and reduction weights
    """
    logits = float_array(logits, "logits", None, "(N..., C)")
    if logits.ndim < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have a class axis (N..., C) with C >= 1, "
                         f"got shape {logits.shape}")
    target = np.asarray(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
    if target.shape != logits.shape[:-1]:
        raise ValueError(f"target must have shape (N...) = {logits.shape[:-1]}, "
                         f"got {target.shape}")
    weights = _weights(mask, target.shape, reduction, logits.dtype, "logits", weight)
    # Targets at masked-out positions (padding) may hold anything, e.g. -1; they are not used.
    counted = np.broadcast_to(weights != 0, target.shape)
    classes = logits.shape[-1]
    used = target[counted]
    if used.size and (used.min() < 0 or used.max() >= classes):
        raise ValueError(f"target must lie in [0, C) = [0, {classes}) where it counts, "
                         f"got min {used.min()} and max {used.max()}")
    target = np.where(counted, target, 0)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    log_p = shifted - log_z  # log softmax, (N..., C)
    picked = np.take_along_axis(log_p, target[..., None], axis=-1)[..., 0]  # (N...)
    loss = -float(np.sum(weights * picked))
    grad = np.exp(log_p)
    np.put_along_axis(grad, target[..., None],
                      np.take_along_axis(grad, target[..., None], axis=-1) - 1.0, axis=-1)
    return loss, (weights[..., None] if weights.ndim else weights) * grad
