"""The three recurrences as pure functions over whole sequences.

Each module (``rnn``, ``lstm``, ``gru``) has ``forward(params, x, state0, mask) -> (y, cache)``
and ``backward(params, cache, d_out, d_last) -> Grads``, side by side in one file.
"""

from rnnlab.cells import gru, lstm, rnn
from rnnlab.cells.common import Grads, Params

__all__ = ["rnn", "lstm", "gru", "Params", "Grads"]
