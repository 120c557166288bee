"""Weight initializers, each a function of (shape, rng, dtype).

Shapes are PyTorch's (out, in): fan_out = shape[0], fan_in = shape[1]. Recurrent layers call
these once per gate block (H, I) or (H, H), so each gate's map gets the intended scale.

============== ============================================ ===============================
name           distribution                                 reference
============== ============================================ ===============================
default        U(-1/sqrt(H), 1/sqrt(H)), biases included    PyTorch's nn.RNN/LSTM/GRU
xavier_uniform U(-a, a), a = sqrt(6 / (fan_in + fan_out))   Glorot & Bengio 2010
xavier_normal  N(0, 2 / (fan_in + fan_out))                 Glorot & Bengio 2010
kaiming_uniform U(-a, a), a = sqrt(6 / fan_in)              He et al. 2015 (ReLU gain)
kaiming_normal N(0, 2 / fan_in)                             He et al. 2015 (ReLU gain)
orthogonal     Q of the QR of a Gaussian matrix             Saxe et al. 2014
identity       I (square weights only)                      Le et al. 2015 (IRNN)
============== ============================================ ===============================

Gate biases: :func:`chrono`, log(u) with u ~ U(1, T_max - 1) per unit (Tallec & Ollivier
2018), the ``chrono=T_max`` of ``LSTM`` and ``GRU`` (docs/chrono.md).
"""

from __future__ import annotations

import math

import numpy as np

from rnnlab._checks import finite_number, positive_int
from rnnlab.backend import resolve_dtype


def _arguments(shape, rng, dtype, ndim: int | None = 2) -> tuple:
    """Check the (shape, rng, dtype) every initializer takes; return shape as a tuple of ints
    and dtype as a NumPy float dtype. ``ndim`` None allows any number of dimensions."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__"):
        raise TypeError(f"shape must be a tuple of ints, got {type(shape).__name__} {shape!r}")
    if ndim is not None and len(shape) != ndim:
        raise ValueError(f"shape must have {ndim} dimensions (out, in), got {tuple(shape)}")
    shape = tuple(positive_int(n, f"shape[{k}]") for k, n in enumerate(shape))
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (numpy.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    return shape, resolve_dtype(dtype)


def uniform(shape, rng: np.random.Generator, dtype, bound: float):
    """U(-bound, bound), for a ``shape`` of any number of dimensions and ``bound`` >= 0."""
    shape, dtype = _arguments(shape, rng, dtype, ndim=None)
    bound = finite_number(bound, "bound")
    if bound < 0:
        raise ValueError(f"bound must be a finite number >= 0, got {bound}")
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def default(shape, rng, dtype, hidden_size: int):
    """PyTorch's recurrent default: U(-1/sqrt(H), 1/sqrt(H))."""
    hidden_size = positive_int(hidden_size, "hidden_size")
    return uniform(shape, rng, dtype, 1.0 / math.sqrt(hidden_size))


def xavier_uniform(shape, rng, dtype):
    """Glorot uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out))."""
    shape, dtype = _arguments(shape, rng, dtype)
    fan_out, fan_in = shape
    return uniform(shape, rng, dtype, math.sqrt(6.0 / (fan_in + fan_out)))


def xavier_normal(shape, rng, dtype):
    """Glorot normal: N(0, std^2), std = sqrt(2 / (fan_in + fan_out))."""
    shape, dtype = _arguments(shape, rng, dtype)
    fan_out, fan_in = shape
    return (rng.standard_normal(shape) * math.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def kaiming_uniform(shape, rng, dtype):
    """He uniform with the ReLU gain sqrt(2): U(-a, a), a = sqrt(6 / fan_in)."""
    shape, dtype = _arguments(shape, rng, dtype)
    return uniform(shape, rng, dtype, math.sqrt(6.0 / shape[1]))


def kaiming_normal(shape, rng, dtype):
    """He normal with the ReLU gain sqrt(2): N(0, 2 / fan_in)."""
    shape, dtype = _arguments(shape, rng, dtype)
    return (rng.standard_normal(shape) * math.sqrt(2.0 / shape[1])).astype(dtype)


def orthogonal(shape, rng, dtype):
    """A (semi-)orthogonal matrix: orthonormal rows or columns, whichever are fewer.

    The Q factor of a Gaussian matrix with the signs of R's diagonal folded in, which makes
    it uniformly distributed (as ``torch.nn.init.orthogonal_``).
    """
    shape, dtype = _arguments(shape, rng, dtype)
    rows, cols = shape
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return q.astype(dtype)


def identity(shape, rng, dtype):
    """The identity, for square recurrent weights of ReLU RNNs (IRNN)."""
    shape, dtype = _arguments(shape, rng, dtype)
    rows, cols = shape
    if rows != cols:
        raise ValueError(f"init 'identity' needs a square weight, got shape {shape}")
    return np.eye(rows, dtype=dtype)


def check_chrono(t_max, name: str = "chrono", bias: bool = True) -> int:
    """``t_max`` as an int if it is one >= 2 (chrono initialization's T_max), else raise
    naming the argument ``name`` (the layers' keyword ``chrono`` by default). ``bias``:
    whether the layer has the biases that chrono initializes."""
    allowed = "None or an int T_max >= 2" if name == "chrono" else "an int T_max >= 2"
    if isinstance(t_max, (bool, np.bool_)) or not isinstance(t_max, (int, np.integer)):
        raise TypeError(f"{name} must be {allowed}, got {type(t_max).__name__} {t_max!r}")
    if t_max < 2:
        raise ValueError(f"{name} must be an int T_max >= 2, got {t_max}")
    if not bias:
        raise ValueError(f"{name} initializes the biases: expected bias=True with "
                         f"{name}={t_max}, got bias={bias!r}")
    return int(t_max)


def chrono(hidden_size: int, t_max: int, rng):
    """Chrono initialization's gate bias, log(u) with u ~ U(1, T_max - 1), one per unit.

    Tallec & Ollivier (2018), "Can recurrent neural networks warp time?", ICLR. A gate
    bias b gives a unit the forgetting time 1 / (1 - sigmoid(b)) = 1 + e^b at the start,
    so b = log(u) spreads the units' time constants evenly over 1 + [1, T_max - 1].

    Returns
    -------
    (H,) float64
    """
    hidden_size = positive_int(hidden_size, "hidden_size")
    t_max = check_chrono(t_max, "t_max")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return np.log(rng.uniform(1.0, t_max - 1.0, size=hidden_size))


INITIALIZERS = {
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "kaiming_uniform": kaiming_uniform,
    "kaiming_normal": kaiming_normal,
    "orthogonal": orthogonal,
    "identity": identity,
}
NAMES = ("default",) + tuple(INITIALIZERS)
