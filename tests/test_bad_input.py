"""Contract 5: bad input gets a clear error before any work is done.

Every public entry point raises ``ValueError`` (wrong shape or value) or ``TypeError`` (wrong
kind or dtype) whose message names the argument and, where there is one, the expected and
the received shape. A refused call changes nothing: a layer's cache, gradients and
parameters stay as they were.
"""

import re

import numpy as np
import pytest

import rnnlab
from helpers import CELLS, make_layer, parts, random_case

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 5, 3))  # (B, T, I) for a layer with input_size 3
STATE_SHAPE = (1, 2, 4)  # (L*D, B, H) for that layer with hidden_size 4


def raises(exc, *fragments):
    """``pytest.raises(exc)`` whose message holds every fragment, in this order."""
    return pytest.raises(exc, match=".*".join(re.escape(f) for f in fragments))


def with_value(x, value, index=(1, 3, 2)):
    """A copy of ``x`` with one entry set to ``value``."""
    x = np.array(x, dtype=np.float64)
    x[index] = value
    return x


def as_state(components):
    """A list of state parts -> the public state: an array, or a pair for LSTM."""
    return components[0] if len(components) == 1 else tuple(components)


def backward_arrays(model, *args):
    """Everything a backward call gives: its returned arrays, then every gradient."""
    result = model.backward(*args)
    arrays = [result[0], *parts(result[1])] if isinstance(result, tuple) else [result]
    return arrays + list(model.grad_dict().values())


def assert_all_equal(arrays, expected):
    assert len(arrays) == len(expected)
    for a, b in zip(arrays, expected):
        np.testing.assert_array_equal(a, b)


def output_grads(layer, batch, steps, seed):
    """Random (d_output, d_state) for ``layer`` on a (batch, steps) input."""
    rng = np.random.default_rng(seed)
    d_output = rng.standard_normal((batch, steps, layer.num_directions * layer.hidden_size))
    shape = (layer.num_layers * layer.num_directions, batch, layer.hidden_size)
    d_state = as_state([rng.standard_normal(shape) for _ in layer.state_names])
    return d_output, d_state


# -- recurrent layers: x -------------------------------------------------------------------
BAD_X = [
    # (T, I) is one unbatched sequence, as in PyTorch (tests/test_unbatched.py); (I,) is not
    pytest.param(X[0, 0], ValueError, ("x", "3 dimensions", "(3,)"), id="1-D"),
    pytest.param(X[..., None], ValueError, ("x", "3 dimensions", "(2, 5, 3, 1)"), id="4-D"),
    pytest.param(np.zeros((2, 5, 4)), ValueError, ("x", "input_size = 3", "(2, 5, 4)"),
                 id="features"),
    pytest.param(np.zeros((0, 5, 3)), ValueError, ("x", "B >= 1", "(0, 5, 3)"), id="B=0"),
    pytest.param(np.zeros((2, 0, 3)), ValueError, ("x", "T >= 1", "(2, 0, 3)"), id="T=0"),
    pytest.param(with_value(X, np.nan), ValueError, ("x", "finite", "1 NaN"), id="nan"),
    pytest.param(with_value(X, -np.inf), ValueError, ("x", "finite", "infinite"), id="inf"),
    pytest.param(np.ones((2, 5, 3), dtype=np.int64), TypeError, ("x", "float", "int64"),
                 id="int"),
    pytest.param(np.ones((2, 5, 3), dtype=bool), TypeError, ("x", "float", "bool"), id="bool"),
    pytest.param(X.astype(object), TypeError, ("x", "float", "object"), id="object"),
    pytest.param(X.astype(complex), TypeError, ("x", "float", "complex128"), id="complex"),
]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("x,exc,fragments", BAD_X)
def test_recurrent_refuses_bad_x(cell, x, exc, fragments):
    with raises(exc, *fragments):
        make_layer(cell)(x)


@pytest.mark.parametrize("cell", CELLS)
def test_recurrent_converts_a_list_of_floats(cell):
    layer = make_layer(cell)
    expected = layer(X)
    result = layer(X.tolist())
    assert_all_equal([result[0], *parts(result[1])], [expected[0], *parts(expected[1])])


def test_x_that_overflows_the_layer_dtype_is_refused():
    # 1e39 is finite in float64 but infinite once cast to the float32 layer's dtype.
    layer = rnnlab.RNN(3, 4, seed=0)
    with raises(ValueError, "x", "finite"):
        layer(with_value(X, 1e39))


# -- recurrent layers: lengths -------------------------------------------------------------
BAD_LENGTHS = [
    pytest.param([[5, 5]], ValueError, ("lengths", "(2,)", "(1, 2)"), id="2-D"),
    pytest.param([5, 5, 5], ValueError, ("lengths", "(2,)", "(3,)"), id="B+1"),
    pytest.param([6, 5], ValueError, ("lengths", "[1, 5]", "max 6"), id="longer-than-T"),
    pytest.param([0, 5], ValueError, ("lengths", "[1, 5]", "min 0"), id="zero"),
    pytest.param([5, -1], ValueError, ("lengths", "[1, 5]", "min -1"), id="negative"),
    pytest.param([2.5, 5.0], TypeError, ("lengths", "integers", "float64"), id="2.5"),
    pytest.param([True, True], TypeError, ("lengths", "integers", "bool"), id="bool"),
]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("lengths,exc,fragments", BAD_LENGTHS)
def test_recurrent_refuses_bad_lengths(cell, lengths, exc, fragments):
    with raises(exc, *fragments):
        make_layer(cell)(X, lengths=lengths)


@pytest.mark.parametrize("cell", CELLS)
def test_recurrent_accepts_whole_number_float_lengths(cell):
    layer = make_layer(cell)
    assert_all_equal(parts(layer(X, lengths=[5.0, 2.0])[1]),
                     parts(layer(X, lengths=np.array([5, 2]))[1]))


# -- recurrent layers: state and d_state ---------------------------------------------------
def assert_each_part_refused(layer, call, name, bad_part):
    """``call(state)`` raises for a state whose part k (each k in turn) is ``bad_part``."""
    n = len(layer.state_names)
    for k in range(n):
        components = [np.zeros(STATE_SHAPE)] * n
        components[k] = bad_part
        label = name if n == 1 else f"{name}[{k}] ({layer.state_names[k]})"
        if bad_part.shape == STATE_SHAPE:
            fragments = (label, "finite")
        else:
            fragments = (label, str(STATE_SHAPE), str(bad_part.shape))
        with raises(ValueError, *fragments):
            call(as_state(components))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("axis", [0, 1, 2], ids=["layers", "batch", "hidden"])
def test_recurrent_refuses_state_of_wrong_shape(cell, axis):
    layer = make_layer(cell)
    shape = list(STATE_SHAPE)
    shape[axis] += 1
    assert_each_part_refused(layer, lambda s: layer(X, state=s), "state", np.zeros(shape))


@pytest.mark.parametrize("cell", CELLS)
def test_recurrent_refuses_nan_in_state(cell):
    layer = make_layer(cell)
    bad = with_value(np.zeros(STATE_SHAPE), np.nan, (0, 1, 2))
    assert_each_part_refused(layer, lambda s: layer(X, state=s), "state", bad)


@pytest.mark.parametrize("state", [np.zeros(STATE_SHAPE), (np.zeros(STATE_SHAPE),) * 3],
                         ids=["array", "triple"])
def test_lstm_state_must_be_a_pair(state):
    layer = make_layer("lstm")
    with raises(TypeError, "state", "pair"):
        layer(X, state=state)
    output, _ = layer(X)
    with raises(TypeError, "d_state", "pair"):
        layer.backward(np.zeros(output.shape), state)


# -- recurrent layers: backward ------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
def test_recurrent_backward_before_forward(cell):
    with raises(RuntimeError, "backward called before forward"):
        make_layer(cell).backward(np.zeros((2, 5, 4)))


BAD_D_OUTPUT = [
    pytest.param(np.zeros((2, 5, 5)), ("d_output", "(2, 5, 4)", "(2, 5, 5)"), id="hidden"),
    pytest.param(np.zeros((2, 4, 4)), ("d_output", "(2, 5, 4)", "(2, 4, 4)"), id="steps"),
    pytest.param(np.zeros((2, 4)), ("d_output", "3 dimensions", "(2, 4)"), id="2-D"),
    pytest.param(with_value(np.zeros((2, 5, 4)), np.nan), ("d_output", "finite"), id="nan"),
]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("d_output,fragments", BAD_D_OUTPUT)
def test_recurrent_refuses_bad_d_output(cell, d_output, fragments):
    layer = make_layer(cell)
    layer(X)
    with raises(ValueError, *fragments):
        layer.backward(d_output)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("axis", [0, 1, 2], ids=["layers", "batch", "hidden"])
def test_recurrent_refuses_d_state_of_wrong_shape(cell, axis):
    layer = make_layer(cell)
    output, _ = layer(X)
    shape = list(STATE_SHAPE)
    shape[axis] += 1
    assert_each_part_refused(layer, lambda s: layer.backward(np.ones(output.shape), s),
                             "d_state", np.zeros(shape))


# -- recurrent layers: constructor ---------------------------------------------------------
BAD_CONSTRUCTOR = [
    pytest.param(dict(input_size=0), ValueError, ("input_size", "got 0"), id="input_size=0"),
    pytest.param(dict(input_size=-2), ValueError, ("input_size", "got -2"), id="input_size<0"),
    pytest.param(dict(input_size=3.0), TypeError, ("input_size", "float"), id="input_size=3.0"),
    pytest.param(dict(input_size=True), TypeError, ("input_size", "bool"), id="input_size=True"),
    pytest.param(dict(hidden_size=0), ValueError, ("hidden_size", "got 0"), id="hidden_size=0"),
    pytest.param(dict(num_layers=0), ValueError, ("num_layers", "got 0"), id="num_layers=0"),
    pytest.param(dict(bias=1), TypeError, ("bias", "bool", "int"), id="bias=1"),
    pytest.param(dict(bidirectional="yes"), TypeError, ("bidirectional", "bool"),
                 id="bidirectional=yes"),
    pytest.param(dict(dtype=np.int32), TypeError, ("dtype", "int32"), id="dtype=int32"),
    pytest.param(dict(dtype="float16"), TypeError, ("dtype", "float16"), id="dtype=float16"),
    pytest.param(dict(init="nope"), ValueError, ("init", "'nope'"), id="init=nope"),
    pytest.param(dict(init_hh="nope"), ValueError, ("init_hh", "'nope'"), id="init_hh=nope"),
]


@pytest.mark.parametrize("cls", [rnnlab.RNN, rnnlab.LSTM, rnnlab.GRU])
@pytest.mark.parametrize("kwargs,exc,fragments", BAD_CONSTRUCTOR)
def test_recurrent_constructor_refuses(cls, kwargs, exc, fragments):
    with raises(exc, *fragments):
        cls(**{"input_size": 3, "hidden_size": 4, **kwargs})


@pytest.mark.parametrize("cls,nonlinearity", [(rnnlab.RNN, "gelu"), (rnnlab.LSTM, "relu"),
                                              (rnnlab.GRU, "relu")])
def test_recurrent_constructor_refuses_nonlinearity(cls, nonlinearity):
    with raises(ValueError, "nonlinearity", repr(nonlinearity)):
        cls(3, 4, nonlinearity=nonlinearity)


# -- load_state_dict -----------------------------------------------------------------------
def corrupt(state, how):
    """``state`` with its last entry missing, an extra entry, a wrong shape or a NaN."""
    state = dict(state)
    last = list(state)[-1]
    if how == "missing":
        del state[last]
    elif how == "unexpected":
        state["extra.weight"] = np.zeros(3)
    elif how == "shape":
        state[last] = state[last][:-1]
    elif how == "nan":
        state[last] = with_value(state[last], np.nan, (0,) * state[last].ndim)
    elif how == "dtype":
        state[last] = state[last].astype(bool)
    return state


def model_of(kind):
    """A bidirectional recurrent layer, or a Sequential of GRU, MeanPool and Linear."""
    if kind in CELLS:
        return make_layer(kind, bidirectional=True)
    return rnnlab.Sequential(make_layer("gru"), rnnlab.MeanPool(dtype="float64"),
                             rnnlab.Linear(4, 2, dtype="float64", seed=0))


@pytest.mark.parametrize("kind", [*CELLS, "sequential"])
@pytest.mark.parametrize("how,exc", [("missing", ValueError), ("unexpected", ValueError),
                                     ("shape", ValueError), ("nan", ValueError),
                                     ("dtype", TypeError)])
def test_load_state_dict_refuses_and_changes_nothing(kind, how, exc):
    model = model_of(kind)
    before = model.state_dict()
    # Every value differs from the model's, so a partial load would show.
    donor = {k: v + 1.0 for k, v in before.items()}
    last = list(before)[-1]
    fragments = {
        "missing": ("state", "missing", repr(last)),
        "unexpected": ("state", "unexpected", "'extra.weight'"),
        "shape": (f"state[{last!r}]", str(before[last].shape), str(before[last][:-1].shape)),
        "nan": (f"state[{last!r}]", "finite"),
        "dtype": (f"state[{last!r}]", "bool"),
    }[how]
    with raises(exc, *fragments):
        model.load_state_dict(corrupt(donor, how))
    assert_all_equal(list(model.state_dict().values()), list(before.values()))
    assert list(model.state_dict()) == list(before)


# -- Linear, pooling, Sequential -----------------------------------------------------------
def test_linear_refuses_bad_input():
    layer = rnnlab.Linear(3, 2, dtype="float64", seed=0)
    with raises(RuntimeError, "backward called before forward"):
        layer.backward(np.zeros((4, 2)))
    with raises(ValueError, "x", "in_features = 3", "(4, 4)"):
        layer(np.zeros((4, 4)))
    with raises(TypeError, "x", "float", "int64"):
        layer(np.zeros((4, 3), dtype=np.int64))
    with raises(ValueError, "x", "finite"):
        layer(with_value(np.zeros((4, 3)), np.inf, (1, 1)))
    layer(np.zeros((4, 5, 3)))
    with raises(ValueError, "d_output", "(4, 5, 2)", "(4, 2)"):
        layer.backward(np.zeros((4, 2)))


@pytest.mark.parametrize("kwargs,exc,fragments", [
    pytest.param(dict(in_features=0), ValueError, ("in_features", "got 0"), id="in=0"),
    pytest.param(dict(out_features=2.0), TypeError, ("out_features", "float"), id="out=2.0"),
    pytest.param(dict(dtype="int32"), TypeError, ("dtype", "int32"), id="dtype=int32"),
    pytest.param(dict(bias="no"), TypeError, ("bias", "bool", "str"), id="bias=no"),
])
def test_linear_constructor_refuses(kwargs, exc, fragments):
    with raises(exc, *fragments):
        rnnlab.Linear(**{"in_features": 3, "out_features": 2, **kwargs})


@pytest.mark.parametrize("cls", [rnnlab.LastStep, rnnlab.MeanPool])
def test_pooling_refuses_bad_input(cls):
    pool = cls(dtype="float64")
    with raises(RuntimeError, "backward called before forward"):
        pool.backward(np.zeros((2, 3)))
    with raises(ValueError, "lengths", "[1, 5]", "max 6"):
        pool(X, lengths=[6, 2])
    with raises(ValueError, "lengths", "(2,)", "(3,)"):
        pool(X, lengths=[5, 2, 1])
    with raises(ValueError, "x", "3 dimensions", "(2, 5)"):
        pool(X[..., 0], lengths=[5, 2])
    with raises(TypeError, "dtype", "float16"):
        cls(dtype="float16")
    pool(X, lengths=[5, 2])
    with raises(ValueError, "d_output", "(2, 3)", "(2, 4)"):
        pool.backward(np.zeros((2, 4)))


def test_sequential_refuses_bad_members():
    with raises(ValueError, "at least one module"):
        rnnlab.Sequential()
    with raises(TypeError, "modules[1]", "Module", "function"):
        rnnlab.Sequential(rnnlab.Linear(3, 2), lambda x: x)
    with raises(RuntimeError, "backward called before forward"):
        rnnlab.Sequential(rnnlab.Linear(3, 2)).backward(np.zeros((4, 2)))


# -- pad_sequences -------------------------------------------------------------------------
@pytest.mark.parametrize("sequences,exc,fragments", [
    pytest.param([], ValueError, ("sequences", "empty"), id="empty"),
    pytest.param([np.zeros((3, 3)), np.zeros((2, 4))], ValueError,
                 ("sequences[1]", "F = 3", "(2, 4)"), id="mixed-features"),
    pytest.param([np.zeros((3, 3)), np.zeros((0, 3))], ValueError,
                 ("sequences[1]", "at least one step", "(0, 3)"), id="zero-length"),
    pytest.param([np.zeros((3, 3)), np.zeros((2, 3, 1))], ValueError,
                 ("sequences[1]", "2 dimensions", "(2, 3, 1)"), id="3-D-member"),
    pytest.param([np.zeros(3)], ValueError, ("sequences[0]", "2 dimensions", "(3,)"),
                 id="1-D-member"),
    pytest.param([np.zeros((3, 3), dtype=np.int64)], TypeError,
                 ("sequences[0]", "float", "int64"), id="int-member"),
    pytest.param([with_value(np.zeros((3, 3)), np.nan, (1, 1))], ValueError,
                 ("sequences[0]", "finite"), id="nan-member"),
])
def test_pad_sequences_refuses(sequences, exc, fragments):
    with raises(exc, *fragments):
        rnnlab.pad_sequences(sequences)


# -- a refused call does no work -----------------------------------------------------------
def spoil(name, x, lengths, state):
    """Inputs whose argument ``name`` (each checked later than the one before) is bad."""
    if name == "x":
        x = with_value(x, np.nan)
    elif name == "lengths":
        lengths = np.full(x.shape[0], x.shape[1] + 1)
    else:  # the last part of the state is the last thing forward checks
        components = parts(state)
        components[-1] = components[-1][:, :-1]
        state = as_state(components)
    return dict(x=x, lengths=lengths, state=state)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bad", ["x", "lengths", "state"])
def test_failed_forward_leaves_the_previous_cache(cell, bad):
    layer, reference = make_layer(cell, seed=0), make_layer(cell, seed=0)
    x, lengths, state = random_case(layer, batch=3, steps=5, seed=1)
    for model in (layer, reference):
        model(x, lengths, state)
    # Valid, different values except for the spoiled argument: a partial run would show.
    with raises(ValueError, bad):
        layer(**spoil(bad, *random_case(layer, batch=3, steps=5, seed=2)))
    grads = output_grads(layer, batch=3, steps=5, seed=3)
    assert_all_equal(backward_arrays(layer, *grads), backward_arrays(reference, *grads))


@pytest.mark.parametrize("cell", CELLS)
def test_failed_backward_accumulates_nothing(cell):
    layer, reference = make_layer(cell, seed=0), make_layer(cell, seed=0)
    x, lengths, state = random_case(layer, batch=3, steps=5, seed=1)
    for model in (layer, reference):
        model(x, lengths, state)
    d_output, d_state = output_grads(layer, batch=3, steps=5, seed=3)
    bad_d_state = as_state([p[:, :-1] for p in parts(d_state)])
    with raises(ValueError, "d_state"):
        layer.backward(d_output, bad_d_state)
    assert all(not g.any() for g in layer.grad_dict().values())
    assert_all_equal(backward_arrays(layer, d_output, d_state),
                     backward_arrays(reference, d_output, d_state))


def test_failed_sequential_forward_leaves_the_previous_cache():
    # Linear runs before MeanPool looks at lengths: the check must come before any module runs.
    def model():
        return rnnlab.Sequential(rnnlab.Linear(3, 4, dtype="float64", seed=0),
                                 rnnlab.MeanPool(dtype="float64"))

    sequential, reference = model(), model()
    for m in (sequential, reference):
        m(X, lengths=[5, 2])
    with raises(ValueError, "lengths"):
        sequential(2.0 * X, lengths=[6, 2])
    d_output = np.random.default_rng(3).standard_normal((2, 4))
    assert_all_equal(backward_arrays(sequential, d_output), backward_arrays(reference, d_output))
