"""Streams of fresh sequences: seeded, batch by batch, apart from the fixed sets; the
Trainer's budget in updates, its rounds of validation, and a bitwise resume mid-stream."""

import numpy as np
import pytest

from rnnlab.data import SequenceData, SequenceStream
from rnnlab.experiments.models import build_model
from rnnlab.optim import Adam
from rnnlab.tasks import make_task
from rnnlab.training import TrainConfig, Trainer


@pytest.mark.parametrize("name", ["adding", "copy", "language"])
def test_a_stream_gives_the_same_batches_for_the_same_seed(name):
    task = make_task(name, 6)
    first, again, other = task.stream(3), task.stream(3), task.stream(4)
    for k in (0, 1, 7):
        a, b, c = first.batch(k, 5), again.batch(k, 5), other.batch(k, 5)
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
        assert not np.array_equal(a[0], c[0])
    # batch k depends on k alone, not on the batches drawn before it
    np.testing.assert_array_equal(task.stream(3).batch(7, 5)[0], first.batch(7, 5)[0])
    assert not np.array_equal(first.batch(0, 5)[0], first.batch(1, 5)[0])


def test_a_stream_shares_no_sequences_with_the_validation_and_test_sets():
    task = make_task("adding", 20)
    _, val, test = task.split(None, 64, 64, seed=0)
    stream = task.stream(0)
    seen = np.concatenate([stream.batch(k, 64)[0] for k in range(8)])
    for fixed in (val.x, test.x):
        assert not (seen[:, None] == fixed[None]).all(axis=(2, 3)).any()
    train, val_again, _ = task.split(None, 64, 64, seed=0)
    assert isinstance(train, SequenceStream)
    np.testing.assert_array_equal(val.x, val_again.x)  # fixed and seeded


def test_stream_arguments_are_checked():
    task = make_task("adding", 5)
    with pytest.raises(TypeError, match="draw"):
        SequenceStream("adding", 0)
    with pytest.raises(ValueError, match="seed"):
        SequenceStream(task.generate, -1)
    with pytest.raises(ValueError, match="k must"):
        task.stream(0).batch(-1, 4)
    with pytest.raises(ValueError, match="batch_size"):
        task.stream(0).batch(0, 0)
    with pytest.raises(ValueError, match="seed"):
        task.stream(True)


def _trainer(task, config):
    model = build_model(task, "gru", 8, seed=0, dtype="float64")
    return Trainer(model, task.loss, Adam(model, lr=1e-2), config, metric=task.metric)


def test_a_budget_in_updates_with_validation_rounds():
    task = make_task("adding", 6)
    _, val, _ = task.split(None, 32, 8, seed=0)
    trainer = _trainer(task, TrainConfig(updates=25, eval_every=10, batch_size=8))
    history = trainer.fit(task.stream(0), val)
    assert [r["updates"] for r in history] == [10, 20, 25]
    assert trainer.updates == trainer.batches == 25
    assert all("val_metric" in r for r in history)
    # the trainer drew batches 0..24 of the stream, in order: the same weights as by hand
    by_hand = _trainer(task, TrainConfig(updates=25, eval_every=10, batch_size=8))
    stream = task.stream(0)
    for k in range(25):
        x, y, lengths = stream.batch(k, 8)
        by_hand._update(*next(by_hand._chunks(x, y, lengths))[:1], "by hand")
    for name, value in trainer.model.state_dict().items():
        np.testing.assert_array_equal(value, by_hand.model.state_dict()[name])


def test_a_fixed_set_counted_in_updates_visits_its_epochs_in_order():
    task = make_task("adding", 6)
    data = task.generate(20, 0)
    counted = _trainer(task, TrainConfig(updates=12, eval_every=5, batch_size=8))
    counted.fit(data)
    by_epochs = _trainer(task, TrainConfig(epochs=4, batch_size=8))  # 3 batches an epoch
    by_epochs.fit(data)
    for name, value in counted.model.state_dict().items():
        np.testing.assert_array_equal(value, by_epochs.model.state_dict()[name])


def test_a_stream_run_resumes_bit_for_bit(tmp_path):
    task = make_task("adding", 6)
    _, val, _ = task.split(None, 16, 8, seed=1)
    config = TrainConfig(updates=30, eval_every=10, batch_size=8, checkpoint_dir=str(tmp_path))
    whole = _trainer(task, TrainConfig(updates=30, eval_every=10, batch_size=8))
    whole.fit(task.stream(1), val)
    cut = _trainer(task, TrainConfig(updates=20, eval_every=10, batch_size=8,
                                     checkpoint_dir=str(tmp_path)))
    cut.fit(task.stream(1), val)
    resumed = _trainer(task, config)
    resumed.fit(task.stream(1), val, resume=True)
    assert resumed.updates == 30 and len(resumed.history) == 3
    for name, value in whole.model.state_dict().items():
        np.testing.assert_array_equal(value, resumed.model.state_dict()[name])


def test_a_stream_needs_a_budget_in_updates():
    task = make_task("adding", 6)
    with pytest.raises(ValueError, match="updates"):
        _trainer(task, TrainConfig(epochs=2)).fit(task.stream(0))
    with pytest.raises(ValueError, match="eval_every"):
        TrainConfig(updates=10, eval_every=0)
    with pytest.raises(TypeError, match="SequenceData or a SequenceStream"):
        _trainer(task, TrainConfig(updates=2)).fit([1, 2, 3])
    assert isinstance(task.generate(2, 0), SequenceData)


def test_patience_without_validation_data_is_refused_before_any_work():
    task = make_task("adding", 6)
    trainer = _trainer(task, TrainConfig(updates=4, patience=2))
    before = {k: v.copy() for k, v in trainer.model.state_dict().items()}
    with pytest.raises(ValueError, match="patience=2 needs validation data"):
        trainer.fit(task.stream(0))
    assert trainer.updates == 0
    for name, value in trainer.model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])

