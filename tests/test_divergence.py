"""A run whose numbers overflow is reported as diverged, saying where: in the forward pass
(which module's output), in the loss, or on the way back (which module passed back a
non-finite gradient); the weights are the last good step's. With clipping, an exploding
configuration stays finite for 10,000 updates; without, the guard stops it and says where."""

import numpy as np
import pytest

import rnnlab
from rnnlab import RNN, LastStep, Linear, Sequential
from rnnlab._checks import NonFiniteError
from rnnlab.data import SequenceData
from rnnlab.layers.module import Module
from rnnlab.losses import cross_entropy, mse_loss
from rnnlab.optim import SGD
from rnnlab.tasks import make_task
from rnnlab.training import TrainConfig, Trainer, TrainingDiverged


def exploding_rnn(nonlinearity, lambda1, hidden=16, seed=0):
    """A vanilla RNN whose W_hh has largest singular value lambda1, and a linear read-out."""
    rnn = RNN(2, hidden, nonlinearity=nonlinearity, seed=seed)
    w = rnn.parameters()["weight_hh_l0"]
    w *= lambda1 / np.linalg.svd(w, compute_uv=False)[0]
    return Sequential(rnn, LastStep(), Linear(hidden, 1, seed=seed))


def test_an_overflowing_forward_pass_is_a_divergence_naming_the_module():
    """A ReLU RNN with ||W_hh|| = 6 over 100 steps overflows float32 in its first forward:
    the next layer would have blamed its input x; the Trainer says which output it was."""
    model = exploding_rnn("relu", 6.0)
    before = model.state_dict()
    trainer = Trainer(model, mse_loss, SGD(model, lr=1e-3),
                      TrainConfig(updates=50, eval_every=50, batch_size=16))
    with pytest.raises(TrainingDiverged, match=r"update 1: the output of module 0 \(RNN\(2, 16, "
                                               r".*nonlinearity='relu'.*\) is not finite"):
        trainer.fit(make_task("adding", 100).stream(0))
    assert trainer.updates == 0
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    assert all(not g.any() for g in model.gradients().values())


def test_on_a_fixed_set_the_epoch_and_batch_are_named():
    task = make_task("adding", 100)
    x, y, lengths = task.stream(1).batch(0, 64)
    model = exploding_rnn("relu", 6.0)
    trainer = Trainer(model, mse_loss, SGD(model, lr=1e-3), TrainConfig(epochs=2, batch_size=32))
    with pytest.raises(TrainingDiverged, match=r"epoch 1, batch 1: the output of module 0"):
        trainer.fit(SequenceData(x, y, lengths))


class Amplify(Module):
    """Identity forward; backward multiplies the gradient by `gain` (float32 overflows)."""

    def __init__(self, gain):
        super().__init__(None)
        self.gain = gain

    def forward(self, x):
        self._save_for_backward(x.shape)
        return x

    def backward(self, d_output):
        self._saved()
        self._mark_read()
        with np.errstate(over="ignore"):
            return d_output * np.float32(self.gain)


def test_a_gradient_that_overflows_on_the_way_back_is_a_divergence_naming_the_module():
    model = Sequential(RNN(2, 4, seed=0), LastStep(), Amplify(1e39), Linear(4, 1, seed=0))
    task = make_task("adding", 10)
    trainer = Trainer(model, mse_loss, SGD(model, lr=1e-3),
                      TrainConfig(updates=5, eval_every=5, batch_size=8))
    with pytest.raises(TrainingDiverged, match=r"update 1: the input gradient of module 2 "
                                               r"\(.*Amplify.*\) is not finite"):
        trainer.fit(task.stream(0))


def test_the_layer_blames_the_caller_only_for_the_callers_own_input():
    model = Sequential(RNN(2, 4), LastStep(), Linear(4, 1))
    bad = np.zeros((2, 3, 2), dtype=np.float32)
    bad[0, 1, 0] = np.nan
    with pytest.raises(NonFiniteError, match="x must be finite") as err:
        model.forward(bad)
    assert err.value.module is None  # the caller's x, not an overflow inside
    out = model.forward(np.zeros((2, 3, 2), dtype=np.float32))
    with pytest.raises(NonFiniteError, match="d_output must be finite"):
        model.backward(np.full_like(out, np.inf))


def test_sgd_with_a_huge_learning_rate_ends_as_diverged_not_a_traceback():
    """`rnnlab train --task adding --length 10 --hidden 8 --optimizer sgd --no-clip --lr 1e6`
    in Python: the run ends with TrainingDiverged, never a ValueError from a layer."""
    task = make_task("adding", 10)
    model = Sequential(RNN(2, 8, seed=0), LastStep(), Linear(8, 1, seed=0))
    trainer = Trainer(model, mse_loss, SGD(model, lr=1e6),
                      TrainConfig(updates=100, eval_every=100, clip_norm=None))
    with pytest.raises(TrainingDiverged, match=r"training stopped at update \d+: ") as err:
        trainer.fit(task.stream(0))
    assert f"after {trainer.updates} updates" in str(err.value)
    assert all(np.isfinite(p).all() for p in model.parameters().values())


@pytest.mark.parametrize("nonlinearity,lambda1", [("tanh", 3.0), ("relu", 1.5)])
def test_ten_thousand_updates_of_an_exploding_configuration_stay_finite_with_clipping(
        nonlinearity, lambda1):
    """||W_hh|| = 3 (tanh) or 1.5 (ReLU): gradients explode (Pascanu et al. 2013); clipping
    the norm to 1 keeps every one of 10,000 SGD updates finite. The same configuration
    without clipping (tanh) diverges within 100 updates, and the guard says where."""
    stream = make_task("adding", 20).stream(0)
    model = exploding_rnn(nonlinearity, lambda1)
    trainer = Trainer(model, mse_loss, SGD(model, lr=0.1),
                      TrainConfig(updates=10_000, eval_every=1_000, batch_size=16))
    history = trainer.fit(stream)
    assert trainer.updates == 10_000 and len(history) == 10
    assert all(np.isfinite(r["train_loss"]) and np.isfinite(r["grad_norm"]) for r in history)
    assert max(r["grad_norm"] for r in history) > 1.0  # clipping had work to do
    assert history[-1]["train_loss"] < 0.2  # and it learned (predicting the mean: ~0.17)
    assert all(np.isfinite(p).all() for p in model.parameters().values())

    if nonlinearity == "tanh":
        model = exploding_rnn(nonlinearity, lambda1)
        trainer = Trainer(model, mse_loss, SGD(model, lr=0.1),
                          TrainConfig(updates=10_000, eval_every=1_000, batch_size=16,
                                      clip_norm=None))
        with pytest.raises(TrainingDiverged, match=r"training stopped at update \d+: the loss "
                                                   r"is inf"):
            trainer.fit(stream)
        assert trainer.updates < 100


def test_restore_best_ends_on_the_best_weights_even_when_patience_never_fires():
    """patience larger than the run: early stopping never fires, and the run still ends on
    the weights of its best validation loss, not its last."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 12, 2))
    y = (x[..., 0].sum(axis=1) > 0).astype(np.int64)
    train, val = SequenceData(x[:80], y[:80]), SequenceData(x[80:], y[80:])
    model = Sequential(rnnlab.GRU(2, 8, dtype="float64", seed=0), LastStep(),
                       Linear(8, 2, dtype="float64", seed=1))
    trainer = Trainer(model, cross_entropy, SGD(model, lr=3.0),  # too large: val loss wobbles
                      TrainConfig(epochs=12, batch_size=16, patience=100, clip_norm=None))
    history = trainer.fit(train, val)
    losses = [r["val_loss"] for r in history]
    assert len(history) == 12 and int(np.argmin(losses)) < 11  # the last is not the best
    assert trainer.evaluate(val)["loss"] == pytest.approx(min(losses), rel=1e-12)

    model = Sequential(rnnlab.GRU(2, 8, dtype="float64", seed=0), LastStep(),
                       Linear(8, 2, dtype="float64", seed=1))
    trainer = Trainer(model, cross_entropy, SGD(model, lr=3.0),  # no patience: no early
                      TrainConfig(epochs=12, batch_size=16, clip_norm=None))  # stopping asked
    assert [r["val_loss"] for r in trainer.fit(train, val)] == losses  # the same run
    assert trainer.evaluate(val)["loss"] == pytest.approx(losses[-1], rel=1e-12)


def test_a_validation_pass_that_overflows_is_a_divergence():
    """The training batches are short and stay finite; the validation sequences are long
    enough for the ReLU RNN to overflow."""
    model = exploding_rnn("relu", 6.0)
    short = make_task("adding", 5).stream(0)
    xv, yv, lv = make_task("adding", 100).stream(1).batch(0, 16)
    trainer = Trainer(model, mse_loss, SGD(model, lr=1e-6),
                      TrainConfig(updates=3, eval_every=3, batch_size=8))
    with pytest.raises(TrainingDiverged, match=r"validation after 3 updates: the output of "
                                               r"module 0 \(RNN"):
        trainer.fit(short, SequenceData(xv, yv, lv))
