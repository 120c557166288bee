"""dropout=p on the recurrent layers, as PyTorch's: dropout on the outputs of every layer but
the last, in train mode, inverted (scaled by 1 / (1 - p)), from the layer's own seeded
generator; the identity in evaluation mode; backward through the forward's masks."""

import numpy as np
import pytest

import rnnlab
from rnnlab.gradcheck import FixedDraws, check_gradients
from helpers import rel_err


@pytest.mark.parametrize("cls", [rnnlab.RNN, rnnlab.LSTM, rnnlab.GRU])
@pytest.mark.parametrize("checkpoint_every", [None, 2])
def test_finite_differences_with_fixed_masks(cls, checkpoint_every):
    layer = cls(3, 4, 3, bidirectional=True, dropout=0.4, dtype="float64", seed=0,
                checkpoint_every=checkpoint_every)
    layer.rng = FixedDraws(1)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5, 3))
    checks = check_gradients(layer, x, np.array([5, 3, 1]), training=True)
    assert max(c.relative_error for c in checks) <= 1e-6


def test_masks_are_used_in_train_mode_and_not_in_evaluation_mode():
    x = np.random.default_rng(3).standard_normal((4, 6, 3))
    layer = rnnlab.LSTM(3, 8, 2, dropout=0.5, dtype="float64", seed=0)
    plain = rnnlab.LSTM(3, 8, 2, dtype="float64", seed=0)
    assert layer.state_dict().keys() == plain.state_dict().keys()
    y_eval, _ = layer.eval().forward(x)
    np.testing.assert_array_equal(y_eval, plain.forward(x)[0])  # eval: the identity
    y1, _ = layer.train().forward(x)
    y2, _ = layer.forward(x)
    assert rel_err(y1, y_eval) > 1e-3 and rel_err(y1, y2) > 1e-3  # fresh masks each forward
    again = rnnlab.LSTM(3, 8, 2, dropout=0.5, dtype="float64", seed=0)
    np.testing.assert_array_equal(again.forward(x)[0], y1)  # seeded
    one = rnnlab.LSTM(3, 8, 1, dropout=0.5, dtype="float64", seed=0)
    np.testing.assert_array_equal(one.forward(x)[0], rnnlab.LSTM(3, 8, 1, dtype="float64",
                                                                 seed=0).forward(x)[0])


def test_equals_pytorch_in_evaluation_mode_and_with_p_zero(torch):
    x = np.random.default_rng(4).standard_normal((2, 5, 3))
    for p, mode in ((0.3, "eval"), (0.0, "train")):
        ours = rnnlab.GRU(3, 4, 2, dropout=p, dtype="float64", seed=5)
        theirs = torch.nn.GRU(3, 4, 2, dropout=p, batch_first=True).double()
        theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
        getattr(ours, mode)()
        getattr(theirs, mode)()
        y, _ = ours.forward(x)
        assert rel_err(y, theirs(torch.tensor(x))[0].detach().numpy()) <= 1e-12


def test_bad_dropout_is_refused():
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match="dropout"):
            rnnlab.LSTM(3, 4, 2, dropout=bad)
    with pytest.raises(TypeError, match="dropout"):
        rnnlab.RNN(3, 4, 2, dropout="0.5")
    assert "dropout=0.25" in repr(rnnlab.GRU(3, 4, 2, dropout=0.25))
