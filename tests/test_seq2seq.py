"""The encoder-decoder with attention (rnnlab.layers.seq2seq, rnnlab.layers.decoder): exact
gradients through decoder, attention and encoder; exact source lengths; greedy decoding;
bad input; and a small task it must learn."""

import pickle

import numpy as np
import pytest

from rnnlab.gradcheck import numerical_gradient, relative_error
from rnnlab.layers.seq2seq import Seq2Seq
from rnnlab.losses import cross_entropy
from rnnlab.optim import SGD, Adam
from helpers import rel_err

CELLS = ("lstm", "gru", "rnn")
ATTENTIONS = ("additive", "general", "dot", None)
SRC_LENGTHS = np.array([5, 3, 1])


def make(cell="lstm", attention="additive", num_layers=1, **kwargs):
    return Seq2Seq(3, 4, 4, cell=cell, attention=attention, num_layers=num_layers,
                   embedding_size=3, dtype="float64", seed=0, **kwargs)


def case(lengths=SRC_LENGTHS, steps=5, targets=4, seed=1):
    """(src, src_lengths, tgt_in): padded source steps hold large garbage values."""
    rng = np.random.default_rng(seed)
    src = rng.standard_normal((len(lengths), steps, 3))
    pad = np.arange(steps)[None, :] >= lengths[:, None]
    src[pad] = 100.0 * rng.standard_normal((int(pad.sum()), 3))
    tgt_in = rng.integers(0, 5, size=(len(lengths), targets))
    tgt_in[:, 0] = 4  # the start token, num_tokens - 1
    return src, np.array(lengths), tgt_in


def finite_difference_errors(model, src, lengths, tgt_in, eps=3e-5):
    """{name: relative error} of backward against central differences, for every parameter
    and src, with L = sum(logits * R)."""
    src = src.copy()
    r = np.random.default_rng(7).standard_normal(model.forward(src, lengths, tgt_in).shape)

    def loss():
        return float(np.sum(model.forward(src, lengths, tgt_in) * r))

    model.zero_grad()
    model.forward(src, lengths, tgt_in)
    d_src = model.backward(r)
    analytic = dict(model.grad_dict(), src=d_src)
    targets = dict(model.parameters(), src=src)
    return {name: relative_error(analytic[name], numerical_gradient(loss, array, eps))
            for name, array in targets.items()}


# -- finite differences ------------------------------------------------------------------
# eps = 3e-5: the additive score's weight_query has a small gradient (~3e-5 here: the
# softmax ignores a shift common to every source step, so W q acts only through tanh's
# curvature), where central differences' rounding error, ~1e-16 |L| / eps, reaches the 1e-6
# bound at eps = 1e-5 (measured 1.3e-6, and 3.6e-7 at 3e-5); eps^2 truncation stays below
# 2e-8 on every array.
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("attention", ATTENTIONS)
def test_gradients_match_finite_differences(cell, attention):
    model = make(cell, attention)
    errors = finite_difference_errors(model, *case())
    assert set(errors) == set(model.parameters()) | {"src"}
    name = max(errors, key=errors.get)
    assert errors[name] <= 1e-6, f"{cell}/{attention}: {errors[name]:.2e} on {name}"


@pytest.mark.parametrize("cell,attention", [("lstm", "additive"), ("gru", "general"),
                                            ("rnn", None)])
def test_gradients_of_two_layers(cell, attention):
    model = make(cell, attention, num_layers=2)
    errors = finite_difference_errors(model, *case(targets=3))
    assert "decoder.weight_hh_l1" in errors and "encoder.weight_ih_l1" in errors
    name = max(errors, key=errors.get)
    assert errors[name] <= 1e-6, f"{cell}/{attention}: {errors[name]:.2e} on {name}"


# -- source lengths handled exactly ------------------------------------------------------
@pytest.mark.parametrize("cell,attention", [("lstm", "additive"), ("gru", "dot"),
                                            ("rnn", "general"), ("gru", None)])
def test_padded_equals_unpadded(cell, attention):
    """Each pair run alone, its source cut to its length, gives the batch's logits, d_src
    and (summed) gradients: the garbage at padded source steps changes nothing."""
    model = make(cell, attention)
    src, lengths, tgt_in = case()
    logits = model.forward(src, lengths, tgt_in)
    d_logits = np.random.default_rng(3).standard_normal(logits.shape)
    model.zero_grad()
    d_src = model.backward(d_logits)
    batch_grads = model.grad_dict()
    assert np.all(d_src[np.arange(5)[None, :] >= lengths[:, None]] == 0)
    summed = {k: np.zeros_like(v) for k, v in batch_grads.items()}
    for b, length in enumerate(lengths):
        model.zero_grad()
        one = model.forward(src[b:b + 1, :length], None, tgt_in[b:b + 1])
        assert rel_err(one[0], logits[b]) < 1e-13
        d_one = model.backward(d_logits[b:b + 1])
        assert rel_err(d_one[0], d_src[b, :length]) < 1e-12
        for k, g in model.grad_dict().items():
            summed[k] += g
    for k in batch_grads:
        assert rel_err(summed[k], batch_grads[k]) < 1e-12, k


@pytest.mark.parametrize("attention", ("additive", "general", "dot"))
def test_padded_source_steps_get_attention_weight_zero(attention):
    model = make("gru", attention)
    src, lengths, tgt_in = case()
    model.forward(src, lengths, tgt_in)
    alpha = model.attention_weights  # (B, T, S)
    assert alpha.shape == (3, 4, 5)
    pad = np.arange(5)[None, None, :] >= lengths[:, None, None]
    assert np.all(alpha[np.broadcast_to(pad, alpha.shape)] == 0)
    assert np.allclose(alpha.sum(axis=2), 1.0, rtol=0, atol=1e-15)
    assert np.all(alpha[2, :, 0] == 1.0)  # a source of one step: all weight there


def test_the_decoder_step_is_the_documented_equations():
    """(1)-(8) for one pair written out with plain NumPy: LSTM cells, additive score."""
    model = make("lstm", "additive")
    src, lengths, tgt_in = case()
    logits = model.forward(src, lengths, tgt_in)
    p = model.state_dict()
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731

    def lstm_step(prefix, x, h, c):
        a = (p[f"{prefix}.weight_ih_l0"] @ x + p[f"{prefix}.bias_ih_l0"]
             + p[f"{prefix}.weight_hh_l0"] @ h + p[f"{prefix}.bias_hh_l0"])
        i, f, g, o = np.split(a, 4)
        c = sig(f) * c + sig(i) * np.tanh(g)
        return sig(o) * np.tanh(c), c

    for b, length in enumerate(lengths):
        h, c, memory = np.zeros(4), np.zeros(4), []
        for j in range(length):  # (1)
            h, c = lstm_step("encoder", src[b, j], h, c)
            memory.append(h)
        memory = np.array(memory)  # (S_b, H)
        context = np.zeros(4)
        for t in range(tgt_in.shape[1]):
            x = np.concatenate([p["embedding.weight"][tgt_in[b, t]], context])  # (2), (3)
            h, c = lstm_step("decoder", x, h, c)  # (4)
            u = np.tanh(p["attention.weight_query"] @ h + p["attention.bias"]
                        + memory @ p["attention.weight_key"].T)  # (5)
            e = u @ p["attention.v"]
            alpha = np.exp(e - e.max()) / np.exp(e - e.max()).sum()  # (6)
            context = alpha @ memory  # (7)
            z = p["out.weight"] @ np.concatenate([h, context]) + p["out.bias"]  # (8)
            assert rel_err(z, logits[b, t]) < 1e-13


# -- greedy decoding ---------------------------------------------------------------------
@pytest.mark.parametrize("cell,attention", [("lstm", "additive"), ("gru", "general"),
                                            ("rnn", "dot"), ("lstm", None)])
def test_greedy_decoding_is_forward_fed_its_own_argmax(cell, attention):
    model = make(cell, attention, num_layers=2 if cell == "gru" else 1)
    model.out.parameters()["weight"][...] *= 10  # clear winners, no near ties
    model.mark_changed()
    src, lengths, _ = case()
    tokens = model.greedy_decode(src, lengths, max_len=6, start_token=4)
    assert tokens.shape == (3, 6) and tokens.dtype == np.int64
    alpha = model.attention_weights
    # the whole sequence: forward fed [start, y_1..y_5] gives back y_1..y_6 as argmax
    fed = np.concatenate([np.full((3, 1), 4), tokens[:, :-1]], axis=1)
    logits = model.forward(src, lengths, fed)
    assert np.array_equal(logits.argmax(axis=-1), tokens)
    if attention is not None:
        assert rel_err(model.attention_weights, alpha) < 1e-13
    # step by step: forward on each prefix, its last step's argmax is the next token
    for t in range(6):
        step_logits = model.forward(src, lengths, fed[:, :t + 1])
        assert np.array_equal(step_logits[:, -1].argmax(axis=-1), tokens[:, t])


def test_greedy_decoding_keeps_no_cache_for_backward():
    model = make()
    src, lengths, tgt_in = case()
    logits = model.forward(src, lengths, tgt_in)
    model.greedy_decode(src, lengths, 3, 4)
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(logits)


# -- parameters and the plain encoder-decoder --------------------------------------------
def test_parameter_names_shapes_and_counts():
    model = make("lstm", "additive")
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes["encoder.weight_ih_l0"] == (16, 3)
    assert shapes["decoder.weight_ih_l0"] == (16, 3 + 4)  # [embedding ; context]
    assert shapes["embedding.weight"] == (5, 3)  # output_size + 1 tokens: 4 is the start
    assert shapes["attention.weight_query"] == (4, 4) and shapes["attention.v"] == (4,)
    assert shapes["out.weight"] == (4, 8) and shapes["out.bias"] == (4,)
    assert set(model.grad_dict()) == set(shapes)
    assert model.num_parameters() == sum(int(np.prod(s)) for s in shapes.values())
    assert {k for k in shapes if k.startswith("attention.")} == {
        "attention.weight_query", "attention.weight_key", "attention.bias", "attention.v"}
    assert {k for k in make(attention="general").state_dict()
            if k.startswith("attention.")} == {"attention.weight"}
    assert not any(k.startswith("attention.") for k in make(attention="dot").state_dict())
    plain = make("gru", None)
    shapes = {k: v.shape for k, v in plain.state_dict().items()}
    assert shapes["decoder.weight_ih_l0"] == (12, 3) and shapes["out.weight"] == (4, 4)
    assert plain.attention is None
    src, lengths, tgt_in = case()
    plain.forward(src, lengths, tgt_in)
    assert plain.attention_weights is None
    assert "attention=None" in repr(plain) and "cell='gru'" in repr(plain)


def test_the_seed_decides_the_weights_and_pickle_keeps_them():
    a, b = make(), make()
    c = Seq2Seq(3, 4, 4, embedding_size=3, dtype="float64", seed=1)
    for name, value in a.state_dict().items():
        assert np.array_equal(value, b.state_dict()[name])
    assert not np.array_equal(a.state_dict()["out.weight"], c.state_dict()["out.weight"])
    src, lengths, tgt_in = case()
    logits = a.forward(src, lengths, tgt_in)
    copy = pickle.loads(pickle.dumps(a))
    assert copy.attention_weights is None
    assert np.array_equal(copy.forward(src, lengths, tgt_in), logits)
    f32 = Seq2Seq(3, 4, 4, seed=0)
    assert f32.forward(src, lengths, tgt_in).dtype == np.float32


@pytest.mark.parametrize("attention", ["additive", None])
def test_each_pair_depends_on_its_own_source_only(attention):
    """Changing one source's valid step changes that pair's logits only; changing a padded
    step changes nothing."""
    model = make("lstm", attention)
    src, lengths, tgt_in = case()
    logits = model.forward(src, lengths, tgt_in)
    other = src.copy()
    other[0, 0] += 1.0
    changed = model.forward(other, lengths, tgt_in)
    assert not np.allclose(changed[0], logits[0])
    assert np.array_equal(changed[1:], logits[1:])
    other = src.copy()
    other[1, 4] = -1e3  # past its length 3
    assert np.array_equal(model.forward(other, lengths, tgt_in), logits)


# -- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [(dict(cell="transformer"), "cell"),
                                          (dict(cell=None), "cell"),
                                          (dict(attention="bahdanau"), "attention"),
                                          (dict(attention=True), "attention"),
                                          (dict(hidden_size=0), "hidden_size"),
                                          (dict(output_size=-1), "output_size"),
                                          (dict(input_size=1.5), "input_size"),
                                          (dict(num_layers=0), "num_layers"),
                                          (dict(embedding_size=0), "embedding_size"),
                                          (dict(num_tokens=0), "num_tokens"),
                                          (dict(attention_size=0), "attention_size"),
                                          (dict(dtype="int32"), "dtype"),
                                          (dict(seed=-1), "seed")])
def test_bad_constructor_arguments_are_refused(kwargs, match):
    args = dict(input_size=3, output_size=4, hidden_size=4)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        Seq2Seq(**args)


def test_bad_input_is_refused_before_any_work():
    model = make()
    src, lengths, tgt_in = case()
    bad = [((src[0], lengths, tgt_in), "src must have 3 dimensions"),
           ((src[..., :2], lengths, tgt_in), "input_size"),
           ((src.astype(np.int64), lengths, tgt_in), "src must be a float"),
           ((src, lengths[:2], tgt_in), "src_lengths must have shape"),
           ((src, lengths + 1, tgt_in), r"src_lengths must lie in \[1, T\]"),
           ((src, lengths * 0, tgt_in), r"src_lengths must lie in \[1, T\]"),
           ((src, lengths, tgt_in.astype(float)), "tgt_in must be an integer"),
           ((src, lengths, tgt_in[:2]), r"tgt_in must have shape \(B, T\)"),
           ((src, lengths, tgt_in[:, :0]), r"tgt_in must have shape \(B, T\)"),
           ((src, lengths, tgt_in[..., None]), r"tgt_in must have shape \(B, T\)"),
           ((src, lengths, tgt_in + 5), r"tgt_in must hold token ids in \[0, num_tokens\)"),
           ((src, lengths, tgt_in - 5), r"tgt_in must hold token ids"),
           ((src, lengths, None), "tgt_in must be given")]
    for args, match in bad:
        with pytest.raises((ValueError, TypeError), match=match):
            model.forward(*args)
        assert model._cache is None and model.encoder._cache is None
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.zeros((3, 4, 4)))
    logits = model.forward(src, lengths, tgt_in)
    with pytest.raises(ValueError, match=r"d_output must have shape"):
        model.backward(logits[:, :2])
    with pytest.raises(ValueError, match=r"d_output must have 3 dimensions"):
        model.backward(logits[0])
    model.backward(logits)  # the refused calls left the cache usable
    with pytest.raises(RuntimeError, match="twice"):
        model.backward(logits)
    for kwargs, match in [(dict(max_len=0), "max_len"), (dict(max_len=2.0), "max_len"),
                          (dict(start_token=5), r"start_token must lie in \[0, num_tokens\)"),
                          (dict(start_token=-1), "start_token"),
                          (dict(start_token=1.0), "start_token must be an int"),
                          (dict(src_lengths=lengths + 3), "src_lengths")]:
        args = dict(src=src, src_lengths=lengths, max_len=3, start_token=4)
        args.update(kwargs)
        with pytest.raises((ValueError, TypeError), match=match):
            model.greedy_decode(**args)


@pytest.mark.parametrize("part", ["decoder", "attention", "encoder", "out"])
def test_a_step_between_forward_and_backward_raises_before_any_gradient(part):
    """Even an optimizer given one part's arrays alone: the decoder and attention, which
    Seq2Seq runs step by step itself, are watched as the other parts watch themselves."""
    model = make()
    src, lengths, tgt_in = case()
    logits = model.forward(src, lengths, tgt_in)
    model.zero_grad()
    SGD(getattr(model, part), lr=0.1).step()
    with pytest.raises(RuntimeError, match="parameters changed between forward and backward"):
        model.backward(logits)
    assert all(np.all(g == 0) for g in model.gradients().values())


# -- it learns ---------------------------------------------------------------------------
def reversal_batch(rng, count, shortest=3, longest=5, digits=10):
    """Random digit strings of 3-5 digits, one-hot (B, 5, 10), and their reversals:
    (src, lengths, tgt_in, tgt_out, mask); the start token is ``digits``."""
    lengths = rng.integers(shortest, longest + 1, size=count)
    mask = np.arange(longest)[None, :] < lengths[:, None]  # (B, T) the valid target steps
    seq = np.where(mask, rng.integers(0, digits, size=(count, longest)), 0)
    src = np.eye(digits)[seq] * mask[..., None]
    rev = seq.copy()
    for b, n in enumerate(lengths):
        rev[b, :n] = seq[b, :n][::-1]
    tgt_in = np.concatenate([np.full((count, 1), digits), rev[:, :-1]], axis=1)
    return src, lengths, tgt_in, rev, mask


def train_reversal(attention, updates=300, seed=0):
    """A GRU Seq2Seq trained by Adam on batches of 32; returns it with its greedy token
    accuracy on 500 new strings."""
    model = Seq2Seq(10, 10, 32, cell="gru", attention=attention, embedding_size=16,
                    dtype="float32", seed=seed)
    optimizer = Adam(model, lr=1e-2)
    rng = np.random.default_rng(seed)
    for _ in range(updates):
        src, lengths, tgt_in, tgt_out, mask = reversal_batch(rng, 32)
        model.zero_grad()
        _, d_logits = cross_entropy(model.forward(src, lengths, tgt_in), tgt_out, mask=mask)
        model.backward(d_logits)
        optimizer.step()
    src, lengths, _, tgt_out, mask = reversal_batch(np.random.default_rng(100), 500)
    tokens = model.greedy_decode(src, lengths, max_len=5, start_token=10)
    return model, float((tokens == tgt_out)[mask].mean())


def test_learns_to_reverse_digit_strings():
    """300 Adam updates (about 0.6 s on one core); chance is 0.1 per token.

    Measured (seeds 0, 1, 2): greedy token accuracy 0.97-1.0 with additive attention, and
    the attention of output step t peaks at source step L - 1 - t for 93-99% of the tokens.
    """
    model, accuracy = train_reversal("additive")
    assert accuracy > 0.9
    src, lengths, tgt_in, tgt_out, mask = reversal_batch(np.random.default_rng(1), 500)
    forced = model.forward(src, lengths, tgt_in).argmax(axis=-1)  # teacher forcing
    assert (forced == tgt_out)[mask].mean() > 0.95
    # It attends where reversal says: output step t looks at source step L - 1 - t.
    looked = model.attention_weights.argmax(axis=-1)  # (B, T)
    expected = lengths[:, None] - 1 - np.arange(5)[None, :]
    assert (looked == expected)[mask].mean() > 0.8


def test_attention_beats_the_plain_encoder_decoder():
    """The same budget without attention, where the source reaches the decoder only through
    the encoder's final state (Sutskever et al. 2014), against attention (Bahdanau et al.
    2015). Measured (seeds 0, 1, 2): greedy token accuracy 0.84-0.86 without, 0.97-1.0 with
    additive attention."""
    _, plain = train_reversal(None)
    _, attended = train_reversal("additive")
    assert attended > plain + 0.05, (attended, plain)
