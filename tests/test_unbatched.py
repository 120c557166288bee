"""Unbatched input, as PyTorch takes it, and array-likes (torch tensors, lists, pandas).

One sequence x (T, I) gives the output (T, D*H) and the state (L*D, H): the same numbers as
the batch of one x[None], and as ``torch.nn.RNN / LSTM / GRU`` on the unbatched x (to 1e-10
in float64, forward and backward). ``backward`` after it takes and returns unbatched arrays.
Inputs that are not NumPy arrays convert, and give what the NumPy array gives.
"""

import itertools
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import required
from helpers import make_layer, parts, rel_err
from test_torch_agreement import torch_twin

import rnnlab

CELLS = ["rnn", "lstm", "gru"]
GRID = list(itertools.product(CELLS, [1, 2], [False, True]))
TOL = 1e-10


@pytest.fixture(scope="session")
def pandas():
    return required("pandas", 'pip install -e ".[test]"')


def as_state(arrays):
    """A list of state components as the layer's state: an array, or a pair for LSTM."""
    return tuple(arrays) if len(arrays) > 1 else arrays[0]


def unbatched_case(layer, steps=6, seed=0):
    """Random x (T, I), initial state, d_output (T, D*H) and d_state, all unbatched."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps, layer.input_size))
    shape = (layer.num_layers * layer.num_directions, layer.hidden_size)
    state = as_state([rng.standard_normal(shape) for _ in layer.state_names])
    d_output = rng.standard_normal((steps, layer.num_directions * layer.hidden_size))
    d_state = as_state([rng.standard_normal(shape) for _ in layer.state_names])
    return x, state, d_output, d_state


def batched(state):
    """An unbatched state (L*D, H), or pair, as the batch of one (L*D, 1, H)."""
    return None if state is None else as_state([s[:, None] for s in parts(state)])


def copied(state):
    """A copy of an array or a state: a layer's results may live in arrays it reuses."""
    return as_state([np.array(s) for s in parts(state)])


def run(layer, x, state, d_output, d_state):
    """Forward and backward: (output, final, dx, d_state0, gradients), zeroing grads first;
    copies."""
    layer.zero_grad()
    output, final = layer.forward(x, state=state)
    output, final = copied(output), copied(final)
    dx, d_state0 = layer.backward(d_output, d_state)
    grads = {name: g.copy() for name, g in layer.grad_dict().items()}
    return output, final, copied(dx), copied(d_state0), grads


def run_torch_unbatched(torch, twin, x, state, d_output, d_state):
    """PyTorch on the unbatched x: the same loss as :func:`run`'s, backward by autograd."""
    xt = torch.tensor(x, requires_grad=True)
    st = [torch.tensor(s, requires_grad=True) for s in parts(state)]
    out, final = twin(xt, tuple(st) if len(st) > 1 else st[0])
    loss = (out * torch.tensor(d_output)).sum()
    for s, d in zip(parts(final), parts(d_state)):
        loss = loss + (s * torch.tensor(d)).sum()
    loss.backward()
    grads = {k: p.grad.numpy() for k, p in twin.named_parameters()}
    return (out.detach().numpy(), [s.detach().numpy() for s in parts(final)],
            xt.grad.numpy(), [s.grad.numpy() for s in st], grads)


# -- the same numbers as the batch of one, and as PyTorch -----------------------------------
@pytest.mark.parametrize("cell,num_layers,bidirectional", GRID)
@pytest.mark.parametrize("with_state", [False, True])
def test_unbatched_equals_the_batch_of_one(cell, num_layers, bidirectional, with_state):
    layer = make_layer(cell, 3, 4, num_layers, bidirectional, seed=1)
    x, state, d_output, d_state = unbatched_case(layer)
    state = state if with_state else None
    out, final, dx, d_state0, grads = run(layer, x, state, d_output, d_state)
    b_out, b_final, b_dx, b_d_state0, b_grads = run(layer, x[None], batched(state),
                                                    d_output[None], batched(d_state))
    shape = (layer.num_layers * layer.num_directions, layer.hidden_size)
    assert out.shape == (6, layer.num_directions * 4) and dx.shape == x.shape
    np.testing.assert_array_equal(out, b_out[0])
    np.testing.assert_array_equal(dx, b_dx[0])
    for ours, theirs in zip(parts(final) + parts(d_state0), parts(b_final) + parts(b_d_state0)):
        assert ours.shape == shape
        np.testing.assert_array_equal(ours, theirs[:, 0])
    for name, g in grads.items():
        np.testing.assert_array_equal(g, b_grads[name], err_msg=name)


@pytest.mark.parametrize("cell,num_layers,bidirectional", GRID)
def test_unbatched_agrees_with_torch(torch, cell, num_layers, bidirectional):
    layer = make_layer(cell, 3, 5, num_layers, bidirectional, seed=2)
    x, state, d_output, d_state = unbatched_case(layer, steps=7, seed=3)
    twin = torch_twin(torch, layer, cell, "tanh")  # batch_first=True, as rnnlab
    zero = as_state([np.zeros_like(s) for s in parts(state)])  # rnnlab's default state
    for initial in (None, state):
        out, final, dx, d_state0, grads = run(layer, x, initial, d_output, d_state)
        twin.zero_grad()
        t_out, t_final, t_dx, t_d_state0, t_grads = run_torch_unbatched(
            torch, twin, x, zero if initial is None else initial, d_output, d_state)
        assert out.shape == t_out.shape and rel_err(out, t_out) <= TOL
        for ours, other in zip(parts(final), t_final):
            assert ours.shape == other.shape and rel_err(ours, other) <= TOL
        assert rel_err(dx, t_dx) <= TOL
        for ours, other in zip(parts(d_state0), t_d_state0):
            assert ours.shape == other.shape and rel_err(ours, other) <= TOL
        assert set(grads) == set(t_grads)
        for name, g in grads.items():
            assert rel_err(g, t_grads[name]) <= TOL, name


@pytest.mark.parametrize("cell", CELLS)
def test_checkpointed_gates_and_state_grads_are_unbatched_too(cell):
    layer = make_layer(cell, 3, 4, 2, True, seed=4)
    x, state, d_output, d_state = unbatched_case(layer, steps=7)
    full = run(layer, x, state, d_output, d_state)
    gates = {name: g.copy() for name, g in layer.gates(1, 1).items()}
    layer.checkpoint_every = 3
    layer.track_state_grads = True
    checkpointed = run(layer, x, state, d_output, d_state)
    for ours, theirs in zip(parts(full[:4]), parts(checkpointed[:4])):
        for a, b in zip(parts(ours), parts(theirs)):
            assert a.shape == b.shape and rel_err(a, b) <= 1e-12
    for name, g in full[4].items():
        assert rel_err(g, checkpointed[4][name]) <= 1e-12, name
    for name, g in gates.items():
        assert g.shape == (7, 4)
        assert rel_err(layer.gates(1, 1)[name], g) <= 1e-12
    assert all(a.shape == (7, 4) for trace in layer.state_grads for a in trace.values())


# -- refusals name the argument --------------------------------------------------------------
def refusals(cell):
    layer = make_layer(cell, 3, 4, 2, True)  # L*D = 4
    x, state, d_output, d_state = unbatched_case(layer)
    pair = cell == "lstm"
    three_d = as_state([np.zeros((4, 1, 4))] * (2 if pair else 1))
    wrong = as_state([np.zeros((4, 5))] * (2 if pair else 1))
    label = re.escape("state[0] (h)") if pair else "state"
    cases = [
        (lambda: layer(x, lengths=[6]), ValueError, "lengths must be None"),
        (lambda: layer(x, lengths=6), ValueError, "lengths must be None"),
        (lambda: layer(x, state=three_d), ValueError, f"{label} must have 2 dimensions"),
        (lambda: layer(x, state=wrong), ValueError, rf"{label} must have shape"),
        (lambda: layer(x[None], state=state), ValueError, f"{label} must have 3 dimensions"),
        (lambda: layer(x[0]), ValueError, r"x must have 3 dimensions \(B, T, I\), or 2"),
        (lambda: layer(x[None, None]), ValueError, "x must have 3 dimensions"),
        (lambda: layer(x[:, :2]), ValueError, r"x must have shape \(T, I\) .* got \(6, 2\)"),
        (lambda: layer(x[:0]), ValueError, r"x must have shape \(T, I\) with T >= 1"),
        (lambda: layer(x.astype(int)), TypeError, "x must be a float array"),
    ]
    if pair:
        cases.append((lambda: layer(x, state=state[0]), TypeError, "state must be a pair"))
    return layer, x, d_output, d_state, cases


@pytest.mark.parametrize("cell", CELLS)
def test_unbatched_refusals_name_the_argument(cell):
    layer, x, d_output, d_state, cases = refusals(cell)
    for call, exc, message in cases:
        with pytest.raises(exc, match=message):
            call()
    layer(x)
    label = re.escape("d_state[0] (h)") if cell == "lstm" else "d_state"
    with pytest.raises(ValueError, match=r"d_output must have 2 dimensions \(T, D\*H\)"):
        layer.backward(d_output[None])
    with pytest.raises(ValueError, match=r"d_output must have shape"):
        layer.backward(d_output[1:])
    with pytest.raises(ValueError, match=rf"{label} must have 2 dimensions"):
        layer.backward(d_output, batched(d_state))
    dx, _ = layer.backward(d_output, d_state)  # the refusals left the cache for backward
    assert dx.shape == x.shape
    layer(x[None])  # a batched forward: backward is batched again
    with pytest.raises(ValueError, match=r"d_output must have 3 dimensions"):
        layer.backward(d_output)


# -- step --------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
def test_unbatched_step_equals_the_unbatched_forward(cell):
    layer = make_layer(cell, 3, 4, 2, seed=5)
    x, state, _, _ = unbatched_case(layer)
    out, final = layer.forward(x, state=state)
    out, final = copied(out), copied(final)
    current, outputs = state, []
    for t in range(x.shape[0]):
        y, current = layer.step(x[t], current)
        assert y.shape == (4,)
        outputs.append(y)
    assert rel_err(np.stack(outputs), out) <= 1e-12
    for ours, theirs in zip(parts(current), parts(final)):
        assert ours.shape == (2, 4) and rel_err(ours, theirs) <= 1e-12
    with pytest.raises(ValueError, match="state.* must have 2 dimensions"):
        layer.step(x[0], batched(state))
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        layer.step(x[None])


# -- pooling and Sequential ------------------------------------------------------------------
@pytest.mark.parametrize("pool", [rnnlab.LastStep, rnnlab.MeanPool])
def test_pooling_reduces_one_sequence_to_one_vector(pool):
    rng = np.random.default_rng(6)
    x, dy = rng.standard_normal((5, 3)), rng.standard_normal(3)
    head = pool()
    y = head(x)
    dx = head.backward(dy)
    batch_y = head(x[None])
    batch_dx = head.backward(dy[None])
    assert y.shape == (3,) and dx.shape == (5, 3)
    np.testing.assert_array_equal(y, batch_y[0])
    np.testing.assert_array_equal(dx, batch_dx[0])
    with pytest.raises(ValueError, match="lengths must be None"):
        head(x, lengths=[5])
    head(x)
    with pytest.raises(ValueError, match=r"d_output must have 1 dimensions \(F,\)"):
        head.backward(dy[None])


@pytest.mark.parametrize("cell", CELLS)
def test_sequential_passes_one_sequence_through(cell):
    rng = np.random.default_rng(7)
    model = rnnlab.Sequential(make_layer(cell, 3, 4, 2, True, seed=8), rnnlab.MeanPool(),
                              rnnlab.Tanh(), rnnlab.Linear(8, 2, dtype="float64", seed=9))
    x, dy = rng.standard_normal((6, 3)), rng.standard_normal(2)
    y = model(x)
    dx = model.backward(dy).copy()
    grads = model.grad_dict()
    model.zero_grad()
    batch_y = model(x[None])
    batch_dx = model.backward(dy[None])
    assert y.shape == (2,) and dx.shape == (6, 3)
    np.testing.assert_array_equal(y, batch_y[0])
    np.testing.assert_array_equal(dx, batch_dx[0])
    for name, g in model.grad_dict().items():
        np.testing.assert_array_equal(grads[name], g, err_msg=name)
    with pytest.raises(ValueError, match="x must have 3 dimensions"):
        model(x, lengths=[6])


# -- array-likes ------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("requires_grad", [False, True])
def test_torch_tensors_give_what_numpy_gives(torch, cell, dtype, requires_grad):
    layer = make_layer(cell, 3, 4, 2, True, seed=10)
    x, state, d_output, d_state = unbatched_case(layer)
    x, state = x.astype(dtype), as_state([s.astype(dtype) for s in parts(state)])

    def tensor(a):
        return torch.tensor(a, requires_grad=requires_grad)

    expected = run(layer, x, state, d_output, d_state)
    result = run(layer, tensor(x), as_state([tensor(s) for s in parts(state)]),
                 torch.tensor(d_output), as_state([torch.tensor(s) for s in parts(d_state)]))
    for ours, theirs in zip(result[:4], expected[:4]):
        for a, b in zip(parts(ours), parts(theirs)):
            assert isinstance(a, np.ndarray)
            np.testing.assert_array_equal(a, b)
    for name, g in result[4].items():
        np.testing.assert_array_equal(g, expected[4][name], err_msg=name)
    batch = layer(tensor(x[None]), state=batched(state))[0]  # batched tensors too
    np.testing.assert_array_equal(batch[0], expected[0])


@pytest.mark.parametrize("cell", CELLS)
def test_lists_and_pandas_give_what_numpy_gives(pandas, cell):
    layer = make_layer(cell, 3, 4, 1, True, seed=11)
    x, state, _, _ = unbatched_case(layer)
    expected = layer(x)[0].copy()
    np.testing.assert_array_equal(layer(x.tolist())[0], expected)
    np.testing.assert_array_equal(layer(pandas.DataFrame(x, columns=list("abc")))[0], expected)
    np.testing.assert_array_equal(layer([x.tolist()])[0][0], expected)
    expected = layer(x, state=state)[0].copy()
    np.testing.assert_array_equal(layer(x, state=as_state([s.tolist() for s in parts(state)]))[0],
                                  expected)
    head = rnnlab.MeanPool()
    # (a DataFrame's array is column-major: einsum may sum in another order)
    np.testing.assert_allclose(head(pandas.DataFrame(x)), head(x), rtol=1e-14, atol=0)


def test_what_does_not_convert_is_refused_naming_the_argument(torch, pandas):
    layer = rnnlab.GRU(3, 4)
    with pytest.raises(TypeError, match=r"x must be a float array .*BFloat16"):
        layer(torch.zeros(5, 3, dtype=torch.bfloat16))
    with pytest.raises(TypeError, match="x must be a float array"):
        layer(torch.zeros(5, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match="x must be a float array"):
        layer(pandas.DataFrame({"a": ["u", "v"], "b": [1.0, 2.0], "c": [3.0, 4.0]}))
    with pytest.raises(TypeError, match="state must be a float array"):
        layer(np.zeros((5, 3)), state=[[0.0] * 4, [0.0]])
    linear = rnnlab.Linear(3, 2)  # every layer checks its input by the same function
    np.testing.assert_array_equal(linear(torch.ones(2, 3, requires_grad=True)),
                                  linear(np.ones((2, 3))))


def test_rnnlab_never_imports_torch():
    code = ("import sys, numpy as np, rnnlab\n"
            "layer = rnnlab.GRU(3, 4)\n"
            "layer([[0.0, 1.0, 2.0]] * 5)\n"
            "layer.backward(np.ones((5, 4)))\n"
            "assert 'torch' not in sys.modules, 'rnnlab imported torch'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
