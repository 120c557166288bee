"""The seeded long-range tasks: exact structure, baselines measured on large samples, oracle
predictors that solve them, loss gradients against finite differences, configs that
round-trip, and arguments checked."""

import json

import numpy as np
import pytest

import rnnlab
from helpers import numerical_grad
from rnnlab.optim import Adam
from rnnlab.tasks import TASKS, AddingTask, CopyTask, LanguageTask, make_task
from rnnlab.tasks.language import FILLER, FRAME, PAIRS
from rnnlab.training import TrainConfig, Trainer

SMALL = {"adding": AddingTask(9), "copy": CopyTask(4), "language": LanguageTask(3, pairs=5)}
BIG = 20000  # sequences for the measured baselines


def oracle(task, x):
    """The answer computed from x, as a prediction of the model's shape (float64)."""
    if isinstance(task, AddingTask):
        return (x[:, :, 0] * x[:, :, 1]).sum(axis=1, keepdims=True).astype(np.float64)
    if isinstance(task, CopyTask):
        target = np.zeros(x.shape[:2], dtype=np.int64)
        target[:, -10:] = x[:, :10].argmax(axis=-1)  # the symbols read at steps 0..9
        return 20.0 * np.eye(task.output_size)[target]  # (B, T + 20, 9) logits
    first_country = task.vocabulary.index(task.countries[0])
    label = x[:, 4].argmax(axis=-1) - first_country  # the token after "i grew up in"
    return 10.0 * np.eye(task.output_size)[label]  # (B, P) logits


# -- seeding, shapes, dtypes ---------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(SMALL))
def test_same_seed_same_data_other_seed_other_data(name):
    task = SMALL[name]
    a, b, c = task.generate(16, 3), task.generate(16, 3), task.generate(16, 4)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)
    rng_data = task.generate(16, np.random.default_rng(3))
    assert np.array_equal(rng_data.x, a.x)  # an int seed is default_rng(seed)


@pytest.mark.parametrize("name, x_shape, y_shape, y_kind", [
    ("adding", (5, 9, 2), (5, 1), "f"),
    ("copy", (5, 24, 10), (5, 24), "i"),
    ("language", (5, 12, 7 + 5 + 32), (5,), "i"),
])
def test_shapes_and_dtypes(name, x_shape, y_shape, y_kind):
    task = SMALL[name]
    data = task.generate(5, 0)
    assert data.x.shape == x_shape and data.x.dtype == np.float32
    assert data.y.shape == y_shape and data.y.dtype.kind == y_kind
    assert data.per_step == task.per_step
    assert np.array_equal(data.lengths, np.full(5, x_shape[1]))
    assert task.input_size == x_shape[2]
    prediction = oracle(task, data.x)
    assert prediction.shape[-1] == task.output_size


# -- exact structure -----------------------------------------------------------------------
@pytest.mark.parametrize("steps", [2, 7, 10])
def test_adding_two_markers_one_per_half(steps):
    data = AddingTask(steps).generate(500, 1)
    values, markers = data.x[:, :, 0], data.x[:, :, 1]
    assert values.min() >= 0 and values.max() < 1
    assert set(np.unique(markers)) <= {0.0, 1.0}
    half = (steps + 1) // 2  # the steps t < T/2
    assert np.all(markers[:, :half].sum(axis=1) == 1)
    assert np.all(markers[:, half:].sum(axis=1) == 1)
    assert np.allclose(data.y[:, 0], (values * markers).sum(axis=1), atol=1e-6)
    if steps == 10:  # every position of each half is used
        assert set(markers.argmax(axis=1)) == set(range(5))


def test_copy_layout_and_delimiter():
    blank_span = 6
    data = CopyTask(blank_span).generate(300, 2)
    tokens = data.x.argmax(axis=-1)  # (n, T + 20)
    assert np.all(data.x.sum(axis=-1) == 1)  # one-hot
    symbols = tokens[:, :10]
    assert symbols.min() == 1 and symbols.max() == 8
    assert np.all(tokens[:, 10:blank_span + 9] == 0)  # T - 1 blanks
    assert np.all(tokens[:, blank_span + 9] == 9)  # the delimiter at T + 9
    assert np.all(tokens[:, blank_span + 10:] == 0)  # 10 blanks while writing
    assert np.all(data.y[:, :blank_span + 10] == 0)
    assert np.array_equal(data.y[:, blank_span + 10:], symbols)
    counts = np.bincount(symbols.ravel(), minlength=9)[1:]
    assert counts.min() > 0.8 * counts.mean()  # uniform over 1..8
    assert np.all(CopyTask(1).generate(3, 0).x[:, 10].argmax(axis=-1) == 9)  # T = 1: no gap


def test_language_sentence_decodes_and_label_matches_country():
    task = make_task("language", 5, pairs=8)
    data = task.generate(200, 5)
    for x_row, label in zip(data.x, data.y):
        words = task.decode(x_row).split(" ")
        assert words[:4] == ["i", "grew", "up", "in"] and words[5] == "."
        assert words[-3:] == ["i", "speak", "fluent"] and len(words) == 5 + 9
        assert PAIRS[label] == (words[4], task.languages[label])
        assert all(w in FILLER for w in words[6:-3])
    assert task.decode(data.x[0, :3]) == "i grew up"
    first = task.decode(data.x[0]).split(" ")[4]
    assert task.countries.index(first) == data.y[0]
    padded = np.concatenate([data.x[0], np.zeros((2, task.input_size), np.float32)])
    assert task.decode(padded) == task.decode(data.x[0])  # padding is left out


def test_language_vocabulary_is_clean():
    task = LanguageTask(0, pairs=len(PAIRS))
    assert len(set(task.vocabulary)) == len(task.vocabulary) == task.input_size
    assert not set(FILLER) & (set(FRAME) | set(task.countries) | set(task.languages))
    assert 25 <= len(FILLER) <= 40 and len(PAIRS) >= 8
    assert PAIRS[0] == ("france", "french")
    assert task.generate(4, 0).x.shape[1] == 9  # N = 0: the two sentences back to back


# -- baselines, measured -------------------------------------------------------------------
def test_adding_baseline_is_the_best_constant_mse():
    task = AddingTask(20)
    fit, test = task.generate(BIG, 10), task.generate(BIG, 11)
    best_constant = float(fit.y.mean())
    assert best_constant == pytest.approx(1.0, abs=0.01)
    for constant in (1.0, best_constant):
        prediction = np.full((BIG, 1), constant)
        assert task.metric(prediction, test.y, test.lengths) == pytest.approx(1 / 6, rel=0.03)
    assert task.baseline == pytest.approx(1 / 6)
    assert not task.solved(task.baseline)


def test_copy_baseline_is_the_best_memoryless_cross_entropy():
    task = CopyTask(5)
    fit, test = task.generate(BIG, 12), task.generate(BIG, 13)
    # The best predictor that ignores the input: each step's class frequencies.
    counts = np.stack([np.bincount(fit.y[:, t], minlength=9) for t in range(task.steps)])
    frequencies = np.maximum(counts / BIG, 1e-12)  # (T + 20, 9)
    prediction = np.broadcast_to(np.log(frequencies), (BIG, task.steps, 9))
    measured = task.metric(prediction, test.y, test.lengths)
    assert measured == pytest.approx(task.baseline, rel=0.03)
    assert task.baseline == pytest.approx(10 * np.log(8) / 25)
    # Blank, then uniform over the 8 symbols: exactly the baseline.
    logits = np.zeros((4, task.steps, 9))
    logits[:, :-10, 1:] = -50.0
    logits[:, -10:, 0] = -50.0
    assert task.metric(logits, test.y[:4], test.lengths[:4]) == pytest.approx(task.baseline)
    assert task.copy_accuracy(prediction, test.y) == pytest.approx(1 / 8, rel=0.05)
    assert not task.solved(measured)


def test_language_baseline_is_chance():
    task = LanguageTask(2, pairs=8)
    fit, test = task.generate(BIG, 14), task.generate(BIG, 15)
    for label in range(task.pairs):  # every constant guess is at chance
        prediction = np.eye(task.pairs)[np.full(BIG, label)]
        assert task.metric(prediction, test.y, test.lengths) == pytest.approx(1 / 8, rel=0.06)
    # A predictor that sees all the filler but not the country is at chance too.
    tokens_fit, tokens_test = fit.x.argmax(axis=-1), test.x.argmax(axis=-1)
    filler = tokens_fit[:, 6] * task.input_size + tokens_fit[:, 7]  # both filler words
    table = np.zeros((task.input_size ** 2, task.pairs))
    np.add.at(table, (filler, fit.y), 1.0)
    guess = table[tokens_test[:, 6] * task.input_size + tokens_test[:, 7]]  # (n, P) counts
    assert task.metric(guess, test.y, test.lengths) == pytest.approx(1 / 8, rel=0.1)
    assert task.baseline == pytest.approx(1 / 8)
    assert not task.solved(task.baseline)


# -- oracles, losses and gradients ---------------------------------------------------------
@pytest.mark.parametrize("name", sorted(SMALL))
def test_an_oracle_solves_the_task(name):
    task = SMALL[name]
    data = task.generate(64, 20)
    prediction = oracle(task, data.x)
    metric = task.metric(prediction, data.y, data.lengths)
    assert task.solved(metric)
    assert metric < 1e-6 if task.lower_is_better else metric == 1.0
    loss, grad = task.loss(prediction, data.y)
    assert np.isfinite(loss) and loss < 1e-3
    assert grad.shape == prediction.shape and np.all(np.isfinite(grad))
    wrong = np.roll(prediction, 1, axis=0)  # another sequence's answer
    assert not task.solved(task.metric(wrong, data.y, data.lengths))


def test_copy_accuracy_counts_the_copied_symbols():
    task = CopyTask(3)
    data = task.generate(50, 21)
    prediction = oracle(task, data.x)
    assert task.copy_accuracy(prediction, data.y) == 1.0
    prediction[:, -1] = 0.0
    prediction[:, -1, 0] = 1.0  # the last symbol is written as blank
    assert task.copy_accuracy(prediction, data.y) == pytest.approx(0.9)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_loss_gradient_matches_finite_differences(name):
    task = SMALL[name]
    data = task.generate(3, 22)
    shape = oracle(task, data.x).shape
    prediction = np.random.default_rng(0).standard_normal(shape)  # float64
    mask = None
    if task.per_step:
        mask = np.ones(shape[:2], dtype=bool)
        mask[1, 5:] = False  # padded steps drop out
    loss, grad = task.loss(prediction, data.y, mask)
    numeric = numerical_grad(lambda p: task.loss(p, data.y, mask)[0], prediction)
    assert grad.dtype == np.float64
    assert np.allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    if task.per_step:
        assert np.all(grad[1, 5:] == 0)


def test_losses_are_the_plain_means():
    adding = AddingTask(4)
    loss, grad = adding.loss(np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]]))
    assert loss == pytest.approx((1 + 4) / 2)  # mean squared error, no 1/2
    assert np.allclose(grad, [[1.0], [2.0]])
    copy = CopyTask(1)
    logits = np.zeros((2, copy.steps, 9))
    target = np.zeros((2, copy.steps), dtype=np.int64)
    loss, _ = copy.loss(logits, target)
    assert loss == pytest.approx(np.log(9))
    lengths = np.array([copy.steps, 4])
    assert copy.metric(logits, target, lengths) == pytest.approx(np.log(9))


def test_copy_metric_ignores_padded_steps():
    task = CopyTask(2)
    data = task.generate(2, 23)
    logits = oracle(task, data.x)
    logits[1, 10:] = np.random.default_rng(1).standard_normal((task.steps - 10, 9)) * 5
    full = task.metric(logits, data.y, None)
    short = task.metric(logits, data.y, [task.steps, 10])
    assert short < 1e-6 < full


@pytest.mark.parametrize("name", sorted(SMALL))
def test_trainer_accepts_the_task_loss_and_metric(name):
    task = SMALL[name]
    head = [] if task.per_step else [rnnlab.LastStep()]
    model = rnnlab.Sequential(rnnlab.GRU(task.input_size, 6, seed=0), *head,
                              rnnlab.Linear(6, task.output_size, seed=1))
    config = TrainConfig(epochs=1, batch_size=8, tbptt=(4, 8) if task.per_step else None)
    trainer = Trainer(model, task.loss, Adam(model, lr=1e-2), config, metric=task.metric)
    trainer.fit(task.generate(32, 0))
    result = trainer.evaluate(task.generate(16, 1))
    assert np.isfinite(result["loss"]) and np.isfinite(result["metric"])
    if task.metric_name == "cross_entropy":
        assert result["metric"] == pytest.approx(result["loss"], rel=1e-4)


# -- solved, with_length, config -----------------------------------------------------------
def test_solved_thresholds():
    assert AddingTask(5).solved(0.0099) and not AddingTask(5).solved(0.01)
    copy = CopyTask(30)
    assert copy.solved(0.099 * copy.baseline) and not copy.solved(0.1 * copy.baseline)
    language = LanguageTask(4)
    assert language.solved(0.9) and not language.solved(0.89)
    assert language.lower_is_better is False and copy.lower_is_better is True


@pytest.mark.parametrize("name, options", [
    ("adding", {}), ("copy", {}), ("language", {"pairs": 3}), ("language", {}),
])
def test_with_length_and_config_round_trip(name, options):
    task = make_task(name, 12, **options)
    longer = task.with_length(40)
    assert longer.length == 40 and type(longer) is type(task)
    assert {k: v for k, v in longer.config().items() if k != "length"} == \
        {k: v for k, v in task.config().items() if k != "length"}
    config = json.loads(json.dumps(task.config()))
    assert config["name"] == name and config["length"] == 12
    assert make_task(**config) == task
    assert isinstance(TASKS[name](12), type(task))
    assert name in task.describe() and str(task.length) in task.describe()
    if name == "language":
        assert config["pairs"] == options.get("pairs", 8)
        assert longer.pairs == task.pairs


def test_length_is_stored_as_a_plain_int():
    task = make_task("copy", np.int64(7))
    assert type(task.length) is int and json.dumps(task.config())


# -- bad arguments -------------------------------------------------------------------------
@pytest.mark.parametrize("call, error, words", [
    (lambda: make_task("adder", 5), ValueError, "name must be one of ['adding', 'copy'"),
    (lambda: make_task("adding", 5, pairs=3), TypeError, "pairs"),
    (lambda: make_task("language", 5, paris=3), TypeError, "paris"),
    (lambda: AddingTask(1), ValueError, "length must be an int >= 2, got 1"),
    (lambda: CopyTask(0), ValueError, "length must be an int >= 1, got 0"),
    (lambda: LanguageTask(-1), ValueError, "length must be an int >= 0, got -1"),
    (lambda: CopyTask(2.5), TypeError, "length must be an int"),
    (lambda: CopyTask(True), TypeError, "length must be an int"),
    (lambda: LanguageTask(3, pairs=1), ValueError, "pairs must be an int >= 2, got 1"),
    (lambda: LanguageTask(3, pairs=13), ValueError, "pairs must lie in [2, 12], got 13"),
    (lambda: LanguageTask(3, pairs="4"), TypeError, "pairs must be an int"),
    (lambda: AddingTask(4).with_length(1), ValueError, "length must be an int >= 2"),
    (lambda: CopyTask(3).generate(0, 1), ValueError, "n must be an int >= 1, got 0"),
    (lambda: CopyTask(3).generate(2.0, 1), TypeError, "n must be an int"),
    (lambda: AddingTask(3).generate(2, None), TypeError, "seed must be an int"),
    (lambda: AddingTask(3).generate(2, -1), ValueError, "seed must be an int >= 0"),
    (lambda: AddingTask(3).loss(np.zeros((2, 2)), np.zeros((2, 1))), ValueError,
     "prediction must have shape (B, K) = (2, 1)"),
    (lambda: CopyTask(1).loss(np.zeros((2, 21, 10)), np.zeros((2, 21), int)), ValueError,
     "prediction must have shape (B, T, K) = (2, 21, 9)"),
    (lambda: CopyTask(1).metric(np.zeros((2, 21, 9)), np.zeros((2, 21))), TypeError,
     "target must hold integer class indices"),
    (lambda: CopyTask(1).metric(np.zeros((2, 21, 9)), np.full((2, 21), 9)), ValueError,
     "target must lie in [0, K) = [0, 9)"),
    (lambda: CopyTask(1).metric(np.zeros((2, 21, 9)), np.zeros((2, 21), int), [21, 0]),
     ValueError, "lengths must lie in [1, T]"),
    (lambda: CopyTask(1).copy_accuracy(np.zeros((2, 5, 9)), np.zeros((2, 5), int)),
     ValueError, "target must span the whole sequence of T + 20 = 21 steps"),
    (lambda: LanguageTask(1).metric(np.zeros((2, 8)), np.array([0, 8])), ValueError,
     "target must lie in [0, K) = [0, 8)"),
    (lambda: LanguageTask(1).decode(np.zeros((10, 3))), ValueError,
     "x_row must have shape (T, V) with V = 47"),
])
def test_bad_arguments_are_named(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)
