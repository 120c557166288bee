"""The recurrent product: the packed kernel equals a @ w for every shape it meets (row
blocks and their remainders, column panels and their tails), writes nothing past the end of
its output, and the cells give the same numbers whichever way the product is computed."""

import os
import subprocess
import sys

import numpy as np
import pytest

from rnnlab.cells import Params, gemm, gru, lstm, rnn
from rnnlab.cells.compiled import tile

TOL = {np.float32: 1e-5, np.float64: 1e-13}  # relative to the largest |a @ w|


def exact(a, w):
    return a.astype(np.float64) @ w.astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [0, 1, 2, 3, 4, 5, 6, 7, 11, 16, 17])
@pytest.mark.parametrize("depth, cols", [(1, 1), (3, 12), (20, 80), (33, 31), (7, 32),
                                         (16, 33), (128, 64), (5, 65), (64, 256)])
def test_packed_product_equals_matmul(dtype, rows, depth, cols):
    rng = np.random.default_rng(rows * 1000 + depth * 10 + cols)
    a = rng.standard_normal((rows, depth)).astype(dtype)
    w = rng.standard_normal((depth, cols)).astype(dtype)
    out = np.full((rows, cols), np.nan, dtype=dtype)
    tile.matmul_packed(a, gemm.pack(w), out)
    ref = exact(a, w)
    assert out.dtype == dtype
    assert np.abs(out - ref).max(initial=0) <= TOL[dtype] * max(1.0, np.abs(ref).max(initial=0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pack_lays_out_panels_of_w_zero_padded(dtype):
    w = np.arange(3 * 70, dtype=dtype).reshape(3, 70)
    width = gemm.panel_width(dtype)
    panels = gemm.pack(w)
    assert panels.shape == (-(-70 // width), 3, width) and panels.flags.c_contiguous
    for p in range(panels.shape[0]):
        block = w[:, p * width:(p + 1) * width]
        assert np.array_equal(panels[p, :, :block.shape[1]], block)
        assert not panels[p, :, block.shape[1]:].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_packed_product_writes_nothing_past_its_output(dtype):
    rng = np.random.default_rng(1)
    rows, depth, cols = 5, 9, 37  # the last panel mostly padding, a 1-row remainder block
    a = rng.standard_normal((rows, depth)).astype(dtype)
    w = rng.standard_normal((depth, cols)).astype(dtype)
    buffer = np.full(rows * cols + 200, 7.0, dtype=dtype)
    out = buffer[:rows * cols].reshape(rows, cols)
    tile.matmul_packed(a, gemm.pack(w), out)
    assert np.all(buffer[rows * cols:] == 7.0)
    assert np.allclose(out, exact(a, w), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("feature_major", [False, True])
@pytest.mark.parametrize("small", [False, True])
def test_product_computes_into_the_same_out_every_step(monkeypatch, feature_major, small):
    monkeypatch.setattr(gemm, "SMALL", gemm.SMALL if small else -1)
    rng = np.random.default_rng(2)
    w = rng.standard_normal((24, 40))
    product = gemm.Product(w.T.T, rows=6, feature_major=feature_major)  # any strides
    out = product.out
    assert out.shape == (6, 40)
    for _ in range(3):
        a = rng.standard_normal((6, 24))
        assert product(a) is out
        assert np.abs(out - a @ w).max() < 1e-12


def _step_grads(module, dtype, masked):
    """forward and backward of one cell on a fixed random problem: every array they return."""
    rng = np.random.default_rng(3)
    batch, steps, n_in, hidden = 5, 7, 3, 6
    gates = {rnn: 1, lstm: 4, gru: 3}[module]
    params = Params(*(rng.standard_normal(shape).astype(dtype) * 0.5 for shape in
                      [(gates * hidden, n_in), (gates * hidden, hidden), (gates * hidden,),
                       (gates * hidden,)]))
    x = rng.standard_normal((batch, steps, n_in)).astype(dtype)
    h0 = rng.standard_normal((batch, hidden)).astype(dtype)
    state0 = (h0, h0[::-1].copy()) if module is lstm else h0
    mask = (np.arange(steps)[None, :] < np.array([7, 3, 5, 7, 1])[:, None]) if masked else None
    y, cache = module.forward(params, x, state0, mask)
    d_last = (h0 * 2, h0 * 3) if module is lstm else h0 * 2
    grads = module.backward(params, cache, rng.standard_normal(y.shape).astype(dtype), d_last)
    flat = [y, grads.dx, grads.dweight_ih, grads.dweight_hh, grads.dbias_ih, grads.dbias_hh]
    flat += list(grads.d_state0) if module is lstm else [grads.d_state0]
    return flat


@pytest.mark.parametrize("module", [rnn, lstm, gru], ids=["rnn", "lstm", "gru"])
@pytest.mark.parametrize("masked", [False, True])
def test_cells_agree_whichever_way_the_product_runs(monkeypatch, module, masked):
    packed = _step_grads(module, np.float64, masked)
    monkeypatch.setattr(gemm, "SMALL", -1)  # every product through BLAS
    blas = _step_grads(module, np.float64, masked)
    for mine, theirs in zip(packed, blas, strict=True):
        assert np.abs(mine - theirs).max() <= 1e-12 * max(1.0, np.abs(theirs).max())


NARROW = """
import llvmlite.binding as llvm
features = llvm.get_host_cpu_features()
for name in features:
    if name.startswith("avx512") or name in ("evex512", "amx-tile"):
        features[name] = False  # Numba compiles for these features too: AVX2 code
llvm.get_host_cpu_features = lambda: features
import numpy as np
from rnnlab.cells import gemm
from rnnlab.cells.compiled import tile
assert (tile.VECTOR_BYTES, tile.VECTORS) == (32, 2)
assert gemm.panel_width(np.float32) == 16
rng = np.random.default_rng(0)
for dtype in (np.float32, np.float64):
    for rows, depth, cols in [(1, 1, 1), (5, 9, 37), (16, 128, 512), (7, 33, 8), (17, 16, 20),
                              (4, 5, 3), (9, 7, 18)]:
        a = rng.standard_normal((rows, depth)).astype(dtype)
        w = rng.standard_normal((depth, cols)).astype(dtype)
        out = np.full((rows, cols), np.nan, dtype=dtype)
        tile.matmul_packed(a, gemm.pack(w), out)
        ref = a.astype(np.float64) @ w.astype(np.float64)
        assert np.abs(out - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max()), (dtype, rows)
print("ok")
"""


def test_the_narrow_register_tile_computes_the_same(tmp_path):
    # the tile chosen where there is no AVX-512 (2 vectors of 32 bytes), compiled afresh
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", NARROW], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
