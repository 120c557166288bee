"""Attention pooling heads (rnnlab.layers.attention_pooling): exact gradients, exact
lengths (padded steps weigh exactly 0), the place in Sequential, and bad input."""

import pickle

import numpy as np
import pytest

from rnnlab import LSTM, Linear, MeanPool, Sequential
from rnnlab.gradcheck import check_gradients
from rnnlab.layers.attention_pooling import AdditiveAttention, DotAttention
from rnnlab.optim import SGD
from helpers import rel_err

LENGTHS = np.array([6, 4, 1, 5])
KINDS = ("additive", "dot")


def make(kind="additive", features=3, dtype="float64", seed=0):
    if kind == "additive":
        return AdditiveAttention(features, 5, dtype=dtype, seed=seed)
    return DotAttention(features, dtype=dtype, seed=seed)


def case(lengths=LENGTHS, steps=6, features=3, seed=1):
    """(x, lengths); padded steps of x hold large garbage values."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((len(lengths), steps, features))
    pad = np.arange(steps)[None, :] >= lengths[:, None]
    x[pad] = 100.0 * rng.standard_normal((int(pad.sum()), features))
    return x, np.array(lengths)


def worst(checks) -> tuple:
    c = max(checks, key=lambda c: c.relative_error)
    return c.relative_error, c.name


# -- finite differences ------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_gradients_match_finite_differences(kind):
    model = make(kind)
    x, lengths = case()
    checks = check_gradients(model, x, lengths)
    assert {c.name for c in checks} == set(model.parameters()) | {"x"}
    err, name = worst(checks)
    assert err <= 1e-6, f"{kind}: worst relative error {err:.2e} on {name}"


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_inside_sequential_with_lengths(kind):
    head = make(kind, features=4, seed=2)
    model = Sequential(LSTM(3, 4, dtype="float64", seed=1), head,
                       Linear(4, 2, dtype="float64", seed=3))
    x, lengths = case()
    # eps = 1e-5: the head's bias has a small gradient (~1e-4), where eps = 1e-6 leaves
    # central differences' rounding (~1e-16 |L| / eps) within a factor 2 of the bound.
    err, name = worst(check_gradients(model, x, lengths, eps=1e-5))
    assert err <= 1e-6, f"{kind}: worst relative error {err:.2e} on {name}"


# -- lengths handled exactly -------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_padded_steps_weigh_exactly_zero(kind):
    model = make(kind)
    x, lengths = case()
    context = model.forward(x, lengths)
    pad = np.arange(x.shape[1])[None, :] >= lengths[:, None]
    assert model.weights.shape == (len(lengths), x.shape[1])
    assert np.all(model.weights[pad] == 0)
    assert np.all(model.weights[~pad] > 0)
    assert np.allclose(model.weights.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    assert model.weights[2, 0] == 1.0  # a sequence of one step: all its weight there
    assert rel_err(context[2], x[2, 0]) < 1e-15
    dx = model.backward(np.ones_like(context))
    assert np.all(dx[pad] == 0)
    assert np.all(np.isfinite(dx))


@pytest.mark.parametrize("kind", KINDS)
def test_padded_equals_unpadded(kind):
    """Each sequence alone, cut to its length, gives the batch's context, dx and (summed)
    parameter gradients: the garbage at padded steps changes nothing."""
    model = make(kind)
    x, lengths = case()
    context = model.forward(x, lengths)
    weights = model.weights
    d_context = np.random.default_rng(5).standard_normal(context.shape)
    model.zero_grad()
    dx = model.backward(d_context)
    batch_grads = model.grad_dict()
    summed = {k: np.zeros_like(v) for k, v in batch_grads.items()}
    for b, length in enumerate(lengths):
        model.zero_grad()
        one = model.forward(x[b:b + 1, :length])
        assert rel_err(one[0], context[b]) < 1e-13
        assert rel_err(model.weights[0], weights[b, :length]) < 1e-13
        dx_b = model.backward(d_context[b:b + 1])
        assert rel_err(dx_b[0], dx[b, :length]) < 1e-13
        for k, g in model.grad_dict().items():
            summed[k] += g
    for k in batch_grads:
        assert rel_err(summed[k], batch_grads[k]) < 1e-12, k


@pytest.mark.parametrize("kind", KINDS)
def test_zero_scores_give_the_mean_over_valid_steps(kind):
    """With v = 0 (additive) or q = 0 (dot) every valid step scores alike: MeanPool."""
    model = make(kind)
    name = "v" if kind == "additive" else "query"
    state = model.state_dict()
    state[name][:] = 0
    model.load_state_dict(state)
    x, lengths = case()
    assert rel_err(model.forward(x, lengths), MeanPool().forward(x, lengths)) < 1e-14


def test_the_scores_are_the_documented_equations():
    """(1)-(4) written out per sequence, without masks: only the valid steps."""
    model = make("additive")
    x, lengths = case()
    context = model.forward(x, lengths)
    p = model.state_dict()
    for b, length in enumerate(lengths):
        steps = x[b, :length]  # (L_b, F)
        e = np.tanh(steps @ p["weight"].T + p["bias"]) @ p["v"]  # (1), (2)
        alpha = np.exp(e - e.max()) / np.exp(e - e.max()).sum()  # (3)
        assert rel_err(model.weights[b, :length], alpha) < 1e-14
        assert rel_err(context[b], alpha @ steps) < 1e-14  # (4)
    dot = make("dot")
    context = dot.forward(x, lengths)
    q = dot.state_dict()["query"]
    for b, length in enumerate(lengths):
        e = x[b, :length] @ q  # (2')
        alpha = np.exp(e - e.max()) / np.exp(e - e.max()).sum()
        assert rel_err(context[b], alpha @ x[b, :length]) < 1e-14


# -- in Sequential -----------------------------------------------------------------------
def test_in_sequential_the_head_gets_the_lengths():
    lstm = LSTM(3, 4, dtype="float64", seed=1)
    head = AdditiveAttention(4, dtype="float64", seed=2)
    linear = Linear(4, 2, dtype="float64", seed=3)
    model = Sequential(lstm, head, linear)
    x, lengths = case()
    logits = model.forward(x, lengths=lengths)
    out, _ = lstm.forward(x, lengths=lengths)
    expected = linear.forward(head.forward(out, lengths))
    assert rel_err(logits, expected) < 1e-15
    assert np.all(head.weights[np.arange(6)[None, :] >= lengths[:, None]] == 0)
    names = set(model.state_dict())
    assert {"1.weight", "1.bias", "1.v", "0.weight_ih_l0", "2.weight"} <= names
    assert model.num_parameters() == lstm.num_parameters() + 4 * 4 + 4 + 4 + linear.num_parameters()


def test_parameters_dtype_seed_and_pickle():
    a, b = make("additive", seed=3), make("additive", seed=3)
    for name, value in a.state_dict().items():
        assert np.array_equal(value, b.state_dict()[name])
    assert {k: v.shape for k, v in a.state_dict().items()} == {"weight": (5, 3), "bias": (5,),
                                                               "v": (5,)}
    assert DotAttention(7).state_dict()["query"].shape == (7,)
    assert AdditiveAttention(6).attention_size == 6
    f32 = AdditiveAttention(3, dtype="float32", seed=0)
    x, lengths = case()
    assert f32.forward(x, lengths).dtype == np.float32
    assert f32.weights.dtype == np.float32
    model = make("dot")
    context = model.forward(x, lengths)
    copy = pickle.loads(pickle.dumps(model))
    assert copy.weights is None
    assert np.array_equal(copy.forward(x, lengths), context)
    assert "AdditiveAttention(3, attention_size=5" in repr(make("additive"))


# -- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [(dict(input_size=0), "input_size"),
                                          (dict(input_size=2.5), "input_size"),
                                          (dict(attention_size=0), "attention_size"),
                                          (dict(dtype="int32"), "dtype"),
                                          (dict(seed=-1), "seed")])
def test_bad_constructor_arguments_are_refused(kwargs, match):
    args = dict(input_size=3)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        AdditiveAttention(**args)
    args.pop("attention_size", None)
    if "input_size" in kwargs or "dtype" in kwargs:
        with pytest.raises((ValueError, TypeError), match=match):
            DotAttention(**args)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_is_refused_before_any_work(kind):
    model = make(kind)
    x, lengths = case()
    bad = [((x[0],), {}, "x must have 3 dimensions"),
           ((x[..., :2],), {}, "input_size"),
           ((x.astype(np.int64),), {}, "x must be a float"),
           ((x,), dict(lengths=lengths[:2]), "lengths must have shape"),
           ((x,), dict(lengths=lengths + 1), r"lengths must lie in \[1, T\]"),
           ((x,), dict(lengths=lengths * 0), r"lengths must lie in \[1, T\]"),
           ((x,), dict(lengths=lengths + 0.5), "lengths must be integers")]
    for args, kwargs, match in bad:
        with pytest.raises((ValueError, TypeError), match=match):
            model.forward(*args, **kwargs)
        assert model._cache is None and model.weights is None
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.zeros((4, 3)))
    context = model.forward(x, lengths)
    with pytest.raises(ValueError, match=r"d_output must have shape"):
        model.backward(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"d_output must have 2 dimensions"):
        model.backward(np.zeros((4, 6, 3)))
    model.backward(context)  # the refused calls left the cache usable
    with pytest.raises(RuntimeError, match="twice"):
        model.backward(context)


def test_a_step_between_forward_and_backward_raises():
    model = make("additive")
    x, lengths = case()
    context = model.forward(x, lengths)
    SGD(model, lr=0.1).step()
    with pytest.raises(RuntimeError, match="parameters changed between forward and backward"):
        model.backward(context)
