"""Variable-length sequences at the layers' level: padding, lengths to masks, and reversal
within each length.

Shapes: B batch, T steps (the longest sequence), F features.

A batch of sequences of different lengths is one padded array ``x`` (B, T, F) and the
lengths (B,). Valid steps come first; the steps after a sequence's length are padding, and
padding never changes a result.
"""

from __future__ import annotations

import numpy as np

from rnnlab._checks import finite_number, float_array, lengths_array
from rnnlab.backend import get_xp, resolve_dtype


def lengths_to_mask(lengths, steps: int):
    """(B,) lengths -> (B, T) bool mask, True at the valid steps t < lengths[b].

    ``lengths`` are integers >= 0 (whole-number floats are taken as ints, as the layers do);
    ``steps`` is T, an int >= 0.
    """
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"steps must be an int T >= 0, got {type(steps).__name__} {steps!r}")
    if steps < 0:
        raise ValueError(f"steps must be an int T >= 0, got {steps}")
    xp = get_xp(lengths)
    lengths = xp.asarray(lengths)
    whole = lengths.dtype.kind == "f" and bool(xp.all(lengths == xp.round(lengths)))
    if lengths.dtype.kind not in "iu" and not whole:
        raise TypeError(f"lengths must be integers of shape (B,), got dtype {lengths.dtype}")
    if lengths.ndim != 1:
        raise ValueError(f"lengths must have shape (B,), got {lengths.shape}")
    if lengths.size and lengths.min() < 0:
        raise ValueError(f"lengths must be >= 0, got min {lengths.min()}")
    return xp.arange(steps)[None, :] < lengths[:, None]


def reverse_padded(a, lengths=None):
    """Reverse each sequence of ``a`` (B, T, ...) within its own length; padding stays put.

    Step t of sequence b goes to step lengths[b] - 1 - t; steps at or after lengths[b] do not
    move. Applying it twice gives ``a`` back. This is how the reverse direction of a
    bidirectional layer starts at each sequence's real end, as PyTorch's packed sequences do.
    """
    if not hasattr(a, "ndim") or a.dtype.kind not in "biufc":
        raise TypeError(f"a must be a numeric array of shape (B, T, ...), "
                        f"got {type(a).__name__}")
    if a.ndim < 2:
        raise ValueError(f"a must have shape (B, T, ...), got {a.shape}")
    if lengths is None:
        return a[:, ::-1]
    lengths = lengths_array(lengths, a.shape[0], a.shape[1])
    xp = get_xp(a)
    steps = a.shape[1]
    t = xp.arange(steps)[None, :]  # (1, T)
    lengths = xp.asarray(lengths)[:, None]  # (B, 1)
    index = xp.where(t < lengths, lengths - 1 - t, t)  # (B, T)
    index = index.reshape(index.shape + (1,) * (a.ndim - 2))
    return xp.take_along_axis(a, index, axis=1)


def pad_sequences(sequences, dtype=None, value: float = 0.0):
    """Stack a list of (T_i, F) arrays into a padded (B, T, F) array and its lengths (B,).

    Parameters
    ----------
    sequences : list of (T_i, F) array_like
        At least one sequence, each with at least one step, all with the same F.
    dtype : float32 or float64, optional
        Defaults to float32.
    value : float
        What fills the padded steps (it never changes a result).

    Returns
    -------
    x : (B, T, F) with T = max T_i
    lengths : (B,) int64
    """
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise TypeError(f"sequences must be a list of (T_i, F) arrays, "
                        f"got {type(sequences).__name__}")
    dtype = resolve_dtype(dtype)
    value = finite_number(value, "value")
    if len(sequences) == 0:
        raise ValueError("sequences must hold at least one (T_i, F) array, got an empty list")
    arrays = [float_array(s, f"sequences[{k}]", dtype, "(T_i, F)", ndim=2)
              for k, s in enumerate(sequences)]
    features = arrays[0].shape[1]
    for k, a in enumerate(arrays):
        if a.shape[0] < 1:
            raise ValueError(f"sequences[{k}] must have at least one step, got shape {a.shape}")
        if a.shape[1] != features:
            raise ValueError(f"sequences[{k}] must have F = {features} features like "
                             f"sequences[0], got shape {a.shape}")
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    x = np.full((len(arrays), int(lengths.max()), features), value, dtype=dtype)
    for k, a in enumerate(arrays):
        x[k, :a.shape[0]] = a
    return x, lengths
