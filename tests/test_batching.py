"""Batching of variable-length sequences: every sequence once per epoch, seeded shuffling,
bucketing that cuts padding, batches trimmed to their longest sequence, and splits."""

import numpy as np
import pytest

from rnnlab.data import SequenceData, batch_indices, train_val_split


def lengths_case(count=103, seed=0):
    return np.random.default_rng(seed).integers(1, 40, size=count)


@pytest.mark.parametrize("shuffle,bucket", [(False, False), (True, False), (True, True),
                                            (False, True)])
def test_every_sequence_once(shuffle, bucket):
    batches = batch_indices(lengths_case(), 10, shuffle, seed=1, bucket=bucket)
    assert [len(b) for b in batches].count(10) == 10
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(103))


def test_seeded_shuffle_is_reproducible_and_differs_by_seed():
    lengths = lengths_case()
    a = batch_indices(lengths, 10, True, seed=5)
    b = batch_indices(lengths, 10, True, seed=5)
    c = batch_indices(lengths, 10, True, seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    np.testing.assert_array_equal(np.concatenate(batch_indices(lengths, 10)), np.arange(103))


def test_bucketing_cuts_padding():
    lengths = lengths_case()

    def padded_steps(batches):
        return sum(len(b) * lengths[b].max() for b in batches)

    plain = padded_steps(batch_indices(lengths, 10, True, seed=0))
    bucketed = padded_steps(batch_indices(lengths, 10, True, seed=0, bucket=True))
    assert bucketed < 0.75 * plain
    assert bucketed - lengths.sum() < 0.1 * lengths.sum()


def test_batches_are_trimmed_and_keep_targets_aligned():
    rng = np.random.default_rng(0)
    lengths = np.array([5, 2, 3, 7, 1])
    x = rng.standard_normal((5, 7, 3))
    y_step = rng.integers(0, 4, size=(5, 7))
    data = SequenceData(x, y_step, lengths, per_step=True)
    for xb, yb, lb in data.batches(2, shuffle=True, seed=3):
        assert xb.shape[1] == lb.max() and yb.shape == xb.shape[:2]
        for row in range(len(lb)):
            k = int(np.flatnonzero(lengths == lb[row])[0])
            np.testing.assert_array_equal(xb[row, :lb[row]], x[k, :lb[row]])
            np.testing.assert_array_equal(yb[row, :lb[row]], y_step[k, :lb[row]])
    one = SequenceData(x, np.arange(5), lengths)
    part = one.subset([1, 2])
    assert part.x.shape == (2, 3, 3) and list(part.y) == [1, 2]


def test_sequence_data_checks():
    x = np.zeros((4, 6, 2))
    with pytest.raises(ValueError, match="y must have one target per sequence"):
        SequenceData(x, np.zeros(3))
    with pytest.raises(ValueError, match=r"y must have shape \(N, T, ...\)"):
        SequenceData(x, np.zeros((4, 5)), per_step=True)
    with pytest.raises(ValueError, match="lengths must lie in"):
        SequenceData(x, np.zeros(4), lengths=[1, 2, 7, 3])
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        batch_indices([1, 2], 0)


def test_train_val_split():
    train, val = train_val_split(100, 0.2, seed=0)
    assert len(val) == 20 and len(train) == 80
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(100))
    labels = np.repeat(np.array(["a", "b", "c"]), [50, 30, 20])
    train, val = train_val_split(100, 0.2, seed=1, stratify=labels)
    assert [int((labels[val] == c).sum()) for c in "abc"] == [10, 6, 4]
    again = train_val_split(100, 0.2, seed=1, stratify=labels)
    np.testing.assert_array_equal(again[1], val)
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(10, 1.5)
    with pytest.raises(ValueError, match="stratify"):
        train_val_split(10, 0.5, stratify=np.zeros(9))
