"""MNIST-1D: rnnlab.datasets.load_mnist1d against the mnist1d package, and the reproduction
script benchmarks/mnist1d_cells.py on a tiny budget (its learning rate is chosen before the test set
is read).

The tests that generate data take the ``mnist1d`` fixture: they skip on a developer's machine
without the package, but fail in CI (CI=true), where ``.[test]`` installs it.
"""

import importlib.util
import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import required
from rnnlab.datasets import MNIST1D_CLASSES, MNIST1D_STEPS, load_mnist1d

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "mnist1d_cells.py"


@pytest.fixture(scope="module")
def mnist1d():
    return required("mnist1d.data", 'pip install -e ".[test]"')


@pytest.fixture(scope="module")
def splits(mnist1d):
    return load_mnist1d("train"), load_mnist1d("test")


@pytest.fixture(scope="module")
def package_dataset(mnist1d):
    """What the package itself builds from its default arguments."""
    return mnist1d.make_dataset(mnist1d.get_dataset_args())


# -- the loader ----------------------------------------------------------------------------
def test_shapes_dtypes_and_classes(splits):
    for (X, y), count in zip(splits, (4000, 1000)):
        assert X.shape == (count, MNIST1D_STEPS, 1) == (count, 40, 1)
        assert X.dtype == np.float64 and X.flags.c_contiguous and np.isfinite(X).all()
        assert y.shape == (count,) and y.dtype == np.int64
        assert sorted(set(y.tolist())) == list(range(MNIST1D_CLASSES))
        assert np.bincount(y).min() >= count // 20  # roughly balanced: 400 / 100 a class


def test_equals_what_the_package_makes(splits, package_dataset):
    """The loader is a faithful reshape of mnist1d's make_dataset with its defaults."""
    (X_train, y_train), (X_test, y_test) = splits
    np.testing.assert_array_equal(X_train[:, :, 0], package_dataset["x"])
    np.testing.assert_array_equal(y_train, package_dataset["y"])
    np.testing.assert_array_equal(X_test[:, :, 0], package_dataset["x_test"])
    np.testing.assert_array_equal(y_test, package_dataset["y_test"])


def test_deterministic(splits):
    (X_train, y_train), (X_test, y_test) = splits
    X_again, y_again = load_mnist1d("Test")  # any case
    np.testing.assert_array_equal(X_again, X_test)
    np.testing.assert_array_equal(y_again, y_test)


def test_train_and_test_differ(splits):
    (X_train, _), (X_test, _) = splits
    train_rows = {row.tobytes() for row in X_train[:, :, 0]}
    assert not any(row.tobytes() in train_rows for row in X_test[:, :, 0])


def test_seed_and_shuffle_seq_are_the_packages(splits, mnist1d):
    args = mnist1d.get_dataset_args()
    args.seed, args.shuffle_seq = 7, True
    expected = mnist1d.make_dataset(args)
    X, y = load_mnist1d("train", seed=7, shuffle_seq=True)
    np.testing.assert_array_equal(X[:, :, 0], expected["x"])
    np.testing.assert_array_equal(y, expected["y"])
    assert not np.array_equal(X, splits[0][0])


def test_leaves_the_global_random_generators_alone(mnist1d):
    np.random.seed(123)
    random.seed(123)
    expected = np.random.rand(), random.random()
    np.random.seed(123)
    random.seed(123)
    load_mnist1d("test")
    assert (np.random.rand(), random.random()) == expected


@pytest.mark.parametrize("kwargs, error, name", [
    ({"split": "valid"}, ValueError, "split"),
    ({"split": 1}, ValueError, "split"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 2**32}, ValueError, "seed"),
    ({"seed": 1.5}, TypeError, "seed"),
    ({"seed": True}, TypeError, "seed"),
    ({"shuffle_seq": "yes"}, TypeError, "shuffle_seq"),
])
def test_bad_input_names_the_argument(kwargs, error, name):
    with pytest.raises(error, match=name):
        load_mnist1d(**kwargs)


def test_missing_package_says_which_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)  # import mnist1d.data fails
    with pytest.raises(ImportError, match=r"rnnlab\[data\]"):
        load_mnist1d("train")


# -- the reproduction script ---------------------------------------------------------------
@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("benchmark_mnist1d", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parameter_counts_match(bench):
    counts = {cell: bench.build_model(cell, bench.HIDDEN[cell], 0).num_parameters()
              for cell in bench.CELLS}
    assert counts == {"rnn": 17790, "lstm": 17802, "gru": 17844}
    assert max(counts.values()) / min(counts.values()) < 1.01


def test_select_lr_is_the_argmax_of_mean_validation_accuracy(bench):
    runs = [{"lr": 1e-3, "val_accuracy": 0.5}, {"lr": 1e-3, "val_accuracy": 0.7},
            {"lr": 1e-2, "val_accuracy": 0.9}, {"lr": 1e-2, "val_accuracy": 0.4},
            {"lr": 3e-3, "val_accuracy": 0.6}, {"lr": 3e-3, "val_accuracy": 0.6}]
    assert bench.select_lr(runs) == 1e-2  # means 0.6, 0.65, 0.6
    runs[3]["val_accuracy"] = 0.3
    assert bench.select_lr(runs) == 1e-3  # a tie at 0.6: the first in grid order


def test_reproduction_on_a_tiny_budget(bench, mnist1d, monkeypatch, tmp_path):
    """Every learning rate is chosen (from validation accuracy alone) before the test set is
    loaded; the output has a row per cell with its chosen lr and per-seed test accuracy."""
    events = []
    load, select = bench.load_mnist1d, bench.select_lr

    def recording_load(split, *args, **kwargs):
        events.append(("load", split))
        return load(split, *args, **kwargs)

    def recording_select(runs):
        events.append(("select", runs[0]["lr"]))
        return select(runs)

    monkeypatch.setattr(bench, "load_mnist1d", recording_load)
    monkeypatch.setattr(bench, "select_lr", recording_select)
    path = tmp_path / "out.json"
    results = bench.main(["--train-size", "200", "--epochs", "1", "--lrs", "1e-3", "1e-2",
                          "--seeds", "0", "1", "--json", str(path)])

    assert events[0] == ("load", "train")
    assert [e[0] for e in events[1:]] == ["select"] * 3 + ["load"]
    assert events[-1] == ("load", "test")  # only after the last selection
    assert json.loads(path.read_text()) == json.loads(json.dumps(results))
    assert results["dataset"] == {"name": "MNIST-1D", "train": 180, "val": 20, "test": 1000,
                                  "steps": 40}
    assert list(results["cells"]) == ["rnn", "lstm", "gru"]
    for cell, result in results["cells"].items():
        grid = result["grid"]
        assert [row["lr"] for row in grid] == [1e-3, 1e-2]
        means = [np.mean(row["val_accuracy"]) for row in grid]
        assert result["selected_lr"] == grid[int(np.argmax(means))]["lr"]
        assert all(len(row["val_accuracy"]) == 2 and len(row["val_curves"][0]) == 1
                   for row in grid)
        assert result["hidden_size"] == bench.HIDDEN[cell]
        assert len(result["test_accuracy"]) == 2
        assert all(0 <= a <= 1 for a in result["test_accuracy"])
        assert result["test_mean"] == pytest.approx(np.mean(result["test_accuracy"]))
        assert result["test_std"] == pytest.approx(np.std(result["test_accuracy"], ddof=1))
