"""Sequence-to-sequence tasks on digit strings: reverse them, sort them, copy them.

Shapes: n (or B) sequences, T = 2 N steps, V = D + 2 input tokens, K = D + 1 outputs per
step, where N is the longest string and D the number of digit symbols.

The classic tests of an encoder-decoder (Sutskever et al. 2014 reverse the source; Vinyals
et al. 2015 sort it), laid out as one sequence so that every model of the lab trains on the
same data with the same Trainer: a recurrent layer reads the string, then writes the answer;
an encoder-decoder (:class:`rnnlab.layers.Seq2Seq`) splits the sequence at the go token; a
Transformer reads it with a causal mask. With n the string's length (1 <= n <= N), the
sequence has 2n valid steps:

========== ================ ======= ====================== ==================
steps      0 .. n-1         n       n+1 .. 2n-1            2n .. 2N-1
========== ================ ======= ====================== ==================
input      s_1 .. s_n       go      a_1 .. a_{n-1}         padding
target     (not scored)     a_1     a_2 .. a_n             padding
========== ================ ======= ====================== ==================

where s is the source string and a the answer (reversed, sorted or copied). The input at an
answer step is the previous answer symbol (teacher forcing); a model that generates feeds
its own. Tokens: 0 is padding (and the unscored target of the reading steps), 1..D the
digits, D + 1 the go token; inputs are one-hot over these D + 2, the head has K = D + 1
outputs (class k is digit k; class 0 is never a target).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from rnnlab._checks import lengths_array
from rnnlab.data import SequenceData, lengths_to_mask
from rnnlab.losses import cross_entropy
from rnnlab.tasks.base import Task, class_target, generator, int_at_least

UNSCORED = 0  # the target at reading steps (and padding): never a class the model must give
DEFAULT_DIGITS = 10
SOLVED_ACCURACY = 0.95  # of the answer's symbols


@dataclasses.dataclass(frozen=True)
class Seq2SeqTask(Task):
    """Read a string of 1..N digits, then write its answer one symbol per step.

    Parameters
    ----------
    length : int >= 1
        N, the longest string; each string's length is drawn uniformly from 1..N.
    digits : int in [2, 100]
        D, the number of digit symbols.

    The metric is the accuracy over the answer's symbols (each sequence's share of right
    symbols, then the mean over the batch); solved at 0.95. The memoryless baseline is
    chance, 1 / D: an answer symbol depends on the whole source.
    """

    digits: int = DEFAULT_DIGITS

    per_step: ClassVar[bool] = True
    metric_name: ClassVar[str] = "accuracy"
    lower_is_better: ClassVar[bool] = False
    baseline_name: ClassVar[str] = "chance"
    verb: ClassVar[str] = ""  # "reverse": what the answer does to the source, for describe()

    def __post_init__(self):
        self._set("length", int_at_least(self.length, "length", 1))
        digits = int_at_least(self.digits, "digits", 2)
        if digits > 100:
            raise ValueError(f"digits must be an int in [2, 100], got {digits}")
        self._set("digits", digits)

    def answer(self, source, sizes):
        """The answer to each string: ``source`` (n, N) tokens padded with 0 and ``sizes``
        (n,) their lengths -> (n, N) tokens, padded with 0."""
        raise NotImplementedError

    @property
    def go(self) -> int:
        """The go token, D + 1."""
        return self.digits + 1

    @property
    def steps(self) -> int:
        """2 N: the longest string, then its answer."""
        return 2 * self.length

    @property
    def input_size(self) -> int:
        """D + 2: one-hot over padding, the D digits and go."""
        return self.digits + 2

    @property
    def output_size(self) -> int:
        """D + 1: logits of class 0 (never a target) and the D digits, per step."""
        return self.digits + 1

    @property
    def baseline(self) -> float:
        """1 / D, chance accuracy on every answer symbol."""
        return 1.0 / self.digits

    @property
    def threshold(self) -> float:
        """0.95: solved when at least this share of the answer symbols is right."""
        return SOLVED_ACCURACY

    def generate(self, n: int, seed) -> SequenceData:
        """n strings drawn from ``seed``, laid out as in the module's table.

        Returns
        -------
        SequenceData
            x (n, 2N, D + 2) float32 one-hot, y (n, 2N) int64 targets, lengths 2 n_i.
        """
        count = self._count(n)
        rng = generator(seed)
        size = self.length
        sizes = rng.integers(1, size + 1, size=count)  # (n,) each string's length
        symbols = rng.integers(1, self.digits + 1, size=(count, size))
        source = np.where(np.arange(size) < sizes[:, None], symbols, 0)  # (n, N)
        answer = self.answer(source, sizes)  # (n, N), padded with 0

        def at(a, index):  # a[i, index[i, p]], the index clipped into [0, N)
            return np.take_along_axis(a, np.clip(index, 0, size - 1), axis=1)

        p = np.arange(self.steps)[None, :]  # (1, 2N) the steps
        n = sizes[:, None]  # (n, 1)
        tokens = np.where(p < n, at(source, p),  # (n, 2N): s_1 .. s_n, go, a_1 .. a_{n-1}
                          np.where(p == n, self.go, np.where(p < 2 * n, at(answer, p - n - 1), 0)))
        target = np.where((p >= n) & (p < 2 * n), at(answer, p - n), UNSCORED)  # a_1 .. a_n
        x = np.eye(self.input_size, dtype=np.float32)[tokens]  # (n, 2N, D + 2)
        x[tokens == 0] = 0  # padding reads as zeros
        return SequenceData(x, target.astype(np.int64), 2 * sizes, per_step=True)

    def loss(self, prediction, target, mask=None) -> tuple:
        """Softmax cross-entropy over the answer steps (target > 0; the mask also selects),
        their mean, and its gradient (zero at the reading steps).

        Parameters
        ----------
        prediction : (B, T', D + 1) float logits
        target : (B, T') int
        mask : (B, T') bool, optional
        """
        self._check_prediction(prediction, target)
        target = class_target(target, self.output_size)
        scored = target != UNSCORED
        return cross_entropy(prediction, target, scored if mask is None else scored & mask)

    def metric(self, prediction, target, lengths=None) -> float:
        """Accuracy over the answer's symbols: each sequence's share of answer steps whose
        largest logit is the target, then the mean over the batch.

        Parameters
        ----------
        prediction : (B, T', D + 1) float logits
        target : (B, T') int
        lengths : (B,) int, optional
        """
        self._check_prediction(prediction, target)
        target = class_target(target, self.output_size)
        batch, steps = target.shape
        lengths = (np.full(batch, steps) if lengths is None
                   else lengths_array(lengths, batch, steps))
        scored = (target != UNSCORED) & lengths_to_mask(lengths, steps)  # (B, T')
        right = (np.asarray(prediction).argmax(axis=-1) == target) & scored
        per_sequence = right.sum(axis=1) / np.maximum(scored.sum(axis=1), 1)
        return float(per_sequence.mean())

    def describe(self) -> str:
        return (f"{self.name}: {self.verb} a string of 1..{self.length} digits of "
                f"{self.digits} ({self.steps} steps at most); accuracy per answer symbol, "
                f"chance {self.baseline:.3f}, solved at {self.threshold:g}")


@dataclasses.dataclass(frozen=True)
class ReverseTask(Seq2SeqTask):
    """Write the string backwards (Sutskever, Vinyals & Le 2014)."""

    name: ClassVar[str] = "reverse"
    verb: ClassVar[str] = "reverse"

    def answer(self, source, sizes):
        k = np.arange(source.shape[1])[None, :]
        back = np.clip(sizes[:, None] - 1 - k, 0, None)  # s_n, s_{n-1}, .., s_1
        return np.where(k < sizes[:, None], np.take_along_axis(source, back, axis=1), 0)


@dataclasses.dataclass(frozen=True)
class SortTask(Seq2SeqTask):
    """Write the string's digits in increasing order (Vinyals, Bengio & Kudlur 2015)."""

    name: ClassVar[str] = "sort"
    verb: ClassVar[str] = "sort"

    def answer(self, source, sizes):
        big = np.where(source > 0, source, np.iinfo(np.int64).max)  # padding sorts last
        ordered = np.sort(big, axis=1)
        return np.where(np.arange(source.shape[1])[None, :] < sizes[:, None], ordered, 0)


@dataclasses.dataclass(frozen=True)
class SeqCopyTask(Seq2SeqTask):
    """Write the string again as it was: the copy task of Graves et al. (2014) as a
    sequence-to-sequence problem, with variable lengths and no blank span."""

    name: ClassVar[str] = "seq-copy"
    verb: ClassVar[str] = "copy"

    def answer(self, source, sizes):
        return source.copy()
