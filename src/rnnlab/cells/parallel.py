"""The training loops on both cores: one block of rows per thread, and the weight gradients
on the same threads with BLAS held to one thread inside them.

Shapes: B batch, T steps, I input features, H hidden units, G gates.

Why. A time loop's per-step work (a product of a few rows by W_hh and the gate arithmetic)
is too small to share between cores step by step, but the rows of the batch never meet
inside a recurrence: each block of rows can run the whole loop, forward or backward, on a
thread of its own (:mod:`rnnlab.cells.threads`). What stood in the way is OpenBLAS: after
each multi-threaded call its idle worker spins on the second core for about 0.1 s, and a
loop thread that wants that core then runs at a fraction of its speed. So in this path rnnlab
makes no multi-threaded BLAS call of its own: the input projection is folded into the loop
(both halves of each pre-activation in one packed product, [x_t, h_{t-1}] @ [W_ih^T;
W_hh^T]), and the three products after backward (dW_ih, dW_hh, dx) are cut between the
same threads, each calling BLAS with one thread (threadpoolctl). docs/performance.md has
the measurements, with and without.

When (:func:`usable`). For NumPy arrays, a batch of at least two blocks of rows
(``MIN_ROWS`` each), loops big enough to pay for the threads, and threadpoolctl installed
(the ``fast`` extra; without it the loops stay as they were). The inference forward
(:func:`inference_run`) has no products after its loop and always runs on the threads.
"""

from __future__ import annotations

import numpy as np

from rnnlab.backend import get_xp
from rnnlab.cells.common import Params, batch_first, kernel_biases, step_validity
from rnnlab.cells.gemm import pack
from rnnlab.cells.threads import row_blocks, run_blocks

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # the `fast` extra is not installed: the single-thread loops run
    ThreadpoolController = None

_controller = None
MIN_WORK = 100_000_000  # T*B*(I+H)*G*H from which the threaded training loops pay


def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, made once (it scans them)."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


def usable(params: Params, x, keep=None) -> bool:
    """Whether the training loops of a batch x (B, T, I) (any array of that shape and array
    module: backward passes its time-major copy, swapped) run on several threads: NumPy, no
    recurrent dropout mask, threadpoolctl installed, at least two blocks of rows, and at
    least ``MIN_WORK`` multiply-adds in the loop's products (below it the threads' fixed
    costs, about 0.1 ms for each of the three hand-offs of a forward+backward, outweighed
    the gain: docs/performance.md)."""
    if ThreadpoolController is None or keep is not None or get_xp(x) is not np:
        return False
    batch, steps, n_in = x.shape
    width, hidden = params.weight_hh.shape
    return steps * batch * (n_in + hidden) * width >= MIN_WORK and \
        len(row_blocks(batch)) > 1


def inference_run(rows_kernel, x, state0, mask, weights, bias, *extra):
    """The inference forward of a NumPy cell, without a cache: ``rows_kernel(lo, hi, panels,
    x, bias, valid, z, pre, *states, y, *extra)`` over the whole sequence, one block of rows
    per thread (:mod:`rnnlab.cells.threads`). Every step's pre-activations are one packed
    product, [x_t, h_{t-1}] @ ``weights`` ((I+H, N), both halves of the cell's (1) stacked:
    :func:`stacked_weights`), to which the kernel adds ``bias`` (N,). Returns ``(y (B, T, H),
    *states)``: the states (B, H), copies of ``state0`` (an array, or the LSTM's pair), carried
    to each row's last valid step."""
    batch, steps, n_in = x.shape
    states = [np.array(s, dtype=x.dtype, order="C") for s in
              (state0 if isinstance(state0, tuple) else (state0,))]
    hidden = states[0].shape[-1]
    z = np.empty((batch, n_in + hidden), dtype=x.dtype)  # [x_t, h_{t-1}] per row
    pre = np.empty((batch, weights.shape[1]), dtype=x.dtype)  # one step's pre-activations
    y = np.empty((batch, steps, hidden), dtype=x.dtype)
    run_blocks(rows_kernel, row_blocks(batch), pack(weights), np.ascontiguousarray(x), bias,
               step_validity(mask, steps, batch), z, pre, *states, y, *extra)
    return (y, *states)


def stacked_weights(params: Params) -> tuple:
    """([W_ih^T; W_hh^T] (I+H, G*H), b_ih + b_hh (G*H,)): the inference product's weights
    for a cell whose pre-activation is W_ih x_t + W_hh h_{t-1} + b_ih + b_hh (RNN, LSTM)."""
    b_ih, b_hh = kernel_biases(params)
    return np.concatenate([params.weight_ih.T, params.weight_hh.T]), b_ih + b_hh


def forward(rows_kernel, params: Params, x, ws, bias, valid, *arrays) -> None:
    """The training forward's time loop on rnnlab's threads: ``rows_kernel(lo, hi, panels,
    x, zero, bias, valid, z, *arrays)`` for every block of rows, where ``panels`` is
    [W_ih^T; W_hh^T] packed, ``zero`` (G*H,) zeros (the step kernels' recurrent half, which
    the packed product already holds) and ``z`` (B, I+H) work rows from ``ws``."""
    weights = np.concatenate([params.weight_ih.T, params.weight_hh.T])  # (I+H, G*H)
    z = ws.empty("z", (x.shape[0], weights.shape[0]), x)
    run_blocks(rows_kernel, row_blocks(x.shape[0]), pack(weights), np.ascontiguousarray(x),
               np.zeros_like(bias), bias, valid, z, *arrays)


def backward(rows_kernel, params: Params, dy, *arrays):
    """The backward time loop on rnnlab's threads: ``rows_kernel(lo, hi, panels, dy,
    *arrays, dbias_rows)`` for every block of rows, ``panels`` W_hh (G*H, H) packed for
    da_t @ W_hh; returns the bias gradient, the sum over the rows of ``dbias_rows`` (B, G*H),
    where each row's kernel added up its own da."""
    batch = dy.shape[1]
    dbias_rows = np.zeros((batch, params.weight_hh.shape[0]), dtype=dy.dtype)
    run_blocks(rows_kernel, row_blocks(batch), pack(params.weight_hh), dy, *arrays,
               dbias_rows)
    return dbias_rows.sum(axis=0)


def weight_grads(weight_ih, x_tm, h_prev_tm, da_x, da_h) -> tuple:
    """:func:`rnnlab.cells.common.weight_grads` on rnnlab's threads: ``(dx, dweight_ih,
    dweight_hh)``, dx batch-first (B, T, I). Each thread computes its share of the G*H rows
    of dW_ih = sum_t da_x_t^T x_t and dW_hh = sum_t da_h_t^T h_{t-1}, and of the T*B rows of
    dx = da_x W_ih, with BLAS held to one thread meanwhile."""
    steps, batch, n_in = x_tm.shape
    rows, width = steps * batch, da_x.shape[-1]
    da_x2, da_h2 = da_x.reshape(rows, width), da_h.reshape(rows, width)  # (T*B, G*H)
    x2, h2 = x_tm.reshape(rows, n_in), h_prev_tm.reshape(rows, -1)
    dweight_ih = np.empty((width, n_in), dtype=x_tm.dtype)
    dweight_hh = np.empty((width, h2.shape[1]), dtype=x_tm.dtype)
    dx = np.empty((rows, n_in), dtype=x_tm.dtype)

    def share(lo, hi):
        # the block [lo, hi) of the batch stands for the same share of both row ranges
        g0, g1 = lo * width // batch, hi * width // batch
        np.matmul(da_x2[:, g0:g1].T, x2, out=dweight_ih[g0:g1])
        np.matmul(da_h2[:, g0:g1].T, h2, out=dweight_hh[g0:g1])
        np.matmul(da_x2[lo * steps:hi * steps], weight_ih,
                  out=dx[lo * steps:hi * steps])

    with _blas_controller().limit(limits=1, user_api="blas"):
        run_blocks(share, row_blocks(batch))
    return batch_first(dx.reshape(steps, batch, n_in)), dweight_ih, dweight_hh
