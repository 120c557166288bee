"""Training on a data file: .npz and .ts read without pickle, seeded stratified splits that
partition the file, standardization from the training split only, the metric in the file's
units, baselines, `rnnlab train --data`, and bad files named before any work."""

import json

import numpy as np
import pytest

from helpers import numerical_grad
from rnnlab.cli import main
from rnnlab.datasets import read_data_file
from rnnlab.experiments import RunConfig, run_task
from rnnlab.experiments.store import RunStore
from rnnlab.tasks import FileTask

TS_HEADER = "@problemName tiny\n@univariate false\n@classLabel true a b\n@data\n"


def classes_file(tmp_path, n=200, name="cls.npz", ragged=True):
    """Two classes told apart by the mean of feature 1 (class 1 is a quarter of the data);
    feature 2 has a large offset and scale."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 12, 2))
    y = (np.arange(n) % 4 == 0).astype(np.int64)
    x[:, :, 0] += np.where(y == 1, 1.0, -1.0)[:, None]
    x[:, :, 1] = 1000.0 + 50.0 * x[:, :, 1]
    lengths = rng.integers(3, 13, n) if ragged else np.full(n, 12)
    path = tmp_path / name
    np.savez(path, x=x, y=y, lengths=lengths)
    return str(path), x, y, lengths


def regression_file(tmp_path, n=300):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 8))  # (N, T): one feature
    y = 100.0 + 30.0 * x[:, 0]
    path = tmp_path / "reg.npz"
    np.savez(path, x=x, y=y)
    return str(path), x, y


def test_npz_reads_sequences_at_their_lengths(tmp_path):
    path, x, y, lengths = classes_file(tmp_path)
    X, labels = read_data_file(path)
    assert [len(s) for s in X] == lengths.tolist()
    assert np.array_equal(X[5], x[5, :lengths[5]]) and np.array_equal(labels, y)


def test_split_partitions_the_file_stratified_and_seeded(tmp_path):
    path, x, y, _ = classes_file(tmp_path)
    task = FileTask(path=path)
    train, val, test = task.split(seed=0)
    assert (len(train), len(val), len(test)) == (128, 32, 40)  # 64 / 16 / 20 %
    # every sequence once: match rows by their (unique) first value of feature 2
    keys = [np.round(d.x[:, 0, 1], 9) for d in (train, val, test)]
    assert len(np.unique(np.concatenate(keys))) == 200
    for d in (train, val, test):
        assert np.isclose(d.y.mean(), 0.25, atol=0.02)  # stratified: a quarter of each
    again, other = task.split(seed=0)[0], task.split(seed=1)[0]
    assert np.array_equal(again.x, train.x) and not np.array_equal(other.x, train.x)


def test_features_standardized_by_the_training_split_alone(tmp_path):
    path, *_ = classes_file(tmp_path)
    train, val, _ = FileTask(path=path).split(seed=0)
    valid = train.x[np.arange(train.x.shape[1]) < train.lengths[:, None]]  # (steps, F)
    assert np.allclose(valid.mean(axis=0), 0, atol=1e-12)
    assert np.allclose(valid.std(axis=0), 1, atol=1e-12)
    padded = train.x[np.arange(train.x.shape[1]) >= train.lengths[:, None]]
    assert np.all(padded == 0)
    val_valid = val.x[np.arange(val.x.shape[1]) < val.lengths[:, None]]
    assert not np.allclose(val_valid.mean(axis=0), 0, atol=1e-12)  # not re-fitted on val


def test_classification_metric_baseline_and_loss(tmp_path):
    path, *_ = classes_file(tmp_path)
    task = FileTask(path=path)
    assert (task.metric_name, task.lower_is_better, task.output_size, task.input_size) == \
        ("accuracy", False, 2, 2)
    assert task.baseline == 0.75 and not task.solved(1.0)
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert task.metric(logits, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    loss, grad = task.loss(logits, np.array([0, 1, 1]))
    expected = numerical_grad(lambda p: task.loss(p, np.array([0, 1, 1]))[0], logits.copy())
    assert np.allclose(grad, expected, atol=1e-7)


def test_string_labels_map_to_sorted_classes_and_test_file(tmp_path):
    body = "".join(f"{v},{v + 1},{v}:{-v},0,1:{'b' if v > 0 else 'a'}\n"
                   for v in np.linspace(-3, 3, 40))
    (tmp_path / "train.ts").write_text(TS_HEADER + body)
    (tmp_path / "test.ts").write_text(TS_HEADER + body[: body.index("\n") + 1])
    task = FileTask(path=str(tmp_path / "train.ts"), test_path=str(tmp_path / "test.ts"))
    train, val, test = task.split(seed=0)
    assert task.classes.tolist() == ["a", "b"] and (len(train), len(val), len(test)) == (32, 8, 1)
    assert test.y.tolist() == [0]  # "a" is class 0


def test_regression_metric_is_in_the_file_units(tmp_path):
    path, x, y = regression_file(tmp_path)
    task = FileTask(path=path)
    assert task.metric_name == "mse" and task.lower_is_better and task.output_size == 1
    assert task.baseline == pytest.approx(np.var(y))
    train = task.split(seed=0)[0]
    assert np.isclose(train.y.std(), 1, atol=0.1)  # trained on standardized targets
    # predicting the standardized target +1 everywhere is off by one file-scale in y
    assert task.metric(train.y[:, None] + 1.0, train.y) == pytest.approx(np.var(y))


def test_a_run_on_a_file_learns_and_is_recorded(tmp_path):
    path, *_ = classes_file(tmp_path)
    config = RunConfig(task="file", data=path, cell="gru", hidden_size=16, epochs=8, lr=1e-2,
                       seed=0)
    with RunStore(str(tmp_path / "runs.db")) as store:
        result = run_task(config, store=store)
        [run] = store.runs()
    assert result["metric"] >= 0.95 > result["baseline"]  # chance is 0.75
    assert result["length"] == 12 and result["solved"] is False and result["epochs"] == 8
    assert run["config"]["data"] == path and run["status"] == "finished"


def test_cli_train_data_json(tmp_path, capsys):
    path, *_ = regression_file(tmp_path)
    code = main(["train", "--data", path, "--cell", "rnn", "--hidden", "8", "--epochs", "3",
                 "--db", str(tmp_path / "r.db"), "--save", str(tmp_path / "m.safetensors"),
                 "--json"])
    row = json.loads(capsys.readouterr().out)
    assert code == 0 and row["metric_name"] == "mse" and row["task"]["path"] == path
    assert row["metric"] < row["baseline"]


@pytest.mark.parametrize("arrays, words", [
    ({"x": np.zeros((3, 4))}, "missing ['y']"),
    ({"x": np.zeros((3, 4, 2)), "y": np.zeros(2)}, "N = 3"),
    ({"x": np.zeros((3, 4)), "y": np.zeros(3), "lengths": np.array([1, 5, 2])}, "lengths"),
    ({"x": np.array([["a"]]), "y": np.zeros(1)}, "x must hold numbers"),
    ({"x": np.zeros((3, 4)), "y": np.array([{}, 1, 2], dtype=object)}, "without pickle"),
    ({"x": np.zeros((3, 4)), "y": np.zeros(3, dtype=int)}, "at least 2 classes"),
])
def test_bad_npz_files_are_named(tmp_path, arrays, words):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        FileTask(path=str(path))


def test_bad_paths_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        FileTask(path=str(tmp_path / "none.npz"))
    with pytest.raises(ValueError, match=r"\.ts or \.npz"):
        FileTask(path=str(tmp_path / "data.csv"))
    path, *_ = classes_file(tmp_path)
    other, *_ = classes_file(tmp_path, name="other.npz")
    np.savez(tmp_path / "wide.npz", x=np.zeros((4, 6, 5)), y=np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="test_path has 5 features"):
        FileTask(path=path, test_path=str(tmp_path / "wide.npz"))
    with pytest.raises(ValueError, match="data must be given exactly when task='file'"):
        RunConfig(task="file")
    with pytest.raises(SystemExit, match="--test-data: needs --data"):
        main(["train", "--test-data", other])


def test_a_npz_files_layout_is_said_when_it_is_ambiguous(tmp_path):
    """aeon's and sktime's (N, C, T) arrays read as (N, T, F) would be sequences of C steps
    of T features: refused unless the layout is said, and read transposed with NCT."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 2, 30))  # (N, C, T)
    np.savez(tmp_path / "nct.npz", x=x, y=np.arange(12) % 2)
    with pytest.raises(ValueError, match=r"shape \(12, 2, 30\) is ambiguous.*layout NCT or NTF"):
        FileTask(path=str(tmp_path / "nct.npz"))
    task = FileTask(path=str(tmp_path / "nct.npz"), layout="NCT")
    assert task.input_size == 2 and task.length == 30
    X, _ = read_data_file(str(tmp_path / "nct.npz"), layout="NCT")
    np.testing.assert_array_equal(X[3], x[3].T)
    assert FileTask(path=str(tmp_path / "nct.npz"), layout="NTF").input_size == 30
