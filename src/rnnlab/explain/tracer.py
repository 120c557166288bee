"""The worked-example tracer: one BPTT step of a scalar RNN, every number kept.

A tutorial on BPTT ("Backpropagation in RNNs - A Deep Dive") works one step of
Backpropagation Through Time by hand for an RNN with one input, one hidden unit and one
output, no biases. :func:`trace` does the same for any weights, any
short sequence and any of tanh, sigmoid and relu. The numbers come from the specification,
``rnnlab.reference.rnn`` (the plain NumPy forward loop and reversed BPTT loop); the tracer
keeps every intermediate value and every chain-rule factor of that pass, and checks its sums
against the library's fast layers (``rnnlab.RNN`` + ``rnnlab.Linear`` +
``rnnlab.mse_loss``). :mod:`rnnlab.explain.text` prints
it step by step, as the tutorial does, or gives it as plain data.

Shapes: T steps; every other quantity is a scalar.

Notes
-----
Forward, for t = 1..T:

    (1) a_t = W_x x_t + W_h h_{t-1}
    (2) h_t = f(a_t)
    (3) y_pred_t = W_y h_t
    (4) L = sum_t 1/2 (y_t - y_pred_t)^2      (many-to-many: a target at every step)
        L = 1/2 (y - y_pred_T)^2              (many-to-one: one target, at the last step)

Backward, for t = T..1, carrying dh_next = dL/dh_{t+1} from the future (0 at t = T):

    (4) dL/dy_pred_t = y_pred_t - y_t         (0 at a step without a target)
    (3) dL/dh_t = dL/dy_pred_t W_y + dh_next  (from the output, and from the future)
    (2) dL/da_t = dL/dh_t f'(a_t)             f' from the output: tanh' = 1 - h_t^2,
                                              sigmoid' = h_t (1 - h_t), relu' = [h_t > 0]
    (1) dh_next = dL/da_t W_h                 = dL/dh_t dh_t/dh_{t-1}, dh_t/dh_{t-1} = f'(a_t) W_h

and the shared weights' gradients are the tutorial's sums over t of each step's contribution:

    dL/dW_x = sum_t dL/da_t x_t,  dL/dW_h = sum_t dL/da_t h_{t-1},  dL/dW_y = sum_t dL/dy_pred_t h_t

then one step of gradient descent, W <- W - eta dL/dW, where x_t is the input, y_t the target,
h_t the hidden state (h_0 given), a_t the pre-activation, f the nonlinearity, W_x, W_h, W_y
the input, recurrent and output weights and eta the learning rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from rnnlab._checks import finite_number, one_of
from rnnlab import reference
from rnnlab.reference.activations import ACTIVATIONS
from rnnlab.layers import RNN, Linear
from rnnlab.losses import mse_loss

ACTIVATION_NAMES = ("tanh", "sigmoid", "relu")
REL_TOL = 1e-12  # the reference's gradients must match the library's layers this closely


class Weights(NamedTuple):
    """One value per weight of the scalar RNN, in the tutorial's names."""

    W_x: float  # input to hidden
    W_h: float  # hidden to hidden (the recurrent weight)
    W_y: float  # hidden to output


@dataclass(frozen=True)
class Step:
    """Every value of one time step t, forward and backward."""

    t: int  # 1-based, as in the tutorial
    x: float  # x_t
    y: float | None  # y_t, the target at this step; None when the loss has none here
    h_prev: float  # h_{t-1}
    a: float  # (1) the pre-activation a_t
    h: float  # (2) h_t = f(a_t)
    y_pred: float  # (3) W_y h_t
    loss: float  # this step's term of L: 1/2 (y_t - y_pred_t)^2, or 0 without a target
    d_y_pred: float  # dL/dy_pred_t
    dy_pred_dh: float  # dy_pred_t/dh_t = W_y
    df: float  # f'(a_t)
    dh_dh_prev: float  # dh_t/dh_{t-1} = f'(a_t) W_h
    dh_from_output: float  # dL/dy_pred_t W_y
    dh_from_future: float  # dL/dh_{t+1} dh_{t+1}/dh_t, 0 at t = T
    dh: float  # dL/dh_t, the sum of the two
    da: float  # dL/da_t = dL/dh_t f'(a_t)
    contribution: Weights  # this step's share of each gradient


@dataclass(frozen=True)
class Trace:
    """One BPTT step of the scalar RNN: the inputs, every step, and the results.

    Attributes
    ----------
    weights : Weights
        W_x, W_h, W_y before the update.
    h0, lr : float
        The initial state h_0 and the learning rate eta.
    activation : str
        f: "tanh", "sigmoid" or "relu".
    many_to_one : bool
        True when the only target is at the last step.
    steps : tuple of Step, length T
    loss : float
    grads : Weights
        dL/dW, the sums over t of ``step.contribution``.
    updated : Weights
        W - lr * dL/dW.
    d_h0 : float
        dL/dh_0, the gradient that reaches the initial state.
    """

    weights: Weights
    h0: float
    lr: float
    activation: str
    many_to_one: bool
    steps: tuple
    loss: float
    grads: Weights
    updated: Weights
    d_h0: float


# -- checks ------------------------------------------------------------------------------
def _finite_sequence(values, name: str) -> tuple:
    """Return ``values`` (a number or a 1-D sequence of them) as a tuple of floats."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of finite numbers, got {values!r}")
    if np.ndim(values) == 0:
        values = (values,)
    elif np.ndim(values) != 1:
        raise ValueError(f"{name} must be a 1-D sequence of numbers, "
                         f"got {np.ndim(values)} dimensions")
    if len(values) == 0:
        raise ValueError(f"{name} must hold at least one value (T >= 1), got none")
    return tuple(finite_number(v, f"{name}[{i}]") for i, v in enumerate(values))


def _targets(ys: tuple, steps: int) -> tuple:
    """The target at each step, None where the loss has no term (many-to-one)."""
    if len(ys) == steps:
        return ys
    if len(ys) == 1:
        return (None,) * (steps - 1) + ys
    raise ValueError(f"ys must hold one target per step (T = len(xs) = {steps}) or a single "
                     f"target for the last step, got {len(ys)} values")


# -- the tracer --------------------------------------------------------------------------
def _reference_pass(weights: Weights, xs: tuple, targets: tuple, h0: float,
                    activation: str) -> tuple:
    """Forward and BPTT by the specification, ``rnnlab.reference.rnn`` (one hidden unit, no
    bias), with the output layer (3) and the loss (4) around it: (h, grads), with h the
    states h_1..h_T and grads the reference's gradients (``"d_states"``: dL/dh_t)."""
    params = {"weight_ih": np.array([[weights.W_x]]), "weight_hh": np.array([[weights.W_h]])}
    x = np.reshape(np.array(xs, dtype=np.float64), (1, -1, 1))
    hs, _, cache = reference.rnn.forward(params, x, np.array([[h0]]), nonlinearity=activation)
    h = hs[0, :, 0]  # (1), (2)
    d_y_pred = [0.0 if y is None else weights.W_y * h_t - y for h_t, y in zip(h, targets)]
    d_out = np.reshape(np.array(d_y_pred) * weights.W_y, (1, -1, 1))  # (4), (3)
    return h, reference.rnn.backward(params, cache, d_out)


def _steps(weights: Weights, xs: tuple, targets: tuple, h0: float, activation: str) -> tuple:
    """Every step's values and chain-rule factors, from the reference's pass; the gradients
    (the sums of the steps' contributions) and dL/dh_0."""
    h, grads = _reference_pass(weights, xs, targets, h0, activation)
    df_from_output = ACTIVATIONS[activation].df_from_output
    dhs = grads["d_states"][0, :, 0]  # dL/dh_t: from the output and from the future
    steps, h_prev = [], h0
    for t, (x, y) in enumerate(zip(xs, targets)):
        a = weights.W_x * x + weights.W_h * h_prev  # (1)
        y_pred = weights.W_y * h[t]  # (3)
        d_y_pred = 0.0 if y is None else y_pred - y  # (4)
        loss = 0.0 if y is None else 0.5 * (y - y_pred) * (y - y_pred)
        df = float(df_from_output(h[t:t + 1])[0])  # (2) f'(a_t) from h_t
        da = float(dhs[t]) * df  # (2)
        # dL/dh_{t+1} dh_{t+1}/dh_t, what the reference carried back: da_{t+1} W_h, 0 at T
        future = 0.0 if t + 1 == len(xs) else float(dhs[t + 1]) * float(
            df_from_output(h[t + 1:t + 2])[0]) * weights.W_h + 0.0
        # Adding 0.0 turns a -0.0 (a zero factor times a negative one) into 0.0.
        contribution = Weights(da * x + 0.0, da * h_prev + 0.0, d_y_pred * float(h[t]) + 0.0)
        steps.append(Step(t + 1, x, y, h_prev, a, float(h[t]), y_pred, loss, d_y_pred,
                          weights.W_y, df, df * weights.W_h, d_y_pred * weights.W_y, future,
                          float(dhs[t]), da, contribution))
        h_prev = float(h[t])
    # Each gradient as the correctly rounded sum of the steps' contributions (math.fsum);
    # the reference's own running sums, grads["weight_ih"] and ["weight_hh"], differ from
    # them by rounding only.
    sums = Weights(*(math.fsum(getattr(s.contribution, n) for s in steps) + 0.0
                     for n in Weights._fields))
    return tuple(steps), sums, grads["state0"].item() + 0.0


def _library_results(weights: Weights, xs: tuple, targets: tuple, h0: float,
                     activation: str) -> tuple:
    """The same forward, loss and BPTT through rnnlab's layers: (loss, grads)."""
    rnn = RNN(1, 1, bias=False, nonlinearity=activation, dtype=np.float64)
    rnn.load_state_dict({"weight_ih_l0": [[weights.W_x]], "weight_hh_l0": [[weights.W_h]]})
    head = Linear(1, 1, bias=False, dtype=np.float64)
    head.load_state_dict({"weight": [[weights.W_y]]})
    mask = np.array([[y is not None for y in targets]])  # (1, T)
    target = np.array([0.0 if y is None else y for y in targets]).reshape(1, -1, 1)
    out, _ = rnn.forward(np.reshape(xs, (1, -1, 1)), state=np.full((1, 1, 1), h0))
    y_pred = head.forward(out)  # (1, T, 1)
    loss, d_y_pred = mse_loss(y_pred, target, mask=mask, reduction="sum", half=True)
    rnn.backward(head.backward(d_y_pred))
    grads = Weights(rnn.grad_dict()["weight_ih_l0"].item(),
                    rnn.grad_dict()["weight_hh_l0"].item(), head.grad_dict()["weight"].item())
    return loss, grads


def _close(mine: float, theirs: float, scale: float) -> bool:
    """|mine - theirs| <= REL_TOL * the larger of |mine|, |theirs| and ``scale``."""
    return abs(mine - theirs) <= REL_TOL * max(abs(mine), abs(theirs), scale)


def _cross_check(steps: tuple, loss: float, grads: Weights, library: tuple) -> None:
    """Raise RuntimeError unless the reference's pass matches the library's fast layers.

    Both do the same operations in the same order, step by step; only the sums over t may
    be added up in another order, so each is compared relative to the sum of its terms' sizes.
    """
    lib_loss, lib_grads = library
    pairs = [("loss", loss, lib_loss, loss)]
    for name in Weights._fields:
        scale = sum(abs(getattr(s.contribution, name)) for s in steps)
        pairs.append((f"dL/d{name}", getattr(grads, name), getattr(lib_grads, name), scale))
    for name, mine, theirs, scale in pairs:
        if not _close(mine, theirs, scale):
            raise RuntimeError(f"explain: the reference (rnnlab.reference.rnn) gives {name} = "
                               f"{mine!r} but rnnlab's layers give {theirs!r} (relative tolerance "
                               f"{REL_TOL:g}); this is a bug, please report it")


def trace(w_x=0.5, w_h=0.8, w_y=0.3, xs=(1.0,), ys=(0.6,), h0=0.0, lr=0.1,
          activation: str = "tanh") -> Trace:
    """One forward pass, loss, BPTT and gradient-descent step of a scalar RNN, traced.

    The defaults are the tutorial's worked example. The pass is the reference's
    (``rnnlab.reference.rnn``: t = 1..T forward, t = T..1 backward carrying dL/dh from the
    future); every factor of each step is read from it, and the gradients are checked
    against ``rnnlab.RNN`` + ``rnnlab.Linear`` + ``rnnlab.mse_loss`` in float64.

    Parameters
    ----------
    w_x, w_h, w_y : float
        The input, recurrent and output weights W_x, W_h, W_y.
    xs : float or sequence of float, length T >= 1
        The inputs x_1..x_T.
    ys : float or sequence of float, length T or 1
        The targets: one per step (loss at every step), or a single one when T > 1 (loss at
        the last step only, many-to-one).
    h0 : float
        The initial state h_0.
    lr : float
        The learning rate eta > 0.
    activation : {"tanh", "sigmoid", "relu"}
        The nonlinearity f.

    Returns
    -------
    Trace

    Raises
    ------
    TypeError, ValueError
        On a bad argument, before any work; the message names it.
    RuntimeError
        If the reference's gradients and the library's ever differ beyond ``REL_TOL``.

    Notes
    -----
    The equations are in the module docstring. The loss is 1/2 (y - y_pred)^2 per target,
    summed, so dL/dy_pred_t = y_pred_t - y_t, as in the tutorial.
    """
    weights = Weights(finite_number(w_x, "w_x"), finite_number(w_h, "w_h"),
                      finite_number(w_y, "w_y"))
    xs = _finite_sequence(xs, "xs")
    targets = _targets(_finite_sequence(ys, "ys"), len(xs))
    h0 = finite_number(h0, "h0")
    lr = finite_number(lr, "lr")
    if lr <= 0:
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a str, got {type(activation).__name__}")
    one_of(activation, "activation", ACTIVATION_NAMES)

    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused just below
        steps, grads, d_h0 = _steps(weights, xs, targets, h0, activation)
    loss = math.fsum(s.loss for s in steps)
    if not all(math.isfinite(v) for v in (loss, d_h0) + tuple(grads)):
        raise ValueError("w_x, w_h, w_y, xs, ys and h0 give a loss or gradient that overflows "
                         f"float64 (loss {loss!r}, gradients {tuple(grads)}); use smaller values")
    _cross_check(steps, loss, grads,
                 _library_results(weights, xs, targets, h0, activation))
    updated = Weights(*(w - lr * g for w, g in zip(weights, grads)))
    return Trace(weights, h0, lr, activation, len(targets) > 1 and targets[0] is None,
                 steps, loss, grads, updated, d_h0)
