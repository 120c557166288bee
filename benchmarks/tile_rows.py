"""The packed product's register tile: 6 rows (what rnnlab uses) against 4 rows, on one core.

Both run the same panels through the same loop (``rnnlab.cells.compiled.tile``'s tiles,
built for each row count); the shapes are the per-step products of the recurrent loops:
a block of rows of the batch by [W_ih^T; W_hh^T] (forward, K = I + H) or by W_hh (backward,
K = 4H), float32. Medians of 7 runs.

    python benchmarks/tile_rows.py        # about 10 s

Measured figures: docs/performance.md.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit

from rnnlab.cells.compiled import tile
from rnnlab.cells.compiled.tile import _tile, matmul_packed
from rnnlab.cells.gemm import pack

SHAPES = ((8, 160, 512), (32, 288, 1024), (128, 576, 2048), (32, 1024, 256))
_four = _tile(4)
_one, _two, _three = (_tile(rows) for rows in (1, 2, 3))


@njit(nogil=True)
def matmul_4rows(a, panels, out):
    """matmul_packed with tiles of 4 rows (the version before this one)."""
    n_rows = a.shape[0]
    full = n_rows - n_rows % 4
    rest = n_rows - full
    for p in range(panels.shape[0]):
        for m0 in range(0, full, 4):
            _four(a, panels, out, p, m0)
        if rest == 1:
            _one(a, panels, out, p, full)
        elif rest == 2:
            _two(a, panels, out, p, full)
        elif rest == 3:
            _three(a, panels, out, p, full)


def median_us(fn, calls: int = 30) -> float:
    fn()
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - start) / calls)
    return float(np.median(runs)) * 1e6


def main():
    print(f"rnnlab's tile: {tile.ROWS} rows x {tile.VECTORS} vectors of "
          f"{tile.VECTOR_BYTES} bytes")
    rng = np.random.default_rng(0)
    for rows, depth, cols in SHAPES:
        a = rng.standard_normal((rows, depth)).astype(np.float32)
        w = rng.standard_normal((depth, cols)).astype(np.float32)
        panels = pack(w)
        four, six = np.empty((rows, cols), np.float32), np.empty((rows, cols), np.float32)
        matmul_4rows(a, panels, four)
        matmul_packed(a, panels, six)
        assert np.allclose(four, six, rtol=1e-5, atol=1e-4)
        t4 = median_us(lambda: matmul_4rows(a, panels, four))
        t6 = median_us(lambda: matmul_packed(a, panels, six))
        work = 2.0 * rows * depth * cols / 1e3  # GFLOP/s from us
        print(f"{rows} x {depth} by {depth} x {cols}: 4 rows {t4:.1f} us ({work / t4:.0f} "
              f"GFLOP/s), 6 rows {t6:.1f} us ({work / t6:.0f} GFLOP/s)")


if __name__ == "__main__":
    main()
