"""The sequence-to-sequence tasks (reverse, sort, seq-copy): one sequence per example, the
string, go, then the answer fed one step late; only the answer steps are scored."""

import numpy as np
import pytest

from rnnlab.tasks import TASKS, make_task
from rnnlab.tasks.seq2seq import ReverseTask, SeqCopyTask, SortTask


def decode(task, data):
    """(strings, fed answers, target answers) as lists of token lists, from the layout."""
    tokens = np.where(data.x.sum(-1) > 0, data.x.argmax(-1), 0)
    out = []
    for row, target, length in zip(tokens, data.y, data.lengths):
        n = length // 2
        assert row[n] == task.go and (row[length:] == 0).all() and (target[length:] == 0).all()
        assert (target[:n] == 0).all()  # the reading steps are not scored
        out.append((list(row[:n]), list(row[n + 1:length]), list(target[n:length])))
    return out


@pytest.mark.parametrize("cls, answer", [(ReverseTask, lambda s: s[::-1]),
                                         (SortTask, sorted), (SeqCopyTask, list)])
def test_layout_and_answers(cls, answer):
    task = cls(6, digits=4)
    data = task.generate(200, seed=0)
    assert data.x.shape == (200, 12, 6) and data.y.shape == (200, 12)
    sizes = set()
    for string, fed, target in decode(task, data):
        assert 1 <= len(string) <= 6 and all(1 <= s <= 4 for s in string)
        assert target == list(answer(string)) and fed == target[:-1]  # teacher forcing
        sizes.add(len(string))
    assert sizes == set(range(1, 7))  # every length occurs
    again = task.generate(200, seed=0)
    np.testing.assert_array_equal(again.x, data.x)
    assert not np.array_equal(task.generate(200, seed=1).y, data.y)


def test_registered_and_rebuilt_from_config():
    for name in ("reverse", "sort", "seq-copy"):
        task = make_task(name, 5, digits=3)
        assert TASKS[name] is type(task) and make_task(**task.config()) == task
        assert (task.input_size, task.output_size, task.steps) == (5, 4, 10)
        assert task.per_step and not task.lower_is_better and task.baseline == pytest.approx(1 / 3)
        assert task.solved(0.96) and not task.solved(0.9)
        assert name in task.describe()


def test_loss_and_metric_score_the_answer_steps_only():
    task = ReverseTask(4, digits=5)
    data = task.generate(16, seed=3)
    scored = data.y > 0
    perfect = np.where(np.eye(6)[data.y] > 0, 10.0, -10.0)  # (16, 8, 6) sure and right
    assert task.metric(perfect, data.y, data.lengths) == 1.0
    wrong = perfect.copy()
    wrong[~scored] = np.roll(wrong[~scored], 1, axis=-1)  # wrong only where nothing is scored
    assert task.metric(wrong, data.y, data.lengths) == 1.0
    value, grad = task.loss(wrong, data.y)
    assert value < 1e-6 and np.abs(grad[~scored]).max() == 0
    rng = np.random.default_rng(4)
    guess = rng.standard_normal((4000, 8, 6))
    big = task.generate(4000, seed=5)
    assert abs(task.metric(guess, big.y, big.lengths) - 1 / 6) < 0.02  # 6 logits, 5 digits
    value, grad = task.loss(guess[:16], data.y)
    assert value > 1 and np.abs(grad[scored]).max() > 0


@pytest.mark.parametrize("kwargs, error, name", [
    ({"length": 0}, ValueError, "length"), ({"length": 2.5}, TypeError, "length"),
    ({"length": 3, "digits": 1}, ValueError, "digits"),
    ({"length": 3, "digits": 101}, ValueError, "digits"),
    ({"length": 3, "digits": "10"}, TypeError, "digits"),
])
def test_bad_arguments_are_refused(kwargs, error, name):
    with pytest.raises(error, match=name):
        ReverseTask(**kwargs)


def test_bad_predictions_are_refused():
    task = SortTask(3)
    data = task.generate(4, seed=0)
    with pytest.raises(ValueError, match="prediction"):
        task.loss(np.zeros((4, 6, 5)), data.y)
    with pytest.raises(ValueError, match="target"):
        task.metric(np.zeros((4, 6, 11)), data.y + 20)
