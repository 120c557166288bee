"""An encoder-decoder on the one-sequence layout of the sequence-to-sequence tasks
(:mod:`rnnlab.tasks.seq2seq`), so that it trains with the same Trainer, loss and metric as a
recurrent layer or a Transformer reading the whole sequence.

Shapes: B batch, T = 2N steps of the layout, V = D + 2 input tokens, K = D + 1 classes, S
the longest string of the batch.

Notes
-----
A sequence of 2n valid steps holds the string s_1..s_n, then go, a_1..a_{n-1}; the targets
at steps n..2n-1 are a_1..a_n. The adapter cuts it in two and puts the answers back:

Forward:  (1) src = steps 0..n-1 (B, S, V), src_lengths = n = lengths / 2
          (2) tgt_in = the tokens at steps n..2n-1 (go as the decoder's start token K)
          (3) z = Seq2Seq(src, src_lengths, tgt_in)                (B, S, K)
          (4) output[:, n + j] = z[:, j] for j < n; 0 at every other step
Backward: (4) dz[:, j] = d_output[:, n + j] for j < n, else 0
          (3) d_src = Seq2Seq's backward (BPTT through decoder, attention and encoder)
          (1) dx[:, :S] = d_src; 0 at the answer steps (tokens get no gradient)

The reading steps' outputs are 0, and the tasks do not score them.
"""

from __future__ import annotations

import numpy as np

from rnnlab._checks import expect_shape, float_array, lengths_array
from rnnlab.layers import Module, Seq2Seq
from rnnlab.tasks.seq2seq import Seq2SeqTask


class EncoderDecoder(Module):
    """A :class:`rnnlab.layers.Seq2Seq` reading a sequence-to-sequence task's layout.

    Parameters
    ----------
    task : Seq2SeqTask
        Gives the sizes: V inputs, K classes, the go token.
    hidden_size : int
    cell : {"lstm", "gru", "rnn"}
    attention : {"additive", "general", "dot", None}
    num_layers : int
    dtype, seed : as every module's

    The parameters are the Seq2Seq's, under ``seq2seq.*``; ``attention_weights`` (B, S, S)
    holds the last forward's alpha (answer step by source step).
    """

    uses_lengths = True

    def __init__(self, task, hidden_size, cell="lstm", attention="additive", num_layers=1, *,
                 dtype=None, seed=None):
        if not isinstance(task, Seq2SeqTask):
            raise TypeError(f"task must be a sequence-to-sequence task (reverse, sort, "
                            f"seq-copy), got {type(task).__name__}")
        self.seq2seq = Seq2Seq(task.input_size, task.output_size, hidden_size, cell, attention,
                               num_layers, dtype=dtype, seed=seed)
        super().__init__(self.seq2seq.dtype)
        self.input_size, self.output_size, self.go = task.input_size, task.output_size, task.go
        self._add_child("seq2seq", self.seq2seq)

    @property
    def attention_weights(self):
        return self.seq2seq.attention_weights

    def _answer_steps(self, half, steps: int):
        """(B, S) the layout's step of answer j for every sequence, clipped into [0, T), and
        (B, S) whether j < n (a real answer step)."""
        j = np.arange(half.max())[None, :]
        return np.minimum(half[:, None] + j, steps - 1), j < half[:, None]

    def forward(self, x, lengths=None):
        """(B, T, V) one-hot layout -> (B, T, K) logits at the answer steps, 0 elsewhere."""
        x = float_array(x, "x", self.dtype, "(B, T, V)", ndim=3)
        batch, steps, features = x.shape
        if features != self.input_size:
            raise ValueError(f"x must have V = {self.input_size} features, got shape {x.shape}")
        lengths = np.full(batch, steps) if lengths is None else \
            lengths_array(lengths, batch, steps)
        if (lengths % 2).any():
            raise ValueError("lengths must be even, 2n for a string of n symbols (the layout "
                             "of rnnlab.tasks.seq2seq)")
        half = lengths // 2  # (B,) n
        where, valid = self._answer_steps(half, steps)  # (B, S)
        src = x[:, :half.max()]  # (1) (B, S, V)
        fed = np.take_along_axis(x, where[..., None], axis=1).argmax(axis=-1)  # (2) (B, S)
        tgt_in = np.where(fed == self.go, self.output_size, fed)
        tgt_in = np.where(valid, tgt_in, 0)
        z = self.seq2seq.forward(src, half, tgt_in)  # (3) (B, S, K)
        b, j = np.nonzero(valid)  # every (sequence, answer step j < n)
        out = np.zeros((batch, steps, self.output_size), dtype=z.dtype)
        out[b, where[b, j]] = z[b, j]  # (4)
        self._save_for_backward((x.shape, z.shape, b, j, where[b, j]))
        return out

    def backward(self, d_output):
        """dL/d output (B, T, K) -> dL/dx (B, T, V); the Seq2Seq's gradients accumulate."""
        shape, z_shape, b, j, steps = self._saved()
        d_output = float_array(d_output, "d_output", self.dtype, "(B, T, K)", ndim=3)
        expect_shape(d_output, "d_output", shape[:2] + (self.output_size,), "(B, T, K)")
        self._mark_read()
        d_z = np.zeros(z_shape, dtype=d_output.dtype)
        d_z[b, j] = d_output[b, steps]  # (4)
        d_src = self.seq2seq.backward(d_z)  # (3)
        dx = np.zeros(shape, dtype=d_src.dtype)
        dx[:, :d_src.shape[1]] = d_src  # (1)
        return dx

    def __repr__(self) -> str:
        return f"EncoderDecoder({self.seq2seq!r})"
