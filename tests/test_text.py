"""rnnlab.text: the vocabulary, reading a text file, sampling from a character model."""

import numpy as np
import pytest

import rnnlab
import rnnlab.optim
from rnnlab.text import (TextStreams, Vocabulary, bits_per_char, char_model, generate,
                         read_text, sample_next, stream_loss, train_chunk)

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 30


def tiny_model(vocabulary, embed=True, seed=0):
    v = len(vocabulary)
    first = [rnnlab.Embedding(v, 8, dtype="float64", seed=seed)] if embed else []
    size = 8 if embed else v
    return rnnlab.Sequential(*first, rnnlab.LSTM(size, 16, 2, dtype="float64", seed=seed + 1),
                             rnnlab.Linear(16, v, dtype="float64", seed=seed + 2))


def test_vocabulary_round_trip_and_refusal():
    vocab = Vocabulary.from_text(TEXT)
    assert vocab.chars == "".join(sorted(set(TEXT))) and len(vocab) == 29
    ids = vocab.encode("lazy fox\n")
    assert ids.dtype == np.int64 and vocab.decode(ids) == "lazy fox\n"
    assert Vocabulary.from_json(vocab.to_json()) == vocab
    with pytest.raises(ValueError, match=r"2 character\(s\).*'!', 'Z'"):
        vocab.encode("Zap!")
    with pytest.raises(ValueError, match="ids must lie"):
        vocab.decode(np.array([0, 29]))
    with pytest.raises(ValueError, match="once"):
        Vocabulary("aa")


@pytest.mark.parametrize("content, match", [
    (b"", "is empty"), (b"abc\x00def" * 300, "binary"), (b"\xff\xfe caf\xe9" * 300, "UTF-8"),
    ("short text".encode(), "needs at least"),
])
def test_bad_files_are_refused(tmp_path, content, match):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        read_text(path)
    with pytest.raises(ValueError, match="not a file"):
        read_text(tmp_path / "missing.txt")
    path.write_text("ünïcödé text " * 100, encoding="utf-8")
    assert read_text(path).startswith("ünïcödé")


def test_sample_next_greedy_top_k_and_seeded():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((5, 12))
    np.testing.assert_array_equal(sample_next(logits, 0), logits.argmax(1))
    draws = np.stack([sample_next(logits, 1.0, 3, np.random.default_rng(s)) for s in range(400)])
    top3 = np.argsort(logits, axis=1)[:, -3:]
    assert all(set(draws[:, b]) <= set(top3[b]) for b in range(5))  # top-k respected
    assert all(len(set(draws[:, b])) == 3 for b in range(5))  # ... and all three drawn
    a = sample_next(logits, 0.8, None, np.random.default_rng(7))
    np.testing.assert_array_equal(a, sample_next(logits, 0.8, None, np.random.default_rng(7)))
    # the frequencies follow softmax(z / tau)
    many = sample_next(np.repeat(logits[:1], 20000, axis=0), 0.5, None,
                       np.random.default_rng(1))
    p = np.exp(logits[0] / 0.5)
    np.testing.assert_allclose(np.bincount(many, minlength=12) / 20000, p / p.sum(), atol=0.01)
    for bad, error in ((-1.0, ValueError), (float("nan"), ValueError), ("hot", TypeError)):
        with pytest.raises(error, match="temperature"):
            sample_next(logits, bad)
    with pytest.raises(ValueError, match="top_k"):
        sample_next(logits, 1.0, 0)


@pytest.mark.parametrize("embed", [True, False])
def test_generate_is_reproducible_and_greedy_is_the_argmax(embed):
    vocab = Vocabulary.from_text(TEXT)
    model = tiny_model(vocab, embed)
    one = generate(model, vocab, 40, prime="the ", temperature=0.8, top_k=5, seed=3)
    assert len(one) == 40 and set(one) <= set(vocab.chars)
    assert one == generate(model, vocab, 40, prime="the ", temperature=0.8, top_k=5, seed=3)
    assert one != generate(model, vocab, 40, prime="the ", temperature=0.8, top_k=5, seed=4)
    greedy = generate(model, vocab, 12, prime="the ", temperature=0)
    # greedy: each character the argmax of the whole-sequence forward on what came before
    text = "the " + greedy
    ids = vocab.encode(text)
    x = ids[None, :-1] if embed else np.eye(len(vocab))[ids[None, :-1]]
    logits = model.eval().forward(x)
    np.testing.assert_array_equal(logits[0, 3:].argmax(-1), ids[4:])
    start = generate(model, vocab, 10, seed=5)  # no prime: a first character from the seed
    assert len(start) == 10 and start == generate(model, vocab, 10, seed=5)
    with pytest.raises(ValueError, match="character"):
        generate(model, vocab, 10, prime="THE")
    with pytest.raises(ValueError, match="length"):
        generate(model, vocab, 0)


def test_streams_cut_the_text_into_continuing_chunks():
    ids = np.arange(100) % 7
    streams = TextStreams(ids, batch_size=3, seq_len=10)
    assert streams.steps == 33 and len(streams) == 4  # (100 - 1) // 3 steps, ceil(33 / 10)
    x0, y0 = streams.chunk(0)
    x3, y3 = streams.chunk(3)
    assert x0.shape == (3, 10) and x3.shape == (3, 3)
    np.testing.assert_array_equal(y0[:, :-1], x0[:, 1:])  # y is the next character
    np.testing.assert_array_equal(streams.chunk(1)[0][:, 0], y0[:, -1])  # chunks continue
    np.testing.assert_array_equal(x0[1, 0], ids[33])  # stream b starts at b n
    with pytest.raises(ValueError, match="k must"):
        streams.chunk(4)
    with pytest.raises(ValueError, match="too short"):
        TextStreams(np.arange(3), batch_size=4, seq_len=5)
    with pytest.raises(TypeError, match="ids"):
        TextStreams(np.zeros(10), 2, 3)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_carried_state_streaming_equals_one_long_sequence(cell):
    vocab = Vocabulary.from_text(TEXT)
    ids = vocab.encode(TEXT[:300])
    model = char_model(len(vocab), cell, 12, 2, dtype="float64", seed=0)
    streams = TextStreams(ids, batch_size=4, seq_len=9)  # 74 steps: 8 full chunks and 2 steps
    whole = model.forward(streams.inputs)  # each stream as one sequence
    log_p = whole - np.log(np.exp(whole).sum(-1, keepdims=True))
    expected = -np.take_along_axis(log_p, streams.targets[..., None], -1).mean()
    assert abs(stream_loss(model, streams) - expected) <= 1e-12 * expected
    assert bits_per_char(np.log(2.0)) == pytest.approx(1.0)


def test_training_on_chunks_learns_a_text():
    text = "abcde" * 400
    vocab = Vocabulary.from_text(text)
    streams = TextStreams(vocab.encode(text), batch_size=8, seq_len=20)
    model = char_model(len(vocab), "lstm", 16, 1, dtype="float64", seed=1)
    optimizer = rnnlab.optim.Adam(model, lr=0.02)
    before = stream_loss(model, streams)
    state, losses = None, []
    for k in range(len(streams) * 4):  # 4 passes, the state reset at each pass's start
        if k % len(streams) == 0:
            state = None
        loss, state = train_chunk(model, optimizer, *streams.chunk(k % len(streams)), state)
        losses.append(loss)
    after = stream_loss(model, streams)
    assert before > 1.4 and bits_per_char(after) < 0.05  # log 5 = 1.6 nats at the start
    assert generate(model, vocab, 20, prime="abc", temperature=0) == "deabcdeabcdeabcdeabc"


def test_char_model_refuses_bad_arguments():
    with pytest.raises(ValueError, match="cell"):
        char_model(10, cell="transformer")
    with pytest.raises(ValueError, match="dropout"):
        char_model(10, dropout=1.0)
    with pytest.raises(ValueError, match="vocabulary_size"):
        char_model(0)


def test_the_python_stdlib_corpus_is_real_text():
    from rnnlab.text import corpus, python_stdlib
    text = python_stdlib(200_000)
    assert len(text) == 200_000 and "def " in text and "import " in text
    assert corpus("python-stdlib", 1000) == text[:1000]
    vocab = Vocabulary.from_text(text)
    assert 60 < len(vocab) < 300
    with pytest.raises(ValueError, match="name"):
        corpus("wikipedia")


def _weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("k2", [None, 40])
def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path, k2):
    from rnnlab.text.training import TextConfig, train_text
    text = "".join(np.random.default_rng(0).choice(list("abcdefgh .\n"), 6000))
    # 2 layers with dropout (generators in the checkpoint), 7 chunks a pass: the resumed run
    # starts mid-pass with the carried state
    config = TextConfig(hidden_size=12, num_layers=2, dropout=0.2, seq_len=25, k2=k2,
                        batch_size=32, updates=12, eval_every=3, seed=4)
    whole = train_text(text, config)
    first = train_text(text, TextConfig(**{**config.__dict__, "updates": 6}),
                       checkpoint_dir=tmp_path / "ckpt")
    assert first["resumed_from"] is None
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["epoch-0001", "epoch-0002"]
    resumed = train_text(text, config, checkpoint_dir=tmp_path / "ckpt", resume=True)
    assert resumed["resumed_from"].endswith("epoch-0002")
    for name, value in _weights(whole["model"]).items():
        np.testing.assert_array_equal(resumed["model"].state_dict()[name], value, err_msg=name)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in whole["history"]]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed["history"]] == strip


def test_checkpoint_folders_that_cannot_be_used_are_refused(tmp_path):
    from rnnlab.text.checkpoints import CheckpointError, find_checkpoint, text_digest
    from rnnlab.text.training import TextConfig, train_text
    text, folder = TEXT * 2, tmp_path / "ckpt"
    config = TextConfig(hidden_size=8, num_layers=1, seq_len=10, batch_size=4, updates=4,
                        eval_every=2)
    train_text(text, config, checkpoint_dir=folder)
    digest = text_digest(text)
    with pytest.raises(CheckpointError, match="already holds the checkpoints"):
        find_checkpoint(folder, config, digest, resume=False)
    with pytest.raises(CheckpointError, match=r"differs in lr \(0.002 there, 0.01 here\)"):
        find_checkpoint(folder, TextConfig(**{**config.__dict__, "lr": 0.01}), digest, True)
    with pytest.raises(CheckpointError, match="another text"):
        find_checkpoint(folder, config, text_digest(text + "!"), True)
    with pytest.raises(CheckpointError, match="4 updates, more than the 3"):
        find_checkpoint(folder, TextConfig(**{**config.__dict__, "updates": 3}), digest, True)
    (folder / "epoch-0002" / "state.json").write_text("{not json")
    path, skipped = find_checkpoint(folder, config, digest, True)  # the older one loads
    assert path.endswith("epoch-0001") and skipped[0][0].endswith("epoch-0002")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="must be a folder"):
        find_checkpoint(tmp_path / "file", config, digest, True)
    assert find_checkpoint(tmp_path / "new", config, digest, True) == (None, [])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_text_gradient_flow_starts_from_the_warm_up_state(cell):
    """dL/dh_t depends on the steps from t to T only: measured after a warm-up of W
    characters over T, it equals the last T steps measured over W + T from zeros."""
    from rnnlab.experiments.gradflow import text_gradient_flow
    from rnnlab.text.training import TextConfig
    vocab = Vocabulary.from_text(TEXT)
    config = TextConfig(cell=cell, hidden_size=6, num_layers=2)
    model = char_model(len(vocab), cell, 6, 2, seed=3)
    ids = vocab.encode(TEXT)
    warm = text_gradient_flow(model, config, ids, length=12, batch=3, warmup=8, seed=2)
    cold = text_gradient_flow(model, config, ids, length=20, batch=3, warmup=0, seed=2)
    for w, c in zip(warm, cold):
        np.testing.assert_allclose(w["dh"], c["dh"][-12:], rtol=1e-10)
        np.testing.assert_allclose(w["jacobian"], c["jacobian"][:13], rtol=1e-10)
        if cell == "lstm":
            np.testing.assert_allclose(w["dc"], c["dc"][-12:], rtol=1e-10)


def test_context_bits_uses_the_same_positions_for_every_k():
    from rnnlab.text import context_bits
    vocab = Vocabulary.from_text(TEXT)
    model = char_model(len(vocab), "gru", 8, 1, dtype="float64", seed=0)
    ids = vocab.encode(TEXT)
    points = context_bits(model, ids, [1, 3, 10], n=50, seed=1)
    assert [k for k, _, _ in points] == [1, 3, 10]
    # k = 1 by hand: the model reads one character from zeros
    positions = np.random.default_rng(1).integers(10, len(ids), size=50)
    logits = model.forward(ids[positions - 1][:, None])[:, -1]
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -log_p[np.arange(50), ids[positions]].mean() / np.log(2)
    assert points[0][1] == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="longer than the longest context"):
        context_bits(model, ids[:10], [10])


def test_one_hot_reads_ids_as_their_one_hot_vectors():
    code = rnnlab.OneHot(5, dtype="float64")
    ids = np.array([[0, 4, 2], [1, 1, 3]])
    np.testing.assert_array_equal(code.forward(ids), np.eye(5)[ids])
    assert code.backward(np.ones((2, 3, 5))) is None and code.state_dict() == {}
    with pytest.raises(ValueError, match=r"num_classes\) = \[0, 5\)"):
        code.forward(np.array([5]))
    with pytest.raises(TypeError, match="integer array"):
        code.forward(np.zeros(3))
    with pytest.raises(ValueError, match="d_output"):
        code.forward(ids)
        code.backward(np.ones((2, 3, 4)))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_charlm_with_one_hot_input_is_the_recurrent_stack_on_one_hot_vectors(cell):
    from rnnlab.text import CharLM
    vocab = Vocabulary.from_text(TEXT)
    v = len(vocab)
    model = CharLM(v, cell, 8, 2, one_hot=True, dtype="float64", seed=0)
    assert model[1].input_size == v and model[0].state_dict() == {}
    x = vocab.encode(TEXT[:40]).reshape(4, 10)
    rest = rnnlab.Sequential(model[1], model[2])
    expected = rest.forward(np.eye(v)[x])
    np.testing.assert_array_equal(model.forward(x), expected)
    d = np.random.default_rng(0).standard_normal(expected.shape)
    assert model.backward(d) is None
    grads = {k: g.copy() for k, g in model.gradients().items()}
    rest.zero_grad()
    rest.forward(np.eye(v)[x])
    rest.backward(d)
    other = rest.gradients()
    assert len(other) == len(grads) == 2 * 4 + 2  # two layers' 4 tensors, the head's 2
    for name, g in other.items():  # "0.x" here is "1.x" there
        first, _, rest_of_name = name.partition(".")
        np.testing.assert_array_equal(grads[f"{int(first) + 1}.{rest_of_name}"], g)
    # sampling steps through the one-hot code: greedy is the argmax of the whole forward
    text = generate(model, vocab, 6, prime="the q", temperature=0)
    ids = vocab.encode("the q")
    for ch in text:
        nxt = int(model.forward(ids[None])[0, -1].argmax())
        assert vocab.decode(np.array([nxt])) == ch
        ids = np.append(ids, nxt)


def test_a_one_hot_model_trains_saves_and_reloads(tmp_path):
    from rnnlab.text.training import TextConfig, load_model, save_model, train_text
    config = TextConfig(hidden_size=8, num_layers=1, one_hot=True, seq_len=10, batch_size=4,
                        updates=3, eval_every=3)
    result = train_text(TEXT, config)
    save_model(tmp_path / "m", result["model"], result["vocabulary"], config)
    model, vocab, loaded = load_model(tmp_path / "m")
    assert loaded.one_hot and model[1].input_size == len(vocab)
    assert generate(model, vocab, 30, "the", 0.8, None, 1) == \
        generate(result["model"].eval(), vocab, 30, "the", 0.8, None, 1)
    with pytest.raises(ValueError, match="embedding_size must be None"):
        TextConfig(one_hot=True, embedding_size=4)


@pytest.mark.parametrize("k2", [7, 12, 30])
def test_text_training_with_k2_is_the_trainers_truncated_bptt(k2):
    """One pass of train_text with TBPTT(k1 = 7, k2) makes the updates that
    rnnlab.training.truncated_bptt makes over the same streams, chunk by chunk."""
    from rnnlab.losses import cross_entropy
    from rnnlab.optim import Adam, clip_grad_norm_
    from rnnlab.text.training import TextConfig, split_text, train_text
    from rnnlab.training import truncated_bptt
    text = "".join(np.random.default_rng(1).choice(list("abcdef \n"), 3000))
    config = TextConfig(hidden_size=6, num_layers=2, seq_len=7, k2=k2, batch_size=8,
                        updates=1, eval_every=1000, seed=2)
    train_ids, _, vocab = split_text(text, config)
    streams = TextStreams(train_ids, 8, 7)
    config.updates = len(streams)  # one whole pass
    result = train_text(text, config)
    model = config.make_model(len(vocab))
    optimizer = Adam(model, lr=config.lr)
    lengths = np.full(8, streams.steps)
    for _ in truncated_bptt(model, streams.inputs, streams.targets, lengths, cross_entropy,
                            7, k2):
        clip_grad_norm_(model, config.clip_norm)
        optimizer.step()
        optimizer.zero_grad()
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(result["model"].state_dict()[name], value, rtol=1e-6,
                                   atol=1e-7, err_msg=name)  # bit for bit here


def test_k2_below_seq_len_is_refused():
    from rnnlab.text.training import TextConfig
    with pytest.raises(ValueError, match="k2 must be >= seq_len"):
        TextConfig(seq_len=50, k2=20)
