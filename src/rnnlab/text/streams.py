"""A text as B parallel streams cut into chunks, and the loss of a character model over them
with the state carried from chunk to chunk: how a long text is trained on (char-rnn's
batching) and measured.

Shapes: B streams (the batch), n steps per stream, L steps per chunk, V the vocabulary.

Notes
-----
The text's class ids c_0 .. c_{N-1} are cut into B contiguous streams of n = (N - 1) // B
steps: stream b reads c_{bn} .. c_{bn+n-1} and predicts the next character of each,
c_{bn+1} .. c_{bn+n} (the last N - 1 - Bn characters are left out). Chunk k holds steps
kL .. kL + L - 1 of every stream (the last chunk shorter), so consecutive chunks continue each
other, and the recurrent state at the end of chunk k is the state at the start of chunk k + 1.
The loss is the per-step softmax cross-entropy, natural log; bits per character are that
divided by ln 2.
"""

from __future__ import annotations

import math

import numpy as np

from rnnlab._checks import positive_int
from rnnlab.layers import no_grad
from rnnlab.losses import cross_entropy
from rnnlab.training.trainer import model_mode

LN2 = math.log(2.0)


class TextStreams:
    """Class ids cut into ``batch_size`` streams and chunks of ``seq_len`` steps.

    Parameters
    ----------
    ids : (N,) int
        The text, encoded (:meth:`rnnlab.text.Vocabulary.encode`).
    batch_size : int
        B, the parallel streams.
    seq_len : int
        L, the steps of a chunk (the truncation of BPTT in training).
    """

    def __init__(self, ids, batch_size: int, seq_len: int):
        ids = np.asarray(ids)
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            raise TypeError(f"ids must be a 1-D array of int class ids, got dtype {ids.dtype} "
                            f"and shape {ids.shape}")
        self.batch_size = positive_int(batch_size, "batch_size")
        self.seq_len = positive_int(seq_len, "seq_len")
        steps = (len(ids) - 1) // self.batch_size  # n
        if steps < 1:
            raise ValueError(f"the text is too short for {self.batch_size} streams: it has "
                             f"{len(ids)} characters, and each stream needs at least 2")
        used = self.batch_size * steps
        self.inputs = ids[:used].reshape(self.batch_size, steps)  # (B, n)
        self.targets = ids[1:used + 1].reshape(self.batch_size, steps)  # (B, n) the next
        self.steps = steps

    def __len__(self) -> int:
        """The number of chunks, ceil(n / L)."""
        return -(-self.steps // self.seq_len)

    def chunk(self, k: int) -> tuple:
        """``(x, y)`` of chunk ``k``: the ids read and the ids to predict, each (B, L_k)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < len(self):
            raise ValueError(f"k must be an int in [0, {len(self)}), got {k!r}")
        steps = slice(k * self.seq_len, (k + 1) * self.seq_len)
        return self.inputs[:, steps], self.targets[:, steps]


def stream_loss(model, streams: TextStreams) -> float:
    """The mean cross-entropy per character (nats) of ``model`` over every chunk of
    ``streams``, in evaluation mode, the state carried from chunk to chunk (zeros at the
    start); the model's mode is restored after. ``model`` is a Sequential from class ids
    (B, L) to logits (B, L, V)."""
    total, count, state = 0.0, 0, None
    with model_mode(model, training=False), no_grad():
        for k in range(len(streams)):
            x, y = streams.chunk(k)
            logits, state = model.forward(x, state=state, return_state=True)
            loss, _ = cross_entropy(logits, y, reduction="sum")
            total, count = total + loss, count + y.size
    return total / count


def bits_per_char(nats: float) -> float:
    """A cross-entropy in nats per character, in bits."""
    return nats / LN2


def unigram_entropy(ids, size: int) -> float:
    """The entropy in bits of the characters' frequencies in ``ids`` (of ``size`` classes):
    the bits per character of the best model without memory."""
    p = np.bincount(np.asarray(ids), minlength=positive_int(size, "size")) / len(ids)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def context_bits(model, ids, contexts, n: int = 1000, seed=0) -> list:
    """How much of the text before a character the model uses: for each k in ``contexts``,
    the mean bits per character of predicting c_p from the k characters before it alone
    (the state zero k steps back), over the same ``n`` positions p drawn at random from
    ``ids``. A curve that stops falling at k means nothing further back helps the model.

    Returns ``[(k, bits, standard error)]`` in the order of ``contexts``; the positions are
    the same for every k, so differences between k are paired and surer than the errors say.
    """
    ids = np.asarray(ids)
    contexts = [positive_int(k, "contexts") for k in contexts]
    n = positive_int(n, "n")
    if not contexts:
        raise ValueError("contexts must hold at least one k")
    if len(ids) <= max(contexts):
        raise ValueError(f"ids must be longer than the longest context, {max(contexts)}, "
                         f"got {len(ids)} characters")
    positions = np.random.default_rng(seed).integers(max(contexts), len(ids), size=n)
    out = []
    with model_mode(model, training=False), no_grad():
        for k in contexts:
            x = ids[positions[:, None] + np.arange(-k, 0)]  # (n, k): c_{p-k} .. c_{p-1}
            z = model.forward(x)[:, -1].astype(np.float64)  # (n, V)
            top = z.max(axis=1)
            log_p = z[np.arange(n), ids[positions]] - top - np.log(np.exp(z - top[:, None])
                                                                   .sum(axis=1))
            bits = -log_p / LN2
            out.append((k, float(bits.mean()), float(bits.std(ddof=1) / math.sqrt(n))
                        if n > 1 else float("nan")))
    return out
