"""The fast path: the three recurrences as pure functions over whole sequences.

Each driver (``rnn``, ``lstm``, ``gru``) has, side by side in one file with the cell's
numbered equations:

- ``forward(params, x, state0, mask=None, workspace=None, keep=None) -> (y, cache)``:
  ``params`` a :class:`Params` (PyTorch's layout and gate order), x (B, T, I), the initial
  state (B, H) (for the LSTM the pair (h_0, c_0)), ``mask`` (B, T) bool, True at valid steps
  (a padded step carries the state and outputs zero), ``workspace`` where the large arrays
  come from (:class:`~rnnlab.cells.common.Workspace`; a fresh one by default), ``keep``
  (B, H) variational recurrent dropout's mask m / (1 - p), which multiplies h_{t-1} where it
  enters the recurrent product W_hh h_{t-1}, the same at every step (Gal & Ghahramani 2016;
  :class:`~rnnlab.cells.common.MaskedProduct`); y (B, T, H) is h_t at every valid step,
  zero at padded ones; ``final_state(cache)`` is each sequence's state at its own last
  valid step.
- ``infer(params, x, state0, mask=None, workspace=None, keep=None) -> (y, final_state)``:
  the forward without a cache, for ``rnnlab.no_grad()`` (the same outputs up to the order
  of one sum, one block of rows of the batch per core).
- ``backward(params, cache, d_out, d_last=None, workspace=None) -> Grads``: dx (B, T, I),
  d_state0, the parameter gradients and ``d_states``, the total gradient reaching each
  step's state (for diagnostics).

``common`` holds the skeleton they share, ``gemm`` the per-step matrix product,
``threads`` and ``parallel`` the loops on rnnlab's own threads (one block of rows per core),
``compiled`` the Numba kernels. The plain NumPy specification they are
tested against is :mod:`rnnlab.reference`.
"""

from rnnlab.cells import gru, lstm, rnn
from rnnlab.cells.common import Grads, Params

__all__ = ["rnn", "lstm", "gru", "Params", "Grads"]
