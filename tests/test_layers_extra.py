"""Embedding, LayerNorm, Dropout and the activation modules: finite differences in float64,
agreement with PyTorch, bad input, and train / evaluation modes (Sequential, the Trainer and
the estimators)."""

import pickle

import numpy as np
import pytest

from rnnlab import (LSTM, Dropout, Embedding, LastStep, LayerNorm, Linear, Module, ReLU,
                    RNNClassifier, Sequential, SequenceData, Sigmoid, Tanh, mse_loss)
from rnnlab.gradcheck import check_gradients, numerical_gradient, relative_error
from rnnlab.optim import SGD
from rnnlab.training import TrainConfig, Trainer

FD_TOL = 1e-6  # finite differences in float64
TORCH_TOL = 1e-10  # PyTorch in float64


def rng(seed=0):
    return np.random.default_rng(seed)


def away_from_zero(shape, seed=0):
    """Random values with |x| >= 0.1, so that ReLU's kink is never within eps."""
    x = rng(seed).standard_normal(shape)
    return np.sign(x) * (0.1 + np.abs(x))


class FixedMaskDropout(Dropout):
    """Dropout whose every forward uses one fixed mask, so that finite differences apply."""

    def __init__(self, p, mask):
        super().__init__(p, dtype="float64")
        self.fixed = mask

    def forward(self, x):
        return super().forward(x, mask=self.fixed)


class ModeSpy(Module):
    """The identity, recording the mode of every forward."""

    def __init__(self):
        super().__init__(None)
        self.seen = []

    def forward(self, x):
        self.seen.append(self.training)
        self._save_for_backward(np.shape(x))
        return x

    def backward(self, d_output):
        self._saved()
        self._mark_read()
        return d_output


def layer_norm(shape=5, seed=1, **kwargs):
    """A float64 LayerNorm with random weight and bias (ones and zeros hide mistakes)."""
    layer = LayerNorm(shape, dtype="float64", **kwargs)
    layer.load_state_dict({k: rng(seed).standard_normal(v.shape)
                           for k, v in layer.state_dict().items()})
    return layer


# -- tier 1: finite differences -------------------------------------------------------------
FD_CASES = {
    "layernorm": (lambda: layer_norm(5), (3, 4, 5)),
    "layernorm_2d_shape": (lambda: layer_norm((4, 5)), (3, 4, 5)),
    "layernorm_no_bias": (lambda: layer_norm(5, bias=False), (6, 5)),
    "layernorm_no_affine": (lambda: LayerNorm(5, elementwise_affine=False, dtype="float64"),
                            (6, 5)),
    "tanh": (Tanh, (3, 4, 5)),
    "sigmoid": (Sigmoid, (3, 4, 5)),
    "relu": (ReLU, (3, 4, 5)),
    "dropout_fixed_mask": (lambda: FixedMaskDropout(0.3, rng(7).random((3, 4, 5)) > 0.3),
                           (3, 4, 5)),
}


@pytest.mark.parametrize("case", list(FD_CASES))
def test_backward_matches_finite_differences(case):
    make, shape = FD_CASES[case]
    checks = check_gradients(make(), away_from_zero(shape), training=case == "dropout_fixed_mask")
    worst = max(checks, key=lambda c: c.relative_error)
    print(f"{case}: worst relative error {worst.relative_error:.2e} ({worst.name})")
    assert worst.relative_error <= FD_TOL, checks


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_weight_gradient_matches_finite_differences(padding_idx):
    emb = Embedding(7, 3, padding_idx=padding_idx, dtype="float64", seed=0)
    x = np.array([[1, 2, 2, 6], [0, 2, 5, 1]])  # repeated indices, and the padding one
    r = rng(3).standard_normal((2, 4, 3))
    emb.forward(x)
    emb.backward(r)
    weight = emb.parameters()["weight"]
    numerical = numerical_gradient(lambda: float(np.sum(emb.forward(x) * r)), weight)
    analytic = emb.grad_dict()["weight"]
    if padding_idx is not None:  # the padding row is used but gets no gradient, by design
        assert not analytic[padding_idx].any()
        numerical[padding_idx] = 0
    err = relative_error(analytic, numerical)
    print(f"embedding (padding_idx={padding_idx}): worst relative error {err:.2e}")
    assert err <= FD_TOL


def test_embedding_first_in_a_sequential_with_lengths():
    """Token ids (B, T) -> Embedding -> LSTM -> last valid step -> Linear: every parameter's
    gradient matches finite differences, and tokens at padded steps change nothing."""
    model = Sequential(Embedding(6, 3, padding_idx=0, dtype="float64", seed=0),
                       LSTM(3, 4, dtype="float64", seed=1), LastStep(),
                       Linear(4, 2, dtype="float64", seed=2))
    x, lengths = np.array([[1, 2, 3, 4], [5, 1, 0, 0]]), np.array([4, 2])
    r = rng(4).standard_normal((2, 2))
    out = model.forward(x, lengths=lengths)
    assert model.backward(r) is None  # integer inputs have no gradient
    other = x.copy()
    other[1, 2:] = [3, 5]  # other tokens at the padded steps
    np.testing.assert_array_equal(model.forward(other, lengths=lengths), out)
    worst = 0.0
    for name, array in model.parameters().items():
        numerical = numerical_gradient(
            lambda: float(np.sum(model.forward(x, lengths=lengths) * r)), array)
        if name == "0.weight":
            numerical[0] = 0  # the padding row: no gradient, by design
        worst = max(worst, relative_error(model.grad_dict()[name], numerical))
    print(f"embedding + lstm model: worst relative error {worst:.2e}")
    assert worst <= FD_TOL


# -- tier 2: PyTorch ------------------------------------------------------------------------
def torch_grads(torch, module, x, r, x_grad=True):
    """(output, dL/dx, {name: dL/dparam}) of a torch module for L = sum(out * r)."""
    xt = torch.tensor(x, requires_grad=x_grad)
    out = module(xt)
    (out * torch.tensor(r)).sum().backward()
    grads = {k: p.grad.numpy() for k, p in module.named_parameters()}
    return out.detach().numpy(), (xt.grad.numpy() if x_grad else None), grads


def worst_vs_torch(ours, theirs) -> float:
    return max(relative_error(a, b) for a, b in zip(ours, theirs))


@pytest.mark.parametrize("shape,affine,bias", [(5, True, True), ((4, 5), True, True),
                                               (5, True, False), (5, False, True)])
def test_layer_norm_agrees_with_torch(torch, shape, affine, bias):
    ours = layer_norm(shape, elementwise_affine=affine, bias=bias) if affine else \
        LayerNorm(shape, elementwise_affine=False, dtype="float64")
    twin = torch.nn.LayerNorm(shape, elementwise_affine=affine, bias=bias, dtype=torch.float64)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x, r = 3 + 2 * rng(5).standard_normal((3, 4, 5)), rng(6).standard_normal((3, 4, 5))
    out, dx = ours.forward(x), ours.backward(r)
    t_out, t_dx, t_grads = torch_grads(torch, twin, x, r)
    names = sorted(t_grads)
    assert names == sorted(ours.grad_dict())
    err = worst_vs_torch([out, dx] + [ours.grad_dict()[k] for k in names],
                         [t_out, t_dx] + [t_grads[k] for k in names])
    print(f"layernorm {shape} affine={affine} bias={bias} vs torch: {err:.2e}")
    assert err <= TORCH_TOL
    assert ours.num_parameters() == sum(p.numel() for p in twin.parameters())


def test_torch_layer_norm_weights_load_into_rnnlab(torch):
    twin = torch.nn.LayerNorm(5, dtype=torch.float64)
    with torch.no_grad():
        for p in twin.parameters():
            p.copy_(torch.randn(p.shape, dtype=torch.float64))
    ours = LayerNorm(5, dtype="float64")
    ours.load_state_dict(twin.state_dict())
    x = rng(8).standard_normal((2, 3, 5))
    assert relative_error(ours.forward(x), twin(torch.tensor(x)).detach().numpy()) <= TORCH_TOL


@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_embedding_agrees_with_torch(torch, padding_idx):
    ours = Embedding(9, 4, padding_idx=padding_idx, dtype="float64", seed=0)
    twin = torch.nn.Embedding(9, 4, padding_idx=padding_idx, dtype=torch.float64)
    assert twin.padding_idx == ours.padding_idx
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = np.array([[0, 3, 3, 8], [8, 8, 1, 0], [2, 3, 0, 0]])
    r = rng(9).standard_normal((3, 4, 4))
    out = ours.forward(x)
    ours.backward(r)
    t_out, _, t_grads = torch_grads(torch, twin, x, r, x_grad=False)
    err = worst_vs_torch([out, ours.grad_dict()["weight"]], [t_out, t_grads["weight"]])
    print(f"embedding padding_idx={padding_idx} vs torch: {err:.2e}")
    assert err <= TORCH_TOL
    ours.load_state_dict(twin.state_dict())  # and back


def test_embedding_initialization_is_pytorchs():
    emb = Embedding(400, 50, padding_idx=3, seed=0)
    weight = emb.parameters()["weight"]
    assert not weight[3].any()
    assert abs(weight.mean()) < 0.02 and abs(weight.std() - 1) < 0.02  # N(0, 1)
    assert weight.dtype == np.float32 and emb.num_parameters() == 400 * 50
    np.testing.assert_array_equal(weight, Embedding(400, 50, padding_idx=3, seed=0).parameters()
                                  ["weight"])


@pytest.mark.parametrize("ours_cls,name", [(Tanh, "Tanh"), (Sigmoid, "Sigmoid"), (ReLU, "ReLU")])
def test_activations_agree_with_torch(torch, ours_cls, name):
    ours, twin = ours_cls(), getattr(torch.nn, name)()
    x, r = away_from_zero((3, 4, 5), seed=10), rng(11).standard_normal((3, 4, 5))
    out, dx = ours.forward(x), ours.backward(r)
    t_out, t_dx, _ = torch_grads(torch, twin, x, r)
    err = worst_vs_torch([out, dx], [t_out, t_dx])
    print(f"{name} vs torch: {err:.2e}")
    assert err <= TORCH_TOL


def test_dropout_p0_and_eval_mode_are_the_identity(torch):
    x, r = rng(12).standard_normal((3, 4, 5)), rng(13).standard_normal((3, 4, 5))
    t_out, t_dx, _ = torch_grads(torch, torch.nn.Dropout(0.0), x, r)
    for layer in (Dropout(0.0, seed=0), Dropout(0.7, seed=0).eval()):
        out, dx = layer.forward(x), layer.backward(r)
        np.testing.assert_array_equal(out, x)
        np.testing.assert_array_equal(dx, r)
        np.testing.assert_array_equal(out, t_out)
        np.testing.assert_array_equal(dx, t_dx)


# -- dropout in train mode ------------------------------------------------------------------
def test_dropout_scales_the_kept_elements_and_preserves_the_mean():
    layer = Dropout(0.3, seed=0)
    x = np.ones((200, 1000))
    y = layer.forward(x)
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-15)
    assert abs(kept.mean() - 0.7) < 0.005  # 4.6 standard deviations of the mean
    assert abs(y.mean() - 1) < 0.01
    dx = layer.backward(np.full_like(x, 2.0))
    np.testing.assert_array_equal(dx, 2 * y)  # the forward's mask, scaled alike


def test_dropout_is_seeded_and_draws_a_new_mask_each_forward():
    x = np.ones((4, 50))
    a, b = Dropout(0.5, seed=3), Dropout(0.5, seed=3)
    first = a.forward(x)
    np.testing.assert_array_equal(first, b.forward(x))
    assert not np.array_equal(first, a.forward(x))
    assert not np.array_equal(first, Dropout(0.5, seed=4).forward(x))


def test_dropout_with_a_given_mask():
    x = rng(14).standard_normal((2, 3))
    mask = np.array([[1, 0, 1], [0, 0, 1]])
    np.testing.assert_allclose(Dropout(0.25).forward(x, mask=mask), x * mask / 0.75,
                               rtol=1e-15)
    layer = Dropout(0.25, dtype="float32")
    assert layer.forward(x, mask=mask.astype(bool)).dtype == np.float32


# -- bad input ------------------------------------------------------------------------------
BAD = [
    (lambda: Dropout(-0.1), ValueError, "p must lie in"),
    (lambda: Dropout(1.0), ValueError, "p must lie in"),
    (lambda: Dropout(float("nan")), ValueError, "p must be a finite number"),
    (lambda: Dropout("0.5"), TypeError, "p must be"),
    (lambda: Dropout(0.5, seed=-1), ValueError, "seed"),
    (lambda: Dropout(0.5).forward(np.ones(3, dtype=int)), TypeError, "x must be a float"),
    (lambda: Dropout(0.5).forward(np.ones(3), mask=np.ones(4)), ValueError, "mask must have"),
    (lambda: Dropout(0.5).forward(np.ones(3), mask=np.full(3, 2)), ValueError, "mask must hold"),
    (lambda: Dropout(0.5).forward(np.ones(3), mask=np.array(["a"] * 3)), TypeError, "mask"),
    (lambda: Dropout(0.5).eval().forward(np.ones(3), mask=np.ones(3)), ValueError,
     "mask must be None"),
    (lambda: Embedding(0, 3), ValueError, "num_embeddings"),
    (lambda: Embedding(5, 2.0), TypeError, "embedding_dim"),
    (lambda: Embedding(5, 2, padding_idx=5), ValueError, "padding_idx must lie in"),
    (lambda: Embedding(5, 2, padding_idx=-6), ValueError, "padding_idx must lie in"),
    (lambda: Embedding(5, 2, padding_idx=1.0), TypeError, "padding_idx"),
    (lambda: Embedding(5, 2, dtype="int32"), TypeError, "dtype"),
    (lambda: Embedding(5, 2).forward(np.array([[0, 5]])), ValueError, "x must hold indices"),
    (lambda: Embedding(5, 2).forward(np.array([[-1, 2]])), ValueError, "x must hold indices"),
    (lambda: Embedding(5, 2).forward(np.array([[0.0, 1.0]])), TypeError, "x must be an integer"),
    (lambda: Embedding(5, 2).forward(np.array([True])), TypeError, "x must be an integer"),
    (lambda: Embedding(5, 2).forward(["a"]), TypeError, "x must be an integer"),
    (lambda: LayerNorm(0), ValueError, "normalized_shape"),
    (lambda: LayerNorm(2.5), TypeError, "normalized_shape"),
    (lambda: LayerNorm(()), ValueError, "normalized_shape"),
    (lambda: LayerNorm((3, -1)), ValueError, "normalized_shape"),
    (lambda: LayerNorm(4, eps=0), ValueError, "eps"),
    (lambda: LayerNorm(4, elementwise_affine=1), TypeError, "elementwise_affine"),
    (lambda: LayerNorm(4).forward(np.ones((2, 5))), ValueError, "x must end in normalized_shape"),
    (lambda: LayerNorm((2, 4)).forward(np.ones(4)), ValueError, "x must end in normalized_shape"),
    (lambda: LayerNorm(4).forward(np.ones((2, 4), dtype=int)), TypeError, "x must be a float"),
    (lambda: Tanh().forward(np.arange(3)), TypeError, "x must be a float"),
    (lambda: ReLU().forward(np.array([np.nan])), ValueError, "x must be finite"),
    (lambda: Sequential(Dropout(0.5)).train("yes"), TypeError, "mode must be a bool"),
]


@pytest.mark.parametrize("call,error,message", BAD, ids=[m for _, _, m in BAD])
def test_bad_input_is_refused_naming_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("layer,x", [
    (Embedding(5, 2), np.array([[0, 1]])), (LayerNorm(2), np.ones((3, 2))),
    (Dropout(0.5), np.ones((3, 2))), (Sigmoid(), np.ones((3, 2)))])
def test_a_wrongly_shaped_d_output_is_refused(layer, x):
    layer.forward(x)
    with pytest.raises(ValueError, match="d_output must have shape"):
        layer.backward(np.ones((7, 7)))


def test_sequential_with_an_embedding_checks_token_ids_against_lengths():
    model = Sequential(Embedding(5, 3), LSTM(3, 2), LastStep())
    with pytest.raises(TypeError, match="x must be an integer array of indices"):
        model.forward(np.ones((2, 4)), lengths=[4, 2])
    with pytest.raises(ValueError, match=r"x must have 2 dimensions \(B, T\)"):
        model.forward(np.ones((2, 4, 3), dtype=int), lengths=[4, 2])
    with pytest.raises(ValueError, match="lengths must lie in"):
        model.forward(np.ones((2, 4), dtype=int), lengths=[5, 2])
    with pytest.raises(TypeError, match=r"x must be a float array .* \(B, T, F\) when lengths"):
        Sequential(LSTM(3, 2)).forward(np.ones((2, 4, 3), dtype=int), lengths=[4, 2])


# -- train and evaluation modes -------------------------------------------------------------
def test_train_and_eval_reach_every_module_and_return_it():
    inner = Sequential(LSTM(3, 4), Dropout(0.5))
    model = Sequential(inner, LastStep(), LayerNorm(4), Tanh())
    modules = [inner, *inner.modules, *model.modules]
    assert all(m.training for m in modules)
    assert model.eval() is model and not any(m.training for m in modules)
    assert model.train() is model and all(m.training for m in modules)
    assert model.train(False) is model and not any(m.training for m in modules)
    restored = pickle.loads(pickle.dumps(model))
    assert not restored.training and not restored[0][1].training


def test_a_module_pickled_before_modes_existed_loads_in_train_mode():
    layer = Dropout(0.5)
    state = layer.__getstate__()
    del state["training"]
    old = Dropout.__new__(Dropout)
    old.__setstate__(state)
    assert old.training


def test_eval_mode_turns_dropout_off_inside_a_model():
    model = Sequential(Linear(3, 8, dtype="float64", seed=0), Dropout(0.5, seed=1), Tanh())
    x = rng(15).standard_normal((4, 3))
    model.eval()
    np.testing.assert_array_equal(model.forward(x), model.forward(x))
    model.train()
    assert not np.array_equal(model.forward(x), model.forward(x))


def dropout_model(spy):
    return Sequential(spy, LSTM(2, 6, dtype="float64", seed=0), LastStep(),
                      Dropout(0.5, seed=1), Linear(6, 1, dtype="float64", seed=2))


def test_the_trainer_trains_in_train_mode_and_evaluates_in_eval_mode():
    x, y = rng(16).standard_normal((12, 5, 2)), rng(17).standard_normal((12, 1))
    data = SequenceData(x, y, np.full(12, 5))
    spy = ModeSpy()
    model = dropout_model(spy)
    trainer = Trainer(model, mse_loss, SGD(model, lr=0.01), TrainConfig(epochs=2, batch_size=4))
    trainer.fit(data, val=data)
    assert spy.seen == [True] * 3 + [False] * 3 + [True] * 3 + [False] * 3
    assert model.training  # put back after each validation
    first = trainer.evaluate(data)["loss"]
    assert trainer.evaluate(data)["loss"] == first  # no dropout: deterministic
    model.eval()
    trainer.evaluate(data)
    assert not model.training  # evaluate restores the mode it found
    Trainer(model, mse_loss, SGD(model, lr=0.01), TrainConfig(epochs=1, batch_size=4)).fit(data)
    assert spy.seen[-3:] == [True] * 3  # trained in train mode,
    assert not model.training  # then put back in evaluation mode


def test_estimators_predict_in_eval_mode():
    X, y = rng(18).standard_normal((10, 4, 2)), np.array([0, 1] * 5)
    clf = RNNClassifier(hidden_size=3, epochs=1, random_state=0).fit(X, y)
    spy = ModeSpy()
    clf.model_ = Sequential(spy, *clf.model_.modules)
    clf.predict(X)
    clf.predict_proba(X)
    clf.score(X, y)
    assert spy.seen and not any(spy.seen)
    assert clf.model_.training  # the mode it had


def test_gradcheck_runs_a_model_with_dropout_in_evaluation_mode():
    """Fresh dropout masks at every forward would make finite differences meaningless: the
    check runs the model in evaluation mode and gives it back in the mode it had."""
    from rnnlab.gradcheck import check_gradients

    model = Sequential(LSTM(2, 3, dtype="float64", seed=0), Dropout(0.5, seed=1), LastStep(),
                       Linear(3, 2, dtype="float64", seed=2))
    x = np.random.default_rng(3).standard_normal((2, 4, 2))
    checks = check_gradients(model, x, lengths=np.array([4, 2]))
    assert max(c.relative_error for c in checks) <= 1e-6
    assert model.training
