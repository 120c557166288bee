"""Contract 5 across the public API: bad input is refused, by name, before any work.

Every case calls one public entry point with one bad argument and expects a ``ValueError``
or ``TypeError`` whose message names that argument (as a whole word: ``x`` does not match
inside ``expected``). The cases are grouped by entry point, one test function each, so that
``docs/reliability.md`` can count them (the command is there, beside the table).

``case(..., xfail=reason)`` marks a known gap (strict: the case must fail), its reason
saying what happens and what should; none is open. ``tests/test_bad_input.py`` holds the deeper
battery for the layers (every shape of x, lengths and state, and that a refused call
changes nothing); this file adds what that one does not reach.
"""

from __future__ import annotations

import functools
import re
import zipfile

import numpy as np
import pytest

import rnnlab
from rnnlab import data, datasets, diagnostics, explain, gradcheck, init, losses, optim
from rnnlab.tasks import AddingTask, CopyTask, FileTask, LanguageTask, make_task

NAN, INF = float("nan"), float("inf")
RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 5, 3))  # (B, T, I) for the layers below (input_size 3)


def case(case_id, call, exc, argument, *fragments, xfail=None, marks=()):
    """One case: ``call()`` raises ``exc`` naming ``argument``, then each fragment, in order.

    ``xfail`` is the reason of a known gap owned elsewhere (strict: the case must fail).
    """
    marks = [*marks, *([pytest.mark.xfail(strict=True, reason=xfail)] if xfail else [])]
    return pytest.param(call, exc, argument, fragments, id=case_id, marks=marks)


def names(argument, *fragments):
    """A regex: ``argument`` as a whole word (not inside another name), then the fragments."""
    pattern = r"(?<![A-Za-z0-9_])" + re.escape(argument) + r"(?![A-Za-z0-9_])"
    return pattern + "".join(".*" + re.escape(f) for f in fragments)


def check(call, exc, argument, fragments, *args):
    assert exc in (ValueError, TypeError)
    with pytest.raises(exc, match=names(argument, *fragments)):
        call(*args)


def with_value(a, value, index=(0,)):
    """A float64 copy of ``a`` with one entry set to ``value``."""
    a = np.array(a, dtype=np.float64)
    a[index] = value
    return a


# -- shared small objects ------------------------------------------------------------------
def rnn(**kwargs):
    return rnnlab.RNN(3, 4, dtype="float64", seed=0, **kwargs)


def lstm(**kwargs):
    return rnnlab.LSTM(3, 4, dtype="float64", seed=0, **kwargs)


def run_forward(layer, x=X, **kwargs):
    """``layer`` after one forward on ``x`` (to call backward on)."""
    layer(x, **kwargs)
    return layer


def classifier_model():
    return rnnlab.Sequential(rnnlab.GRU(3, 4, dtype="float64", seed=0),
                             rnnlab.LastStep(dtype="float64"),
                             rnnlab.Linear(4, 2, dtype="float64", seed=1))


def regressor_model():
    return rnnlab.Sequential(rnnlab.GRU(3, 4, dtype="float64", seed=0),
                             rnnlab.LastStep(dtype="float64"),
                             rnnlab.Linear(4, 1, dtype="float64", seed=1))


def params_and_grads():
    params = {"w": np.ones((2, 3)), "b": np.ones(2)}
    return params, {k: np.zeros_like(v) for k, v in params.items()}


def sgd(**kwargs):
    return optim.SGD(params_and_grads(), lr=0.1, **kwargs)


def sequence_data(per_step=False):
    y = np.zeros((4, 5)) if per_step else np.array([0, 1, 0, 1])
    return rnnlab.SequenceData(RNG.standard_normal((4, 5, 3)), y, per_step=per_step)


def trainer(model=None, **config):
    model = regressor_model() if model is None else model
    return rnnlab.Trainer(model, losses.mse_loss, optim.SGD(model, lr=0.1),
                          rnnlab.TrainConfig(epochs=1, **config))


def regression_data(features=3):
    x = RNG.standard_normal((4, 5, features))
    return rnnlab.SequenceData(x, RNG.standard_normal((4, 1)))


@functools.cache
def fitted(kind):
    """A tiny fitted RNNClassifier or RNNRegressor (one epoch), fitted once per session."""
    rng = np.random.default_rng(1)
    X_fit = [rng.standard_normal((n, 3)) for n in (4, 5, 6, 5, 4, 6)]
    options = dict(cell="gru", hidden_size=4, epochs=1, batch_size=6, random_state=0)
    if kind == "classifier":
        return rnnlab.RNNClassifier(**options).fit(X_fit, ["a", "b", "a", "b", "a", "b"])
    return rnnlab.RNNRegressor(**options).fit(X_fit, rng.standard_normal(6))


def sequences(n=4, features=3):
    return [RNG.standard_normal((k + 3, features)) for k in range(n)]


# -- recurrent layers: what tests/test_bad_input.py does not cover -------------------------
RECURRENT = [
    case("seed=str", lambda: rnnlab.RNN(3, 4, seed="abc"), TypeError, "seed"),
    case("seed<0", lambda: rnnlab.GRU(3, 4, seed=-1), ValueError, "seed"),
    case("hidden_size=None", lambda: rnnlab.LSTM(3, None), TypeError, "hidden_size"),
    case("input_size=str", lambda: rnnlab.RNN("3", 4), TypeError, "input_size"),
    case("num_layers=1.5", lambda: rnnlab.GRU(3, 4, num_layers=1.5), TypeError, "num_layers"),
    case("dtype=complex", lambda: rnnlab.RNN(3, 4, dtype="complex128"), TypeError, "dtype"),
    case("dtype=unknown", lambda: rnnlab.RNN(3, 4, dtype="nope"), TypeError, "dtype"),
    case("nonlinearity=None", lambda: rnnlab.RNN(3, 4, nonlinearity=None), ValueError,
         "nonlinearity"),
    case("init=identity-not-square", lambda: rnnlab.RNN(3, 4, init="identity"), ValueError,
         "init", "square"),
    case("checkpoint_every=0", lambda: rnnlab.RNN(3, 4, checkpoint_every=0), ValueError,
         "checkpoint_every"),
    case("checkpoint_every=2.5", lambda: rnnlab.LSTM(3, 4, checkpoint_every=2.5), TypeError,
         "checkpoint_every"),
    case("chrono=1", lambda: rnnlab.LSTM(3, 4, chrono=1), ValueError, "chrono"),
    case("chrono=True", lambda: rnnlab.GRU(3, 4, chrono=True), TypeError, "chrono"),
    case("chrono=10.0", lambda: rnnlab.GRU(3, 4, chrono=10.0), TypeError, "chrono"),
    case("chrono-without-bias", lambda: rnnlab.LSTM(3, 4, bias=False, chrono=10), ValueError,
         "chrono", "bias"),
    case("forget_bias=nan", lambda: rnnlab.LSTM(3, 4, forget_bias=NAN), TypeError,
         "forget_bias"),
    case("forget_bias=str", lambda: rnnlab.LSTM(3, 4, forget_bias="1"), TypeError,
         "forget_bias"),
    case("forget_bias-without-bias", lambda: rnnlab.LSTM(3, 4, bias=False, forget_bias=1.0),
         ValueError, "forget_bias"),
    case("unknown-keyword", lambda: rnnlab.GRU(3, 4, dropuot=0.1), TypeError, "dropuot"),
    # forward
    case("x=str", lambda: rnn()("abc"), TypeError, "x"),
    case("x=None", lambda: rnn()(None), TypeError, "x"),
    case("x=ragged-list", lambda: rnn()([[[1.0, 2.0, 3.0]], [[1.0]]]), TypeError, "x"),
    case("x=0-d", lambda: rnn()(1.0), ValueError, "x", "3 dimensions"),
    case("lengths=str", lambda: rnn()(X, lengths=["5", "5"]), TypeError, "lengths"),
    case("lengths=nan", lambda: rnn()(X, lengths=[NAN, 5.0]), TypeError, "lengths"),
    case("lengths=0-d", lambda: rnn()(X, lengths=5), ValueError, "lengths"),
    case("state=str", lambda: rnn()(X, state="abc"), TypeError, "state"),
    case("state=int", lambda: rnn()(X, state=np.zeros((1, 2, 4), dtype=int)), TypeError,
         "state"),
    case("state=inf", lambda: rnn()(X, state=with_value(np.zeros((1, 2, 4)), INF)), ValueError,
         "state", "finite"),
    case("state=complex", lambda: lstm()(X, state=(np.zeros((1, 2, 4), complex),
                                                   np.zeros((1, 2, 4)))), TypeError, "state[0]"),
    case("state=list-for-rnn", lambda: rnn()(X, state=[np.zeros((1, 2, 4))]), ValueError,
         "state"),
    # backward
    case("d_output=int", lambda: run_forward(rnn()).backward(np.zeros((2, 5, 4), int)),
         TypeError, "d_output"),
    case("d_output=inf", lambda: run_forward(rnn()).backward(
        with_value(np.zeros((2, 5, 4)), -INF)), ValueError, "d_output", "finite"),
    case("d_output=str", lambda: run_forward(lstm()).backward("abc"), TypeError, "d_output"),
    case("d_state=nan", lambda: run_forward(rnn()).backward(
        np.zeros((2, 5, 4)), with_value(np.zeros((1, 2, 4)), NAN)), ValueError, "d_state"),
    case("d_state=bool", lambda: run_forward(lstm()).backward(
        np.zeros((2, 5, 4)), (np.zeros((1, 2, 4), bool), None)), TypeError, "d_state[0]"),
    case("d_state=single-for-lstm", lambda: run_forward(lstm()).backward(
        np.zeros((2, 5, 4)), np.zeros((1, 2, 4))), TypeError, "d_state", "pair"),
    # load_state_dict
    case("state_dict=None", lambda: rnn().load_state_dict(None), TypeError, "state"),
    case("state_dict=list", lambda: rnn().load_state_dict(list(rnn().state_dict().values())),
         TypeError, "state"),
    case("state_dict-value=str", lambda: rnn().load_state_dict(
        {**rnn().state_dict(), "bias_hh_l0": "abc"}), TypeError, "state['bias_hh_l0']"),
    case("state_dict-value=complex", lambda: rnn().load_state_dict(
        {**rnn().state_dict(), "bias_hh_l0": np.zeros(4, complex)}), TypeError,
         "state['bias_hh_l0']"),
    case("state_dict-value=inf", lambda: lstm().load_state_dict(
        {**lstm().state_dict(), "bias_hh_l0": with_value(np.zeros(16), INF)}), ValueError,
         "state['bias_hh_l0']", "finite"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", RECURRENT)
def test_recurrent_layers(call, exc, argument, fragments):
    check(call, exc, argument, fragments)


# -- Linear, LastStep, MeanPool, Sequential --------------------------------------------------
def linear():
    return rnnlab.Linear(3, 2, dtype="float64", seed=0)


OTHER_LAYERS = [
    case("Linear-seed=str", lambda: rnnlab.Linear(3, 2, seed="abc"), TypeError, "seed"),
    case("Linear-in_features<0", lambda: rnnlab.Linear(-3, 2), ValueError, "in_features"),
    case("Linear-out_features=None", lambda: rnnlab.Linear(3, None), TypeError, "out_features"),
    case("Linear-init=unknown", lambda: rnnlab.Linear(3, 2, init="he"), ValueError, "init"),
    case("Linear-x=0-d", lambda: linear()(1.0), ValueError, "x"),
    case("Linear-x=bool", lambda: linear()(np.ones((4, 3), bool)), TypeError, "x"),
    case("Linear-x=complex", lambda: linear()(np.ones((4, 3), complex)), TypeError, "x"),
    case("Linear-x=object", lambda: linear()(np.ones((4, 3), object)), TypeError, "x"),
    case("Linear-x=nan", lambda: linear()(with_value(np.zeros((4, 3)), NAN)), ValueError, "x"),
    case("Linear-x=empty-features", lambda: linear()(np.zeros((4, 0))), ValueError, "x"),
    case("Linear-d_output=int", lambda: run_forward(linear(), np.zeros((4, 3))).backward(
        np.zeros((4, 2), int)), TypeError, "d_output"),
    case("Linear-d_output=nan", lambda: run_forward(linear(), np.zeros((4, 3))).backward(
        with_value(np.zeros((4, 2)), NAN)), ValueError, "d_output"),
    case("Linear-state_dict-missing", lambda: linear().load_state_dict(
        {"weight": np.zeros((2, 3))}), ValueError, "state", "missing"),
    case("Linear-state_dict-shape", lambda: linear().load_state_dict(
        {"weight": np.zeros((3, 2)), "bias": np.zeros(2)}), ValueError, "state['weight']"),
    case("LastStep-dtype=int", lambda: rnnlab.LastStep(dtype="int64"), TypeError, "dtype"),
    case("LastStep-x=int", lambda: rnnlab.LastStep()(np.zeros((2, 5, 3), int)), TypeError, "x"),
    case("LastStep-x=nan", lambda: rnnlab.LastStep()(with_value(X, NAN)), ValueError, "x"),
    case("LastStep-lengths=2.5", lambda: rnnlab.LastStep()(X, lengths=[2.5, 5.0]), TypeError,
         "lengths"),
    case("LastStep-d_output=nan", lambda: run_forward(rnnlab.LastStep()).backward(
        with_value(np.zeros((2, 3)), NAN)), ValueError, "d_output"),
    case("MeanPool-x=complex", lambda: rnnlab.MeanPool()(X.astype(complex)), TypeError, "x"),
    case("MeanPool-x=empty", lambda: rnnlab.MeanPool()(np.zeros((2, 0, 3))), ValueError,
         "lengths"),
    case("MeanPool-lengths=0", lambda: rnnlab.MeanPool()(X, lengths=[0, 5]), ValueError,
         "lengths"),
    case("MeanPool-d_output=int", lambda: run_forward(rnnlab.MeanPool()).backward(
        np.zeros((2, 3), int)), TypeError, "d_output"),
    case("Sequential-mixed-dtypes", lambda: rnnlab.Sequential(
        rnnlab.Linear(3, 2, dtype="float32"), rnnlab.Linear(2, 2, dtype="float64")),
         ValueError, "modules"),
    case("Sequential-same-module-twice", lambda: (lambda m: rnnlab.Sequential(m, m))(
        rnnlab.Linear(2, 2)), ValueError, "module"),
    case("Sequential-state=array", lambda: classifier_model()(X, state=np.zeros((1, 2, 4))),
         TypeError, "state"),
    case("Sequential-state=too-many", lambda: classifier_model()(X, state=[None, None]),
         TypeError, "state"),
    case("Sequential-x=int", lambda: classifier_model()(np.zeros((2, 5, 3), int)), TypeError,
         "x"),
    case("Sequential-x=nan-with-lengths", lambda: classifier_model()(
        with_value(X, NAN), lengths=[5, 3]), ValueError, "x"),
    case("Sequential-return_state=str", lambda: classifier_model()(X, return_state="no"),
         TypeError, "return_state"),
    case("Sequential-state_dict=None", lambda: classifier_model().load_state_dict(None),
         TypeError, "state"),
    case("Sequential-d_output=nan", lambda: run_forward(classifier_model()).backward(
        with_value(np.zeros((2, 2)), NAN)), ValueError, "d_output"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", OTHER_LAYERS)
def test_linear_pooling_sequential(call, exc, argument, fragments):
    check(call, exc, argument, fragments)


# -- losses ----------------------------------------------------------------------------------
P = RNG.standard_normal((4, 3))  # (N, K) predictions or logits
Y = RNG.standard_normal((4, 3))
LABELS = np.array([0, 2, 1, 0])  # (N,) class targets for the logits P (C = 3)

LOSSES = [
    # mse_loss
    case("mse-prediction=int", lambda: losses.mse_loss(P.astype(int), Y), TypeError,
         "prediction"),
    case("mse-prediction=bool", lambda: losses.mse_loss(P > 0, Y), TypeError, "prediction"),
    case("mse-prediction=complex", lambda: losses.mse_loss(P.astype(complex), Y), TypeError,
         "prediction"),
    case("mse-prediction=object", lambda: losses.mse_loss(P.astype(object), Y), TypeError,
         "prediction"),
    case("mse-prediction=str", lambda: losses.mse_loss("abc", Y), TypeError, "prediction"),
    case("mse-prediction=nan", lambda: losses.mse_loss(with_value(P, NAN), Y), ValueError,
         "prediction", "finite"),
    case("mse-prediction=inf", lambda: losses.mse_loss(with_value(P, INF), Y), ValueError,
         "prediction", "finite"),
    case("mse-prediction=empty", lambda: losses.mse_loss(np.zeros((0, 3)), np.zeros((0, 3))),
         ValueError, "prediction", "at least one"),
    case("mse-target=shape", lambda: losses.mse_loss(P, Y[:, :2]), ValueError, "target"),
    case("mse-target=transposed", lambda: losses.mse_loss(P, Y.T), ValueError, "target"),
    case("mse-target=nan", lambda: losses.mse_loss(P, with_value(Y, NAN)), ValueError,
         "target"),
    case("mse-target=str", lambda: losses.mse_loss(P, np.full((4, 3), "a")), TypeError,
         "target"),
    case("mse-mask=shape", lambda: losses.mse_loss(P, Y, mask=np.ones(3)), ValueError, "mask"),
    case("mse-mask=too-many-dims", lambda: losses.mse_loss(P, Y, mask=np.ones((4, 3, 1))),
         ValueError, "mask"),
    case("mse-mask=str", lambda: losses.mse_loss(P, Y, mask=np.full(4, "1")), TypeError, "mask"),
    case("mse-mask=2", lambda: losses.mse_loss(P, Y, mask=[1, 2, 0, 1]), ValueError, "mask"),
    case("mse-mask=nan", lambda: losses.mse_loss(P, Y, mask=[1.0, NAN, 0.0, 1.0]), ValueError,
         "mask"),
    case("mse-mask=all-zero", lambda: losses.mse_loss(P, Y, mask=np.zeros(4, bool)), ValueError,
         "mask"),
    case("mse-reduction=unknown", lambda: losses.mse_loss(P, Y, reduction="avg"), ValueError,
         "reduction", "'avg'"),
    case("mse-reduction=None", lambda: losses.mse_loss(P, Y, reduction=None), ValueError,
         "reduction"),
    case("mse-half=str", lambda: losses.mse_loss(P, Y, half="yes"), TypeError, "half"),
    case("mse-half=int", lambda: losses.mse_loss(P, Y, half=1), TypeError, "half"),
    # bce_with_logits
    case("bce-logits=int", lambda: losses.bce_with_logits(np.ones(4, int), np.ones(4)),
         TypeError, "logits"),
    case("bce-logits=nan", lambda: losses.bce_with_logits(with_value(np.ones(4), NAN),
                                                          np.ones(4)), ValueError, "logits"),
    case("bce-target=shape", lambda: losses.bce_with_logits(np.ones(4), np.ones(3)), ValueError,
         "target"),
    case("bce-target>1", lambda: losses.bce_with_logits(np.ones(4), [0.0, 1.0, 2.0, 0.0]),
         ValueError, "target", "[0, 1]"),
    case("bce-target<0", lambda: losses.bce_with_logits(np.ones(4), [0.0, -0.5, 1.0, 0.0]),
         ValueError, "target"),
    case("bce-target=nan", lambda: losses.bce_with_logits(np.ones(4), with_value(np.ones(4),
                                                                                 NAN)),
         ValueError, "target"),
    case("bce-target=bool", lambda: losses.bce_with_logits(np.ones(4), np.ones(4, bool)),
         TypeError, "target"),
    case("bce-mask=shape", lambda: losses.bce_with_logits(np.ones(4), np.ones(4),
                                                          mask=np.ones(5)), ValueError, "mask"),
    case("bce-reduction=unknown", lambda: losses.bce_with_logits(np.ones(4), np.ones(4),
                                                                 reduction="max"),
         ValueError, "reduction"),
    # cross_entropy
    case("ce-logits=0-d", lambda: losses.cross_entropy(1.0, 0), ValueError, "logits"),
    case("ce-logits=int", lambda: losses.cross_entropy(P.astype(int), LABELS), TypeError,
         "logits"),
    case("ce-logits=inf", lambda: losses.cross_entropy(with_value(P, -INF), LABELS), ValueError,
         "logits"),
    case("ce-logits=no-classes", lambda: losses.cross_entropy(
        np.zeros((4, 0)), LABELS, mask=np.zeros(4), reduction="sum"), ValueError, "logits"),
    case("ce-target=float", lambda: losses.cross_entropy(P, LABELS.astype(float)), TypeError,
         "target", "integer"),
    case("ce-target=bool", lambda: losses.cross_entropy(P, LABELS > 0), TypeError, "target"),
    case("ce-target=str", lambda: losses.cross_entropy(P, LABELS.astype(str)), TypeError,
         "target"),
    case("ce-target=shape", lambda: losses.cross_entropy(P, LABELS[:3]), ValueError, "target"),
    case("ce-target=one-hot", lambda: losses.cross_entropy(P, np.eye(3, dtype=int)[LABELS]),
         ValueError, "target"),
    case("ce-target>=C", lambda: losses.cross_entropy(P, [0, 3, 1, 0]), ValueError, "target",
         "[0, 3)"),
    case("ce-target<0", lambda: losses.cross_entropy(P, [0, -1, 1, 0]), ValueError, "target"),
    case("ce-mask=shape", lambda: losses.cross_entropy(P, LABELS, mask=np.ones((4, 3))),
         ValueError, "mask"),
    case("ce-mask=object", lambda: losses.cross_entropy(P, LABELS, mask=np.ones(4, object)),
         TypeError, "mask"),
    case("ce-reduction=list", lambda: losses.cross_entropy(P, LABELS, reduction=["mean"]),
         ValueError, "reduction"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", LOSSES)
def test_losses(call, exc, argument, fragments):
    check(call, exc, argument, fragments)


# -- optimizers ------------------------------------------------------------------------------
def mismatched_shapes():
    params, grads = params_and_grads()
    grads["w"] = np.zeros((3, 2))
    return params, grads


OPTIMIZERS = [
    case("model=None", lambda: optim.SGD(None, lr=0.1), TypeError, "model"),
    case("model=list", lambda: optim.Adam([np.ones(3)]), TypeError, "model"),
    case("params-grads-names", lambda: optim.Adam(({"w": np.ones(3)}, {"v": np.ones(3)})),
         ValueError, "grads"),
    case("params-grads-shapes", lambda: optim.Adam(mismatched_shapes()), ValueError, "grads['w']"),
    case("params=list-value", lambda: optim.SGD(({"w": [1.0, 2.0]}, {"w": np.zeros(2)}), lr=0.1),
         TypeError, "params['w']"),
    case("params=int-array", lambda: optim.SGD(({"w": np.ones(2, int)}, {"w": np.zeros(2, int)}),
                                               lr=0.1), TypeError, "params['w']"),
    case("lr<0", lambda: optim.SGD(params_and_grads(), lr=-0.1), ValueError, "lr"),
    case("lr=nan", lambda: optim.Adam(params_and_grads(), lr=NAN), ValueError, "lr"),
    case("lr=inf", lambda: optim.RMSprop(params_and_grads(), lr=INF), ValueError, "lr"),
    case("lr=str", lambda: optim.SGD(params_and_grads(), lr="0.1"), TypeError, "lr"),
    case("lr=bool", lambda: optim.SGD(params_and_grads(), lr=True), TypeError, "lr"),
    case("lr=None", lambda: optim.AdamW(params_and_grads(), lr=None), TypeError, "lr"),
    case("weight_decay<0", lambda: optim.AdamW(params_and_grads(), weight_decay=-1.0),
         ValueError, "weight_decay"),
    case("momentum=1", lambda: sgd(momentum=1.0), ValueError, "momentum"),
    case("momentum<0", lambda: optim.RMSprop(params_and_grads(), momentum=-0.1), ValueError,
         "momentum"),
    case("dampening=nan", lambda: sgd(momentum=0.9, dampening=NAN), ValueError, "dampening"),
    case("nesterov=1", lambda: sgd(momentum=0.9, nesterov=1), TypeError, "nesterov"),
    case("nesterov-without-momentum", lambda: sgd(nesterov=True), ValueError, "nesterov"),
    case("betas=number", lambda: optim.Adam(params_and_grads(), betas=0.9), TypeError, "betas"),
    case("betas=one", lambda: optim.Adam(params_and_grads(), betas=(0.9,)), ValueError, "betas"),
    case("betas=three", lambda: optim.AdamW(params_and_grads(), betas=(0.9, 0.99, 0.999)),
         ValueError, "betas"),
    case("betas[1]=1", lambda: optim.Adam(params_and_grads(), betas=(0.9, 1.0)), ValueError,
         "betas[1]"),
    case("betas[0]=str", lambda: optim.Adam(params_and_grads(), betas=("0.9", 0.99)), TypeError,
         "betas[0]"),
    case("eps<0", lambda: optim.Adam(params_and_grads(), eps=-1e-8), ValueError, "eps"),
    case("alpha=1", lambda: optim.RMSprop(params_and_grads(), alpha=1.0), ValueError, "alpha"),
    case("centered=str", lambda: optim.RMSprop(params_and_grads(), centered="yes"), TypeError,
         "centered"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", OPTIMIZERS)
def test_optimizer_constructors(call, exc, argument, fragments):
    check(call, exc, argument, fragments)


def adam_state(**changes):
    opt = optim.Adam(params_and_grads())
    opt.step()
    state = opt.state_dict()
    state.update(changes)
    return state


OPTIMIZER_STATE = [
    case("state=None", lambda s: s.load_state_dict(None), TypeError, "state"),
    case("state=list", lambda s: s.load_state_dict([1, 0.1, {}]), TypeError, "state"),
    case("state-missing-steps", lambda s: s.load_state_dict(
        {k: v for k, v in adam_state().items() if k != "steps"}), ValueError, "state", "steps"),
    case("state-unknown-parameter", lambda s: s.load_state_dict(
        adam_state(state={"w": {}, "v": {}})), ValueError, "state"),
    case("state-buffer-shape", lambda s: s.load_state_dict(
        adam_state(state={"w": {"m": np.zeros(6), "v": np.zeros((2, 3))},
                          "b": {"m": np.zeros(2), "v": np.zeros(2)}})), ValueError,
         "state['state']['w']['m']"),
    case("state-buffer=nan", lambda s: s.load_state_dict(
        adam_state(state={"w": {"m": np.full((2, 3), NAN), "v": np.zeros((2, 3))},
                          "b": {"m": np.zeros(2), "v": np.zeros(2)}})), ValueError,
         "state['state']['w']['m']"),
    case("state-buffer=str", lambda s: s.load_state_dict(
        adam_state(state={"w": {"m": np.full((2, 3), "a"), "v": np.zeros((2, 3))},
                          "b": {"m": np.zeros(2), "v": np.zeros(2)}})), TypeError,
         "state['state']['w']['m']"),
    case("state-steps<0", lambda s: s.load_state_dict(adam_state(steps=-1)), ValueError,
         "steps"),
    case("state-steps=str", lambda s: s.load_state_dict(adam_state(steps="3")), TypeError,
         "steps"),
    case("state-lr<0", lambda s: s.load_state_dict(adam_state(lr=-1.0)), ValueError, "lr"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", OPTIMIZER_STATE)
def test_optimizer_load_state_dict(call, exc, argument, fragments):
    opt = optim.Adam(params_and_grads())
    opt.step()
    before = opt.state_dict()
    check(call, exc, argument, fragments, opt)
    after = opt.state_dict()  # a refused state changes nothing
    assert (after["steps"], after["lr"]) == (before["steps"], before["lr"])
    for name, buffers in before["state"].items():
        for key, value in buffers.items():
            np.testing.assert_array_equal(after["state"][name][key], value)


# -- schedules and clipping ------------------------------------------------------------------
SCHEDULES = [
    case("optimizer=None", lambda: optim.StepLR(None, step_size=2), TypeError, "optimizer"),
    case("optimizer=model", lambda: optim.CosineLR(linear(), total=5), TypeError, "optimizer"),
    case("StepLR-step_size=0", lambda: optim.StepLR(sgd(), step_size=0), ValueError, "step_size"),
    case("StepLR-step_size=1.5", lambda: optim.StepLR(sgd(), step_size=1.5), TypeError,
         "step_size"),
    case("StepLR-gamma<0", lambda: optim.StepLR(sgd(), step_size=2, gamma=-0.5), ValueError,
         "gamma"),
    case("StepLR-gamma=nan", lambda: optim.StepLR(sgd(), step_size=2, gamma=NAN), ValueError,
         "gamma"),
    case("CosineLR-total=0", lambda: optim.CosineLR(sgd(), total=0), ValueError, "total"),
    case("CosineLR-total=None", lambda: optim.CosineLR(sgd(), total=None), TypeError, "total"),
    case("CosineLR-min_lr<0", lambda: optim.CosineLR(sgd(), total=5, min_lr=-1e-3), ValueError,
         "min_lr"),
    case("WarmupLR-warmup=0", lambda: optim.WarmupLR(sgd(), warmup=0), ValueError, "warmup"),
    case("WarmupLR-start_factor=0", lambda: optim.WarmupLR(sgd(), warmup=2, start_factor=0.0),
         ValueError, "start_factor"),
    case("WarmupLR-start_factor=2", lambda: optim.WarmupLR(sgd(), warmup=2, start_factor=2.0),
         ValueError, "start_factor"),
    case("WarmupLR-after=str", lambda: optim.WarmupLR(sgd(), warmup=2, after="cosine"),
         TypeError, "after"),
    case("load_state_dict=None", lambda: optim.StepLR(sgd(), 2).load_state_dict(None),
         TypeError, "state"),
    case("load_state_dict-missing", lambda: optim.StepLR(sgd(), 2).load_state_dict(
        {"epoch": 3}), ValueError, "state", "base_lr"),
    case("load_state_dict-epoch<0", lambda: optim.StepLR(sgd(), 2).load_state_dict(
        {"epoch": -1, "base_lr": 0.1}), ValueError, "epoch"),
    case("load_state_dict-base_lr=nan", lambda: optim.StepLR(sgd(), 2).load_state_dict(
        {"epoch": 1, "base_lr": NAN}), ValueError, "base_lr"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", SCHEDULES)
def test_schedules(call, exc, argument, fragments):
    check(call, exc, argument, fragments)


def grads():
    return {"w": np.ones((2, 3)), "b": np.ones(2)}


CLIPPING = [
    case("norm-grads=None", lambda: optim.clip_grad_norm_(None, 1.0), TypeError, "grads"),
    case("norm-grads=number", lambda: optim.clip_grad_norm_(5, 1.0), TypeError, "grads"),
    case("norm-grads=list-of-lists", lambda: optim.clip_grad_norm_([[1.0, 2.0]], 1.0),
         TypeError, "grads[0]"),
    case("norm-grads=int-array", lambda: optim.clip_grad_norm_({"w": np.ones(3, int)}, 1.0),
         TypeError, "grads['w']"),
    case("norm-max_norm<0", lambda: optim.clip_grad_norm_(grads(), -1.0), ValueError,
         "max_norm"),
    case("norm-max_norm=nan", lambda: optim.clip_grad_norm_(grads(), NAN), ValueError,
         "max_norm"),
    case("norm-max_norm=-inf", lambda: optim.clip_grad_norm_(grads(), -INF), ValueError,
         "max_norm"),
    case("norm-max_norm=str", lambda: optim.clip_grad_norm_(grads(), "1"), TypeError,
         "max_norm"),
    case("norm-norm_type=0", lambda: optim.clip_grad_norm_(grads(), 1.0, norm_type=0),
         ValueError, "norm_type"),
    case("norm-norm_type=nan", lambda: optim.clip_grad_norm_(grads(), 1.0, norm_type=NAN),
         ValueError, "norm_type"),
    case("norm-norm_type=str", lambda: optim.clip_grad_norm_(grads(), 1.0, norm_type="fro"),
         TypeError, "norm_type"),
    case("norm-error_if_nonfinite=str", lambda: optim.clip_grad_norm_(
        grads(), 1.0, error_if_nonfinite="yes"), TypeError, "error_if_nonfinite"),
    case("value-clip_value<0", lambda: optim.clip_grad_value_(grads(), -1.0), ValueError,
         "clip_value"),
    case("value-clip_value=nan", lambda: optim.clip_grad_value_(grads(), NAN), ValueError,
         "clip_value"),
    case("value-clip_value=None", lambda: optim.clip_grad_value_(grads(), None), TypeError,
         "clip_value"),
    case("value-grads=None", lambda: optim.clip_grad_value_(None, 1.0), TypeError, "grads"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", CLIPPING)
def test_clipping(call, exc, argument, fragments):
    check(call, exc, argument, fragments)


def test_refused_clipping_leaves_the_gradients():
    g = grads()
    with pytest.raises(TypeError, match=names("grads[2]")):
        optim.clip_grad_norm_([g["w"], g["b"], np.ones(3, int)], 0.1)
    np.testing.assert_array_equal(g["w"], np.ones((2, 3)))


# -- TrainConfig and Trainer -----------------------------------------------------------------
TRAIN_CONFIG = [
    case("epochs=0", lambda: rnnlab.TrainConfig(epochs=0), ValueError, "epochs"),
    case("epochs=1.5", lambda: rnnlab.TrainConfig(epochs=1.5), TypeError, "epochs"),
    case("updates=0", lambda: rnnlab.TrainConfig(updates=0), ValueError, "updates"),
    case("eval_every=0", lambda: rnnlab.TrainConfig(eval_every=0), ValueError, "eval_every"),
    case("batch_size=0", lambda: rnnlab.TrainConfig(batch_size=0), ValueError, "batch_size"),
    case("batch_size=str", lambda: rnnlab.TrainConfig(batch_size="32"), TypeError, "batch_size"),
    case("clip_norm=0", lambda: rnnlab.TrainConfig(clip_norm=0), ValueError, "clip_norm"),
    case("clip_norm=nan", lambda: rnnlab.TrainConfig(clip_norm=NAN), ValueError, "clip_norm"),
    case("clip_norm=inf", lambda: rnnlab.TrainConfig(clip_norm=INF), ValueError, "clip_norm"),
    case("clip_norm=str", lambda: rnnlab.TrainConfig(clip_norm="1"), ValueError, "clip_norm"),
    case("clip_value<0", lambda: rnnlab.TrainConfig(clip_value=-1.0), ValueError, "clip_value"),
    case("tbptt=int", lambda: rnnlab.TrainConfig(tbptt=5), TypeError, "tbptt"),
    case("tbptt=triple", lambda: rnnlab.TrainConfig(tbptt=(5, 5, 5)), TypeError, "tbptt"),
    case("tbptt=(0,5)", lambda: rnnlab.TrainConfig(tbptt=(0, 5)), ValueError, "tbptt"),
    case("tbptt=k2<k1", lambda: rnnlab.TrainConfig(tbptt=(5, 2)), ValueError, "tbptt"),
    case("patience=0", lambda: rnnlab.TrainConfig(patience=0), ValueError, "patience"),
    case("min_delta<0", lambda: rnnlab.TrainConfig(min_delta=-0.1), ValueError, "min_delta"),
    case("min_delta=nan", lambda: rnnlab.TrainConfig(min_delta=NAN), ValueError, "min_delta"),
    case("min_delta=str", lambda: rnnlab.TrainConfig(min_delta="0.1"), TypeError, "min_delta"),
    case("shuffle=str", lambda: rnnlab.TrainConfig(shuffle="yes"), TypeError, "shuffle"),
    case("bucket=None", lambda: rnnlab.TrainConfig(bucket=None), TypeError, "bucket"),
    case("restore_best=1", lambda: rnnlab.TrainConfig(restore_best=1), TypeError,
         "restore_best"),
    case("progress=int", lambda: rnnlab.TrainConfig(progress=1), TypeError, "progress"),
    case("seed=1.5", lambda: rnnlab.TrainConfig(seed=1.5), TypeError, "seed"),
    case("seed<0", lambda: rnnlab.TrainConfig(seed=-1), ValueError, "seed"),
    case("keep_checkpoints=0", lambda: rnnlab.TrainConfig(keep_checkpoints=0), ValueError,
         "keep_checkpoints"),
    case("checkpoint_dir=int", lambda: rnnlab.TrainConfig(checkpoint_dir=5), TypeError,
         "checkpoint_dir"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", TRAIN_CONFIG)
def test_train_config(call, exc, argument, fragments):
    check(call, exc, argument, fragments)


def bidirectional_model():
    return rnnlab.Sequential(rnnlab.GRU(3, 4, bidirectional=True, dtype="float64"),
                             rnnlab.Linear(8, 1, dtype="float64"))


TRAINER = [
    case("model=None", lambda: rnnlab.Trainer(None, losses.mse_loss, sgd()), TypeError, "model"),
    case("loss=None", lambda: rnnlab.Trainer(linear(), None, sgd()), TypeError, "loss"),
    case("loss=str", lambda: rnnlab.Trainer(linear(), "mse", sgd()), TypeError, "loss"),
    case("optimizer=None", lambda: rnnlab.Trainer(linear(), losses.mse_loss, None), TypeError,
         "optimizer"),
    case("config=dict", lambda: rnnlab.Trainer(linear(), losses.mse_loss, sgd(), {"epochs": 1}),
         TypeError, "config"),
    case("schedule=str", lambda: rnnlab.Trainer(linear(), losses.mse_loss, sgd(),
                                                schedule="cosine"), TypeError, "schedule"),
    case("metric=str", lambda: rnnlab.Trainer(linear(), losses.mse_loss, sgd(),
                                              metric="accuracy"), TypeError, "metric"),
    case("callbacks=int", lambda: rnnlab.Trainer(linear(), losses.mse_loss, sgd(),
                                                 callbacks=5), TypeError, "callbacks"),
    case("callbacks=[str]", lambda: rnnlab.Trainer(linear(), losses.mse_loss, sgd(),
                                                   callbacks=["print"]), TypeError, "callbacks"),
    case("tbptt-with-non-recurrent-model", lambda: rnnlab.Trainer(
        linear(), losses.mse_loss, sgd(), rnnlab.TrainConfig(tbptt=(2, 2))), TypeError, "model"),
    case("tbptt-with-bidirectional", lambda: rnnlab.Trainer(
        bidirectional_model(), losses.mse_loss, sgd(), rnnlab.TrainConfig(tbptt=(2, 2))),
         ValueError, "model"),
    case("tbptt-k2<k1", lambda: rnnlab.Trainer(
        rnn(), losses.mse_loss, sgd(), rnnlab.TrainConfig(tbptt=(4, 2))), ValueError, "k2"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", TRAINER)
def test_trainer_constructor(call, exc, argument, fragments):
    check(call, exc, argument, fragments)


def stream():
    return data.SequenceStream(AddingTask(5).generate, seed=0)


TRAINER_FIT = [
    case("train=None", lambda t: t.fit(None), TypeError, "train"),
    case("train=tuple", lambda t: t.fit((X, np.zeros((2, 1)))), TypeError, "train"),
    case("train=ndarray", lambda t: t.fit(X), TypeError, "train"),
    case("train=stream-without-updates", lambda t: t.fit(stream()), ValueError, "updates"),
    case("val=tuple", lambda t: t.fit(regression_data(), val=(X, np.zeros((2, 1)))), TypeError,
         "val"),
    case("val=stream", lambda t: t.fit(regression_data(), val=stream()), TypeError, "val"),
    case("train-features", lambda t: t.fit(regression_data(features=2)), ValueError, "x",
         "input_size"),
    case("train-targets=int-labels", lambda t: t.fit(rnnlab.SequenceData(
        RNG.standard_normal((4, 5, 3)), np.array([0, 1, 0, 1]))), TypeError, "target"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", TRAINER_FIT)
def test_trainer_fit(call, exc, argument, fragments):
    t = trainer()
    before = t.model.state_dict()
    check(call, exc, argument, fragments, t)
    assert t.history == [] and t.updates == 0  # refused before any update
    for name, value in t.model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_trainer_fit_patience_needs_val():
    with pytest.raises(ValueError, match=names("patience")):
        trainer(patience=2).fit(regression_data())


TRAINER_EVALUATE = [
    case("data=None", lambda t: t.evaluate(None), TypeError, "data"),
    case("data=tuple", lambda t: t.evaluate((X, np.zeros((2, 1)))), TypeError, "data"),
    case("batch_size=0", lambda t: t.evaluate(regression_data(), batch_size=0), ValueError,
         "batch_size"),
    case("batch_size<0", lambda t: t.evaluate(regression_data(), batch_size=-1), ValueError,
         "batch_size"),
    case("batch_size=str", lambda t: t.evaluate(regression_data(), batch_size="8"), TypeError,
         "batch_size"),
    case("data-features", lambda t: t.evaluate(regression_data(features=5)), ValueError, "x"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", TRAINER_EVALUATE)
def test_trainer_evaluate(call, exc, argument, fragments):
    check(call, exc, argument, fragments, trainer())


# -- estimators: constructor parameters (checked by fit) -----------------------------------
DEFAULT = object()  # fit_with's "not given", so that None can be a bad value


def fit_with(kind="classifier", X_fit=DEFAULT, y=DEFAULT, **params):
    """``fit`` of a fresh, tiny estimator with ``params`` on four sequences."""
    X_fit = sequences() if X_fit is DEFAULT else X_fit
    params = {"hidden_size": 4, "epochs": 1, **params}
    if kind == "classifier":
        y = ["a", "b", "a", "b"] if y is DEFAULT else y
        return rnnlab.RNNClassifier(**params).fit(X_fit, y)
    y = np.arange(4.0) if y is DEFAULT else y
    return rnnlab.RNNRegressor(**params).fit(X_fit, y)


ESTIMATOR_PARAMS = [
    case("cell=unknown", lambda: fit_with(cell="cnn"), ValueError, "cell", "'cnn'"),
    case("hidden_size=0", lambda: fit_with(hidden_size=0), ValueError, "hidden_size"),
    case("num_layers=1.5", lambda: fit_with(num_layers=1.5), TypeError, "num_layers"),
    case("bidirectional=str", lambda: fit_with(bidirectional="no"), TypeError, "bidirectional"),
    case("epochs=0", lambda: fit_with(epochs=0), ValueError, "epochs"),
    case("batch_size=-1", lambda: fit_with("regressor", batch_size=-1), ValueError,
         "batch_size"),
    case("lr=0", lambda: fit_with(lr=0), ValueError, "lr"),
    case("lr=nan", lambda: fit_with(lr=NAN), ValueError, "lr"),
    case("lr=inf", lambda: fit_with("regressor", lr=INF), ValueError, "lr"),
    case("lr=str", lambda: fit_with(lr="0.01"), ValueError, "lr"),
    case("optimizer=unknown", lambda: fit_with(optimizer="adagrad"), ValueError, "optimizer"),
    case("clip_norm<0", lambda: fit_with(clip_norm=-1.0), ValueError, "clip_norm"),
    case("random_state=str", lambda: fit_with(random_state="seed"), TypeError, "random_state"),
    case("random_state<0", lambda: fit_with(random_state=-1), ValueError, "random_state"),
    case("verbose=int", lambda: fit_with(verbose=1), TypeError, "verbose"),
    case("pooling=unknown", lambda: fit_with(pooling="max"), ValueError, "pooling"),
    case("weight_decay<0", lambda: fit_with(weight_decay=-0.1), ValueError, "weight_decay"),
    case("validation_fraction=1.5", lambda: fit_with(validation_fraction=1.5), ValueError,
         "validation_fraction"),
    case("patience-without-validation", lambda: fit_with(patience=3), ValueError, "patience"),
    case("patience=0", lambda: fit_with(patience=0, validation_fraction=0.5), ValueError,
         "patience"),
    case("dtype=float16", lambda: fit_with(dtype="float16"), ValueError, "dtype"),
    case("lr_schedule=unknown", lambda: fit_with(lr_schedule="step"), ValueError, "lr_schedule"),
    case("many_to_many=str", lambda: fit_with("regressor", many_to_many="yes"), TypeError,
         "many_to_many"),
    case("set_params-unknown", lambda: rnnlab.RNNClassifier().set_params(hiden_size=3),
         ValueError, "hiden_size"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", ESTIMATOR_PARAMS)
def test_estimator_params(call, exc, argument, fragments):
    check(call, exc, argument, fragments)


# -- estimators: fit ----------------------------------------------------------------------
ESTIMATOR_FIT = [
    case("X=None", lambda: fit_with(X_fit=None), TypeError, "X"),
    case("X=str", lambda: fit_with(X_fit="abc"), TypeError, "X"),
    case("X=empty", lambda: fit_with(X_fit=[], y=[]), ValueError, "X"),
    case("X=1-D-array", lambda: fit_with(X_fit=np.zeros(4)), ValueError, "X"),
    case("X=4-D-array", lambda: fit_with(X_fit=np.zeros((4, 5, 3, 1))), ValueError, "X"),
    case("X=ragged-features", lambda: fit_with(X_fit=sequences()[:3] + [np.zeros((4, 2))]),
         ValueError, "X[3]"),
    case("X=zero-steps", lambda: fit_with(X_fit=sequences()[:3] + [np.zeros((0, 3))]),
         ValueError, "X[3]"),
    case("X=nan", lambda: fit_with(X_fit=[with_value(s, NAN) for s in sequences()]), ValueError,
         "X[0]"),
    case("X=inf", lambda: fit_with("regressor", X_fit=[with_value(s, INF) for s in sequences()]),
         ValueError, "X[0]"),
    case("X=str-values", lambda: fit_with(X_fit=[np.full((3, 2), "a")] * 4), TypeError, "X[0]"),
    case("X=complex", lambda: fit_with(X_fit=[s.astype(complex) for s in sequences()]),
         ValueError, "X[0]", "Complex data not supported"),
    case("y=None", lambda: fit_with(y=None), ValueError, "y"),
    case("y=length", lambda: fit_with(y=["a", "b", "a"]), ValueError, "y"),
    # a column (N, 1) is taken as (N,) with scikit-learn's DataConversionWarning
    case("y=2-D", lambda: fit_with(y=[["a", "b"], ["b", "a"], ["a", "a"], ["b", "b"]]),
         ValueError, "y", "Unknown label type"),
    case("y=one-class", lambda: fit_with(y=["a"] * 4), ValueError, "y", "two classes"),
    case("y=mixed-objects", lambda: fit_with(y=np.array([None, 1, "a", 2.0], dtype=object)),
         ValueError, "y", "Unknown label type"),
    case("regressor-y=nan", lambda: fit_with("regressor", y=[0.0, NAN, 1.0, 2.0]), ValueError,
         "y"),
    case("regressor-y=str", lambda: fit_with("regressor", y=["a", "b", "c", "d"]), TypeError,
         "y"),
    case("regressor-y=3-D", lambda: fit_with("regressor", y=np.zeros((4, 1, 1))), ValueError,
         "y"),
    case("regressor-y=length", lambda: fit_with("regressor", y=np.zeros(5)), ValueError, "y"),
    case("regressor-many_to_many-steps", lambda: fit_with(
        "regressor", y=[np.zeros(len(s) + 1) for s in sequences()], many_to_many=True),
         ValueError, "y[0]"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", ESTIMATOR_FIT)
def test_estimator_fit(call, exc, argument, fragments):
    check(call, exc, argument, fragments)


# -- estimators: predict, predict_proba, score -------------------------------------------
def wrong_features():
    return [np.zeros((4, 2))]


ESTIMATOR_PREDICT = [
    case("predict-unfitted", lambda: rnnlab.RNNClassifier().predict(sequences()), ValueError,
         "fit"),
    case("predict-X=features", lambda: fitted("classifier").predict(wrong_features()),
         ValueError, "X", "n_features_in_"),
    case("predict-X=array-features", lambda: fitted("regressor").predict(np.zeros((2, 5, 4))),
         ValueError, "X"),
    case("predict-X=empty", lambda: fitted("classifier").predict([]), ValueError, "X"),
    case("predict-X=nan", lambda: fitted("regressor").predict([with_value(np.zeros((3, 3)),
                                                                          NAN)]),
         ValueError, "X[0]"),
    case("predict-X=None", lambda: fitted("regressor").predict(None), TypeError, "X"),
    case("predict-X=dict", lambda: fitted("classifier").predict({"a": np.zeros((3, 3))}),
         TypeError, "X"),
    case("predict_proba-X=features", lambda: fitted("classifier").predict_proba(
        wrong_features()), ValueError, "X"),
    case("predict_proba-X=inf", lambda: fitted("classifier").predict_proba(
        [with_value(np.zeros((3, 3)), INF)]), ValueError, "X[0]"),
    case("predict_proba-X=str", lambda: fitted("classifier").predict_proba("abc"), TypeError,
         "X"),
    case("score-unseen-label", lambda: fitted("classifier").score(sequences(2), ["a", "z"]),
         ValueError, "y", "'z'"),
    case("score-unseen-label-type", lambda: fitted("classifier").score(sequences(2), [0, 1]),
         ValueError, "y"),
    case("score-y=length", lambda: fitted("classifier").score(sequences(2), ["a"]), ValueError,
         "y"),
    case("score-y=2-D", lambda: fitted("classifier").score(sequences(2),
                                                           [["a", "b"], ["b", "a"]]),
         ValueError, "y"),
    case("score-X=features", lambda: fitted("classifier").score(wrong_features(), ["a"]),
         ValueError, "X"),
    case("regressor-score-y=nan", lambda: fitted("regressor").score(sequences(2), [0.0, NAN]),
         ValueError, "y"),
    case("regressor-score-y=size", lambda: fitted("regressor").score(sequences(2),
                                                                     np.zeros((2, 2))),
         ValueError, "y"),
    case("regressor-score-y=length", lambda: fitted("regressor").score(sequences(2), [1.0]),
         ValueError, "y"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", ESTIMATOR_PREDICT)
def test_estimator_predict_and_score(call, exc, argument, fragments):
    check(call, exc, argument, fragments)


# -- tasks -----------------------------------------------------------------------------------
MAKE_TASK = [
    case("name=unknown", lambda: make_task("mnist", 10), ValueError, "name", "'mnist'"),
    case("name=int", lambda: make_task(5, 10), ValueError, "name"),
    case("name=None", lambda: make_task(None, 10), ValueError, "name"),
    case("adding-length=1", lambda: make_task("adding", 1), ValueError, "length"),
    case("copy-length=0", lambda: make_task("copy", 0), ValueError, "length"),
    case("language-length<0", lambda: make_task("language", -1), ValueError, "length"),
    case("length=2.5", lambda: make_task("adding", 2.5), TypeError, "length"),
    case("length=str", lambda: make_task("copy", "10"), TypeError, "length"),
    case("length=bool", lambda: make_task("language", True), TypeError, "length"),
    case("length=None", lambda: make_task("adding", None), TypeError, "length"),
    case("option-unknown", lambda: make_task("adding", 10, pairs=3), TypeError, "pairs"),
    case("pairs=1", lambda: make_task("language", 10, pairs=1), ValueError, "pairs"),
    case("pairs=13", lambda: make_task("language", 10, pairs=13), ValueError, "pairs"),
    case("pairs=2.5", lambda: make_task("language", 10, pairs=2.5), TypeError, "pairs"),
    case("AddingTask(1)", lambda: AddingTask(1), ValueError, "length"),
    case("CopyTask(-3)", lambda: CopyTask(-3), ValueError, "length"),
    case("LanguageTask(pairs=str)", lambda: LanguageTask(5, pairs="8"), TypeError, "pairs"),
    case("with_length=0", lambda: AddingTask(10).with_length(0), ValueError, "length"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", MAKE_TASK)
def test_make_task_and_constructors(call, exc, argument, fragments):
    check(call, exc, argument, fragments)


TASK_SPLIT = [
    case("n_train=0", lambda t: t.split(0, 4, 4, seed=0), ValueError, "n_train"),
    case("n_train=1.5", lambda t: t.split(1.5, 4, 4, seed=0), TypeError, "n_train"),
    case("n_val=0", lambda t: t.split(8, 0, 4, seed=0), ValueError, "n_val"),
    case("n_val=None", lambda t: t.split(8, None, 4, seed=0), TypeError, "n_val"),
    case("n_test<0", lambda t: t.split(8, 4, -4, seed=0), ValueError, "n_test"),
    case("n_test=str", lambda t: t.split(8, 4, "4", seed=0), TypeError, "n_test"),
    case("seed<0", lambda t: t.split(8, 4, 4, seed=-1), ValueError, "seed"),
    case("seed=str", lambda t: t.split(8, 4, 4, seed="0"), TypeError, "seed"),
    case("seed=float", lambda t: t.split(8, 4, 4, seed=0.5), TypeError, "seed"),
    case("stream-seed<0", lambda t: t.split(None, 4, 4, seed=-1), ValueError, "seed"),
]
TASK_OBJECTS = {"adding": lambda: AddingTask(6), "copy": lambda: CopyTask(3),
                "language": lambda: LanguageTask(2, pairs=3)}


@pytest.mark.parametrize("task", TASK_OBJECTS)
@pytest.mark.parametrize("call,exc,argument,fragments", TASK_SPLIT)
def test_task_split(task, call, exc, argument, fragments):
    check(call, exc, argument, fragments, TASK_OBJECTS[task]())


TASK_STREAM_AND_GENERATE = [
    case("stream-seed<0", lambda t: t.stream(-1), ValueError, "seed"),
    case("stream-seed=str", lambda t: t.stream("abc"), ValueError, "seed"),
    case("stream-seed=float", lambda t: t.stream(1.5), ValueError, "seed"),
    case("stream-batch-k<0", lambda t: t.stream(0).batch(-1, 4), ValueError, "k"),
    case("stream-batch-batch_size=0", lambda t: t.stream(0).batch(0, 0), ValueError,
         "batch_size"),
    case("generate-n=0", lambda t: t.generate(0, 0), ValueError, "n"),
    case("generate-n=float", lambda t: t.generate(2.0, 0), TypeError, "n"),
    case("generate-seed<0", lambda t: t.generate(4, -1), ValueError, "seed"),
    case("generate-seed=str", lambda t: t.generate(4, "0"), TypeError, "seed"),
    case("loss-prediction-shape", lambda t: t.loss(np.zeros((4, 99)), t.generate(4, 0).y),
         ValueError, "prediction"),
    case("metric-prediction-shape", lambda t: t.metric(np.zeros((3, 99)), t.generate(4, 0).y),
         ValueError, "prediction"),
]


@pytest.mark.parametrize("task", TASK_OBJECTS)
@pytest.mark.parametrize("call,exc,argument,fragments", TASK_STREAM_AND_GENERATE)
def test_task_stream_and_generate(task, call, exc, argument, fragments):
    check(call, exc, argument, fragments, TASK_OBJECTS[task]())


def copy_logits(task, batch=2):
    return np.zeros((batch, task.steps, task.output_size))


TASK_METRICS = [
    case("copy-metric-target=float", lambda: CopyTask(3).metric(
        copy_logits(CopyTask(3)), np.zeros((2, 23))), TypeError, "target"),
    case("copy-metric-target>=K", lambda: CopyTask(3).metric(
        copy_logits(CopyTask(3)), np.full((2, 23), 9)), ValueError, "target"),
    case("copy-metric-lengths", lambda: CopyTask(3).metric(
        copy_logits(CopyTask(3)), np.zeros((2, 23), int), lengths=[24, 3]), ValueError,
         "lengths"),
    case("copy-accuracy-target-steps", lambda: CopyTask(3).copy_accuracy(
        np.zeros((2, 5, 9)), np.zeros((2, 5), int)), ValueError, "target"),
    case("language-metric-target<0", lambda: LanguageTask(2).metric(
        np.zeros((2, 8)), [0, -1]), ValueError, "target"),
    case("language-decode-x_row", lambda: LanguageTask(2).decode(np.zeros((5, 3))), ValueError,
         "x_row"),
    case("adding-loss-mask", lambda: AddingTask(4).loss(np.zeros((2, 1)), np.zeros((2, 1)),
                                                        mask=[1, 1, 1]), ValueError, "mask"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", TASK_METRICS)
def test_task_loss_and_metric(call, exc, argument, fragments):
    check(call, exc, argument, fragments)


# -- data ------------------------------------------------------------------------------------
DATA = [
    # pad_sequences
    case("pad-sequences=None", lambda: rnnlab.pad_sequences(None), TypeError, "sequences"),
    case("pad-sequences=int", lambda: rnnlab.pad_sequences(3), TypeError, "sequences"),
    case("pad-sequences=str", lambda: rnnlab.pad_sequences("abc"), TypeError, "sequences"),
    case("pad-member=complex", lambda: rnnlab.pad_sequences([np.zeros((2, 3), complex)]),
         TypeError, "sequences[0]"),
    case("pad-member=inf", lambda: rnnlab.pad_sequences([with_value(np.zeros((2, 3)), INF)]),
         ValueError, "sequences[0]"),
    case("pad-dtype=int", lambda: rnnlab.pad_sequences([np.zeros((2, 3))], dtype="int32"),
         TypeError, "dtype"),
    case("pad-value=nan", lambda: rnnlab.pad_sequences([np.zeros((2, 3))], value=NAN),
         ValueError, "value"),
    case("pad-value=str", lambda: rnnlab.pad_sequences([np.zeros((2, 3))], value="x"),
         TypeError, "value"),
    # lengths_to_mask and reverse_padded
    case("mask-lengths=float", lambda: rnnlab.lengths_to_mask([2.5, 1.0], 3), TypeError,
         "lengths"),
    case("mask-lengths=2-D", lambda: rnnlab.lengths_to_mask([[2, 1]], 3), ValueError, "lengths"),
    case("mask-lengths<0", lambda: rnnlab.lengths_to_mask([2, -1], 3), ValueError, "lengths"),
    case("mask-steps<0", lambda: rnnlab.lengths_to_mask([2, 1], -3), ValueError, "steps"),
    case("mask-steps=float", lambda: rnnlab.lengths_to_mask([2, 1], 3.0), TypeError, "steps"),
    case("reverse-a=1-D", lambda: rnnlab.reverse_padded(np.zeros(5)), ValueError, "a"),
    case("reverse-a=str", lambda: rnnlab.reverse_padded("abcde"), TypeError, "a"),
    case("reverse-lengths>T", lambda: rnnlab.reverse_padded(X, [6, 5]), ValueError, "lengths"),
    case("reverse-lengths-shape", lambda: rnnlab.reverse_padded(X, [5, 5, 5]), ValueError,
         "lengths"),
    # SequenceData
    case("SequenceData-x=2-D", lambda: rnnlab.SequenceData(np.zeros((4, 5)), np.zeros(4)),
         ValueError, "x"),
    case("SequenceData-x=int", lambda: rnnlab.SequenceData(np.zeros((4, 5, 3), int),
                                                           np.zeros(4)), TypeError, "x"),
    case("SequenceData-x=nan", lambda: rnnlab.SequenceData(with_value(np.zeros((4, 5, 3)), NAN),
                                                           np.zeros(4)), ValueError, "x"),
    case("SequenceData-x=empty", lambda: rnnlab.SequenceData(np.zeros((0, 5, 3)), np.zeros(0)),
         ValueError, "x"),
    case("SequenceData-y=length", lambda: rnnlab.SequenceData(np.zeros((4, 5, 3)), np.zeros(3)),
         ValueError, "y"),
    case("SequenceData-y=0-d", lambda: rnnlab.SequenceData(np.zeros((4, 5, 3)), 1.0),
         ValueError, "y"),
    case("SequenceData-y=nan", lambda: rnnlab.SequenceData(np.zeros((4, 5, 3)),
                                                           with_value(np.zeros(4), NAN)),
         ValueError, "y"),
    case("SequenceData-y=object", lambda: rnnlab.SequenceData(np.zeros((4, 5, 3)),
                                                              np.array([{}, 1, 2, 3], object)),
         TypeError, "y"),
    case("SequenceData-y=complex", lambda: rnnlab.SequenceData(np.zeros((4, 5, 3)),
                                                               np.zeros(4, complex)),
         TypeError, "y"),
    case("SequenceData-y-per_step", lambda: rnnlab.SequenceData(np.zeros((4, 5, 3)),
                                                                np.zeros(4), per_step=True),
         ValueError, "y"),
    case("SequenceData-per_step=str", lambda: rnnlab.SequenceData(
        np.zeros((4, 5, 3)), np.zeros((4, 5)), per_step="yes"), TypeError, "per_step"),
    case("SequenceData-lengths>T", lambda: rnnlab.SequenceData(
        np.zeros((4, 5, 3)), np.zeros(4), lengths=[5, 5, 6, 5]), ValueError, "lengths"),
    case("SequenceData-lengths=float", lambda: rnnlab.SequenceData(
        np.zeros((4, 5, 3)), np.zeros(4), lengths=[5, 5, 2.5, 5]), TypeError, "lengths"),
    case("subset-index=empty", lambda: sequence_data().subset([]), ValueError, "index"),
    case("subset-index=out-of-range", lambda: sequence_data().subset([0, 4]), ValueError,
         "index"),
    case("subset-index=negative", lambda: sequence_data().subset([-5]), ValueError, "index"),
    case("subset-index=float", lambda: sequence_data().subset([0.5, 1.0]), TypeError, "index"),
    case("subset-index=bool", lambda: sequence_data().subset([True, False, True, False]),
         TypeError, "index"),
    case("batches-batch_size=0", lambda: list(sequence_data().batches(0)), ValueError,
         "batch_size"),
    case("batches-shuffle=str", lambda: list(sequence_data().batches(2, shuffle="yes")),
         TypeError, "shuffle"),
    case("batches-bucket=int", lambda: list(sequence_data().batches(2, bucket=1)), TypeError,
         "bucket"),
    case("batches-seed=str", lambda: list(sequence_data().batches(2, True, seed="abc")),
         TypeError, "seed"),
    case("batches-seed<0", lambda: list(sequence_data().batches(2, True, seed=-1)), ValueError,
         "seed"),
    # train_val_split
    case("split-n=1", lambda: data.train_val_split(1), ValueError, "n"),
    case("split-n=0", lambda: data.train_val_split(0), ValueError, "n"),
    case("split-n=float", lambda: data.train_val_split(10.0), TypeError, "n"),
    case("split-val_fraction=0", lambda: data.train_val_split(10, 0.0), ValueError,
         "val_fraction"),
    case("split-val_fraction=1", lambda: data.train_val_split(10, 1.0), ValueError,
         "val_fraction"),
    case("split-val_fraction=nan", lambda: data.train_val_split(10, NAN), ValueError,
         "val_fraction"),
    case("split-val_fraction=str", lambda: data.train_val_split(10, "0.2"), ValueError,
         "val_fraction"),
    case("split-stratify-shape", lambda: data.train_val_split(10, 0.2, stratify=[0, 1]),
         ValueError, "stratify"),
    case("split-seed=str", lambda: data.train_val_split(10, 0.2, seed="abc"), TypeError,
         "seed"),
    # SequenceStream
    case("stream-draw=None", lambda: data.SequenceStream(None, 0), TypeError, "draw"),
    case("stream-seed<0", lambda: data.SequenceStream(AddingTask(4).generate, -1), ValueError,
         "seed"),
    case("stream-seed=[1,-1]", lambda: data.SequenceStream(AddingTask(4).generate, [1, -1]),
         ValueError, "seed"),
    case("stream-seed=bool", lambda: data.SequenceStream(AddingTask(4).generate, True),
         ValueError, "seed"),
    case("stream-batch-k=float", lambda: stream().batch(1.5, 4), ValueError, "k"),
    case("stream-batch-batch_size=str", lambda: stream().batch(0, "4"), TypeError,
         "batch_size"),
    case("stream-draw-returns-tuple", lambda: data.SequenceStream(
        lambda n, rng: (X, None), 0).batch(0, 2), TypeError, "draw"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", DATA)
def test_data(call, exc, argument, fragments):
    check(call, exc, argument, fragments)


# -- data files: read_data_file, read_ts, FileTask ---------------------------------------
HEADER = "@problemName tiny\n@univariate true\n@classLabel true a b\n@data\n"


def write(folder, name, content):
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


def npz(folder, name="data.npz", **arrays):
    path = folder / name
    np.savez(path, **arrays)
    return str(path)


def good_npz(folder, name="data.npz"):
    return npz(folder, name, x=np.zeros((4, 5, 2)), y=np.array([0, 1, 0, 1]))


def truncated(folder, name="cut.npz"):
    whole = (folder / good_npz(folder, "whole.npz")).read_bytes()
    return write(folder, name, whole[:len(whole) // 2])


def npy_as_npz(folder):
    path = folder / "array.npy"
    np.save(path, np.zeros((4, 5, 2)))
    return write(folder, "array.npz", path.read_bytes())


FILES = [
    case("path=None", lambda d: datasets.read_data_file(None), TypeError, "path"),
    case("path=int", lambda d: datasets.read_data_file(5), TypeError, "path"),
    case("path=csv", lambda d: datasets.read_data_file(write(d, "data.csv", "1,2\n")),
         ValueError, "path", ".ts or .npz"),
    case("path=missing", lambda d: datasets.read_data_file(str(d / "none.npz")), ValueError,
         "path", "no such file"),
    case("path=folder", lambda d: datasets.read_data_file(str((d / "dir.ts").mkdir() or
                                                              d / "dir.ts")),
         ValueError, "path"),
    case("npz=empty-file", lambda d: datasets.read_data_file(write(d, "empty.npz", b"")),
         ValueError, "path"),
    case("npz=truncated", lambda d: datasets.read_data_file(truncated(d)), ValueError, "path"),
    case("npz=text", lambda d: datasets.read_data_file(write(d, "text.npz", "x,y\n1,2\n")),
         ValueError, "path"),
    case("npz=random-bytes", lambda d: datasets.read_data_file(
        write(d, "noise.npz", bytes(range(256)) * 4)), ValueError, "path"),
    case("npz=zip-of-text", lambda d: datasets.read_data_file(zip_of_text(d)), ValueError,
         "path"),
    case("npz=npy-inside", lambda d: datasets.read_data_file(npy_as_npz(d)), ValueError, "path"),
    case("npz=missing-y", lambda d: datasets.read_data_file(npz(d, x=np.zeros((4, 5)))),
         ValueError, "path", "'y'"),
    case("npz=x-str", lambda d: datasets.read_data_file(npz(d, x=np.full((2, 3), "a"),
                                                            y=np.zeros(2))),
         ValueError, "path", "x"),
    case("npz=x-complex", lambda d: datasets.read_data_file(npz(d, x=np.zeros((2, 3), complex),
                                                                y=np.zeros(2))),
         ValueError, "path", "x"),
    case("npz=x-inf", lambda d: datasets.read_data_file(npz(
        d, x=with_value(np.zeros((2, 3)), INF), y=np.zeros(2))), ValueError, "path", "x"),
    case("npz=x-4-D", lambda d: datasets.read_data_file(npz(d, x=np.zeros((2, 3, 1, 1)),
                                                            y=np.zeros(2))),
         ValueError, "path", "x"),
    case("npz=x-empty", lambda d: datasets.read_data_file(npz(d, x=np.zeros((0, 3)),
                                                              y=np.zeros(0))),
         ValueError, "path", "x"),
    case("npz=y-length", lambda d: datasets.read_data_file(npz(d, x=np.zeros((2, 3)),
                                                               y=np.zeros(3))),
         ValueError, "path", "y"),
    case("npz=y-nan", lambda d: datasets.read_data_file(npz(
        d, x=np.zeros((2, 3)), y=with_value(np.zeros(2), NAN))), ValueError, "path", "y"),
    case("npz=y-complex", lambda d: datasets.read_data_file(npz(
        d, x=np.zeros((2, 3)), y=np.zeros(2, complex))), ValueError, "path", "y"),
    case("npz=y-object", lambda d: datasets.read_data_file(npz(
        d, x=np.zeros((2, 3)), y=np.array([{}, 1], object))), ValueError, "path", "pickle"),
    case("npz=lengths>T", lambda d: datasets.read_data_file(npz(
        d, x=np.zeros((2, 3)), y=np.zeros(2), lengths=np.array([3, 4]))), ValueError, "path",
         "lengths"),
    case("npz=lengths-float", lambda d: datasets.read_data_file(npz(
        d, x=np.zeros((2, 3)), y=np.zeros(2), lengths=np.array([3.0, 2.0]))), ValueError,
         "path", "lengths"),
    case("ts=binary", lambda d: datasets.read_data_file(write(d, "bin.ts", b"\xff\xfe\x00@")),
         ValueError, "path"),
    case("ts=empty-file", lambda d: datasets.read_data_file(write(d, "empty.ts", "")),
         ValueError, "path"),
    case("ts=header-only", lambda d: datasets.read_data_file(write(d, "head.ts", HEADER)),
         ValueError, "path", "no cases"),
    case("ts=truncated-case", lambda d: datasets.read_data_file(
        write(d, "cut.ts", HEADER + "1,2,3:a\n4,5")), ValueError, "path", "line 6"),
    case("ts=no-data-line", lambda d: datasets.read_data_file(
        write(d, "nodata.ts", "@problemName tiny\n@classLabel true a b\n")), ValueError, "path"),
    case("ts=not-a-number", lambda d: datasets.read_data_file(
        write(d, "nan.ts", HEADER + "1,x,3:a\n")), ValueError, "path", "'x'"),
    case("ts=unknown-label", lambda d: datasets.read_data_file(
        write(d, "label.ts", HEADER + "1,2,3:c\n")), ValueError, "path", "'c'"),
    case("ts=npz-content", lambda d: datasets.read_data_file(
        write(d, "fake.ts", (d / good_npz(d)).read_bytes())), ValueError, "path"),
    case("read_ts-missing", lambda d: datasets.read_ts(str(d / "none.ts")), ValueError, "path"),
    case("read_ts-path=None", lambda d: datasets.read_ts(None), TypeError, "path"),
    case("FileTask-path=missing", lambda d: FileTask(path=str(d / "none.npz")), ValueError,
         "path"),
    case("FileTask-path=int", lambda d: FileTask(path=3), TypeError, "path"),
    case("FileTask-test_path=missing", lambda d: FileTask(path=good_npz(d),
                                                          test_path=str(d / "none.npz")),
         ValueError, "test_path"),
    case("FileTask-test_path=truncated", lambda d: FileTask(path=good_npz(d),
                                                            test_path=truncated(d)),
         ValueError, "test_path"),
    case("FileTask-test_path=unknown-class", lambda d: FileTask(
        path=good_npz(d), test_path=npz(d, "test.npz", x=np.zeros((2, 5, 2)),
                                        y=np.array([0, 7]))), ValueError, "test_path"),
    case("FileTask-one-class", lambda d: FileTask(path=npz(d, x=np.zeros((4, 3)),
                                                           y=np.zeros(4, int))),
         ValueError, "path", "2 classes"),
    case("FileTask-split-seed<0", lambda d: FileTask(path=good_npz(d)).split(seed=-1),
         ValueError, "seed"),
    case("FileTask-split-seed=str", lambda d: FileTask(path=good_npz(d)).split(seed="0"),
         TypeError, "seed"),
    case("FileTask-generate-n=0", lambda d: FileTask(path=good_npz(d)).generate(0, 0),
         ValueError, "n"),
]


def zip_of_text(folder):
    """A zip archive named .npz whose members are text, not .npy arrays."""
    path = folder / "zipped.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", "not an array")
        archive.writestr("y.npy", "0,1")
    return str(path)


@pytest.mark.parametrize("call,exc,argument,fragments", FILES)
def test_data_files(tmp_path, call, exc, argument, fragments):
    check(call, exc, argument, fragments, tmp_path)


def test_a_missing_file_is_still_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=names("path")):
        datasets.read_data_file(str(tmp_path / "none.ts"))


# -- dataset loaders -------------------------------------------------------------------------
LOADERS = [
    case("ucr-split=unknown", lambda: datasets.load_ucr_uea("JapaneseVowels", "valid"),
         ValueError, "split"),
    case("ucr-split=None", lambda: datasets.load_ucr_uea("JapaneseVowels", None), ValueError,
         "split"),
    case("ucr-name=unknown", lambda: datasets.load_ucr_uea("JapaneseVowel"), ValueError, "name"),
    case("ucr-name=None", lambda: datasets.load_ucr_uea(None), ValueError, "name"),
    case("ucr-name=path", lambda: datasets.load_ucr_uea("../JapaneseVowels"), ValueError,
         "name"),
    case("mnist1d-split=unknown", lambda: datasets.load_mnist1d("val"), ValueError, "split"),
    case("mnist1d-seed<0", lambda: datasets.load_mnist1d(seed=-1), ValueError, "seed"),
    case("mnist1d-seed=2**32", lambda: datasets.load_mnist1d(seed=2**32), ValueError, "seed"),
    case("mnist1d-seed=float", lambda: datasets.load_mnist1d(seed=4.0), TypeError, "seed"),
    case("mnist1d-seed=bool", lambda: datasets.load_mnist1d(seed=True), TypeError, "seed"),
    case("mnist1d-shuffle_seq=int", lambda: datasets.load_mnist1d(shuffle_seq=1), TypeError,
         "shuffle_seq"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", LOADERS)
def test_dataset_loaders(request, call, exc, argument, fragments):
    if request.node.callspec.id.startswith("ucr-name"):
        request.getfixturevalue("aeon")  # the names are those of aeon's data folder
    check(call, exc, argument, fragments)


# -- init --------------------------------------------------------------------------------------
GEN = np.random.default_rng(0)

INIT = [
    case("uniform-shape=negative", lambda: init.uniform((-1, 3), GEN, np.float64, 0.1),
         ValueError, "shape"),
    case("uniform-shape=float", lambda: init.uniform((2.0, 3), GEN, np.float64, 0.1), TypeError,
         "shape"),
    case("uniform-rng=int", lambda: init.uniform((2, 3), 0, np.float64, 0.1), TypeError, "rng"),
    case("uniform-dtype=int", lambda: init.uniform((2, 3), GEN, np.int32, 0.1), TypeError,
         "dtype"),
    case("uniform-bound<0", lambda: init.uniform((2, 3), GEN, np.float64, -0.1), ValueError,
         "bound"),
    case("uniform-bound=nan", lambda: init.uniform((2, 3), GEN, np.float64, NAN), ValueError,
         "bound"),
    case("default-hidden_size=0", lambda: init.default((2, 3), GEN, np.float64, 0), ValueError,
         "hidden_size"),
    case("xavier_uniform-shape=1-D", lambda: init.xavier_uniform((3,), GEN, np.float64),
         ValueError, "shape"),
    case("xavier_normal-shape=0", lambda: init.xavier_normal((0, 0), GEN, np.float64),
         ValueError, "shape"),
    case("kaiming_uniform-shape=str", lambda: init.kaiming_uniform("ab", GEN, np.float64),
         TypeError, "shape"),
    case("kaiming_normal-rng=None", lambda: init.kaiming_normal((2, 3), None, np.float64),
         TypeError, "rng"),
    case("orthogonal-shape=3-D", lambda: init.orthogonal((2, 3, 4), GEN, np.float64),
         ValueError, "shape"),
    case("orthogonal-dtype=complex", lambda: init.orthogonal((2, 3), GEN, np.complex128),
         TypeError, "dtype"),
    case("identity-not-square", lambda: init.identity((2, 3), GEN, np.float64), ValueError,
         "shape"),
    case("chrono-t_max=1", lambda: init.chrono(4, 1, GEN), ValueError, "t_max"),
    case("chrono-t_max=float", lambda: init.chrono(4, 10.0, GEN), TypeError, "t_max"),
    case("chrono-hidden_size=0", lambda: init.chrono(0, 10, GEN), ValueError, "hidden_size"),
    case("chrono-rng=int", lambda: init.chrono(4, 10, 0), TypeError, "rng"),
    case("check_chrono=str", lambda: init.check_chrono("10"), TypeError, "chrono"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", INIT)
def test_init(call, exc, argument, fragments):
    check(call, exc, argument, fragments)


# -- diagnostics -------------------------------------------------------------------------------
def gru_model():
    return rnnlab.Sequential(rnnlab.GRU(3, 4, dtype="float64", seed=0),
                             rnnlab.Linear(4, 1, dtype="float64", seed=1))


Y_STEP = np.zeros((2, 5, 1))

DIAGNOSTICS = [
    # state_gradients
    case("state_gradients-model=linear", lambda: diagnostics.state_gradients(
        linear(), X, Y_STEP, losses.mse_loss), TypeError, "model"),
    case("state_gradients-x=2-D", lambda: diagnostics.state_gradients(
        gru_model(), X[:, 0], Y_STEP, losses.mse_loss), ValueError, "x"),
    case("state_gradients-x=int", lambda: diagnostics.state_gradients(
        gru_model(), X.astype(int), Y_STEP, losses.mse_loss), TypeError, "x"),
    case("state_gradients-x=nan", lambda: diagnostics.state_gradients(
        gru_model(), with_value(X, NAN), Y_STEP, losses.mse_loss), ValueError, "x"),
    case("state_gradients-loss=str", lambda: diagnostics.state_gradients(
        gru_model(), X, Y_STEP, "mse"), TypeError, "loss"),
    case("state_gradients-lengths>T", lambda: diagnostics.state_gradients(
        gru_model(), X, Y_STEP, losses.mse_loss, lengths=[6, 5]), ValueError, "lengths"),
    # jacobian_norms
    case("jacobian-layer=Sequential", lambda: diagnostics.jacobian_norms(gru_model(), X),
         TypeError, "layer"),
    case("jacobian-x=2-D", lambda: diagnostics.jacobian_norms(rnn(), X[0]), ValueError, "x"),
    case("jacobian-x=int", lambda: diagnostics.jacobian_norms(rnn(), X.astype(int)), TypeError,
         "x"),
    case("jacobian-x=inf", lambda: diagnostics.jacobian_norms(rnn(), with_value(X, INF)),
         ValueError, "x"),
    case("jacobian-x=features", lambda: diagnostics.jacobian_norms(rnn(), X[..., :2]),
         ValueError, "x"),
    case("jacobian-layer_index=1", lambda: diagnostics.jacobian_norms(rnn(), X, layer_index=1),
         ValueError, "layer_index"),
    case("jacobian-layer_index=float", lambda: diagnostics.jacobian_norms(
        rnn(), X, layer_index=0.5), TypeError, "layer_index"),
    case("jacobian-direction=1", lambda: diagnostics.jacobian_norms(rnn(), X, direction=1),
         ValueError, "direction"),
    case("jacobian-direction=str", lambda: diagnostics.jacobian_norms(rnn(), X, direction="0"),
         TypeError, "direction"),
    # pascanu_bounds and scale_recurrent_weights
    case("pascanu-layer=Sequential", lambda: diagnostics.pascanu_bounds(gru_model()), TypeError,
         "layer"),
    case("pascanu-layer=None", lambda: diagnostics.pascanu_bounds(None), TypeError, "layer"),
    case("scale-layer=LSTM", lambda: diagnostics.scale_recurrent_weights(lstm(), 0.5),
         TypeError, "layer"),
    case("scale-lambda_1=0", lambda: diagnostics.scale_recurrent_weights(rnn(), 0.0),
         ValueError, "lambda_1"),
    case("scale-lambda_1=inf", lambda: diagnostics.scale_recurrent_weights(rnn(), INF),
         ValueError, "lambda_1"),
    case("scale-lambda_1=str", lambda: diagnostics.scale_recurrent_weights(rnn(), "1"),
         TypeError, "lambda_1"),
    case("scale-lambda_1=bool", lambda: diagnostics.scale_recurrent_weights(rnn(), True),
         TypeError, "lambda_1"),
    # gate_activity
    case("gates-model=linear", lambda: diagnostics.gate_activity(linear(), X), TypeError,
         "model"),
    case("gates-x=1-D", lambda: diagnostics.gate_activity(lstm(), np.zeros(5)), ValueError, "x"),
    case("gates-x=bool", lambda: diagnostics.gate_activity(lstm(), X > 0), TypeError, "x"),
    case("gates-margin=0.5", lambda: diagnostics.gate_activity(lstm(), X, margin=0.5),
         ValueError, "margin"),
    case("gates-margin=nan", lambda: diagnostics.gate_activity(lstm(), X, margin=NAN),
         ValueError, "margin"),
    case("gates-margin=str", lambda: diagnostics.gate_activity(lstm(), X, margin="0.1"),
         TypeError, "margin"),
    case("gates-lengths=0", lambda: diagnostics.gate_activity(lstm(), X, lengths=[0, 5]),
         ValueError, "lengths"),
    # memory_horizon, horizon_of, gradient_horizon, suggest_k2
    case("memory-model=None", lambda: diagnostics.memory_horizon(None, AddingTask(4), [2]),
         TypeError, "model"),
    case("memory-task=str", lambda: diagnostics.memory_horizon(gru_model(), "adding", [2]),
         TypeError, "task"),
    case("memory-gaps=empty", lambda: diagnostics.memory_horizon(gru_model(), AddingTask(4),
                                                                 []), ValueError, "gaps"),
    case("memory-gaps=int", lambda: diagnostics.memory_horizon(gru_model(), AddingTask(4), 4),
         TypeError, "gaps"),
    case("memory-gaps=str", lambda: diagnostics.memory_horizon(gru_model(), AddingTask(4),
                                                               ["a"]), TypeError, "gaps"),
    case("memory-gaps-too-short", lambda: diagnostics.memory_horizon(
        gru_model(), AddingTask(4), [1, 4]), ValueError, "gaps"),
    case("memory-n=0", lambda: diagnostics.memory_horizon(gru_model(), AddingTask(4), [4], n=0),
         ValueError, "n"),
    case("memory-n=str", lambda: diagnostics.memory_horizon(gru_model(), AddingTask(4), [4],
                                                            n="8"), TypeError, "n"),
    case("memory-seed<0", lambda: diagnostics.memory_horizon(gru_model(), AddingTask(4), [4],
                                                             seed=-1), ValueError, "seed"),
    case("memory-batch_size=0", lambda: diagnostics.memory_horizon(
        gru_model(), AddingTask(4), [4], batch_size=0), ValueError, "batch_size"),
    case("horizon_of-lengths", lambda: diagnostics.horizon_of([1, 2, 3], [True, True]),
         ValueError, "solved"),
    case("gradient_horizon-shapes", lambda: diagnostics.gradient_horizon([0, 1, 2], [1.0, 0.5]),
         ValueError, "norms"),
    case("gradient_horizon-empty", lambda: diagnostics.gradient_horizon([], []), ValueError,
         "gaps"),
    case("gradient_horizon-norms=nan", lambda: diagnostics.gradient_horizon(
        [0, 1, 2], [1.0, NAN, 0.1]), ValueError, "norms"),
    case("gradient_horizon-norms=str", lambda: diagnostics.gradient_horizon(
        [0, 1], ["1", "0.1"]), TypeError, "norms"),
    case("gradient_horizon-gaps=str", lambda: diagnostics.gradient_horizon(
        ["a", "b"], [1.0, 0.1]), TypeError, "gaps"),
    case("gradient_horizon-tol=1", lambda: diagnostics.gradient_horizon([0, 1], [1.0, 0.1],
                                                                        tol=1.0),
         ValueError, "tol"),
    case("gradient_horizon-tol=str", lambda: diagnostics.gradient_horizon([0, 1], [1.0, 0.1],
                                                                          tol="0.1"),
         TypeError, "tol"),
    case("suggest_k2-memory<0", lambda: diagnostics.suggest_k2(-3, [0, 1], [1.0, 0.1]),
         ValueError, "memory"),
    case("suggest_k2-memory=str", lambda: diagnostics.suggest_k2("5", [0, 1], [1.0, 0.1]),
         TypeError, "memory"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", DIAGNOSTICS)
def test_diagnostics(call, exc, argument, fragments):
    check(call, exc, argument, fragments)


def test_refused_diagnostics_run_nothing():
    layer = rnn()
    with pytest.raises(ValueError, match=names("x")):
        diagnostics.jacobian_norms(layer, with_value(X, NAN))
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((2, 5, 4)))  # no forward ran


# -- explain ---------------------------------------------------------------------------------
EXPLAIN = [
    case("w_x=str", lambda: explain.trace(w_x="0.5"), TypeError, "w_x"),
    case("w_h=nan", lambda: explain.trace(w_h=NAN), ValueError, "w_h"),
    case("w_y=inf", lambda: explain.trace(w_y=INF), ValueError, "w_y"),
    case("w_x=bool", lambda: explain.trace(w_x=True), TypeError, "w_x"),
    case("w_x=complex", lambda: explain.trace(w_x=1j), TypeError, "w_x"),
    case("xs=empty", lambda: explain.trace(xs=()), ValueError, "xs"),
    case("xs=2-D", lambda: explain.trace(xs=[[1.0, 2.0]]), ValueError, "xs"),
    case("xs=str", lambda: explain.trace(xs="1.0"), TypeError, "xs"),
    case("xs=nan-member", lambda: explain.trace(xs=(1.0, NAN)), ValueError, "xs[1]"),
    case("xs=None-member", lambda: explain.trace(xs=(1.0, None)), TypeError, "xs[1]"),
    case("ys=length", lambda: explain.trace(xs=(1.0, 2.0, 3.0), ys=(0.1, 0.2)), ValueError,
         "ys"),
    case("ys=empty", lambda: explain.trace(ys=[]), ValueError, "ys"),
    case("ys=inf", lambda: explain.trace(ys=-INF), ValueError, "ys[0]"),
    case("h0=str", lambda: explain.trace(h0="0"), TypeError, "h0"),
    case("lr=0", lambda: explain.trace(lr=0.0), ValueError, "lr"),
    case("lr<0", lambda: explain.trace(lr=-0.1), ValueError, "lr"),
    case("lr=huge-int", lambda: explain.trace(lr=10**400), ValueError, "lr"),
    case("activation=unknown", lambda: explain.trace(activation="gelu"), ValueError,
         "activation"),
    case("activation=None", lambda: explain.trace(activation=None), TypeError, "activation"),
    case("overflow", lambda: explain.trace(w_x=1e200, w_y=1e200, xs=(1e200,)), ValueError,
         "w_x"),
    case("to_json-result=dict", lambda: explain.to_json({"loss": 1.0}), TypeError, "result"),
    case("format_trace-result=None", lambda: explain.format_trace(None), TypeError, "result"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", EXPLAIN)
def test_explain(call, exc, argument, fragments):
    check(call, exc, argument, fragments)


# -- gradcheck -------------------------------------------------------------------------------
GRADCHECK = [
    case("model=None", lambda: gradcheck.check_gradients(None, X), TypeError, "model"),
    case("model=float32", lambda: gradcheck.check_gradients(rnnlab.RNN(3, 4), X), ValueError,
         "model", "float64"),
    case("x=int", lambda: gradcheck.check_gradients(rnn(), X.astype(int)), TypeError, "x"),
    case("x=nan", lambda: gradcheck.check_gradients(rnn(), with_value(X, NAN)), ValueError, "x"),
    case("x=1-D", lambda: gradcheck.check_gradients(rnn(), X[0, 0]), ValueError, "x"),
    case("x=str", lambda: gradcheck.check_gradients(rnn(), "abc"), TypeError, "x"),
    case("lengths>T", lambda: gradcheck.check_gradients(rnn(), X, lengths=[6, 5]), ValueError,
         "lengths"),
    case("state=shape", lambda: gradcheck.check_gradients(rnn(), X, state=np.zeros((1, 3, 4))),
         ValueError, "state"),
    case("state=int", lambda: gradcheck.check_gradients(rnn(), X,
                                                        state=np.zeros((1, 2, 4), int)),
         TypeError, "state"),
    case("eps=0", lambda: gradcheck.check_gradients(rnn(), X, eps=0.0), ValueError, "eps"),
    case("eps<0", lambda: gradcheck.check_gradients(rnn(), X, eps=-1e-6), ValueError, "eps"),
    case("eps=str", lambda: gradcheck.check_gradients(rnn(), X, eps="1e-6"), TypeError, "eps"),
    case("seed=str", lambda: gradcheck.check_gradients(rnn(), X, seed="abc"), TypeError, "seed"),
    case("seed<0", lambda: gradcheck.check_gradients(rnn(), X, seed=-1), ValueError, "seed"),
    case("numerical-loss=str", lambda: gradcheck.numerical_gradient("loss", np.zeros(3)),
         TypeError, "loss"),
    case("numerical-array=int", lambda: gradcheck.numerical_gradient(lambda: 0.0,
                                                                     np.zeros(3, int)),
         TypeError, "array"),
    case("numerical-array=list", lambda: gradcheck.numerical_gradient(lambda: 0.0, [0.0, 1.0]),
         TypeError, "array"),
    case("numerical-eps=nan", lambda: gradcheck.numerical_gradient(lambda: 0.0, np.zeros(3),
                                                                   eps=NAN),
         ValueError, "eps"),
    case("relative_error-shapes", lambda: gradcheck.relative_error(np.zeros(3), np.zeros(4)),
         ValueError, "numerical"),
    case("relative_error-str", lambda: gradcheck.relative_error(np.zeros(3), "abc"), TypeError,
         "numerical"),
]


@pytest.mark.parametrize("call,exc,argument,fragments", GRADCHECK)
def test_gradcheck(call, exc, argument, fragments):
    check(call, exc, argument, fragments)
