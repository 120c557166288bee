"""The Trainer: it learns, stops early, guards against NaN, and resumes bitwise from
checkpoints, even after a checkpoint write was interrupted."""

import os

import numpy as np
import pytest

import rnnlab
from rnnlab import io
from rnnlab.data import SequenceData
from rnnlab.losses import cross_entropy, mse_loss
from rnnlab.optim import SGD, Adam, CosineLR
from rnnlab.training import TrainConfig, Trainer, TrainingDiverged


def sign_task(count=120, steps=12, seed=0):
    """Class 1 when the first feature sums to more than 0; variable lengths."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, steps, 2))
    lengths = rng.integers(3, steps + 1, size=count)
    mask = rnnlab.lengths_to_mask(lengths, steps)
    y = ((x[..., 0] * mask).sum(axis=1) > 0).astype(np.int64)
    return SequenceData(x, y, lengths)


def accuracy(logits, y, lengths):
    return float(np.mean(logits.argmax(axis=-1) == y))


def classifier(seed=0):
    return rnnlab.Sequential(rnnlab.GRU(2, 8, dtype="float64", seed=seed), rnnlab.LastStep(),
                             rnnlab.Linear(8, 2, dtype="float64", seed=seed + 1))


def make_trainer(config, seed=0):
    model = classifier(seed)
    optimizer = Adam(model, lr=2e-2)
    return Trainer(model, cross_entropy, optimizer, config, schedule=CosineLR(optimizer, 8),
                   metric=accuracy)


def test_trainer_learns_and_reports():
    train, val = sign_task(), sign_task(60, seed=1)
    trainer = make_trainer(TrainConfig(epochs=15, batch_size=16, bucket=True))
    history = trainer.fit(train, val)
    assert len(history) == 15
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["val_metric"] >= 0.9
    assert set(history[0]) == {"epoch", "updates", "train_loss", "grad_norm", "lr", "seconds",
                               "val_loss", "val_metric"}
    assert trainer.updates == 15 * 8
    assert [r["updates"] for r in history] == [8 * e for e in range(1, 16)]


def test_progress_bar_shows_loss_and_gradient_norm(capsys):
    make_trainer(TrainConfig(epochs=1, progress=True)).fit(sign_task(40))
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "loss=" in err and "grad_norm=" in err


def weights_of(trainer):
    return trainer.model.state_dict()


def assert_same_run(a, b):
    wa, wb = weights_of(a), weights_of(b)
    for name in wa:
        np.testing.assert_array_equal(wa[name], wb[name], err_msg=name)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in a.history]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in b.history]


def test_resume_is_bitwise_identical(tmp_path):
    train, val = sign_task(), sign_task(40, seed=1)
    config = dict(epochs=5, batch_size=16, shuffle=True, patience=10)
    whole = make_trainer(TrainConfig(**config))
    whole.fit(train, val)

    first = make_trainer(TrainConfig(**{**config, "epochs": 2}, checkpoint_dir=str(tmp_path)))
    first.fit(train, val)
    resumed = make_trainer(TrainConfig(**config, checkpoint_dir=str(tmp_path)), seed=7)
    resumed.fit(train, val, resume=True)
    assert_same_run(whole, resumed)
    assert [os.path.basename(p) for p in io.list_checkpoints(tmp_path)] == \
        ["epoch-0004", "epoch-0005"]


def test_interrupted_checkpoint_write_leaves_the_previous_one(tmp_path, monkeypatch):
    train = sign_task()
    config = TrainConfig(epochs=4, batch_size=16, checkpoint_dir=str(tmp_path))
    whole = make_trainer(TrainConfig(epochs=4, batch_size=16))
    whole.fit(train)

    real_write, calls = io._write_bytes, []

    def dying_write(path, data):
        calls.append(path)
        if len(calls) == 2 * 3 + 2:  # 3 files per checkpoint: epoch 3, file 2, half written
            with open(path, "wb") as f:
                f.write(data[:len(data) // 2])
            raise KeyboardInterrupt("killed mid-write")
        real_write(path, data)

    monkeypatch.setattr(io, "_write_bytes", dying_write)
    with pytest.raises(KeyboardInterrupt):
        make_trainer(config).fit(train)
    monkeypatch.setattr(io, "_write_bytes", real_write)

    latest = io.latest_checkpoint(tmp_path)
    assert os.path.basename(latest) == "epoch-0002"
    assert sorted(os.listdir(tmp_path)) == ["epoch-0001", "epoch-0002"]  # no debris
    weights, _, meta = io.read_checkpoint(latest)
    assert meta["epoch"] == 2
    resumed = make_trainer(config, seed=3)
    resumed.fit(train, resume=True)
    assert_same_run(whole, resumed)


def test_resume_refuses_a_different_run(tmp_path):
    train = sign_task(40)
    make_trainer(TrainConfig(epochs=1, checkpoint_dir=str(tmp_path))).fit(train)
    other = make_trainer(TrainConfig(epochs=2, batch_size=8, checkpoint_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="batch_size"):
        other.fit(train, resume=True)


def test_early_stopping_restores_the_best_weights():
    train, val = sign_task(), sign_task(40, seed=1)
    model = classifier()
    trainer = Trainer(model, cross_entropy, SGD(model, lr=3.0),  # too large: val loss wobbles
                      TrainConfig(epochs=50, batch_size=16, patience=2, clip_norm=None))
    history = trainer.fit(train, val)
    assert len(history) < 50
    best = min(r["val_loss"] for r in history)
    assert trainer.evaluate(val)["loss"] == pytest.approx(best, rel=1e-12)


def test_nan_guard_restores_last_good_weights():
    def steep_loss(prediction, target, mask):  # finite loss and gradient, but a huge step
        value, grad = cross_entropy(prediction, target, mask)
        return value, 1e10 * grad

    model = classifier()
    trainer = Trainer(model, steep_loss, SGD(model, lr=1e300),
                      TrainConfig(epochs=3, clip_norm=None))
    before = model.state_dict()
    with pytest.raises(TrainingDiverged, match="NaN or infinite") as err:
        trainer.fit(sign_task(40))
    assert "after 0 updates" in str(err.value)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_nan_guard_on_the_loss():
    model = classifier()
    calls = []

    def loss(prediction, target, mask):
        calls.append(1)
        value, grad = cross_entropy(prediction, target, mask)
        return (float("nan") if len(calls) == 3 else value), grad

    trainer = Trainer(model, loss, Adam(model, lr=1e-2), TrainConfig(epochs=1, batch_size=8))
    with pytest.raises(TrainingDiverged, match="epoch 1, batch 3: the loss is nan"):
        trainer.fit(sign_task(40))
    assert trainer.updates == 2
    assert all(np.isfinite(v).all() for v in model.state_dict().values())


def test_trainer_with_truncated_bptt_learns_a_delay():
    """y_t = x_{t-2}: needs memory across chunk boundaries, which the carried state gives."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 60, 1))
    y = np.concatenate([np.zeros((64, 2, 1)), x[:, :-2]], axis=1)
    model = rnnlab.Sequential(rnnlab.LSTM(1, 16, dtype="float64", seed=0),
                              rnnlab.Linear(16, 1, dtype="float64", seed=1))
    trainer = Trainer(model, mse_loss, Adam(model, lr=1e-2),
                      TrainConfig(epochs=12, batch_size=16, tbptt=(10, 10)))
    history = trainer.fit(SequenceData(x, y, per_step=True))
    assert trainer.updates == 12 * 4 * 6
    assert history[-1]["train_loss"] < 0.1  # predicting 0 gives about 1.0


def test_config_and_arguments_are_checked():
    with pytest.raises(ValueError, match="clip_norm"):
        TrainConfig(clip_norm=-1.0)
    with pytest.raises(TypeError, match="tbptt"):
        TrainConfig(tbptt=5)
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    model = classifier()
    with pytest.raises(TypeError, match="recurrent layer"):
        Trainer(rnnlab.Linear(2, 2), cross_entropy, Adam(model), TrainConfig(tbptt=(2, 2)))
    trainer = Trainer(model, cross_entropy, Adam(model))
    with pytest.raises(TypeError, match="train must be a SequenceData"):
        trainer.fit(np.zeros((3, 4, 2)))


@pytest.mark.parametrize("how", ["callback", "patience"])
def test_a_run_that_ended_resumes_as_ended(tmp_path, how):
    """The checkpoint is written after the callbacks, with their decision to stop (and early
    stopping's): resuming from the last checkpoint of a run that stopped trains nothing more,
    bit for bit the uninterrupted run."""
    train, val = sign_task(), sign_task(40, seed=1)

    def stop_at_3(trainer, record):
        if record["epoch"] == 3:
            trainer.stop = True

    def make(directory):
        options = dict(epochs=8, batch_size=16, checkpoint_dir=directory, keep_checkpoints=1)
        if how == "patience":
            options["patience"] = 1
        trainer = make_trainer(TrainConfig(**options))
        if how == "callback":
            trainer.callbacks.append(stop_at_3)
        return trainer

    whole = make(str(tmp_path))
    whole.fit(train, val)
    assert len(whole.history) < 8  # it stopped
    resumed = make(str(tmp_path))
    resumed.fit(train, val, resume=True)
    assert resumed.updates == whole.updates
    assert_same_run(whole, resumed)


def test_a_run_with_dropout_resumes_bit_for_bit(tmp_path):
    """Dropout (a module, a recurrent layer's dropout= and recurrent_dropout=) draws its
    masks from its own generator: the generator's state is part of the checkpoint, so a
    resumed run draws the masks the uninterrupted one drew."""
    train, val = sign_task(), sign_task(40, seed=1)

    def make(config, seed=0):
        model = rnnlab.Sequential(rnnlab.GRU(2, 8, 2, dtype="float64", seed=seed, dropout=0.2,
                                             recurrent_dropout=0.3),
                                  rnnlab.LastStep(), rnnlab.Dropout(0.3, seed=seed + 5),
                                  rnnlab.Linear(8, 2, dtype="float64", seed=seed + 1))
        return Trainer(model, cross_entropy, Adam(model, lr=2e-2), config)

    whole = make(TrainConfig(epochs=4, batch_size=16))
    whole.fit(train, val)
    make(TrainConfig(epochs=2, batch_size=16, checkpoint_dir=str(tmp_path))).fit(train, val)
    resumed = make(TrainConfig(epochs=4, batch_size=16, checkpoint_dir=str(tmp_path)), seed=9)
    resumed.fit(train, val, resume=True)
    assert_same_run(whole, resumed)
    assert resumed.model[2].rng.bit_generator.state == whole.model[2].rng.bit_generator.state
    assert resumed.model[0].rng.bit_generator.state == whole.model[0].rng.bit_generator.state
