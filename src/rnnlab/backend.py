"""The array namespace and the dtype policy.

All array math in rnnlab goes through the namespace returned by :func:`get_xp`, which
follows the data: NumPy arrays give ``numpy``; CuPy arrays (when CuPy is installed) give
``cupy``. There is no global switch, so the same call on the same data always takes the
same path.

Parameters are floating point, ``float32`` (the default, as in PyTorch) or ``float64``
(for gradient checks and exact comparisons).
"""

from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
DEFAULT_DTYPE = np.dtype(np.float32)


def get_xp(*arrays):
    """Return the array namespace (``numpy`` or ``cupy``) that owns ``arrays``."""
    for a in arrays:
        if type(a).__module__.split(".")[0] == "cupy":
            import cupy  # optional extra; only reached when a CuPy array is passed

            return cupy
    return np


def resolve_dtype(dtype) -> np.dtype:
    """Return ``dtype`` as a NumPy float dtype, or raise ``TypeError`` naming it.

    ``None`` gives the default, ``float32``.
    """
    if dtype is None:
        return DEFAULT_DTYPE
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")
    return resolved
