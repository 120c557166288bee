"""The array namespace and the dtype policy.

All array math in rnnlab goes through the namespace returned by :func:`get_xp`. Today that
is NumPy alone: the compiled kernels run on the CPU through Numba. A GPU array (CuPy) is
refused with a message rather than copied behind the user's back; ``get_xp`` is where a
tested GPU path will plug in.

Parameters are floating point, ``float32`` (the default, as in PyTorch) or ``float64``
(for gradient checks and exact comparisons).
"""

from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
DEFAULT_DTYPE = np.dtype(np.float32)


def get_xp(*arrays):
    """Return the array namespace of ``arrays``: ``numpy``.

    Raises ``TypeError`` for a GPU array (CuPy, or a CUDA tensor's interface): rnnlab runs
    on the CPU; convert it first (``cupy.asnumpy(x)``).
    """
    for a in arrays:
        if type(a).__module__.split(".")[0] == "cupy" or hasattr(a, "__cuda_array_interface__"):
            raise TypeError(f"rnnlab runs on the CPU and takes NumPy arrays, got a GPU array "
                            f"({type(a).__module__}.{type(a).__name__}); convert it first, "
                            f"e.g. cupy.asnumpy(x)")
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
    if resolved is None or resolved not in FLOAT_DTYPES:  # (np.dtype("f8") == None is True)
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")
    return resolved
