"""The adding problem: add the two marked numbers of a long sequence.

Shapes: n (or B) sequences, T steps.

Hochreiter & Schmidhuber (1997), experiment 4; in the form of Le, Jaitly & Hinton (2015) and
Arjovsky, Shah & Bengio (2016). The two marked values can be up to T - 1 steps apart, and the
answer needs both, so a model must carry the first across the gap.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rnnlab.data import SequenceData
from rnnlab.losses import mse_loss
from rnnlab.tasks.base import Task, generator, int_at_least

VALUE, MARKER = 0, 1  # the two input channels
SOLVED_MSE = 0.01  # the usual bar (Le et al. 2015; Arjovsky et al. 2016)


@dataclasses.dataclass(frozen=True)
class AddingTask(Task):
    """Add the two marked values of a sequence of T uniform numbers.

    Parameters
    ----------
    length : int >= 2
        T, the number of steps.

    Notes
    -----
    Each sequence x (T, 2) has

    .. math::

        x_{t,0} = u_t \\sim U[0, 1], \\qquad
        x_{t,1} = [t = a] + [t = b], \\qquad y = u_a + u_b,

    where a is drawn uniformly from the first half, the steps t < T/2, and b from the second
    half, T/2 <= t < T (for odd T the first half has the extra step).

    The baseline is the MSE of the best constant prediction, the mean E[y] = 1:

    .. math::

        E[(y - 1)^2] = \\mathrm{Var}(u_a + u_b) = 2 \\cdot \\tfrac{1}{12} = \\tfrac{1}{6},

    which is what a model that forgets the marked values achieves. Solved: MSE < 0.01.
    """

    name = "adding"
    per_step = False
    metric_name = "mse"
    lower_is_better = True

    def __post_init__(self):
        self._set("length", int_at_least(self.length, "length", 2))

    @property
    def input_size(self) -> int:
        """2: the value and the marker."""
        return 2

    @property
    def output_size(self) -> int:
        """1: the sum."""
        return 1

    @property
    def baseline(self) -> float:
        """1/6, the MSE of predicting the constant 1 = E[u_a + u_b] (see Notes)."""
        return 1.0 / 6.0

    @property
    def threshold(self) -> float:
        """0.01: solved when the MSE is below it."""
        return SOLVED_MSE

    def generate(self, n: int, seed) -> SequenceData:
        """n sequences drawn from ``seed`` (an int or a numpy.random.Generator).

        Returns
        -------
        SequenceData
            x (n, T, 2) float32, y (n, 1) float32, all lengths T.
        """
        n = self._count(n)
        rng = generator(seed)
        steps = self.length
        half = (steps + 1) // 2  # the steps t < T/2
        values = rng.random((n, steps))  # (n, T)
        first = rng.integers(0, half, size=n)  # (n,)
        second = rng.integers(half, steps, size=n)  # (n,)
        rows = np.arange(n)
        x = np.zeros((n, steps, 2), dtype=np.float32)
        x[:, :, VALUE] = values
        x[rows, first, MARKER] = 1.0
        x[rows, second, MARKER] = 1.0
        # The sum of the float32 values the model sees, so that an exact model has MSE 0.
        y = x[rows, first, VALUE] + x[rows, second, VALUE]  # (n,)
        return SequenceData(x, y[:, None].astype(np.float32))

    def loss(self, prediction, target, mask=None) -> tuple:
        """Mean squared error (no 1/2) and its gradient.

        Parameters
        ----------
        prediction : (B, 1) float
        target : (B, 1) float
        mask : (B,) bool, optional

        Returns
        -------
        loss : float
        grad : (B, 1), 2 (prediction - target) / B
        """
        self._check_prediction(prediction, target)
        return mse_loss(prediction, target, mask)

    def metric(self, prediction, target, lengths=None) -> float:
        """The mean squared error over the batch (``lengths`` is not used: one target per
        sequence)."""
        self._check_prediction(prediction, target)
        diff = np.asarray(prediction, dtype=np.float64) - np.asarray(target, dtype=np.float64)
        return float(np.mean(diff * diff))

    def describe(self) -> str:
        return (f"adding problem: T = {self.length} steps, predict the sum of the two marked "
                f"U[0, 1] values; MSE baseline {self.baseline:.4f} (predict 1), "
                f"solved below {self.threshold}")
