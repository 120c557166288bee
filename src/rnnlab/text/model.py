"""A character-level language model and one update of its training on a chunk of text
streams, the state carried in from the chunk before (truncated BPTT: the gradient stops at
the chunk's start; Williams & Peng 1990, Sutskever 2013).

Shapes: B streams, L steps of a chunk, V the vocabulary, E the embedding, H hidden units.
"""

from __future__ import annotations

import numpy as np

from rnnlab._checks import boolean, one_of, positive_int, probability
from rnnlab._checks import seed as check_seed
from rnnlab.layers import GRU, LSTM, RNN, Embedding, Linear, OneHot, Sequential
from rnnlab.losses import cross_entropy
from rnnlab.optim import clip_grad_norm_

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


class CharLM(Sequential):
    """A character-level language model: class ids (B, L) to the logits (B, L, V) of the next
    character. A :class:`~rnnlab.layers.Sequential` of

        Embedding (V, E), or OneHot (V) with ``one_hot=True``
        -> ``num_layers`` recurrent layers of ``cell`` (``dropout`` between them)
        -> Linear (H -> V)

    so ``forward``/``backward``, ``step`` (sampling), ``state_dict`` (PyTorch's names, under
    "0.", "1.", "2.") and the carried ``state`` are Sequential's.

    Parameters
    ----------
    vocabulary_size : int
        V.
    cell : {"rnn", "lstm", "gru"}
    hidden_size, num_layers : int
        H and the recurrent layers stacked.
    embedding_size : int, optional
        E; ``min(H, V)`` when not given. Not with ``one_hot``.
    dropout : float
        Between stacked recurrent layers, in training mode.
    one_hot : bool
        Read each character as its one-hot vector (V inputs, nothing learned there) instead
        of a learned embedding, as min-char-rnn does.
    dtype, seed
        As every layer's.
    """

    def __init__(self, vocabulary_size: int, cell: str = "lstm", hidden_size: int = 256,
                 num_layers: int = 2, embedding_size: int | None = None, dropout: float = 0.0,
                 *, one_hot: bool = False, dtype="float32", seed=None):
        vocabulary_size = positive_int(vocabulary_size, "vocabulary_size")
        one_of(cell, "cell", tuple(CELLS))
        hidden_size = positive_int(hidden_size, "hidden_size")
        if boolean(one_hot, "one_hot") and embedding_size is not None:
            raise ValueError(f"embedding_size must be None with one_hot=True (the input is "
                             f"the one-hot vector of V = {vocabulary_size}), got "
                             f"{embedding_size!r}")
        rng = np.random.default_rng(check_seed(seed))
        if one_hot:
            reader, size = OneHot(vocabulary_size, dtype=dtype), vocabulary_size
        else:
            size = min(hidden_size, vocabulary_size) if embedding_size is None else \
                positive_int(embedding_size, "embedding_size")
            reader = Embedding(vocabulary_size, size, dtype=dtype, seed=rng)
        super().__init__(
            reader,
            CELLS[cell](size, hidden_size, positive_int(num_layers, "num_layers"),
                        dropout=probability(dropout, "dropout"), dtype=dtype, seed=rng),
            Linear(hidden_size, vocabulary_size, dtype=dtype, seed=rng))
        self.vocabulary_size, self.cell, self.one_hot = vocabulary_size, cell, one_hot


char_model = CharLM  # its first name, kept


def train_chunk(model, optimizer, x, y, state=None, clip_norm: float | None = 5.0,
                skip: int = 0) -> tuple:
    """One update on a chunk: forward from ``state`` over x (B, L) ids, the mean per-step
    cross-entropy against y (B, L) over the steps from ``skip`` on, backward through the whole
    chunk, the gradient norm clipped to ``clip_norm`` (None: not clipped), an optimizer step.

    With ``skip`` = k2 - k1 this is one update of TBPTT(k1, k2): the chunk re-reads the
    k2 - k1 steps before its k1 new ones, so their losses' gradients reach k2 steps back.

    Returns
    -------
    loss : float
        The mean cross-entropy (nats per character) of the steps from ``skip`` on, before
        the update.
    state : list
        The recurrent state at the chunk's end (a constant to whoever starts from it: the
        gradient is truncated at chunk boundaries).
    """
    optimizer.zero_grad()
    logits, final = model.forward(x, state=state, return_state=True)
    if skip:
        mask = np.zeros(y.shape, dtype=bool)
        mask[:, skip:] = True
        loss, d_logits = cross_entropy(logits, y, mask)
    else:
        loss, d_logits = cross_entropy(logits, y)
    model.backward(d_logits)
    if clip_norm is not None:
        clip_grad_norm_(model, clip_norm)
    optimizer.step()
    return float(loss), final
