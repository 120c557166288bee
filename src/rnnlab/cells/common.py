"""What the three recurrences share: parameter and gradient records, layout changes, masks,
the two products hoisted out of the single-thread time loops (the threaded loops and the
inference forward of :mod:`rnnlab.cells.parallel` fold the input half into each step's
product instead), and the time loops' skeleton (product, then step, forward; step, then
product, backward).

Shapes: B batch, T steps, I input features, H hidden units, G gates (1 for RNN, 4 for LSTM,
3 for GRU).

Every cell keeps the sequence time-major, ``(T, B, .)``, inside its loops so that each step
reads and writes one contiguous block; its inputs and outputs are batch-first, ``(B, T, .)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnlab.backend import get_xp
from rnnlab.cells.compiled import layernorm
from rnnlab.cells.gemm import Product


class Params(NamedTuple):
    """One direction of one layer, in PyTorch's layout and gate order."""

    weight_ih: object  # (G*H, I)
    weight_hh: object  # (G*H, H)
    bias_ih: object  # (G*H,) or None
    bias_hh: object  # (G*H,) or None


class Grads(NamedTuple):
    """Gradients of the loss for one direction of one layer; ``d`` + the forward name."""

    dx: object  # (B, T, I)
    d_state0: object  # (B, H); for LSTM the pair (dh0, dc0)
    dweight_ih: object  # (G*H, I)
    dweight_hh: object  # (G*H, H)
    dbias_ih: object  # (G*H,) or None
    dbias_hh: object  # (G*H,) or None
    d_states: object = None  # (T, B, H) dL/dh_t for t = 1..T, time-major; LSTM: (dh, dc)
    d_norm: object = None  # with layer normalization: {"ln_ih_weight": ..., ...}, or None


class Workspace:
    """The large arrays of one (layer, direction), handed out again when the shapes repeat.

    A fresh NumPy array of many megabytes is fresh memory from the operating system, and
    every page of it faults in, zeroed, the first time it is written (a measurable share of a
    large LSTM's forward and backward: docs/performance.md). Batch after batch the shapes
    repeat, and the same arrays can serve again. What ``empty(name, ...)`` hands out is
    overwritten by the next call under that name, so a workspace may only hold a cache that
    nobody needs once the next forward begins; a new ``Workspace()`` for every call
    allocates afresh, as NumPy would.
    """

    def __init__(self, keep_products: bool = False):
        self._arrays = {}
        # For a caller that runs one step at a time with weights it knows are unchanged (a
        # layer's ``step``, which starts a new workspace when its weights change): the
        # recurrent product, W_hh packed, is kept from call to call instead of built anew.
        self.keep_products = keep_products
        self._products = {}

    def product(self, w, rows: int):
        """The :class:`~rnnlab.cells.gemm.Product` of ``w`` for ``rows`` rows: kept from
        call to call with ``keep_products`` (W must not change meanwhile), else new."""
        if not self.keep_products:
            return Product(w, rows)
        # the memory w views (a new view of the same weights each call: W_hh.T)
        key = (w.__array_interface__["data"][0], w.shape, w.strides, rows)
        if key not in self._products:
            self._products[key] = (w, Product(w, rows))  # w kept: its memory stays its own
        return self._products[key][1]

    def empty(self, name: str, shape: tuple, like):
        """An uninitialized array of ``shape`` with ``like``'s dtype and array module."""
        shape = tuple(int(n) for n in shape)
        a = self._arrays.get(name)
        if a is None or a.shape != shape or a.dtype != like.dtype:
            a = get_xp(like).empty(shape, dtype=like.dtype)
            self._arrays[name] = a
        return a


def time_major(a, out=None):
    """(B, T, ...) -> a contiguous (T, B, ...) copy, into ``out`` if given (always a copy,
    never a view of ``a``: the cells write into it, and keep it)."""
    if out is None:
        return get_xp(a).array(a.swapaxes(0, 1), order="C", copy=True)
    out[...] = a.swapaxes(0, 1)
    return out


def batch_first(a):
    """(T, B, ...) -> a contiguous (B, T, ...) copy: the same swap, named for the way back."""
    return time_major(a)


def step_validity(mask, steps: int, batch: int):
    """A (B, T) mask of valid steps, or None (all valid) -> ``valid``, (T, B) bool, the one
    form of the mask in the caches: a padded step (False) carries the state through
    unchanged and outputs zero."""
    xp = get_xp(mask)
    if mask is None:
        return xp.ones((steps, batch), dtype=bool)
    return xp.ascontiguousarray(xp.asarray(mask, dtype=bool).T)


def masked_outputs(h, valid, masked: bool):
    """y_t = m_t h_t for t = 1..T, batch-first (B, T, H), from the states h (T+1, B, H)."""
    return batch_first(h[1:] * valid[..., None] if masked else h[1:])


def sequence_inputs(params: Params, x, mask, ws: Workspace, gates: str, project: bool = True):
    """What every cell's forward starts from: x time-major (T, B, I), ``valid`` (T, B), and
    the input half of (1) for every t at once, W_ih x_t, one GEMM instead of T small ones,
    into the workspace's array ``gates`` (T, B, G*H) (left unset with ``project=False``,
    for loops that compute it step by step: :mod:`rnnlab.cells.parallel`)."""
    batch, steps, n_in = x.shape
    x_tm = time_major(x, ws.empty("x", (steps, batch, n_in), x))  # (T, B, I)
    valid = step_validity(mask, steps, batch)  # (T, B) bool
    projected = ws.empty(gates, (steps, batch, params.weight_ih.shape[0]), x)
    return x_tm, valid, input_projection(params, x_tm, projected) if project else projected


def forward_steps(product, compiled, states, *args) -> None:
    """For t = 0..T-1: the recurrent product of ``states[t]`` (h_{t-1}), then the compiled
    step t (``compiled.forward_step(t, *args)``); when the product is packed (small sizes)
    the same loop runs compiled whole, ``compiled.forward_loop``."""
    if product.packed:
        compiled.forward_loop(product.panels, *args)
        return
    for t in range(len(states) - 1):
        product(states[t])
        compiled.forward_step(t, *args)


def backward_steps(product, compiled, d_pre, *args) -> None:
    """For t = T-1..0: the compiled backward step t, then the product of ``d_pre[t]`` (the
    pre-activations' gradient) through W_hh, the part of dL/dh_{t-1} it carries; compiled
    whole, ``compiled.backward_loop``, when the product is packed."""
    if product.packed:
        compiled.backward_loop(product.panels, *args)
        return
    for t in reversed(range(len(d_pre))):
        compiled.backward_step(t, *args)
        product(d_pre[t])


def kernel_biases(params: Params) -> tuple:
    """(b_ih, b_hh), each (G*H,), as the step kernels add them: zeros for a layer without
    biases, so that the kernels have one form."""
    if params.bias_ih is None:
        xp = get_xp(params.weight_hh)
        zeros = xp.zeros(params.weight_hh.shape[0], dtype=params.weight_hh.dtype)
        return zeros, zeros
    return params.bias_ih, params.bias_hh


def input_projection(params: Params, x_tm, out):
    """W_ih x_t for every t in one matrix product: (T, B, I) -> ``out`` (T, B, G*H).

    This is the input half of every step's pre-activation, hoisted out of the time loop:
    the same sums as step by step, done as one (T*B, I) @ (I, G*H) product. The biases are
    added by the step kernels, which read each step's block anyway.
    """
    steps, batch, n_in = x_tm.shape
    xp = get_xp(x_tm)
    xp.matmul(x_tm.reshape(steps * batch, n_in), params.weight_ih.T,
              out=out.reshape(steps * batch, -1))  # (T*B, G*H)
    return out


def weight_grads(params: Params, x_tm, h_prev_tm, da_x, da_h) -> tuple:
    """The sums over t of BPTT, each as one matrix product after the time loop.

    Parameters
    ----------
    x_tm : (T, B, I)
        The inputs.
    h_prev_tm : (T, B, H)
        h_{t-1} for every t (h_0 first).
    da_x, da_h : (T, B, G*H)
        The gradients of the pre-activations on the input side (which multiply W_ih) and on
        the recurrent side (which multiply W_hh). They are one array for RNN and LSTM; GRU's
        candidate gate differs between the two sides.

    Returns
    -------
    dx : (B, T, I)
    dweight_ih : (G*H, I)
        sum_t da_x_t^T x_t
    dweight_hh : (G*H, H)
        sum_t da_h_t^T h_{t-1}

    The bias gradients, sum_t da_x_t and sum_t da_h_t, are summed by the step kernels while
    each step's da is in cache.
    """
    steps, batch, n_in = x_tm.shape
    rows = steps * batch
    da_x2 = da_x.reshape(rows, -1)  # (T*B, G*H)
    da_h2 = da_h.reshape(rows, -1)  # (T*B, G*H)
    dweight_ih = da_x2.T @ x_tm.reshape(rows, n_in)
    dweight_hh = da_h2.T @ h_prev_tm.reshape(rows, -1)
    dx = (da_x2 @ params.weight_ih).reshape(steps, batch, n_in)
    return batch_first(dx), dweight_ih, dweight_hh


def bias_grads(params: Params, dbias_ih, dbias_hh=None) -> tuple:
    """(dbias_ih, dbias_hh) as the layer reports them: None for a layer without biases; for
    RNN and LSTM, whose two biases are added together, the same sum twice."""
    if params.bias_ih is None:
        return None, None
    return dbias_ih, dbias_ih.copy() if dbias_hh is None else dbias_hh


def recurrent_product(params: Params, batch: int, keep=None, ws: Workspace | None = None):
    """Forward's per-step product W_hh h_{t-1}, as h_{t-1} @ W_hh^T: (B, H) -> (B, G*H);
    with variational recurrent dropout, W_hh (k * h_{t-1}) for the sequence's mask ``keep``
    (B, H).

    Returns a :class:`~rnnlab.cells.gemm.Product` (or a :class:`MaskedProduct`); its
    ``out`` (B, G*H) holds the result. From ``ws`` (see :meth:`Workspace.product`) if given.
    """
    product = Product(params.weight_hh.T, batch) if ws is None else \
        ws.product(params.weight_hh.T, batch)
    return product if keep is None else MaskedProduct(product, keep, on_input=True)


def backward_product(params: Params, d_last, like, keep=None):
    """Backward's per-step product, the part of dL/dh_{t-1} through W_hh: da_t @ W_hh,
    (B, G*H) -> (B, H); with recurrent dropout's mask ``keep`` (B, H), k * (da_t @ W_hh).

    Returns a :class:`~rnnlab.cells.gemm.Product` (or a :class:`MaskedProduct`) whose
    ``out`` starts as ``d_last`` (dL/dh_T, zeros if None); ``like`` is h_0 (B, H). When BLAS
    computes it, it does so feature-major (W_hh^T da_t^T into an (H, B) buffer), the
    orientation in which OpenBLAS runs it faster at small B.
    """
    product = Product(params.weight_hh, like.shape[0], feature_major=True)
    if d_last is not None:
        product.out[...] = d_last
    return product if keep is None else MaskedProduct(product, keep, on_input=False)


class MaskedProduct:
    """A :class:`~rnnlab.cells.gemm.Product` with variational recurrent dropout (Gal &
    Ghahramani 2016): the same mask k (B, H), already scaled by 1 / (1 - p), at every step.

    Forward (``on_input=True``) multiplies the state before the product, (k * h_{t-1}) @
    W_hh^T; backward multiplies the product's result, k * (da_t @ W_hh), the gradient that
    reaches h_{t-1} through it. The time loops see a product like any other, except that it
    is never ``packed``: the loop runs in Python, each step's product still packed when small.
    """

    packed = False

    def __init__(self, product, keep, on_input: bool):
        self._product, self._keep, self._on_input = product, keep, on_input
        self.out = product.out
        self._masked = get_xp(keep).empty_like(keep) if on_input else None

    def __call__(self, a):
        if self._on_input:
            return self._product(get_xp(a).multiply(a, self._keep, out=self._masked))
        out = self._product(a)
        out *= self._keep
        return out


def recurrent_inputs(h, keep):
    """What multiplied W_hh at every step: h_{t-1} (T, B, H) for t = 1..T, or k * h_{t-1}
    with recurrent dropout's mask ``keep`` (B, H); the right factor of dW_hh's sum."""
    return h[:-1] if keep is None else h[:-1] * keep


def final_state_grad(given, like):
    """A writable copy of ``given`` (dL/d final state), or zeros shaped like ``like``."""
    xp = get_xp(like)
    if given is None:
        return xp.zeros_like(like)
    return xp.array(given, dtype=like.dtype, copy=True)


def normalized_inputs(params, a_ih, ws: Workspace, with_bias_hh: bool = True):
    """The input side of a layer-normalized cell, every step at once: LN_ih(W_ih x_t) + b_ih
    (+ b_hh, which the GRU adds on its recurrent side instead) for ``a_ih`` (T, B, G*H) =
    W_ih x_t, into the workspace, and the cache of its backward (the layer norm is compiled,
    row by row: :mod:`rnnlab.cells.compiled.layernorm`; the biases are added to LN_ih's own
    bias first, so that one pass writes the sum)."""
    steps, batch, width = a_ih.shape
    rows = a_ih.reshape(steps * batch, width)
    z = ws.empty("z_ih", rows.shape, rows)
    a_hat = ws.empty("a_hat_ih", rows.shape, rows)
    scale = ws.empty("scale_ih", (steps * batch,), rows)
    b_ih, b_hh = kernel_biases(params)
    bias = params.ln_ih_bias + (b_ih + b_hh if with_bias_hh else b_ih)
    layernorm.normalize_rows(rows, params.ln_ih_weight, bias, params.eps, a_hat, z, scale)
    return z.reshape(a_ih.shape), (a_hat, scale)


def normalized_inputs_back(params, cache, d_z, ws: Workspace):
    """dL/d(W_ih x_t) (T, B, G*H) from d_z, the gradient of :func:`normalized_inputs`' output,
    and the input norm's (d gain, d bias)."""
    a_hat, scale = cache
    rows = d_z.reshape(-1, d_z.shape[-1])
    d_a = ws.empty("d_a_ih", rows.shape, rows)
    d_gain, d_bias = np.zeros_like(params.ln_ih_weight), np.zeros_like(params.ln_ih_bias)
    layernorm.normalize_rows_back(rows, a_hat, scale, params.ln_ih_weight, d_gain, d_bias, d_a)
    return d_a.reshape(d_z.shape), d_gain, d_bias
