"""The specification: plain NumPy forward and backward passes of each recurrence (and of the
layer-normalized cells, ``ln_rnn``, ``ln_lstm``, ``ln_gru``, with layer normalization
itself, ``layernorm``).

One layer, one direction, a batch with optional masks for variable lengths. Each file holds
a cell's forward and its backward side by side, in the style of Karpathy's min-char-rnn: one
loop over t forward, one reversed loop backward, the same numbered equations tagging both,
no workspace, no compiled code. They are written to be read, and to be right; the fast cells
(``rnnlab.cells``) are tested against them to 1e-12 in float64 for every cell and option
(``tests/test_reference.py``), and ``rnnlab explain`` computes its worked example through
:mod:`rnnlab.reference.rnn`.

Every cell has the same interface::

    y, state_T, cache = forward(params, x, state0, mask=None)       # RNN: nonlinearity=
    grads = backward(params, cache, dy, d_state_T=None)

with ``params`` the dict ``{"weight_ih", "weight_hh", "bias_ih", "bias_hh"}`` (PyTorch's
names and shapes, the biases optional), x (B, T, I), a state (B, H) (for the LSTM the pair
(h, c)), mask (B, T) bool (True at valid steps), y (B, T, H), and ``grads`` a dict of
dL/d(every parameter), ``"x"`` and ``"state0"``.
"""

from rnnlab.reference import gru, lstm, rnn

__all__ = ["rnn", "lstm", "gru"]
