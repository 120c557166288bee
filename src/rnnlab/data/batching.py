"""Data at the training level: a padded set cut into (shuffled, bucketed) batches, splits,
and endless seeded streams of fresh batches.

Shapes: N sequences, B batch, T steps (the longest sequence), F features.
"""

from __future__ import annotations

import numpy as np

from rnnlab._checks import boolean, float_array, lengths_array, positive_int
from rnnlab._checks import seed as check_seed


class SequenceData:
    """Padded sequences with their lengths and targets, ready to be cut into batches.

    Parameters
    ----------
    x : (N, T, F) float
        Padded inputs; steps at or after ``lengths[n]`` are padding.
    y : (N, ...) or (N, T, ...) array
        Targets: one per sequence, or one per step when ``per_step`` is True.
    lengths : (N,) int, optional
        1 <= lengths <= T; all T by default.
    per_step : bool
        Whether ``y`` has a time axis (many-to-many), trimmed with ``x`` in each batch.
    weight : (N,) non-negative numbers, optional
        Each sequence's weight in the loss (scikit-learn's ``sample_weight``); None: all 1.

    Examples
    --------
    >>> x, lengths = pad_sequences(list_of_arrays)
    >>> data = SequenceData(x, labels, lengths)
    >>> for xb, yb, lb in data.batches(32, shuffle=True, seed=0, bucket=True): ...
    """

    def __init__(self, x, y, lengths=None, per_step: bool = False, weight=None):
        per_step = boolean(per_step, "per_step")
        x = float_array(x, "x", None, "(N, T, F)", ndim=3)
        count, steps, _ = x.shape
        if count < 1 or steps < 1:
            raise ValueError(f"x must hold at least one sequence of one step, got shape {x.shape}")
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"y must hold numbers (class indices or float targets), "
                            f"got dtype {y.dtype}")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError(f"y must be finite, got {int((~np.isfinite(y)).sum())} NaN or "
                             f"infinite value(s)")
        if y.ndim < 1 or y.shape[0] != count:
            raise ValueError(f"y must have one target per sequence, N = {count}, "
                             f"got shape {y.shape}")
        if per_step and (y.ndim < 2 or y.shape[1] != steps):
            raise ValueError(f"y must have shape (N, T, ...) = ({count}, {steps}, ...) for "
                             f"per-step targets, got {y.shape}")
        lengths = (np.full(count, steps, dtype=np.int64) if lengths is None
                   else lengths_array(lengths, count, steps))
        if weight is not None:
            weight = np.asarray(weight)
            if weight.dtype.kind not in "biuf" or weight.shape != (count,):
                raise ValueError(f"weight must hold one number per sequence, shape ({count},), "
                                 f"got dtype {weight.dtype} and shape {weight.shape}")
            weight = weight.astype(np.float64)
            if not np.isfinite(weight).all() or (weight < 0).any():
                raise ValueError("weight must hold finite non-negative numbers")
        self.x, self.y, self.lengths, self.per_step = x, y, lengths, per_step
        self.weight = weight

    def __len__(self) -> int:
        return self.x.shape[0]

    def subset(self, index) -> "SequenceData":
        """The sequences at ``index`` (an int array), trimmed to their longest length."""
        index = np.asarray(index)
        if index.size == 0:
            raise ValueError("index must select at least one sequence, got none")
        if index.dtype.kind not in "iu":
            raise TypeError(f"index must hold integer positions, got dtype {index.dtype}")
        if index.min() < 0 or index.max() >= len(self):
            raise ValueError(f"index must lie in [0, N) = [0, {len(self)}), "
                             f"got min {index.min()} and max {index.max()}")
        lengths = self.lengths[index]
        steps = int(lengths.max())
        y = self.y[index]
        if self.per_step:
            y = y[:, :steps]
        return SequenceData(self.x[index, :steps], y, lengths, self.per_step,
                            None if self.weight is None else self.weight[index])

    def batches(self, batch_size: int, shuffle: bool = False, seed=None, bucket: bool = False):
        """Yield ``(x, y, lengths)`` batches, each trimmed to its longest sequence.

        See :func:`batch_indices` for ``shuffle``, ``seed`` and ``bucket``.
        """
        for index in batch_indices(self.lengths, batch_size, shuffle, seed, bucket):
            part = self.subset(index)
            yield part.x, part.y, part.lengths


def batch_indices(lengths, batch_size: int, shuffle: bool = False, seed=None,
                  bucket: bool = False) -> list:
    """Split the sequences 0..N-1 into batches of indices.

    Parameters
    ----------
    lengths : (N,) int
        The sequences' lengths (only their order matters, for bucketing).
    batch_size : int
        Sequences per batch; the last batch may be smaller.
    shuffle : bool
        Visit the sequences in a random order drawn from ``seed``.
    seed : int or numpy.random.Generator, optional
        The same seed gives the same batches.
    bucket : bool
        Put sequences of similar length together (sort by length, ties in random order when
        shuffling), then shuffle the order of the batches: far less padding per batch, at the
        price of batches that are not i.i.d.

    Returns
    -------
    list of (b,) int64 arrays
    """
    batch_size = positive_int(batch_size, "batch_size")
    shuffle, bucket = boolean(shuffle, "shuffle"), boolean(bucket, "bucket")
    check_seed(seed)
    lengths = np.asarray(lengths)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths)) if shuffle else np.arange(len(lengths))
    if bucket:
        order = order[np.argsort(lengths[order], kind="stable")]
    batches = [order[k:k + batch_size] for k in range(0, len(order), batch_size)]
    if bucket and shuffle:
        batches = [batches[k] for k in rng.permutation(len(batches))]
    return batches


def train_val_split(n: int, val_fraction: float = 0.2, seed=None, stratify=None) -> tuple:
    """Random train and validation indices for ``n`` sequences.

    Parameters
    ----------
    n : int
        The number of sequences.
    val_fraction : float in (0, 1)
        The share held out for validation (rounded, at least one sequence, at least one left).
    seed : int or numpy.random.Generator, optional
    stratify : (n,) array, optional
        Class labels: each class is split in the same proportion (at least one of every class
        with two or more members goes to training and to validation where it can).

    Returns
    -------
    train, val : int64 arrays of indices, disjoint, together 0..n-1, each sorted
    """
    n = positive_int(n, "n")
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) \
            or not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction!r}")
    if n < 2:
        raise ValueError(f"n must be at least 2 to split into train and validation, got {n}")
    rng = np.random.default_rng(check_seed(seed))
    if stratify is None:
        groups = [np.arange(n)]
    else:
        stratify = np.asarray(stratify)
        if stratify.shape != (n,):
            raise ValueError(f"stratify must have shape (n,) = ({n},), got {stratify.shape}")
        _, codes = np.unique(stratify, return_inverse=True)
        groups = [np.flatnonzero(codes == c) for c in range(codes.max() + 1)]
    val = []
    for group in groups:
        group = rng.permutation(group)
        take = int(round(val_fraction * len(group)))
        take = min(max(take, 1 if len(group) > 1 else 0), len(group) - 1)
        val.append(group[:take])
    val = np.sort(np.concatenate(val)).astype(np.int64)
    if val.size == 0:
        val = np.sort(rng.permutation(n)[:1]).astype(np.int64)
    train = np.setdiff1d(np.arange(n), val).astype(np.int64)
    return train, val


# -- streams -------------------------------------------------------------------------------
class SequenceStream:
    """An endless, seeded stream of fresh batches: batch k is drawn from its own seed.

    Synthetic tasks can draw new sequences for every update, so that a model never sees a
    sequence twice and cannot fit a fixed training set. Batch k is drawn from
    ``numpy.random.default_rng([*seed, k])`` alone: the same seed gives the same batches in
    any order, a resumed run continues the stream exactly where it stopped, and the stream
    shares no draws with sets drawn from other seeds (a validation or test set).

    Parameters
    ----------
    draw : callable
        ``draw(n, rng) -> SequenceData``: n sequences drawn from the Generator ``rng``
        (a task's ``generate``).
    seed : int or sequence of ints >= 0
        The stream's seed.

    Examples
    --------
    >>> stream = SequenceStream(make_task("adding", 100).generate, seed=(0, 1))
    >>> x, y, lengths = stream.batch(0, 32)  # the same arrays for the same seed and k
    """

    def __init__(self, draw, seed):
        if not callable(draw):
            raise TypeError(f"draw must be callable as draw(n, rng), got {type(draw).__name__}")
        parts = (seed,) if np.ndim(seed) == 0 else tuple(seed)
        for part in parts:
            if isinstance(part, bool) or not isinstance(part, (int, np.integer)) or part < 0:
                raise ValueError(f"seed must be an int >= 0 or a sequence of them, got {seed!r}")
        self.draw, self.seed = draw, tuple(int(p) for p in parts)

    def batch(self, k: int, batch_size: int) -> tuple:
        """``(x, y, lengths)`` of batch ``k`` (an int >= 0): ``batch_size`` fresh sequences."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"k must be an int >= 0, got {k!r}")
        batch_size = positive_int(batch_size, "batch_size")
        data = self.draw(batch_size, np.random.default_rng([*self.seed, int(k)]))
        if not isinstance(data, SequenceData):
            raise TypeError(f"draw must return a SequenceData, got {type(data).__name__}")
        return data.x, data.y, data.lengths  # fresh arrays, padded to their longest

    def __repr__(self) -> str:
        name = getattr(self.draw, "__qualname__", repr(self.draw))
        return f"SequenceStream({name}, seed={self.seed})"
