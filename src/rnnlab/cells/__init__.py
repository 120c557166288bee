"""The fast path: the three recurrences as pure functions over whole sequences.

Each driver (``rnn``, ``lstm``, ``gru``) has ``forward(params, x, state0, mask) -> (y, cache)``
and ``backward(params, cache, d_out, d_last) -> Grads``, side by side in one file, with the
cell's numbered equations; ``common`` holds the skeleton they share, ``gemm`` the per-step
matrix product, ``compiled`` the Numba kernels. The plain NumPy specification they are
tested against is :mod:`rnnlab.reference`.
"""

from rnnlab.cells import gru, lstm, rnn
from rnnlab.cells.common import Grads, Params

__all__ = ["rnn", "lstm", "gru", "Params", "Grads"]
