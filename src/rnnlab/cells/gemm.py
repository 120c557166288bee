"""The recurrent product of a time loop, ``a_t @ W`` for one fixed W and T different a_t.

Shapes: M rows (the batch), K the inner dimension, N columns; L the width of a panel.

Each step of a recurrence multiplies a small (M, K) block by the same weight matrix: forward
``h_{t-1} W_hh^T`` (K = H, N = G*H), backward ``da_t W_hh`` (K = G*H, N = H). At small
batches a BLAS call spends most of its time outside the arithmetic: OpenBLAS copies W into
its own blocked layout on every call and hands the work to its threads, which for a 16 x 128
by 128 x 512 product costs as much as the multiplication (docs/performance.md has the
measurements). So W is packed once per sequence, and small products run through a compiled
kernel that reads the packed panels directly; large products, where
packing is cheap next to the arithmetic and two threads pay, stay with BLAS (:class:`Product`
chooses, from the size of one product).

The kernel. W (K, N) is cut into column panels of L = 4 vectors of 64 bytes (64 float32 or
32 float64 columns; the last panel padded with zeros) and stored panel after panel, each
(K, L) contiguous: ``pack``. One call of a tile computes a block of up to 6 rows by one panel
of ``out``, keeping its 24 vector accumulators in registers for the whole sum over k: per k,
it loads the panel's 4 vectors of row k once, broadcasts each of the 6 rows' a[m, k], and
does 24 vector multiply-adds. (That is on a machine with AVX-512; with 16 vector registers,
as AVX2 has, panels are 2 vectors of 32 bytes and a tile has 12 accumulators.) A register
block like this is not something Numba's loops can express (written as loops over arrays,
the same sums ran at 20 GFLOP/s, accumulators going through memory), so the tile is written
in LLVM's IR, with vector types that LLVM lowers to AVX-512, AVX2, SSE or NEON registers as
the machine has them; everything around it is ordinary Numba. The sums over k run in order
from k = 0, one multiply-add at a time, so results agree with BLAS up to the rounding of a
differently ordered sum.

The compiled part, :func:`rnnlab.cells.compiled.tile.matmul_packed` and its tiles, is in
:mod:`rnnlab.cells.compiled.tile`. This module keeps what runs in Python: the packing and
the choice.
"""

from __future__ import annotations

import numpy as np

from rnnlab.backend import get_xp
from rnnlab.cells.compiled.tile import VECTOR_BYTES, VECTORS, matmul_packed

SMALL = 1 << 22  # M*K*N up to which the packed kernel beats BLAS (see Product)


def panel_width(dtype) -> int:
    """L, the columns of one panel: 64 for float32, 32 for float64 (AVX-512; else 16, 8)."""
    return VECTORS * VECTOR_BYTES // np.dtype(dtype).itemsize


def pack(w):
    """W (K, N) -> its panels (P, K, L), P = ceil(N / L), the columns past N zero.

    Panel p holds columns p*L .. p*L + L - 1 of W, row after row: what one tile reads as it
    sums over k, in the order it reads it.
    """
    rows, cols = w.shape
    width = panel_width(w.dtype)
    count = -(-cols // width)
    padded = np.zeros((rows, count * width), dtype=w.dtype)  # (K, P*L)
    padded[:, :cols] = w
    return np.ascontiguousarray(padded.reshape(rows, count, width).transpose(1, 0, 2))


class Product:
    """``a @ w`` for one fixed w (K, N) and many a (M, K): the product of every time step.

    ``product(a)`` writes a @ w into ``product.out`` (M, N) and returns it; ``out`` is the
    same array at every call, so a loop reads it where the product left it. ``packed`` says
    whether the packed kernel computes it; then ``panels`` holds w packed, and a compiled
    time loop can call :func:`matmul_packed` itself.

    How it is computed depends on the size of one product, M*K*N: up to ``SMALL`` (2^22;
    the LSTM at B=16, H=128 is 2^20), through the packed kernel, w packed once here; beyond,
    through the array module's matmul. With ``feature_major=True`` that BLAS product is
    computed as w^T a^T into an (N, M) buffer and ``out`` is its (M, N) transpose (OpenBLAS
    is faster in that orientation when M is small; readers of ``out`` then see a strided
    array). CuPy arrays always go to matmul.
    """

    def __init__(self, w, rows: int, feature_major: bool = False):
        xp = get_xp(w)
        depth, cols = w.shape
        self.packed = xp is np and rows * depth * cols <= SMALL
        if self.packed:
            self.panels = pack(w)  # (P, K, L)
            self.out = np.zeros((rows, cols), dtype=w.dtype)  # (M, N)
        elif feature_major:
            self._w_t = xp.ascontiguousarray(w.T)  # (N, K)
            self._buffer = xp.zeros((cols, rows), dtype=w.dtype)  # (N, M)
            self.out = self._buffer.T
        else:
            self._w = w
            self.out = xp.zeros((rows, cols), dtype=w.dtype)
        self._feature_major = feature_major

    def __call__(self, a):
        if self.packed:
            matmul_packed(a, self.panels, self.out)
        elif self._feature_major:
            get_xp(a).matmul(self._w_t, a.T, out=self._buffer)
        else:
            get_xp(a).matmul(a, self._w, out=self.out)
        return self.out
