"""Memory horizon: the longest gap at which a trained model still recovers information, and
the truncation length k2 it suggests for truncated BPTT.

Notes
-----
The horizon is measured, not inferred: the model is evaluated on fresh data of a task at each
gap g (``task.with_length(g)``) and the horizon is the longest g such that the task counts as
solved at g and at every shorter gap tried. A model trained at one gap may do better or worse
at others; for a horizon in the strict sense train on the longest gap (or a range of gaps)
and measure here.

The suggested k2 is the larger of two lengths. TBPTT(k1, k2) keeps only the gradient paths
of fewer than k2 steps, so k2 must cover the dependencies the model has to learn (the memory
horizon), and paths longer than the gradient horizon, where ||dh_T/dh_t|| has fallen below
``tol`` of its value at gap 0, contribute less than that fraction: cutting them changes
little.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnlab._checks import finite_number, non_negative_int, positive_int

TASK_METHODS = ("with_length", "generate", "metric", "solved", "baseline")



class MemoryHorizon(NamedTuple):
    """A trained model's metric at every gap tried, and the horizon it implies."""

    gaps: list  # the gaps tried, ascending
    metrics: list  # the task's metric at each gap
    solved: list  # whether the task counts as solved at each gap
    horizon: int | None  # the longest gap solved with every shorter gap solved; None if none
    baseline: list  # the memoryless baseline at each gap


def memory_horizon(model, task, gaps, n: int = 512, seed: int = 0,
                   batch_size: int = 256) -> MemoryHorizon:
    """Evaluate a trained model on ``task`` at each gap and find its memory horizon.

    Parameters
    ----------
    model : Module
        Maps (B, T, F) and lengths to the task's predictions.
    task : rnnlab.tasks.Task
        Knows ``with_length``, ``generate``, ``metric``, ``solved`` and ``baseline``.
    gaps : sequence of int
        The gaps (task lengths) to try.
    n : int
        Fresh sequences per gap.
    seed : int
        Seeds the evaluation data (gap g uses [seed, g]).
    batch_size : int
        Sequences per forward pass.

    Returns
    -------
    MemoryHorizon
    """
    if not callable(getattr(model, "forward", None)):
        raise TypeError(f"model must be a Module with forward(x, lengths), "
                        f"got {type(model).__name__}")
    if not all(hasattr(type(task), name) for name in TASK_METHODS):
        raise TypeError(f"task must be an rnnlab.tasks Task (with {', '.join(TASK_METHODS)}), "
                        f"got {type(task).__name__}")
    if isinstance(gaps, (str, bytes)) or not hasattr(gaps, "__iter__"):
        raise TypeError(f"gaps must be a sequence of ints, got {type(gaps).__name__} {gaps!r}")
    gaps = sorted({non_negative_int(g, f"gaps[{k}]") for k, g in enumerate(gaps)})
    if not gaps:
        raise ValueError("gaps must name at least one gap, got none")
    n = positive_int(n, "n")
    seed = non_negative_int(seed, "seed")
    batch_size = positive_int(batch_size, "batch_size")
    try:
        tasks = [task.with_length(gap) for gap in gaps]
    except (TypeError, ValueError) as err:
        raise ValueError(f"gaps must be lengths the task takes: {err}") from None
    metrics, solved, baselines = [], [], []
    for gap, at_gap in zip(gaps, tasks):
        data = at_gap.generate(n, np.random.default_rng([seed, gap]))
        total = 0.0
        for x, y, lengths in data.batches(batch_size):
            prediction = model.forward(x, lengths=lengths)
            total += at_gap.metric(prediction, y, lengths) * x.shape[0]
        metric = total / len(data)
        metrics.append(float(metric))
        solved.append(bool(at_gap.solved(metric)))
        baselines.append(float(at_gap.baseline))
    return MemoryHorizon(gaps, metrics, solved, horizon_of(gaps, solved), baselines)


def horizon_of(lengths, solved) -> int | None:
    """The longest length solved with every shorter length solved (lengths ascending)."""
    lengths, solved = list(lengths), list(solved)
    if len(solved) != len(lengths):
        raise ValueError(f"solved must hold one flag per length, got {len(solved)} flags for "
                         f"{len(lengths)} lengths")
    horizon = None
    for length, ok in zip(lengths, solved):
        if not ok:
            break
        horizon = int(length)
    return horizon


def gradient_horizon(gaps, norms, tol: float = 1e-3) -> int:
    """The first gap at which ||dh_T/dh_{T-gap}|| falls below ``tol`` times its value at
    gap 0; the last gap if it never does."""
    gaps, norms = np.asarray(gaps), np.asarray(norms)
    for name, values in (("gaps", gaps), ("norms", norms)):
        if values.dtype.kind not in "iuf":
            raise TypeError(f"{name} must hold numbers, got dtype {values.dtype}")
    norms = norms.astype(float)
    if gaps.shape != norms.shape or gaps.ndim != 1 or gaps.size == 0:
        raise ValueError(f"gaps and norms must have the same non-empty shape (G,), got "
                         f"{gaps.shape} and {norms.shape}")
    if np.isnan(norms).any():  # +inf is a measurement (an exploding gradient); NaN is not
        raise ValueError(f"norms must not hold NaN, got {int(np.isnan(norms).sum())}")
    if not 0.0 < finite_number(tol, "tol") < 1.0:
        raise ValueError(f"tol must be in (0, 1), got {tol!r}")
    below = np.nonzero(norms < tol * norms[0])[0]
    return int(gaps[below[0]] if below.size else gaps[-1])


def suggest_k2(memory: int | None, gaps, norms, tol: float = 1e-3) -> int:
    """A truncation length for TBPTT(k1, k2): long enough for the memory horizon and for the
    gradient to have fallen below ``tol`` (see the module notes)."""
    if memory is not None:
        memory = non_negative_int(memory, "memory")
    return max(memory or 1, gradient_horizon(gaps, norms, tol), 1)
