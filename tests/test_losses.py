"""Losses: values and gradients against torch.nn.functional and central differences.

Each loss returns (loss, dL/d prediction). In float64 the loss and the gradient agree with
PyTorch's autograd within 1e-12 relative, and the gradient with central differences within
1e-6. A mask covers the leading dimensions; the reference for a masked case is PyTorch applied
to the selected elements only (boolean indexing), so a mean is over the valid elements.
"""

import numpy as np
import pytest

from helpers import numerical_grad, rel_err
from rnnlab import bce_with_logits, cross_entropy, mse_loss

LOSSES = {"mse": mse_loss, "bce": bce_with_logits, "ce": cross_entropy}
SHAPES = [(6,), (6, 3), (4, 5, 3)]  # for "ce" the last axis holds the C classes
REDUCTIONS = ["mean", "sum"]
GRID = [(name, shape, reduction) for name in LOSSES for shape in SHAPES for reduction in REDUCTIONS]


def make_case(name, shape, masked=False, dtype=np.float64, seed=0):
    """Random (prediction, target, mask) for loss ``name``; the prediction has ``shape``.

    The mask, over the leading dimensions (all of the target's for "ce"), has at least one
    element that counts and, where it has more than one, at least one that does not.
    """
    rng = np.random.default_rng(seed)
    z = (2.0 * rng.standard_normal(shape)).astype(dtype)
    if name == "mse":
        y = rng.standard_normal(shape).astype(dtype)
    elif name == "bce":
        y = rng.uniform(0.0, 1.0, shape).astype(dtype)
        y.flat[:2] = (0.0, 1.0)  # hard labels as well as soft ones
    else:
        y = rng.integers(0, shape[-1], size=shape[:-1])
    if not masked:
        return z, y, None
    mask_shape = y.shape if name == "ce" else shape[:max(1, len(shape) - 1)]
    mask = np.asarray(rng.random(mask_shape) < 0.6)
    mask.flat[0] = True
    if mask.size > 1:
        mask.flat[-1] = False
    return z, y, mask


def torch_reference(torch, name, z, y, mask, reduction):
    """PyTorch's loss and gradient on the elements ``mask`` selects; zero gradient elsewhere."""
    if mask is not None:
        z, y = z[mask], y[mask]
    F = torch.nn.functional
    zt = torch.tensor(z, requires_grad=True)
    yt = torch.tensor(y)
    if name == "mse":
        loss = F.mse_loss(zt, yt, reduction=reduction)
    elif name == "bce":
        loss = F.binary_cross_entropy_with_logits(zt, yt, reduction=reduction)
    else:
        classes = z.shape[-1]
        loss = F.cross_entropy(zt.reshape(-1, classes), yt.reshape(-1), reduction=reduction)
    loss.backward()
    return loss.item(), zt.grad.numpy()


# -- tier 2: agreement with PyTorch ------------------------------------------------------------
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("name, shape, reduction", GRID)
def test_agrees_with_torch(torch, name, shape, reduction, masked):
    z, y, mask = make_case(name, shape, masked)
    loss, grad = LOSSES[name](z, y, mask=mask, reduction=reduction)
    expected_loss, selected_grad = torch_reference(torch, name, z, y, mask, reduction)
    expected_grad = np.zeros_like(z)
    if mask is None:
        expected_grad[...] = selected_grad
    else:
        expected_grad[mask] = selected_grad
    assert isinstance(loss, float)
    assert grad.shape == z.shape and grad.dtype == np.float64
    assert rel_err(loss, expected_loss) <= 1e-12
    assert rel_err(grad, expected_grad) <= 1e-12


def test_mask_over_fewer_dims_than_the_target(torch):
    """A (B,) mask over (B, T, K) drops whole sequences; the mean is over B_valid * T * K."""
    z, y, _ = make_case("mse", (4, 5, 3))
    mask = np.array([True, False, True, False])
    for reduction in REDUCTIONS:
        loss, grad = mse_loss(z, y, mask=mask, reduction=reduction)
        expected_loss, selected_grad = torch_reference(torch, "mse", z, y, mask, reduction)
        assert rel_err(loss, expected_loss) <= 1e-12
        assert rel_err(grad[mask], selected_grad) <= 1e-12
        assert not grad[~mask].any()


@pytest.mark.parametrize("name", LOSSES)
def test_numeric_mask_equals_boolean_mask(name):
    z, y, mask = make_case(name, (4, 5, 3), masked=True)
    expected = LOSSES[name](z, y, mask=mask)
    for numeric in (mask.astype(np.int64), mask.astype(np.float64)):
        loss, grad = LOSSES[name](z, y, mask=numeric)
        assert loss == expected[0]
        np.testing.assert_array_equal(grad, expected[1])


# -- tier 1: central finite differences ------------------------------------------------------
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("name, shape, reduction", GRID)
def test_gradient_matches_finite_differences(name, shape, reduction, masked):
    z, y, mask = make_case(name, shape, masked, seed=1)
    _, grad = LOSSES[name](z, y, mask=mask, reduction=reduction)
    numeric = numerical_grad(lambda v: LOSSES[name](v, y, mask=mask, reduction=reduction)[0], z)
    assert rel_err(grad, numeric) <= 1e-6


# -- the forms and the edges -----------------------------------------------------------------
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_half_is_half_the_loss_with_gradient_y_hat_minus_y(reduction, masked):
    z, y, mask = make_case("mse", (4, 5, 3), masked)
    loss, grad = mse_loss(z, y, mask=mask, reduction=reduction)
    half_loss, half_grad = mse_loss(z, y, mask=mask, reduction=reduction, half=True)
    weight = np.ones(z.shape[:2]) if mask is None else mask.astype(np.float64)  # (B, T)
    if reduction == "mean":
        weight = weight / (weight.sum() * z.shape[-1])
    assert half_loss == 0.5 * loss
    np.testing.assert_allclose(half_grad, weight[..., None] * (z - y), rtol=1e-15, atol=0)
    np.testing.assert_allclose(half_grad, 0.5 * grad, rtol=1e-15, atol=0)
    assert half_loss == pytest.approx(0.5 * np.sum(weight[..., None] * (z - y) ** 2), rel=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_is_stable_for_huge_logits(dtype):
    z = np.array([1000.0, -1000.0, 1000.0, -1000.0, 0.0, 800.0], dtype=dtype)
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.25], dtype=dtype)
    loss, grad = bce_with_logits(z, y, reduction="sum")
    # per element: max(z, 0) - z y + log(1 + exp(-|z|))
    assert loss == pytest.approx(1000.0 + 1000.0 + 0.0 + 0.0 + np.log(2.0) + 600.0, rel=1e-7)
    np.testing.assert_allclose(grad, [1.0, -1.0, 0.0, 0.0, 0.0, 0.75], rtol=0, atol=1e-7)
    assert grad.dtype == dtype
    single, _ = bce_with_logits(np.array([1000.0]), np.array([0.0]))
    assert single == 1000.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_is_stable_for_huge_logits(dtype):
    z = np.array([[1000.0, 0.0, -1000.0], [1e4, 1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype)
    y = np.array([1, 2, 0])
    loss, grad = cross_entropy(z, y, reduction="sum")
    assert np.isfinite(loss) and np.isfinite(grad).all()
    assert loss == pytest.approx(1000.0 + (1e4 + np.log(2.0)) + np.log(3.0), rel=1e-7)
    expected = [[1.0, -1.0, 0.0], [0.5, 0.5, -1.0], [-2 / 3, 1 / 3, 1 / 3]]
    np.testing.assert_allclose(grad, expected, rtol=0, atol=1e-6)
    # softmax is shift-invariant: a huge common offset changes nothing
    shifted, shifted_grad = cross_entropy(z[2:] + 5e3, y[2:], reduction="sum")
    assert shifted == pytest.approx(np.log(3.0), rel=1e-6)
    np.testing.assert_allclose(shifted_grad, grad[2:], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", LOSSES)
def test_masked_positions_get_zero_gradient_and_never_change_the_loss(name):
    z, y, mask = make_case(name, (4, 5, 3), masked=True)
    loss, grad = LOSSES[name](z, y, mask=mask)
    assert not grad[~mask].any()
    assert np.abs(grad[mask]).max() > 0
    garbage = z.copy()
    garbage[~mask] = 1e6 * np.sign(garbage[~mask])  # padding holds anything
    garbage_loss, garbage_grad = LOSSES[name](garbage, y, mask=mask)
    assert garbage_loss == pytest.approx(loss, rel=1e-14)
    np.testing.assert_array_equal(garbage_grad[~mask], 0.0)
    np.testing.assert_allclose(garbage_grad[mask], grad[mask], rtol=1e-14)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("name", LOSSES)
def test_float32_keeps_float32_gradients(name, masked):
    z, y, mask = make_case(name, (4, 5, 3), masked)
    loss64, grad64 = LOSSES[name](z, y, mask=mask)
    y32 = y if name == "ce" else y.astype(np.float32)
    loss32, grad32 = LOSSES[name](z.astype(np.float32), y32, mask=mask)
    assert grad32.dtype == np.float32
    assert isinstance(loss32, float)
    assert rel_err(loss32, loss64) <= 1e-5
    assert rel_err(grad32, grad64) <= 1e-5


@pytest.mark.parametrize("name", LOSSES)
def test_empty_mask_with_sum_gives_zero(name):
    z, y, mask = make_case(name, (4, 5, 3), masked=True)
    loss, grad = LOSSES[name](z, y, mask=np.zeros_like(mask), reduction="sum")
    assert loss == 0.0
    assert not grad.any()


# -- bad input -------------------------------------------------------------------------------
Z = np.zeros((3, 2))
CLASSES = np.zeros(3, dtype=int)  # class-0 targets for the (3, 2) logits Z
BAD = {
    # case id: (loss, arguments, exception, the argument its message names)
    "mse-target-shape": ("mse", dict(prediction=Z, target=np.zeros((3, 3))), ValueError, "target"),
    "mse-target-ndim": ("mse", dict(prediction=Z, target=np.zeros(3)), ValueError, "target"),
    "bce-target-shape": ("bce", dict(logits=Z, target=np.zeros((2, 3))), ValueError, "target"),
    "ce-target-shape": ("ce", dict(logits=Z, target=np.zeros(2, dtype=int)), ValueError, "target"),
    "ce-target-with-class-axis": ("ce", dict(logits=Z, target=np.zeros((3, 2), dtype=int)),
                                  ValueError, "target"),
    "ce-target-too-big": ("ce", dict(logits=Z, target=np.array([0, 2, 1])), ValueError, "target"),
    "ce-target-negative": ("ce", dict(logits=Z, target=np.array([0, -1, 1])), ValueError,
                           "target"),
    "ce-target-float": ("ce", dict(logits=Z, target=np.array([0.0, 1.0, 1.0])), TypeError,
                        "target"),
    "ce-target-bool": ("ce", dict(logits=Z, target=np.array([True, False, True])), TypeError,
                       "target"),
    "bce-target-above-1": ("bce", dict(logits=Z, target=np.full((3, 2), 1.5)), ValueError,
                           "target"),
    "bce-target-below-0": ("bce", dict(logits=Z, target=np.full((3, 2), -0.1)), ValueError,
                           "target"),
    "mse-reduction": ("mse", dict(prediction=Z, target=Z, reduction="avg"), ValueError,
                      "reduction"),
    "bce-reduction": ("bce", dict(logits=Z, target=Z, reduction="none"), ValueError, "reduction"),
    "ce-reduction": ("ce", dict(logits=Z, target=CLASSES, reduction="Mean"), ValueError,
                     "reduction"),
    "mse-mask-shape": ("mse", dict(prediction=Z, target=Z, mask=np.ones(2, bool)), ValueError,
                       "mask"),
    "bce-mask-too-many-dims": ("bce", dict(logits=Z, target=Z, mask=np.ones((3, 2, 1), bool)),
                               ValueError, "mask"),
    "ce-mask-over-classes": ("ce", dict(logits=Z, target=CLASSES, mask=np.ones((3, 2), bool)),
                             ValueError, "mask"),
    "ce-mask-strings": ("ce", dict(logits=Z, target=CLASSES, mask=np.array(["a", "b", "c"])),
                        TypeError, "mask"),
    "mse-mask-empty-mean": ("mse", dict(prediction=Z, target=Z, mask=np.zeros(3, bool)),
                            ValueError, "mask"),
    "bce-mask-empty-mean": ("bce", dict(logits=Z, target=Z, mask=np.zeros((3, 2))), ValueError,
                            "mask"),
    "ce-mask-empty-mean": ("ce", dict(logits=Z, target=CLASSES, mask=np.zeros(3, int)),
                           ValueError, "mask"),
    # the documented mask is bool or 0/1; anything else would silently reweight elements
    "mse-mask-not-0-1": ("mse", dict(prediction=Z, target=Z, mask=np.array([2, 0, 1])),
                         ValueError, "mask"),
    "bce-mask-fraction": ("bce", dict(logits=Z, target=Z, mask=np.array([1.0, 0.5, 1.0])),
                          ValueError, "mask"),
    "ce-mask-nan": ("ce", dict(logits=Z, target=CLASSES, mask=np.array([1.0, np.nan, 0.0])),
                    ValueError, "mask"),
    "mse-prediction-nan": ("mse", dict(prediction=np.array([[0.0, np.nan]] * 3), target=Z),
                           ValueError, "prediction"),
    "mse-target-inf": ("mse", dict(prediction=Z, target=np.array([[np.inf, 0.0]] * 3)),
                       ValueError, "target"),
    "bce-logits-nan": ("bce", dict(logits=np.array([[np.nan, 0.0]] * 3), target=Z), ValueError,
                       "logits"),
    "ce-logits-nan": ("ce", dict(logits=np.array([[0.0, np.nan]] * 3), target=CLASSES),
                      ValueError, "logits"),
    "mse-prediction-int": ("mse", dict(prediction=np.zeros((3, 2), dtype=int), target=Z),
                           TypeError, "prediction"),
    # no element at all: a mean over nothing, like a mask that selects nothing
    "mse-empty-mean": ("mse", dict(prediction=np.zeros((0, 2)), target=np.zeros((0, 2))),
                       ValueError, "prediction"),
    "bce-empty-mean": ("bce", dict(logits=np.zeros(0), target=np.zeros(0)), ValueError, "logits"),
    "ce-empty-mean": ("ce", dict(logits=np.zeros((0, 2)), target=np.zeros(0, dtype=int)),
                      ValueError, "logits"),
}


@pytest.mark.parametrize("name, kwargs, error, argument", list(BAD.values()), ids=list(BAD))
def test_bad_input_raises_naming_the_argument(name, kwargs, error, argument):
    with pytest.raises(error, match=rf"^{argument}\b(?!_)"):
        LOSSES[name](**kwargs)
