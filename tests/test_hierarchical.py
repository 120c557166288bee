"""HierarchicalRNN: a lower recurrent layer over chunks, an upper one over the chunks' last
states (rnnlab.layers.hierarchical). Exact gradients, exact lengths, the composition it
stands for, and its place in Sequential and the Trainer."""

import pickle

import numpy as np
import pytest

import rnnlab
from rnnlab import LSTM, LastStep, Linear, MeanPool, Sequential
from rnnlab.data import SequenceData
from rnnlab.gradcheck import check_gradients
from rnnlab.layers import HierarchicalRNN
from rnnlab.losses import cross_entropy
from rnnlab.optim import SGD, Adam
from rnnlab.training import TrainConfig, Trainer
from helpers import parts, rel_err

CELLS = ("lstm", "gru", "rnn")
# chunk 3 over T = 8: full chunks, a partial last chunk (7 -> 3 + 3 + 1), a sequence
# shorter than one chunk (2), one of a single step, and a chunk-aligned one (6).
LENGTHS = np.array([8, 7, 2, 1, 6])


def make(cell="lstm", chunk=3, upper=4, num_layers=1, bidirectional=False, **kwargs):
    return HierarchicalRNN(2, 3, chunk, cell=cell, upper_hidden_size=upper,
                           num_layers=num_layers, bidirectional=bidirectional,
                           dtype="float64", seed=0, **kwargs)


def case(model, lengths=LENGTHS, steps=8, seed=1, garbage=True):
    """(x, lengths, state): padded steps of x hold large garbage values."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((len(lengths), steps, model.input_size))
    if garbage:
        pad = np.arange(steps)[None, :] >= np.asarray(lengths)[:, None]
        x[pad] = 100.0 * rng.standard_normal((int(pad.sum()), model.input_size))
    shape = (model.num_layers * model.num_directions, len(lengths), model.upper_hidden_size)
    state = tuple(rng.standard_normal(shape) for _ in model.state_names)
    return x, np.array(lengths), state[0] if len(state) == 1 else state


def worst(checks) -> tuple:
    c = max(checks, key=lambda c: c.relative_error)
    return c.relative_error, c.name


# -- finite differences ------------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("return_sequence", [False, True])
def test_gradients_match_finite_differences(cell, return_sequence):
    model = make(cell, return_sequence=return_sequence)
    x, lengths, state = case(model)
    checks = check_gradients(model, x, lengths, state)
    names = {c.name for c in checks}
    assert names == set(model.parameters()) | {"x"} | ({"state"} if cell != "lstm"
                                                       else {"state[0]", "state[1]"})
    err, name = worst(checks)
    assert err <= 1e-6, f"{cell}: worst relative error {err:.2e} on {name}"


@pytest.mark.parametrize("cell", CELLS)
def test_gradients_of_stacked_bidirectional_levels(cell):
    model = make(cell, num_layers=2, bidirectional=True)
    x, lengths, state = case(model, lengths=np.array([8, 5, 2]))
    err, name = worst(check_gradients(model, x, lengths, state))
    assert err <= 1e-6, f"{cell}: worst relative error {err:.2e} on {name}"


def test_padded_steps_get_zero_gradient():
    model = make("gru", return_sequence=True)
    x, lengths, _ = case(model)
    out, _ = model.forward(x, lengths)
    dx, _ = model.backward(np.ones_like(out))
    pad = np.arange(x.shape[1])[None, :] >= lengths[:, None]
    assert np.all(dx[pad] == 0)
    assert np.all(out[np.arange(out.shape[1])[None, :] >= model.output_lengths(lengths)[:, None]]
                  == 0)


# -- lengths handled exactly -------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padded_equals_unpadded(cell, bidirectional):
    """Each sequence run alone, cut to its length, gives the batch's output, state and
    gradients (the padded steps, filled with garbage, change nothing)."""
    model = make(cell, bidirectional=bidirectional, return_sequence=True)
    x, lengths, state = case(model)
    out, h_n = model.forward(x, lengths, state)
    rng = np.random.default_rng(5)
    d_out = rng.standard_normal(out.shape)
    d_state = tuple(rng.standard_normal(p.shape) for p in parts(h_n))
    d_state = d_state[0] if len(d_state) == 1 else d_state
    model.zero_grad()
    dx, d_state0 = model.backward(d_out, d_state)
    batch_grads = model.grad_dict()
    counts = model.output_lengths(lengths)
    summed = {k: np.zeros_like(v) for k, v in batch_grads.items()}
    for b, length in enumerate(lengths):
        one = tuple(p[:, b:b + 1] for p in parts(state))
        one = one[0] if len(one) == 1 else one
        model.zero_grad()
        out_b, h_b = model.forward(x[b:b + 1, :length], state=one)
        assert out_b.shape[1] == counts[b]
        assert rel_err(out_b[0], out[b, :counts[b]]) < 1e-13
        for p_b, p in zip(parts(h_b), parts(h_n)):
            assert rel_err(p_b[:, 0], p[:, b]) < 1e-13
        d_one = tuple(p[:, b:b + 1] for p in parts(d_state))
        dx_b, d0_b = model.backward(d_out[b:b + 1, :counts[b]],
                                    d_one[0] if len(d_one) == 1 else d_one)
        assert rel_err(dx_b[0], dx[b, :length]) < 1e-12
        for p_b, p in zip(parts(d0_b), parts(d_state0)):
            assert rel_err(p_b[:, 0], p[:, b]) < 1e-12
        for k, g in model.grad_dict().items():
            summed[k] += g
    for k in batch_grads:
        assert rel_err(summed[k], batch_grads[k]) < 1e-12, k


def test_output_lengths_are_the_chunk_counts():
    model = make(chunk=3)
    assert model.output_lengths(LENGTHS).tolist() == [3, 3, 1, 1, 2]
    with pytest.raises(ValueError, match="lengths"):
        model.output_lengths(np.array([0, 3]))
    with pytest.raises(ValueError, match="lengths"):
        model.output_lengths(np.array([[3]]))


# -- what it stands for ------------------------------------------------------------------
def by_hand(model, x, lengths, state):
    """The lower layer run on each chunk alone, the upper layer on each sequence's stacked
    last states: two plain layers with the model's weights."""
    lower_cls = type(model.lower)
    kwargs = dict(num_layers=model.num_layers, bidirectional=model.bidirectional,
                  dtype="float64")
    lower = lower_cls(model.input_size, model.hidden_size, **kwargs)
    upper = lower_cls(model.num_directions * model.hidden_size, model.upper_hidden_size, **kwargs)
    sd = model.state_dict()
    lower.load_state_dict({k[6:]: v for k, v in sd.items() if k.startswith("lower.")})
    upper.load_state_dict({k[6:]: v for k, v in sd.items() if k.startswith("upper.")})
    d = model.num_directions
    outputs, finals = [], []
    for b, length in enumerate(lengths):
        summaries = []
        for start in range(0, length, model.chunk):
            piece = x[b:b + 1, start:min(start + model.chunk, length)]
            _, h = lower.forward(piece)
            h = parts(h)[0]  # (L*D, 1, H)
            summaries.append(np.concatenate(list(h[-d:, 0]), axis=-1))  # (D*H,)
        one = tuple(p[:, b:b + 1] for p in parts(state))
        y, h_n = upper.forward(np.stack(summaries)[None], state=one[0] if len(one) == 1 else one)
        outputs.append(y[0])
        finals.append(h_n)
    return outputs, finals


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("chunk,bidirectional,num_layers", [(3, False, 1), (2, True, 2),
                                                            (10, False, 1), (1, False, 1)])
def test_equals_the_composition_by_hand(cell, chunk, bidirectional, num_layers):
    model = make(cell, chunk=chunk, num_layers=num_layers, bidirectional=bidirectional,
                 return_sequence=True)
    x, lengths, state = case(model)
    out, h_n = model.forward(x, lengths, state)
    outputs, finals = by_hand(model, x, lengths, state)
    for b, (y, h) in enumerate(zip(outputs, finals)):
        assert rel_err(out[b, :len(y)], y) < 1e-13
        assert np.all(out[b, len(y):] == 0)
        for p_b, p in zip(parts(h), parts(h_n)):
            assert rel_err(p_b[:, 0], p[:, b]) < 1e-13
    # The vector output is the upper's last layer's final h, directions side by side.
    model.return_sequence = False
    vector, _ = model.forward(x, lengths, state)
    d = model.num_directions
    expected = np.concatenate(list(parts(h_n)[0][-d:]), axis=-1)  # (B, D*U)
    assert rel_err(vector, expected) < 1e-15
    if not bidirectional:  # there it is the last valid step of the sequence output
        assert rel_err(vector, LastStep().forward(out, model.output_lengths(lengths))) < 1e-15


def test_parameters_are_the_two_levels_under_their_prefixes():
    model = make("lstm", upper=5, num_layers=2, bidirectional=True)
    lower = LSTM(2, 3, 2, bidirectional=True)
    upper = LSTM(6, 5, 2, bidirectional=True)
    expected = {f"lower.{k}": v.shape for k, v in lower.state_dict().items()}
    expected.update({f"upper.{k}": v.shape for k, v in upper.state_dict().items()})
    assert {k: v.shape for k, v in model.state_dict().items()} == expected
    assert model.num_parameters() == lower.num_parameters() + upper.num_parameters()
    assert set(model.grad_dict()) == set(expected)
    assert "lower.weight_ih_l0" in model.state_dict()
    assert model.dtype == np.float64 and make().upper.input_size == 3
    assert make(upper=None).upper_hidden_size == 3


def test_the_seed_decides_the_weights_and_options_reach_both_levels():
    a, b, c = make(), make(), HierarchicalRNN(2, 3, 3, dtype="float64", seed=1)
    for name, value in a.state_dict().items():
        assert np.array_equal(value, b.state_dict()[name])
    assert not np.array_equal(a.state_dict()["upper.weight_hh_l0"],
                              c.state_dict()["upper.weight_hh_l0"])
    relu = make("rnn", nonlinearity="relu", bias=False)
    assert relu.lower.nonlinearity == relu.upper.nonlinearity == "relu"
    assert not any(k.startswith(("lower.bias", "upper.bias")) for k in relu.state_dict())
    assert "chunk=3" in repr(make()) and "cell='lstm'" in repr(make())


def test_pickles_as_its_parameters():
    model = make("gru")
    x, lengths, state = case(model)
    out, _ = model.forward(x, lengths, state)
    copy = pickle.loads(pickle.dumps(model))
    assert np.array_equal(copy.forward(x, lengths, state)[0], out)


# -- in Sequential and the Trainer -------------------------------------------------------
def test_in_sequential_with_a_linear_head():
    model = Sequential(make("gru"), Linear(4, 2, dtype="float64", seed=1))
    x, lengths, _ = case(model[0])
    logits = model.forward(x, lengths=lengths)
    assert logits.shape == (len(lengths), 2)
    err, name = worst(check_gradients(model, x, lengths))
    assert err <= 1e-6, f"worst relative error {err:.2e} on {name}"
    assert "0.lower.weight_ih_l0" in model.state_dict()
    logits, finals = model.forward(x, lengths=lengths, return_state=True)
    assert finals[0].shape == (1, len(lengths), 4)


def test_sequence_output_with_a_pool_by_hand():
    """return_sequence=True, then MeanPool over each sequence's chunks."""
    model, pool = make("lstm", return_sequence=True), MeanPool()
    x, lengths, _ = case(model)
    out, _ = model.forward(x, lengths)
    counts = model.output_lengths(lengths)
    pooled = pool.forward(out, counts)
    expected = np.stack([out[b, :n].mean(axis=0) for b, n in enumerate(counts)])
    assert rel_err(pooled, expected) < 1e-15
    d_out = pool.backward(np.ones_like(pooled))
    dx, _ = model.backward(d_out)
    assert dx.shape == x.shape and np.isfinite(dx).all()


def sign_task(count=96, steps=12, seed=0):
    """Class 1 when the first feature sums to more than 0; variable lengths."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, steps, 2))
    lengths = rng.integers(2, steps + 1, size=count)
    mask = rnnlab.lengths_to_mask(lengths, steps)
    y = ((x[..., 0] * mask).sum(axis=1) > 0).astype(np.int64)
    return SequenceData(x, y, lengths)


def test_trainer_learns_a_small_task():
    model = Sequential(HierarchicalRNN(2, 8, chunk=4, cell="gru", dtype="float64", seed=0),
                       Linear(8, 2, dtype="float64", seed=1))
    trainer = Trainer(model, cross_entropy, Adam(model, lr=2e-2),
                      TrainConfig(epochs=12, batch_size=16))
    history = trainer.fit(sign_task())
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]


# -- bad input and the one-forward-one-backward rule --------------------------------------
@pytest.mark.parametrize("chunk,error", [(0, ValueError), (-2, ValueError), (2.5, TypeError),
                                         (True, TypeError), ("3", TypeError)])
def test_a_bad_chunk_is_refused(chunk, error):
    with pytest.raises(error, match="chunk"):
        HierarchicalRNN(2, 3, chunk)


@pytest.mark.parametrize("kwargs,match", [(dict(cell="transformer"), "cell"),
                                          (dict(cell=None), "cell"),
                                          (dict(upper_hidden_size=0), "upper_hidden_size"),
                                          (dict(hidden_size=0), "hidden_size"),
                                          (dict(return_sequence=1), "return_sequence"),
                                          (dict(bidirectional="yes"), "bidirectional"),
                                          (dict(dtype="int32"), "dtype"),
                                          (dict(nonlinearity="cube", cell="rnn"),
                                           "nonlinearity")])
def test_bad_constructor_arguments_are_refused(kwargs, match):
    args = dict(input_size=2, hidden_size=3, chunk=2)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        HierarchicalRNN(**args)


def test_bad_input_is_refused_before_any_work():
    model = make("lstm")
    x, lengths, state = case(model)
    bad = [((x[0],), {}, "x must have 3 dimensions"),
           ((x[..., :1],), {}, "input_size"),
           ((x.astype(np.int64),), {}, "x must be a float"),
           ((x,), dict(lengths=lengths[:2]), "lengths must have shape"),
           ((x,), dict(lengths=lengths + 5), r"lengths must lie in \[1, T\]"),
           ((x,), dict(state=state[0]), r"state must be a pair"),
           ((x,), dict(state=(state[0][:, :2], state[1])), r"state\[0\]")]
    for args, kwargs, match in bad:
        with pytest.raises((ValueError, TypeError), match=match):
            model.forward(*args, **kwargs)
        assert model._cache is None and model.lower._cache is None
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.zeros((5, 4)))
    out, _ = model.forward(x, lengths)
    with pytest.raises(ValueError, match=r"d_output must have shape"):
        model.backward(np.zeros((5, 3, 4)).reshape(5, 12))
    with pytest.raises(ValueError, match=r"d_output must have 2 dimensions"):
        model.backward(np.zeros((5, 3, 4)))
    with pytest.raises(ValueError, match=r"d_state\[0\]"):
        model.backward(out, (np.zeros((1, 2, 4)), None))
    model.backward(out)  # the refused calls left the cache usable


def test_a_second_backward_after_one_forward_raises():
    model = make("gru")
    x, lengths, _ = case(model)
    out, _ = model.forward(x, lengths)
    model.backward(np.ones_like(out))
    with pytest.raises(RuntimeError, match="backward called twice after one forward"):
        model.backward(np.ones_like(out))
    model.forward(x, lengths)
    model.backward(np.ones_like(out))


def test_a_step_between_forward_and_backward_raises_before_any_gradient():
    """An optimizer given only the lower level's arrays changes them: the backward of the
    earlier forward raises before the upper level accumulates anything."""
    model = make("rnn")
    x, lengths, _ = case(model)
    out, _ = model.forward(x, lengths)
    model.zero_grad()
    SGD(model.lower, lr=0.1).step()
    with pytest.raises(RuntimeError, match="parameters changed between forward and backward"):
        model.backward(np.ones_like(out))
    assert all(np.all(g == 0) for g in model.gradients().values())


def test_train_and_eval_modes_reach_both_levels():
    model = make("lstm")
    assert model.eval() is model
    assert not model.lower.training and not model.upper.training
    model.train()
    assert model.lower.training and model.upper.training


def test_truncated_bptt_is_refused_for_a_hierarchical_model():
    from rnnlab.training import check_tbptt

    model = HierarchicalRNN(3, 4, chunk=2, dtype="float64", seed=0)
    with pytest.raises(ValueError, match="output per step: a HierarchicalRNN"):
        check_tbptt(model, 2, 2)
