"""Check a model's hand-written backward against central finite differences.

The check uses the scalar loss L = sum(output * R) + sum(final_state * S) for fixed random R
and S, so that dL/d output = R and dL/d final state = S reach every path of the backward
pass. Every parameter element, every input element and every initial-state element is
perturbed by +-eps in turn; the numerical derivative (L(+eps) - L(-eps)) / (2 eps) is
compared with the analytic one.

Run it in float64: with eps = 1e-6 the error of central differences is about eps^2 times
the third derivative plus 1e-16 / eps of rounding, far below the 1e-6 a correct backward
meets, while a wrong derivative shows up as an error of order one.
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import numpy as np

from rnnlab._checks import boolean, finite_number, float_array, seed as check_seed
from rnnlab.layers.module import Module


class Check(NamedTuple):
    """The comparison for one array."""

    name: str
    relative_error: float  # max |analytic - numerical| / max(max |analytic|, max |numerical|)
    max_abs_error: float
    scale: float  # max(max |analytic|, max |numerical|)


def relative_error(analytic, numerical) -> float:
    """max |a - n| over max(max |a|, max |n|): 0 for equal arrays, ~1 for unrelated ones.

    ``analytic`` and ``numerical`` are numeric arrays of the same shape.
    """
    analytic, numerical = np.asarray(analytic), np.asarray(numerical)
    for name, a in (("analytic", analytic), ("numerical", numerical)):
        if a.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}")
    if analytic.shape != numerical.shape:
        raise ValueError(f"numerical must have the shape of analytic {analytic.shape}, "
                         f"got {numerical.shape}")
    scale = max(float(np.abs(analytic).max(initial=0.0)), float(np.abs(numerical).max(initial=0.0)))
    err = float(np.abs(analytic - numerical).max(initial=0.0))
    return err / scale if scale > 0 else err


def _split(result):
    """A forward result -> (output, list of final-state arrays)."""
    if not isinstance(result, tuple):
        return result, []
    output, state = result
    return output, list(state) if isinstance(state, tuple) else [state]


def numerical_gradient(loss, array, eps: float = 1e-6):
    """Central differences of the scalar ``loss()`` with respect to ``array``, in place.

    Each element is moved by +-eps and put back exactly.
    """
    if not callable(loss):
        raise TypeError(f"loss must be callable as loss() -> float, got {type(loss).__name__}")
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        kind = f"dtype {array.dtype}" if isinstance(array, np.ndarray) else type(array).__name__
        raise TypeError(f"array must be a float NumPy array (perturbed in place), got {kind}")
    eps = _step(eps)
    grad = np.zeros(array.shape, dtype=np.float64)
    flat, gflat = array.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        saved = flat[k]
        flat[k] = saved + eps
        plus = loss()
        flat[k] = saved - eps
        minus = loss()
        flat[k] = saved
        gflat[k] = (plus - minus) / (2 * eps)
    return grad


class FixedDraws:
    """Stands in for a module's random generator: ``random(shape)`` returns the same uniform
    draws every time that shape is asked for (drawn once from ``seed``), so that dropout's
    masks stay fixed and the loss is a function of the weights alone. Every mask of one
    shape is then the same one (e.g. each layer's and direction's recurrent mask)."""

    def __init__(self, seed=0):
        self._rng = np.random.default_rng(check_seed(seed))
        self._draws = {}

    def random(self, shape):
        shape = tuple(int(n) for n in np.atleast_1d(shape))
        if shape not in self._draws:
            self._draws[shape] = self._rng.random(shape)
        return self._draws[shape]


@contextlib.contextmanager
def fixed_masks(model, seed=0):
    """Within the block, every module of ``model`` that draws dropout masks (its ``rng``:
    :class:`~rnnlab.layers.Dropout`, a recurrent layer with ``dropout`` or
    ``recurrent_dropout``) draws them from one :class:`FixedDraws`; the generators are put
    back after. For ``check_gradients(..., training=True)``."""
    if not isinstance(model, Module):
        raise TypeError(f"model must be an rnnlab Module, got {type(model).__name__}")
    draws = FixedDraws(seed)
    saved = [(m, m.rng) for _, m in model.named_modules() if getattr(m, "rng", None) is not None]
    for module, _ in saved:
        module.rng = draws
    try:
        yield draws
    finally:
        for module, rng in saved:
            module.rng = rng


def _step(eps) -> float:
    """``eps`` as a float if it is a finite number > 0, else raise naming it."""
    if finite_number(eps, "eps") <= 0:
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    return float(eps)


def check_gradients(model, x, lengths=None, state=None, seed: int = 0,
                    eps: float = 1e-6, training: bool = False) -> list:
    """Compare ``model.backward`` with finite differences on every parameter, x and state.

    Parameters
    ----------
    model : Module
        A recurrent layer (``forward(x, lengths, state)``) or any module with
        ``forward(x[, lengths])`` and ``backward(d_output)``. Its gradients are reset.
    x : (B, T, I) float64
    lengths : (B,) int, optional
    state : array or pair of arrays, optional
        The initial state of a recurrent layer (its gradient is checked too).
    seed : int
        Seed of the random R and S.
    eps : float

    Returns
    -------
    list of Check
        One for each parameter (by name), for ``x``, and for each state part.

    The model runs in evaluation mode (dropout is the identity, so the loss is a function of
    the weights alone), or with ``training=True`` in train mode (for modules whose random
    draws are fixed, e.g. dropout given a mask), and is put back in its mode afterwards.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be an rnnlab Module, got {type(model).__name__}")
    previous = model.training
    model.train(boolean(training, "training"))
    try:
        return _check_gradients(model, x, lengths, state, seed, eps)
    finally:
        model.train(previous)


def _check_gradients(model, x, lengths, state, seed, eps) -> list:

    if not isinstance(model, Module):
        raise TypeError(f"model must be an rnnlab Module, got {type(model).__name__}")
    if model.dtype not in (None, np.float64):
        raise ValueError(f"model must be float64 for a finite-difference check, got {model.dtype}")
    eps = _step(eps)
    rng = np.random.default_rng(check_seed(seed))
    # Copies: the check perturbs x and the state in place, never the caller's arrays.
    x = np.array(float_array(x, "x", np.float64, "(B, T, I)"))
    recurrent = hasattr(model, "state_names")
    parts = () if state is None else state if isinstance(state, tuple) else (state,)
    states = [np.array(float_array(s, "state" if len(parts) == 1 else f"state[{k}]",
                                   np.float64, "(L*D, B, H)"))
              for k, s in enumerate(parts)]

    def run():
        if recurrent:
            s = None if not states else (tuple(states) if len(states) > 1 else states[0])
            return _split(model.forward(x, lengths=lengths, state=s))
        return _split(model.forward(x, lengths=lengths) if model.uses_lengths else model.forward(x))

    output, finals = run()
    r = rng.standard_normal(output.shape)
    s_weights = [rng.standard_normal(f.shape) for f in finals]

    def loss():
        out, fin = run()
        return float(np.sum(out * r) + sum(np.sum(f * w) for f, w in zip(fin, s_weights)))

    model.zero_grad()
    run()
    if recurrent:
        d_state = tuple(s_weights) if len(s_weights) > 1 else s_weights[0]
        dx, d_state0 = model.backward(r, d_state)
        d_states0 = list(d_state0) if isinstance(d_state0, tuple) else [d_state0]
    else:
        dx, d_states0 = model.backward(r), []
    analytic = dict(model.grad_dict())
    analytic["x"] = dx
    for k, d in enumerate(d_states0[:len(states)]):
        analytic[f"state[{k}]" if len(states) > 1 else "state"] = d

    targets = dict(model.parameters())
    targets["x"] = x
    for k, s in enumerate(states):
        targets[f"state[{k}]" if len(states) > 1 else "state"] = s
    checks = []
    for name, array in targets.items():
        numerical = numerical_gradient(loss, array, eps)
        a = np.asarray(analytic[name], dtype=np.float64)
        scale = max(float(np.abs(a).max(initial=0)), float(np.abs(numerical).max(initial=0)))
        checks.append(Check(name, relative_error(a, numerical),
                            float(np.abs(a - numerical).max(initial=0)), scale))
    return checks
