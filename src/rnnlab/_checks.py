"""Input checks shared by every public entry point.

Each check runs before any work and raises an exception that names the argument, what was
expected and what was received: ``TypeError`` for a wrong kind or dtype, ``ValueError`` for a
wrong shape or value.
"""

from __future__ import annotations

import math

import numpy as np

from rnnlab.backend import get_xp


class NonFiniteError(ValueError):
    """An array that must be finite holds NaN or infinite values.

    A ``ValueError`` (it names the argument), told apart so that the Trainer can report a
    forward or backward pass whose values overflowed as a diverged run rather than as bad
    input. ``argument`` is the argument's name; ``module`` is set by a container to the
    position and kind of the module whose output (or passed-back gradient) was not finite.
    """

    def __init__(self, message: str, argument: str, module: str | None = None):
        super().__init__(message)
        self.argument, self.module = argument, module


def float_array(value, name: str, dtype, shape_doc: str, ndim: int | None = None):
    """Return ``value`` as a finite float array of ``dtype`` (a copy only when needed).

    Float inputs of another precision are cast to ``dtype``; integer, boolean, complex and
    object arrays are refused, since feeding token ids or flags to a float layer is almost
    always a mistake.

    Any array-like is taken (see :func:`as_numpy`): a list, a pandas object, a PyTorch CPU
    tensor.

    Parameters
    ----------
    value : array_like
    name : str
        The argument's name, used in error messages.
    dtype : numpy.dtype or None
        The float dtype to return; None keeps the input's float dtype.
    shape_doc : str
        The expected shape in letters, e.g. ``"(B, T, F)"``, used in error messages.
    ndim : int, optional
        The required number of dimensions.
    """
    xp = get_xp(value)
    if xp is np and not isinstance(value, np.ndarray):
        value = as_numpy(value, name, f"a float array of shape {shape_doc}")
    kind = np.dtype(value.dtype).kind
    if kind != "f":
        raise TypeError(f"{name} must be a float array (float32 or float64) of shape {shape_doc}, "
                        f"got dtype {value.dtype}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions {shape_doc}, "
                         f"got shape {tuple(value.shape)}")
    with np.errstate(over="ignore"):
        value = xp.asarray(value, dtype=dtype)
    if value.size and not bool(xp.isfinite(value).all()):
        bad = int((~xp.isfinite(value)).sum())
        raise NonFiniteError(f"{name} must be finite in {value.dtype}, "
                             f"got {bad} NaN or infinite value(s)", name)
    return value


def as_numpy(value, name: str, expected: str):
    """Return the array-like ``value`` (not a NumPy array) as one, via ``numpy.asarray``.

    Lists, pandas Series and DataFrames, and anything with ``__array__`` convert. A PyTorch
    tensor gives its values, whether or not it requires grad (as ``tensor.detach()``): rnnlab
    computes its gradients itself, by its own ``backward``, and never joins PyTorch's autograd
    graph. What does not convert (a ragged list, a bfloat16 or a GPU tensor) raises
    ``TypeError`` naming ``name``; ``expected`` says what was expected. rnnlab never imports
    torch: a tensor is recognized by its ``detach`` method and its module's name.
    """
    if type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach"):
        value = value.detach()  # the values; rnnlab's own backward gives the gradients
    try:
        return np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__} "
                        f"({err})") from None


def expect_shape(array, name: str, shape: tuple, shape_doc: str) -> None:
    """Raise ``ValueError`` unless ``array.shape == shape``."""
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {shape_doc} = {tuple(shape)}, "
                         f"got {tuple(array.shape)}")


def lengths_array(lengths, batch: int, steps: int):
    """Return ``lengths`` as an int64 array of shape (B,) with 1 <= lengths <= T.

    Parameters
    ----------
    lengths : array_like of int
        Each sequence's number of valid steps.
    batch, steps : int
        B and T of the input the lengths describe.
    """
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and arr.size and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"lengths must be integers of shape (B,) = ({batch},), "
                            f"got dtype {arr.dtype}")
    if arr.shape != (batch,):
        raise ValueError(f"lengths must have shape (B,) = ({batch},), got {arr.shape}")
    if batch and (arr.min() < 1 or arr.max() > steps):
        raise ValueError(f"lengths must lie in [1, T] = [1, {steps}], "
                         f"got min {arr.min()} and max {arr.max()}")
    return arr.astype(np.int64)


def boolean(value, name: str) -> bool:
    """Return ``value`` if it is a bool, else raise ``TypeError`` naming it."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def one_of(value, name: str, choices) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        try:
            shown = sorted(choices)
        except TypeError:  # e.g. None beside strings: None first
            shown = sorted(choices, key=lambda c: (c is not None, str(c)))
        raise ValueError(f"{name} must be one of {shown}, got {value!r}")


def optional_text(value, name: str):
    """Return ``value`` if it is a str or None, else raise ``TypeError`` naming it."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, got {type(value).__name__} {value!r}")
    return value


def integer(value, name: str, minimum=None) -> int:
    """Return ``value`` as an int if it is an integer (>= ``minimum`` when given), else raise
    naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return int(value)


def positive_int(value, name: str) -> int:
    """Return ``value`` if it is an int >= 1, else raise naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def non_negative_int(value, name: str) -> int:
    """Return ``value`` if it is an int >= 0 (a count, a step, a seed), else raise naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= 0, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value}")
    return int(value)


def probability(value, name: str, what: str = "an element") -> float:
    """Return ``value`` as a float if it is a dropout probability, a number in [0, 1), else
    raise naming it; ``what`` says what is dropped, for the message."""
    if not 0 <= finite_number(value, name) < 1:
        raise ValueError(f"{name} must lie in [0, 1), the probability of dropping {what}, "
                         f"got {value!r}")
    return float(value)


def finite_number(value, name: str) -> float:
    """Return ``value`` as a float if it is a finite real number, else raise naming it:
    ``TypeError`` for a bool, a str or another kind, ``ValueError`` for NaN or infinity."""
    if isinstance(value, (bool, np.bool_)) or \
            not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a finite number, got {type(value).__name__} {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float64
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def seed(value, name: str = "seed"):
    """Return ``value`` if ``numpy.random.default_rng`` takes it, else raise naming it.

    Accepted: None, an int >= 0, a sequence of ints >= 0, or a numpy ``Generator``,
    ``BitGenerator`` or ``SeedSequence``.
    """
    if value is None or isinstance(value, (np.random.Generator, np.random.BitGenerator,
                                           np.random.SeedSequence)):
        return value
    parts = (value,) if isinstance(value, (str, bytes)) or np.ndim(value) == 0 else value
    for part in parts:
        if isinstance(part, (bool, np.bool_)) or not isinstance(part, (int, np.integer)):
            raise TypeError(f"{name} must be None, an int >= 0, a sequence of them or a "
                            f"numpy.random.Generator, got {type(value).__name__} {value!r}")
        if part < 0:
            raise ValueError(f"{name} must be None, an int >= 0, a sequence of them or a "
                             f"numpy.random.Generator, got {value!r}")
    return value


class MissingFileError(FileNotFoundError, ValueError):
    """A path argument that names no file: what Python raises for a missing file, and the
    ``ValueError`` of bad input (its message names the argument), so that both
    ``except FileNotFoundError`` and ``except ValueError`` catch it."""
