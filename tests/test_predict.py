"""rnnlab predict: a model saved by rnnlab train --save or by an estimator, applied to the
sequences of a .ts, .npz or .csv file, as it was trained (standardization, classes, scale)."""

import json

import numpy as np
import pytest

from rnnlab import RNNClassifier, RNNRegressor
from rnnlab.cli import main
from rnnlab.serving import load_predictor


def write_ts(path, X, y=None):
    """A univariate .ts file of the sequences X (with labels y, or none)."""
    labels = "@classLabel false" if y is None else f"@classLabel true {' '.join(sorted(set(y)))}"
    lines = ["@problemName test", "@univariate true", labels, "@data"]
    for k, x in enumerate(X):
        values = ",".join(f"{v:.6f}" for v in x)
        lines.append(values if y is None else f"{values}:{y[k]}")
    path.write_text("\n".join(lines) + "\n")


def rising_or_falling(count, seed):
    rng = np.random.default_rng(seed)
    y = np.where(np.arange(count) % 2 == 0, "up", "down")
    X = [np.where(label == "up", 1, -1) * np.linspace(0, 3, n) + 10 + rng.normal(0, .3, n)
         for label, n in zip(y, rng.integers(8, 16, count))]
    return X, y


def test_train_save_then_predict_gives_the_runs_test_accuracy(tmp_path, capsys):
    X, y = rising_or_falling(80, 0)
    Xt, yt = rising_or_falling(30, 1)
    write_ts(tmp_path / "train.ts", X, y)
    write_ts(tmp_path / "test.ts", Xt, yt)
    assert main(["train", "--data", str(tmp_path / "train.ts"), "--test-data",
                 str(tmp_path / "test.ts"), "--hidden", "8", "--epochs", "15", "--lr", "0.02",
                 "--db", str(tmp_path / "runs.db"), "--save", str(tmp_path / "model"),
                 "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert main(["predict", str(tmp_path / "model"), str(tmp_path / "test.ts"),
                 "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["classes"] == ["down", "up"] and row["n"] == 30
    assert row["accuracy"] == pytest.approx(run["metric"])  # the run measured the same model
    # the same sequences without labels, and as a .csv of rows
    write_ts(tmp_path / "unlabeled.ts", Xt)
    (tmp_path / "test.csv").write_text("\n".join(",".join(str(v) for v in x) for x in Xt))
    for name in ("unlabeled.ts", "test.csv"):
        assert main(["predict", str(tmp_path / "model"), str(tmp_path / name), "--json",
                     "--proba"]) == 0
        again = json.loads(capsys.readouterr().out)
        assert again["predictions"] == row["predictions"] and "accuracy" not in again
        np.testing.assert_allclose(np.sum(again["probabilities"], axis=1), 1.0, rtol=1e-12)
    assert main(["predict", str(tmp_path / "model"), str(tmp_path / "test.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == row["predictions"]


def test_an_estimators_saved_model_predicts_as_the_estimator(tmp_path, capsys):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 3, 20))  # (N, C, T), as aeon hands it out
    y = (x[:, 0, -5:].sum(axis=1) > 0).astype(int)
    clf = RNNClassifier(hidden_size=8, epochs=5, layout="NCT", random_state=0).fit(x, y)
    clf.save(tmp_path / "clf")
    np.savez(tmp_path / "data.npz", x=x, y=y)
    assert main(["predict", str(tmp_path / "clf"), str(tmp_path / "data.npz"), "--layout",
                 "NCT", "--json", "--proba"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["predictions"] == clf.predict(x).tolist()
    np.testing.assert_array_equal(row["probabilities"], clf.predict_proba(x))
    assert row["accuracy"] == clf.score(x, y)
    with pytest.raises(SystemExit):  # (N, C, T) read as (N, T, F): refused until said
        main(["predict", str(tmp_path / "clf"), str(tmp_path / "data.npz")])
    assert "ambiguous" in capsys.readouterr().err

    reg = RNNRegressor(hidden_size=8, epochs=5, layout="NCT", random_state=0).fit(x, y * 2.5)
    reg.save(tmp_path / "reg")
    predictor = load_predictor(tmp_path / "reg")
    np.testing.assert_array_equal(predictor.predict(x.transpose(0, 2, 1)),
                                  reg.predict(x))  # the predictor takes (N, T, F)
    assert main(["predict", str(tmp_path / "reg"), str(tmp_path / "data.npz"), "--layout",
                 "NCT", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["classes"] is None
    assert row["mse"] == pytest.approx(np.mean((reg.predict(x) - y) ** 2))


def test_a_regression_run_predicts_in_the_targets_units(tmp_path, capsys):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, 10, 2))
    target = 100.0 + 5.0 * x[:, :, 0].mean(axis=1)
    np.savez(tmp_path / "data.npz", x=x, y=target)
    assert main(["train", "--data", str(tmp_path / "data.npz"), "--hidden", "8", "--epochs",
                 "5", "--db", str(tmp_path / "runs.db"), "--save", str(tmp_path / "model"),
                 "--json"]) == 0
    capsys.readouterr()
    predictor = load_predictor(tmp_path / "model")
    predicted = predictor.predict(list(x))
    assert predicted.shape == (60,) and 90 < predicted.mean() < 110  # the file's units
    np.savez(tmp_path / "nan.npz", x=np.where(np.arange(10)[None, :, None] == 3, np.nan, x))
    assert np.isfinite(predictor.predict(list(np.load(tmp_path / "nan.npz")["x"]))).all()
