"""The copy memory task: read 10 symbols, wait T steps, then write them back.

Shapes: n (or B) sequences, T + 20 steps, K = 9 outputs per step.

Arjovsky, Shah & Bengio (2016), after Hochreiter & Schmidhuber (1997). The first symbol must
be held for T + 10 steps, so the task measures how long a model remembers.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rnnlab._checks import lengths_array
from rnnlab.data import SequenceData, lengths_to_mask
from rnnlab.losses import cross_entropy
from rnnlab.tasks.base import Task, class_target, generator, int_at_least, log_softmax

BLANK = 0
SYMBOLS = 8  # the symbols are 1..8
DELIMITER = SYMBOLS + 1  # 9, the cue to start writing
COPIED = 10  # how many symbols are copied
ALPHABET = DELIMITER + 1  # 10 input tokens: blank, 8 symbols, delimiter
SOLVED_FRACTION = 0.1  # solved when the cross-entropy is below this share of the baseline


@dataclasses.dataclass(frozen=True)
class CopyTask(Task):
    """Copy 10 random symbols after a blank span of T steps.

    Parameters
    ----------
    length : int >= 1
        T, the blank span: the delimiter comes T steps after the last symbol.

    Notes
    -----
    Tokens: 0 blank, 1..8 symbols, 9 the delimiter; inputs are one-hot over these 10. A
    sequence of T + 20 steps reads

    ========= =============== ============== ========== ==========
    steps     0..9            10..T+8        T+9        T+10..T+19
    ========= =============== ============== ========== ==========
    input     s_1 .. s_10     blank          delimiter  blank
    target    blank           blank          blank      s_1 .. s_10
    ========= =============== ============== ========== ==========

    where each s_k is drawn uniformly from 1..8. The model's head has K = 9 outputs per step,
    the logits of blank and the 8 symbols (the delimiter is never a target, so it gets no
    output); class k is token k.

    The baseline is the per-step cross-entropy of the best predictor that remembers nothing:
    certain of blank for the first T + 10 steps, then uniform over the 8 symbols,

    .. math::

        \\frac{10 \\log 8}{T + 20}.

    Solved: cross-entropy below 0.1 times the baseline.
    """

    name = "copy"
    per_step = True
    metric_name = "cross_entropy"
    lower_is_better = True

    def __post_init__(self):
        self._set("length", int_at_least(self.length, "length", 1))

    @property
    def steps(self) -> int:
        """T + 20, the length of every sequence."""
        return self.length + 2 * COPIED

    @property
    def input_size(self) -> int:
        """10: one-hot over blank, the 8 symbols and the delimiter."""
        return ALPHABET

    @property
    def output_size(self) -> int:
        """9: logits of blank and the 8 symbols, per step."""
        return SYMBOLS + 1

    @property
    def baseline(self) -> float:
        """10 log(8) / (T + 20), the memoryless cross-entropy per step (see Notes)."""
        return COPIED * float(np.log(SYMBOLS)) / self.steps

    @property
    def threshold(self) -> float:
        """0.1 times the baseline: solved when the cross-entropy is below it."""
        return SOLVED_FRACTION * self.baseline

    def generate(self, n: int, seed) -> SequenceData:
        """n sequences drawn from ``seed`` (an int or a numpy.random.Generator).

        Returns
        -------
        SequenceData
            x (n, T + 20, 10) float32 one-hot, y (n, T + 20) int64 tokens, per step, all
            lengths T + 20.
        """
        n = self._count(n)
        rng = generator(seed)
        symbols = rng.integers(1, SYMBOLS + 1, size=(n, COPIED))  # (n, 10)
        tokens = np.full((n, self.steps), BLANK, dtype=np.int64)  # (n, T + 20)
        tokens[:, :COPIED] = symbols
        tokens[:, self.length + COPIED - 1] = DELIMITER
        target = np.full((n, self.steps), BLANK, dtype=np.int64)  # (n, T + 20)
        target[:, -COPIED:] = symbols
        x = np.eye(ALPHABET, dtype=np.float32)[tokens]  # (n, T + 20, 10)
        return SequenceData(x, target, per_step=True)

    def loss(self, prediction, target, mask=None) -> tuple:
        """Softmax cross-entropy, the mean over the steps (the mask selects), and its gradient.

        Parameters
        ----------
        prediction : (B, T', 9) float logits
        target : (B, T') int
        mask : (B, T') bool, optional

        Returns
        -------
        loss : float
        grad : (B, T', 9)
        """
        self._check_prediction(prediction, target)
        return cross_entropy(prediction, target, mask)

    def metric(self, prediction, target, lengths=None) -> float:
        """Cross-entropy per step: each sequence's mean over its valid steps, then the mean
        over the batch.

        Parameters
        ----------
        prediction : (B, T', 9) float logits
        target : (B, T') int
        lengths : (B,) int, optional
            Valid steps of each sequence; all T' by default.
        """
        self._check_prediction(prediction, target)
        target = class_target(target, self.output_size)
        batch, steps = target.shape
        lengths = (np.full(batch, steps) if lengths is None
                   else lengths_array(lengths, batch, steps))
        log_p = log_softmax(np.asarray(prediction, dtype=np.float64))  # (B, T', 9)
        picked = np.take_along_axis(log_p, target[..., None], axis=-1)[..., 0]  # (B, T')
        mask = lengths_to_mask(lengths, steps)  # (B, T')
        per_sequence = -(picked * mask).sum(axis=1) / mask.sum(axis=1)  # (B,)
        return float(per_sequence.mean())

    def copy_accuracy(self, prediction, target) -> float:
        """The share of the 10 copied symbols whose logit is the largest at its step.

        Parameters
        ----------
        prediction : (B, T + 20, 9) float logits
        target : (B, T + 20) int
        """
        self._check_prediction(prediction, target)
        if np.shape(target)[1] != self.steps:
            raise ValueError(f"target must span the whole sequence of T + 20 = {self.steps} "
                             f"steps, got shape {np.shape(target)}")
        guess = np.asarray(prediction)[:, -COPIED:].argmax(axis=-1)  # (B, 10)
        return float(np.mean(guess == np.asarray(target)[:, -COPIED:]))

    def describe(self) -> str:
        return (f"copy memory: copy {COPIED} symbols of {SYMBOLS} after a blank span of "
                f"T = {self.length} ({self.steps} steps); cross-entropy baseline "
                f"{self.baseline:.4f} per step, solved below {self.threshold:.4f}")
