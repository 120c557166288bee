"""Optimizers, schedules and clipping agree with torch.optim / torch.nn.utils in float64.

The same random gradients are fed to both for several steps; the weights (and the clipped
gradients and norms) must agree to 1e-12 relative.
"""

import math

import numpy as np
import pytest

from helpers import rel_err
from rnnlab import optim

SHAPES = {"w": (4, 3), "b": (4,)}
STEPS = 6

CASES = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd", dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.01)),
    ("sgd", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("adamw", dict(lr=0.01)),
    ("adamw", dict(lr=0.02, weight_decay=0.3, betas=(0.5, 0.9))),
    ("rmsprop", dict(lr=0.01)),
    ("rmsprop", dict(lr=0.01, alpha=0.9, momentum=0.5, weight_decay=0.05)),
    ("rmsprop", dict(lr=0.01, centered=True, momentum=0.3)),
]
TORCH_NAMES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop"}


def setup(seed=0):
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    grads = {k: np.zeros(s) for k, s in SHAPES.items()}
    feed = [{k: rng.standard_normal(s) for k, s in SHAPES.items()} for _ in range(STEPS)]
    return params, grads, feed


def torch_params(torch, params):
    return {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}


@pytest.mark.parametrize("name,kwargs", CASES)
def test_update_rules_agree_with_torch_optim(torch, name, kwargs):
    params, grads, feed = setup()
    theirs = torch_params(torch, params)
    ours = optim.OPTIMIZERS[name]((params, grads), **kwargs)
    reference = getattr(torch.optim, TORCH_NAMES[name])(list(theirs.values()), **kwargs)
    for step_grads in feed:
        for k, g in step_grads.items():
            grads[k][...] = g
            theirs[k].grad = torch.tensor(g)
        ours.step()
        reference.step()
        for k in params:
            assert rel_err(params[k], theirs[k].detach()) <= 1e-12, (name, k)


@pytest.mark.parametrize("name,kwargs", CASES[1::2])
def test_state_dict_resumes_exactly(name, kwargs):
    params, grads, feed = setup(1)
    ours = optim.OPTIMIZERS[name]((params, grads), **kwargs)
    for step_grads in feed[:3]:
        for k, g in step_grads.items():
            grads[k][...] = g
        ours.step()
    saved_params = {k: v.copy() for k, v in params.items()}
    saved = ours.state_dict()
    for step_grads in feed[3:]:
        for k, g in step_grads.items():
            grads[k][...] = g
        ours.step()
    straight = {k: v.copy() for k, v in params.items()}

    for k in params:
        params[k][...] = saved_params[k]
    resumed = optim.OPTIMIZERS[name]((params, grads), **kwargs)
    resumed.load_state_dict(saved)
    for step_grads in feed[3:]:
        for k, g in step_grads.items():
            grads[k][...] = g
        resumed.step()
    for k in params:
        assert np.array_equal(params[k], straight[k])


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_agrees_with_torch(torch, norm_type, max_norm):
    _, _, feed = setup(2)
    ours = {k: 3 * v for k, v in feed[0].items()}
    theirs = torch_params(torch, ours)
    for k, t in theirs.items():
        t.grad = torch.tensor(ours[k])
    norm = optim.clip_grad_norm_(ours, max_norm, norm_type)
    t_norm = torch.nn.utils.clip_grad_norm_(list(theirs.values()), max_norm, norm_type)
    assert norm == pytest.approx(float(t_norm), rel=1e-12)
    for k in ours:
        assert rel_err(ours[k], theirs[k].grad) <= 1e-12


def test_clip_grad_norm_returns_the_norm_before_clipping_and_can_raise():
    grads = [np.array([3.0, 4.0])]
    assert optim.clip_grad_norm_(grads, 1.0) == 5.0
    assert np.linalg.norm(grads[0]) == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(FloatingPointError, match="not finite"):
        optim.clip_grad_norm_([np.array([np.nan, 1.0])], 1.0, error_if_nonfinite=True)


def test_a_float32_gradient_norm_does_not_overflow():
    # ||g|| = 4e19 overflows float32 (max 3.4e38 for the square sum: (4e19)^2 = 1.6e39)
    grads = [np.full(4, 2e19, dtype=np.float32)]
    norm = optim.clip_grad_norm_(grads, 1.0)
    assert math.isfinite(norm) and norm == pytest.approx(4e19, rel=1e-6)
    assert np.linalg.norm(grads[0].astype(np.float64)) == pytest.approx(1.0, rel=1e-5)


def test_centered_rmsprop_never_takes_the_root_of_a_negative_variance():
    # The same gradient every step: the variance s - c^2 = a^t (1 - a^t) g^2 falls to 0, and
    # rounding leaves it slightly negative for some entries (258 of 1000 here after 30 steps
    # with alpha = 0.1); the square root of that was NaN.
    params = {"w": np.zeros(1000)}
    grads = {"w": np.zeros(1000)}
    opt = optim.RMSprop((params, grads), lr=0.01, alpha=0.1, centered=True, eps=1e-12)
    g = np.random.default_rng(0).uniform(0.1, 10.0, 1000)
    for _ in range(30):
        grads["w"][:] = g
        with np.errstate(invalid="raise"):
            opt.step()
    assert np.isfinite(params["w"]).all()


def test_clip_grad_value_agrees_with_torch(torch):
    _, _, feed = setup(3)
    ours = {k: v.copy() for k, v in feed[0].items()}
    theirs = torch_params(torch, ours)
    for k, t in theirs.items():
        t.grad = torch.tensor(ours[k])
    optim.clip_grad_value_(ours, 0.5)
    torch.nn.utils.clip_grad_value_(list(theirs.values()), 0.5)
    for k in ours:
        assert np.array_equal(ours[k], theirs[k].grad.numpy())
    assert max(np.abs(g).max() for g in ours.values()) == 0.5


def lrs(schedule, epochs):
    out = [schedule.optimizer.lr]
    for _ in range(epochs):
        schedule.step()
        out.append(schedule.optimizer.lr)
    return out


def torch_lrs(torch, make, epochs, lr=0.1):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sched = make(opt)
    out = [opt.param_groups[0]["lr"]]
    for _ in range(epochs):
        opt.step()
        sched.step()
        out.append(opt.param_groups[0]["lr"])
    return out


def test_schedules_agree_with_torch(torch):
    def sgd():
        params, grads, _ = setup()
        return optim.SGD((params, grads), lr=0.1)

    sched = torch.optim.lr_scheduler
    assert np.allclose(lrs(optim.StepLR(sgd(), 3, 0.5), 10),
                       torch_lrs(torch, lambda o: sched.StepLR(o, 3, 0.5), 10), rtol=1e-12)
    assert np.allclose(lrs(optim.CosineLR(sgd(), 8, 0.001), 8),
                       torch_lrs(torch, lambda o: sched.CosineAnnealingLR(o, 8, 0.001), 8),
                       rtol=1e-12)
    assert np.allclose(lrs(optim.WarmupLR(sgd(), 4, 0.25), 7),
                       torch_lrs(torch, lambda o: sched.LinearLR(o, 0.25, 1.0, 4), 7), rtol=1e-12)


def test_warmup_then_cosine_and_resume():
    params, grads, _ = setup()
    opt = optim.SGD((params, grads), lr=1.0)
    cosine = optim.CosineLR(opt, total=4)
    schedule = optim.WarmupLR(opt, warmup=2, start_factor=0.5, after=cosine)
    values = lrs(schedule, 6)
    assert values[:3] == [0.5, 0.75, 1.0]
    assert values[3] == pytest.approx((1 + math.cos(math.pi / 4)) / 2)
    assert values[6] == pytest.approx(0.0, abs=1e-15)
    opt2 = optim.SGD((params, grads), lr=1.0)
    again = optim.WarmupLR(opt2, warmup=2, start_factor=0.5, after=cosine)
    again.load_state_dict({"epoch": 3, "base_lr": 1.0})
    assert opt2.lr == values[3]


@pytest.mark.parametrize("make,match", [
    (lambda m: optim.SGD(m, lr=-1), "lr"),
    (lambda m: optim.SGD(m, lr=0.1, momentum=1.5), "momentum"),
    (lambda m: optim.SGD(m, lr=0.1, nesterov=True), "nesterov"),
    (lambda m: optim.Adam(m, betas=(0.9, 1.0)), r"betas\[1\]"),
    (lambda m: optim.RMSprop(m, alpha="x"), "alpha"),
    (lambda m: optim.SGD(m, lr=0.1, weight_decay=float("nan")), "weight_decay"),
    (lambda m: optim.SGD(object(), lr=0.1), "model"),
])
def test_bad_hyperparameters_are_refused(make, match):
    params, grads, _ = setup()
    with pytest.raises((ValueError, TypeError), match=match):
        make((params, grads))


def test_optimizer_updates_a_model_in_place():
    import rnnlab

    model = rnnlab.Sequential(rnnlab.GRU(2, 3, dtype="float64", seed=0),
                              rnnlab.LastStep(), rnnlab.Linear(3, 1, dtype="float64", seed=1))
    before = model.state_dict()
    opt = optim.SGD(model, lr=0.5)
    x = np.random.default_rng(4).standard_normal((5, 4, 2))
    opt.zero_grad()
    loss, d = rnnlab.mse_loss(model(x), np.zeros((5, 1)))
    model.backward(d)
    grads = model.grad_dict()
    opt.step()
    for k, v in model.state_dict().items():
        assert np.array_equal(v, before[k] - 0.5 * grads[k])
    new_loss, _ = rnnlab.mse_loss(model(x), np.zeros((5, 1)))
    assert new_loss < loss
