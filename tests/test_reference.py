"""The fast cells (rnnlab.cells: compiled kernels, packed products, workspaces) against the
specification (rnnlab.reference: plain NumPy loops), for every cell, nonlinearity, with and
without bias and masks: outputs, final states and every gradient agree to 1e-12 in float64."""

import itertools

import numpy as np
import pytest

from rnnlab import reference
from rnnlab.cells import gru, lstm, rnn
from rnnlab.cells.common import Params
from helpers import rel_err

FAST = {"rnn": rnn, "lstm": lstm, "gru": gru}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
CASES = ([("rnn", f) for f in ("tanh", "relu", "sigmoid")] + [("lstm", "tanh"), ("gru", "tanh")])


def make(cell, hidden, n_in, bias, seed):
    rng = np.random.default_rng(seed)
    rows = GATES[cell] * hidden
    params = {"weight_ih": rng.uniform(-0.6, 0.6, (rows, n_in)),
              "weight_hh": rng.uniform(-0.6, 0.6, (rows, hidden)),
              "bias_ih": rng.uniform(-0.3, 0.3, rows) if bias else None,
              "bias_hh": rng.uniform(-0.3, 0.3, rows) if bias else None}
    return params, Params(params["weight_ih"], params["weight_hh"], params["bias_ih"],
                          params["bias_hh"])


def state(cell, rng, batch, hidden):
    if cell == "lstm":
        return tuple(rng.standard_normal((batch, hidden)) * 0.5 for _ in range(2))
    return rng.standard_normal((batch, hidden)) * 0.5


def parts(s):
    return list(s) if isinstance(s, tuple) else [s]


@pytest.mark.parametrize("cell,nonlinearity", CASES)
@pytest.mark.parametrize("bias,masked,hidden", list(itertools.product(
    [True, False], [False, True], [3, 40])))  # H = 3: the compiled whole loop; 40: per step
def test_fast_path_equals_the_reference(cell, nonlinearity, bias, masked, hidden):
    batch, steps, n_in = 4, 9, 3
    rng = np.random.default_rng(hash((cell, nonlinearity, bias, masked, hidden)) % 2**32)
    params, fast_params = make(cell, hidden, n_in, bias, seed=rng.integers(1 << 30))
    x = rng.standard_normal((batch, steps, n_in))
    s0 = state(cell, rng, batch, hidden)
    lengths = np.array([9, 4, 1, 7])
    mask = np.arange(steps)[None, :] < lengths[:, None] if masked else None
    if masked:
        x[~mask] = 1e3 * rng.standard_normal(((~mask).sum(), n_in))  # garbage in the padding
    dy = rng.standard_normal((batch, steps, hidden))
    d_last = state(cell, rng, batch, hidden)
    extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
    spec = getattr(reference, cell)

    y_ref, s_ref, cache_ref = spec.forward(params, x, s0, mask, **extra)
    g_ref = spec.backward(params, cache_ref, dy, d_last)
    y, cache = FAST[cell].forward(fast_params, x, s0, mask, **extra)
    s_fast = FAST[cell].final_state(cache)
    g = FAST[cell].backward(fast_params, cache, dy, d_last)

    assert rel_err(y, y_ref) <= 1e-12
    for a, b in zip(parts(s_fast), parts(s_ref)):
        assert rel_err(a, b) <= 1e-12
    assert rel_err(g.dx, g_ref["x"]) <= 1e-12
    for a, b in zip(parts(g.d_state0), parts(g_ref["state0"])):
        assert rel_err(a, b) <= 1e-12
    assert rel_err(g.dweight_ih, g_ref["weight_ih"]) <= 1e-12
    assert rel_err(g.dweight_hh, g_ref["weight_hh"]) <= 1e-12
    if bias:
        assert rel_err(g.dbias_ih, g_ref["bias_ih"]) <= 1e-12
        assert rel_err(g.dbias_hh, g_ref["bias_hh"]) <= 1e-12
    else:
        assert g.dbias_ih is None and "bias_ih" not in g_ref and "bias_hh" not in g_ref
    valid = np.ones((batch, steps), bool) if mask is None else mask
    for a, b in zip(parts(g.d_states), parts(g_ref["d_states"])):  # dL/dh_t (and dL/dc_t)
        assert rel_err(a.swapaxes(0, 1)[valid], b[valid]) <= 1e-12
    if masked:  # padded steps: zero outputs, zero dx
        assert not y_ref[~mask].any() and not g_ref["x"][~mask].any()


def test_the_reference_is_plain_numpy():
    """No compiled code, no workspace: the specification imports NumPy and itself only."""
    import ast
    import inspect

    from rnnlab.reference import layernorm, ln_lstm

    for module in (reference.rnn, reference.lstm, reference.gru, reference.activations,
                   layernorm, ln_lstm):
        tree = ast.parse(inspect.getsource(module))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert imported <= {"numpy", "__future__", "typing", "rnnlab.reference",
                            "rnnlab.reference.activations", "rnnlab.reference.rnn"}, (
            module.__name__, imported)


def test_the_code_docs_bptt_md_shows_is_the_reference():
    """docs/bptt.md shows the vanilla RNN's specification whole: it must be the file's code."""
    import inspect
    import pathlib

    docs = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "bptt.md").read_text()
    shown = docs.split("```python\n", 1)[1].split("```", 1)[0]
    source = inspect.getsource(reference.rnn)
    code = source[source.index("def forward("):source.index("\n\n\ndef _split_bias")]
    assert shown.strip() == code.strip()
