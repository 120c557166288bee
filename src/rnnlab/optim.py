"""Optimizers, learning-rate schedules and gradient clipping, as in ``torch.optim``.

Every optimizer updates a model's live parameter arrays in place from its live gradient
arrays (``module.parameters()`` and ``module.gradients()``), keeps its per-parameter state
under the parameters' names, and can save and restore that state (``state_dict``) so that a
resumed run continues exactly. Each update rule is a few lines, with its equation and
reference in the docstring; they follow PyTorch's formulas term by term, so that the same
gradients give the same weights (checked to 1e-12 in float64).

Notation: p a parameter, g its gradient, t the step count (from 1), lr the learning rate.
"""

from __future__ import annotations

import math

import numpy as np

from rnnlab._checks import boolean, non_negative_int, positive_int
from rnnlab.layers.module import mark_changed


def _live_arrays(model_or_params):
    """(params, grads) dicts from a Module, or from a (params, grads) pair of dicts."""
    if hasattr(model_or_params, "parameters") and hasattr(model_or_params, "gradients"):
        return model_or_params.parameters(), model_or_params.gradients()
    if (isinstance(model_or_params, tuple) and len(model_or_params) == 2
            and all(isinstance(d, dict) for d in model_or_params)):
        params, grads = model_or_params
        if set(params) != set(grads):
            raise ValueError(f"params and grads must have the same names, got {sorted(params)} "
                             f"and {sorted(grads)}")
        for name, p in params.items():
            _float_buffer(p, f"params[{name!r}]")
            _float_buffer(grads[name], f"grads[{name!r}]")
            if grads[name].shape != p.shape:
                raise ValueError(f"grads[{name!r}] must have the shape of params[{name!r}] "
                                 f"{p.shape}, got {grads[name].shape}")
        return params, grads
    raise TypeError(f"model must be an rnnlab Module or a (params, grads) pair of dicts, "
                    f"got {type(model_or_params).__name__}")


def _float_buffer(array, name: str):
    """Raise ``TypeError`` unless ``array`` is a float NumPy array (updated in place)."""
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        kind = f"dtype {array.dtype}" if isinstance(array, np.ndarray) else type(array).__name__
        raise TypeError(f"{name} must be a float NumPy array (updated in place), got {kind}")
    return array


def _betas(betas) -> tuple:
    """(beta1, beta2), each in [0, 1), from a pair."""
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__"):
        raise TypeError(f"betas must be a pair (beta1, beta2), got {type(betas).__name__} "
                        f"{betas!r}")
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {len(betas)} values")
    return tuple(_fraction(b, f"betas[{k}]") for k, b in enumerate(betas))



def _state_keys(state, keys: tuple) -> None:
    """Raise unless ``state`` is a dict holding every key of ``keys``."""
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict (what state_dict() gave), "
                        f"got {type(state).__name__}")
    missing = [key for key in keys if key not in state]
    if missing:
        raise ValueError(f"state must hold {list(keys)}, missing {missing}")


def _non_negative(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


def _fraction(value, name: str) -> float:
    value = _non_negative(value, name)
    if value >= 1:
        raise ValueError(f"{name} must lie in [0, 1), got {value}")
    return value


class Optimizer:
    """The shared base: parameters, gradients, per-parameter state, step count, lr.

    Subclasses implement ``_update(p, g, state)`` for one parameter, in place.
    """

    def __init__(self, model, lr: float, weight_decay: float = 0.0):
        self.params, self.grads = _live_arrays(model)
        self.lr = _non_negative(lr, "lr")
        self.weight_decay = _non_negative(weight_decay, "weight_decay")
        self.steps = 0  # t, the number of steps taken
        self.state: dict = {name: {} for name in self.params}

    def step(self) -> None:
        """Update every parameter in place from its gradient."""
        self.steps += 1
        for name, p in self.params.items():
            self._update(p, self.grads[name], self.state[name])
        mark_changed(self.params.values())  # a backward of the forward before now raises

    def zero_grad(self) -> None:
        """Set every gradient to zero."""
        for g in self.grads.values():
            g.fill(0)

    def _update(self, p, g, state: dict) -> None:
        raise NotImplementedError

    def _decayed(self, p, g):
        """g + weight_decay * p: L2 regularization folded into the gradient (PyTorch's form)."""
        return g + self.weight_decay * p if self.weight_decay else g

    def state_dict(self) -> dict:
        """The optimizer's state: step count, lr and per-parameter buffers (copies)."""
        return {"steps": self.steps, "lr": self.lr,
                "state": {name: {k: v.copy() for k, v in s.items()}
                          for name, s in self.state.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` gave; buffers must match the parameters' shapes.

        Everything is checked first: a refused state changes nothing.
        """
        _state_keys(state, ("steps", "lr", "state"))
        steps = non_negative_int(state["steps"], "state['steps']")
        lr = _non_negative(state["lr"], "state['lr']")
        buffers = state["state"]
        if not isinstance(buffers, dict) or set(buffers) != set(self.params):
            raise ValueError(f"state['state'] must hold buffers for exactly the parameters "
                             f"{sorted(self.params)}, got "
                             f"{sorted(buffers) if isinstance(buffers, dict) else buffers!r}")
        restored = {}
        for name, s in buffers.items():
            if not isinstance(s, dict):
                raise TypeError(f"state['state'][{name!r}] must be a dict of arrays, "
                                f"got {type(s).__name__}")
            restored[name] = {}
            for key, value in s.items():
                label = f"state['state'][{name!r}][{key!r}]"
                value = np.asarray(value)
                if value.dtype.kind not in "fiu":
                    raise TypeError(f"{label} must be a numeric array, got dtype {value.dtype}")
                if value.shape != self.params[name].shape:
                    raise ValueError(f"{label} must have shape {self.params[name].shape}, "
                                     f"got {value.shape}")
                value = np.array(value, dtype=self.params[name].dtype)
                if np.isnan(value).any():  # inf may be a healthy overflow of a squared average
                    raise ValueError(f"{label} must not hold NaN")
                restored[name][key] = value
        self.steps, self.lr, self.state = steps, lr, restored


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay.

    Notes
    -----
    g <- g + wd p;  b <- mu b + (1 - dampening) g (b = g at the first step);
    g <- g + mu b (Nesterov) or b (momentum);  p <- p - lr g.
    Sutskever et al. 2013, in PyTorch's form; with mu = 0 it is the tutorial's W <- W - eta dL/dW.
    """

    def __init__(self, model, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(model, lr, weight_decay)
        self.momentum = _fraction(momentum, "momentum")
        self.dampening = _non_negative(dampening, "dampening")
        self.nesterov = boolean(nesterov, "nesterov")
        if self.nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening = 0")

    def _update(self, p, g, state):
        g = self._decayed(p, g)
        if self.momentum:
            if "momentum" not in state:
                state["momentum"] = np.array(g, copy=True)
            else:
                b = state["momentum"]
                b *= self.momentum
                b += (1 - self.dampening) * g
            b = state["momentum"]
            g = g + self.momentum * b if self.nesterov else b
        p -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with L2 weight decay folded into the gradient.

    Notes
    -----
    g <- g + wd p;  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    """

    decoupled = False

    def __init__(self, model, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(model, lr, weight_decay)
        self.beta1, self.beta2 = _betas(betas)
        self.eps = _non_negative(eps, "eps")

    def _update(self, p, g, state):
        if self.decoupled:
            p *= 1 - self.lr * self.weight_decay  # AdamW: decay the weights, not the gradient
        else:
            g = self._decayed(p, g)
        if "m" not in state:
            state["m"], state["v"] = np.zeros_like(p), np.zeros_like(p)
        m, v = state["m"], state["v"]
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * g * g
        step_size = self.lr / (1 - self.beta1 ** self.steps)
        denominator = np.sqrt(v) / math.sqrt(1 - self.beta2 ** self.steps) + self.eps
        p -= step_size * m / denominator


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019).

    Notes
    -----
    p <- p (1 - lr wd), then the Adam step on the plain gradient g.
    """

    decoupled = True

    def __init__(self, model, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(model, lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton 2012), optionally centered and with momentum.

    Notes
    -----
    g <- g + wd p;  s <- a s + (1 - a) g^2;  centered: c <- a c + (1 - a) g, s~ = s - c^2;
    d = sqrt(s~) + eps;  with momentum b <- mu b + g / d, p <- p - lr b;  else p <- p - lr g / d.
    """

    def __init__(self, model, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        super().__init__(model, lr, weight_decay)
        self.alpha = _fraction(alpha, "alpha")
        self.eps = _non_negative(eps, "eps")
        self.momentum = _fraction(momentum, "momentum")
        self.centered = boolean(centered, "centered")

    def _update(self, p, g, state):
        g = self._decayed(p, g)
        if "square_avg" not in state:
            state["square_avg"] = np.zeros_like(p)
            if self.centered:
                state["grad_avg"] = np.zeros_like(p)
            if self.momentum:
                state["momentum"] = np.zeros_like(p)
        s = state["square_avg"]
        s *= self.alpha
        s += (1 - self.alpha) * g * g
        if self.centered:
            c = state["grad_avg"]
            c *= self.alpha
            c += (1 - self.alpha) * g
            # s - c^2 is a variance, >= 0, but rounding can leave it a tiny negative
            denominator = np.sqrt(np.maximum(s - c * c, 0.0)) + self.eps
        else:
            denominator = np.sqrt(s) + self.eps
        if self.momentum:
            b = state["momentum"]
            b *= self.momentum
            b += g / denominator
            p -= self.lr * b
        else:
            p -= self.lr * g / denominator


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


# -- learning-rate schedules ---------------------------------------------------------------
class Schedule:
    """Sets ``optimizer.lr = base_lr * factor(epoch)``; call :meth:`step` once per epoch.

    ``factor`` is a closed form of the epoch count, so a schedule resumes exactly from the
    epoch number alone.
    """

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be an rnnlab.optim Optimizer (SGD, Adam, AdamW, "
                            f"RMSprop), got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.epoch = 0
        optimizer.lr = self.base_lr * self.factor(0)

    def factor(self, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.epoch += 1
        self.optimizer.lr = self.base_lr * self.factor(self.epoch)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "base_lr": self.base_lr}

    def load_state_dict(self, state: dict) -> None:
        _state_keys(state, ("epoch", "base_lr"))
        epoch = non_negative_int(state["epoch"], "state['epoch']")
        self.epoch, self.base_lr = epoch, _non_negative(state["base_lr"], "state['base_lr']")
        self.optimizer.lr = self.base_lr * self.factor(self.epoch)


class StepLR(Schedule):
    """lr = base_lr * gamma^floor(epoch / step_size) (``torch.optim.lr_scheduler.StepLR``)."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        step_size = positive_int(step_size, "step_size")
        self.step_size, self.gamma = step_size, _non_negative(gamma, "gamma")
        super().__init__(optimizer)

    def factor(self, epoch):
        return self.gamma ** (epoch // self.step_size)


class CosineLR(Schedule):
    """lr = min_lr + (base_lr - min_lr) (1 + cos(pi epoch / total)) / 2, then min_lr.

    Loshchilov & Hutter 2017 without restarts (``CosineAnnealingLR``'s closed form).
    """

    def __init__(self, optimizer, total: int, min_lr: float = 0.0):
        total = positive_int(total, "total")
        self.total, self.min_lr = total, _non_negative(min_lr, "min_lr")
        super().__init__(optimizer)

    def factor(self, epoch):
        cosine = (1 + math.cos(math.pi * min(epoch, self.total) / self.total)) / 2
        lr = self.min_lr + (self.base_lr - self.min_lr) * cosine
        return lr / self.base_lr if self.base_lr else 0.0


class WarmupLR(Schedule):
    """lr rises linearly from start_factor * base_lr to base_lr over ``warmup`` epochs
    (``LinearLR``), then follows ``after`` (another schedule's factor, shifted), if given.

    >>> schedule = WarmupLR(opt, warmup=5, after=CosineLR(opt, total=95))
    """

    def __init__(self, optimizer, warmup: int, start_factor: float = 0.1, after=None):
        warmup = positive_int(warmup, "warmup")
        if after is not None and not isinstance(after, Schedule):
            raise TypeError(f"after must be None or a Schedule (e.g. CosineLR), "
                            f"got {type(after).__name__} {after!r}")
        start_factor = _non_negative(start_factor, "start_factor")
        if not 0 < start_factor <= 1:
            raise ValueError(f"start_factor must lie in (0, 1], got {start_factor}")
        self.warmup, self.start_factor, self.after = warmup, start_factor, after
        super().__init__(optimizer)

    def factor(self, epoch):
        if epoch < self.warmup:
            return self.start_factor + (1 - self.start_factor) * epoch / self.warmup
        return 1.0 if self.after is None else self.after.factor(epoch - self.warmup)


# -- gradient clipping ---------------------------------------------------------------------
def _grad_arrays(grads) -> list:
    """The float arrays to clip in place, from a Module, a dict, an array or an iterable."""
    if hasattr(grads, "gradients"):
        return list(grads.gradients().values())
    if isinstance(grads, dict):
        labelled = [(f"grads[{k!r}]", g) for k, g in grads.items()]
    elif isinstance(grads, np.ndarray):
        labelled = [("grads", grads)]
    elif isinstance(grads, (str, bytes)) or not hasattr(grads, "__iter__"):
        raise TypeError(f"grads must be a Module, a dict or an iterable of float arrays, "
                        f"got {type(grads).__name__}")
    else:
        labelled = [(f"grads[{k}]", g) for k, g in enumerate(grads)]
    return [_float_buffer(g, label) for label, g in labelled]


def clip_grad_norm_(grads, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together so that their global norm is at most ``max_norm``.

    Parameters
    ----------
    grads : Module, dict of arrays, or iterable of arrays
        Scaled in place.
    max_norm : float
        ``inf`` only measures the norm.
    norm_type : float
        p of the p-norm over all gradient entries together; ``inf`` for the max.
    error_if_nonfinite : bool
        Raise ``FloatingPointError`` if the norm is NaN or infinite instead of clipping.

    Returns
    -------
    float
        The global norm before clipping (what gradient-flow diagnostics plot).

    Notes
    -----
    ||g|| = (sum_k ||g_k||_p^p)^(1/p);  if ||g|| > max_norm: g <- g * max_norm / (||g|| + 1e-6)
    (Pascanu et al. 2013; PyTorch's ``clip_grad_norm_``, including its 1e-6).
    """
    arrays = _grad_arrays(grads)
    max_norm = math.inf if max_norm == math.inf else _non_negative(max_norm, "max_norm")
    if isinstance(norm_type, (bool, np.bool_)) or \
            not isinstance(norm_type, (int, float, np.integer, np.floating)):
        raise TypeError(f"norm_type must be a number > 0 or inf, "
                        f"got {type(norm_type).__name__} {norm_type!r}")
    if not norm_type > 0:
        raise ValueError(f"norm_type must be a number > 0 or inf, got {norm_type}")
    boolean(error_if_nonfinite, "error_if_nonfinite")
    if not arrays:
        return 0.0
    if norm_type == math.inf:
        total = max(float(np.abs(g).max(initial=0.0)) for g in arrays)  # exact in any dtype
    else:
        norm_type = float(norm_type)
        # in float64: a float32 norm overflows to inf from 1.8e19 on and reads as divergence
        per_array = np.array([np.linalg.norm(g.ravel().astype(np.float64), ord=norm_type)
                              for g in arrays])
        total = float(np.linalg.norm(per_array, ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise FloatingPointError(f"the total norm of the gradients is {total}: not finite")
    coefficient = max_norm / (total + 1e-6)
    if coefficient < 1:
        for g in arrays:
            g *= coefficient
    return total


def clip_grad_value_(grads, clip_value: float) -> None:
    """Clip every gradient entry to [-clip_value, clip_value], in place."""
    clip_value = _non_negative(clip_value, "clip_value")
    for g in _grad_arrays(grads):
        np.clip(g, -clip_value, clip_value, out=g)
