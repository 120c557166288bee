"""The compiled nonlinearities: float64 exact to the C library, float32 within 4e-7 of the
exact tanh everywhere, NaN and infinities kept; the fused LSTM step equals the equations
written with NumPy."""

import numpy as np
import pytest

import hashlib
import pathlib
import re

from rnnlab.cells.compiled import lstm as compiled_lstm
from rnnlab.cells.compiled import scalar


def test_float32_tanh_is_within_4e_7_of_the_exact_one():
    a = np.concatenate([np.linspace(-12, 12, 200001), [-1e30, -8.0, -1e-30, 0.0, 1e-30, 8.0,
                                                       1e30]]).astype(np.float32)
    out = np.empty_like(a)
    scalar.tanh_array(a, out)
    exact = np.tanh(a.astype(np.float64))
    assert out.dtype == np.float32
    assert np.abs(out - exact).max() < 4e-7
    assert np.all(np.abs(out) <= 1) and np.array_equal(np.sign(out), np.sign(exact))


def test_float64_tanh_is_the_c_librarys():
    a = np.linspace(-20, 20, 10001)
    out = np.empty_like(a)
    scalar.tanh_array(a, out)
    assert np.abs(out - np.tanh(a)).max() <= 2 * np.finfo(np.float64).eps


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_stays_nan_and_infinities_saturate(dtype):
    a = np.array([np.nan, np.inf, -np.inf], dtype=dtype)
    out = np.empty_like(a)
    scalar.tanh_array(a, out)
    assert np.isnan(out[0]) and out[1] == 1 and out[2] == -1


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-15), (np.float32, 2e-6)])
def test_lstm_step_is_the_equations(dtype, tol):
    rng = np.random.default_rng(0)
    batch, hidden = 3, 5
    a = rng.normal(size=(1, batch, 4 * hidden)).astype(dtype) * 3  # W_ih x_t, step t = 0
    hw = rng.normal(size=(batch, 4 * hidden)).astype(dtype)
    bias = rng.normal(size=4 * hidden).astype(dtype)
    h, c = (rng.normal(size=(2, batch, hidden)).astype(dtype) for _ in range(2))
    h_prev, c_prev = h[0].copy(), c[0].copy()
    valid = np.array([[True, False, True]])
    tanh_c = np.empty((1, batch, hidden), dtype)
    pre = (a[0] + bias + hw).astype(np.float64)
    compiled_lstm.forward_step(0, a, hw, bias, valid, h, c, tanh_c)
    sig = 1 / (1 + np.exp(-pre))
    i, f, o = sig[:, :hidden], sig[:, hidden:2 * hidden], sig[:, 3 * hidden:]
    g = np.tanh(pre[:, 2 * hidden:3 * hidden])
    c_new = f * c_prev + i * g
    keep = valid[0]
    assert np.allclose(a[0], np.concatenate([i, f, g, o], axis=1), atol=tol, rtol=0)
    assert np.allclose(c[1][keep], c_new[keep], atol=tol, rtol=0)
    assert np.allclose(h[1][keep], (o * np.tanh(c_new))[keep], atol=tol, rtol=0)
    assert np.allclose(tanh_c[0][keep], np.tanh(c_new)[keep], atol=tol, rtol=0)
    assert np.array_equal(h[1][~keep], h_prev[~keep])
    assert np.array_equal(c[1][~keep], c_prev[~keep])
    assert np.array_equal(h[0], h_prev) and np.array_equal(c[0], c_prev)  # inputs unchanged


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_vanishing_gradients_flush_to_zero_instead_of_turning_denormal(cell):
    """Denormal floats make every operation on them 10-100x slower (measured: an LSTM at
    B=128, H=128, T=400 took 10 s instead of 0.6 s); the kernels flush them to zero, as a
    CPU's flush-to-zero mode would, and leave every normal number as it is."""
    import rnnlab

    layer = getattr(rnnlab, cell)(1, 16, seed=0, dtype="float32")
    for name, value in layer.state_dict().items():
        if name.startswith("weight"):
            value *= 0.05  # gradients shrink by orders of magnitude per step
    layer.track_state_grads = True
    x = np.random.default_rng(0).standard_normal((4, 300, 1)).astype(np.float32)
    y, _ = layer.forward(x)
    d_out = np.zeros_like(y)
    d_out[:, -1] = 1.0
    layer.backward(d_out)
    tiny = np.finfo(np.float32).tiny
    for values in [*layer.state_grads[0].values(), *layer.grad_dict().values()]:
        magnitude = np.abs(values)
        assert not np.any((magnitude > 0) & (magnitude < tiny))  # no denormals
    dh = np.abs(layer.state_grads[0]["h"])
    assert dh[:, -1].min() > 0 and dh[:, 0].max() == 0  # it did vanish, to exact zeros


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_backward_leaves_the_callers_arrays_alone_at_batch_size_one(cell):
    """With B = 1 the (B, T, H) -> (T, B, H) swap needs no copy; the cells must copy anyway."""
    import rnnlab

    layer = getattr(rnnlab, cell)(2, 3, seed=0, dtype="float64")
    x = np.random.default_rng(0).standard_normal((1, 5, 2))
    x_before = x.copy()
    y, _ = layer.forward(x)
    d_out = np.ones_like(y)
    layer.backward(d_out)
    assert np.array_equal(d_out, np.ones_like(y)) and np.array_equal(x, x_before)


def test_each_compiled_file_records_the_files_it_calls_into():
    """Numba's on-disk cache checks a compiled function's own file only: a caller must change
    when a compiled function it calls changes in another file, or its cached machine code
    would keep running the old one. Each caller records its callees' SHA-256 (DEPENDS); this
    test fails until the record matches, and bringing it up to date changes the caller."""
    folder = pathlib.Path(scalar.__file__).parent
    stale = []
    for path in sorted(folder.glob("*.py")):
        text = path.read_text()
        called = set(re.findall(r"^from rnnlab\.cells\.compiled\.(\w+) import", text, re.M))
        match = re.search(r"^DEPENDS = \{([^}]*)\}", text, re.M)
        recorded = dict(re.findall(r'"(\w+\.py)": "([0-9a-f]*)"', match.group(1))) \
            if match else {}
        assert set(recorded) == {f"{name}.py" for name in called}, path.name
        for name, digest in recorded.items():
            actual = hashlib.sha256((folder / name).read_bytes()).hexdigest()[:16]
            if digest != actual:
                stale.append(f"{path.name}: {name} is {actual}, recorded {digest}")
    assert not stale, "update DEPENDS (see rnnlab/cells/compiled/__init__.py): " + "; ".join(stale)
