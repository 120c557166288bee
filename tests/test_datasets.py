"""rnnlab.datasets: the UCR/UEA loader over aeon's shipped .ts files, its .ts parser, and its
errors.

Tests that read aeon's files take the ``aeon`` fixture (conftest.py): they skip on a
developer's machine without aeon, but fail in CI (CI=true), where aeon must be installed.
"""

import os

import numpy as np
import pytest

from rnnlab import datasets
from rnnlab.datasets import read_ts, list_ucr_uea, load_ucr_uea


def load_both_splits(name):
    X_train, y_train = load_ucr_uea(name, "train")
    X_test, y_test = load_ucr_uea(name, "test")
    return X_train, y_train, X_test, y_test


# -- JapaneseVowels ------------------------------------------------------------------------
def test_japanese_vowels_sizes(aeon):
    X_train, y_train, X_test, y_test = load_both_splits("JapaneseVowels")
    assert (len(X_train), len(y_train)) == (270, 270)
    assert (len(X_test), len(y_test)) == (370, 370)
    lengths = [x.shape[0] for x in X_train + X_test]
    assert (min(lengths), max(lengths)) == (7, 29)
    assert len(set(lengths)) > 1  # really unequal lengths, not padded
    assert {x.ndim for x in X_train + X_test} == {2}
    assert {x.shape[1] for x in X_train + X_test} == {12}


def test_japanese_vowels_values_and_labels(aeon):
    X_train, y_train, X_test, y_test = load_both_splits("JapaneseVowels")
    for x in X_train + X_test:
        assert x.dtype == np.float64 and x.flags.c_contiguous
        assert np.isfinite(x).all()
    classes = [str(k) for k in range(1, 10)]
    for y in (y_train, y_test):
        assert y.ndim == 1 and y.dtype.kind == "U"
        assert sorted(set(y.tolist())) == classes
    assert [int((y_train == c).sum()) for c in classes] == [30] * 9  # 30 per speaker


def test_japanese_vowels_first_case_transposed(aeon):
    """The first case's first two steps, read by hand from the file (channel-major there)."""
    path = os.path.join(datasets.data_folder(), "JapaneseVowels", "JapaneseVowels_TRAIN.ts")
    with open(path, encoding="utf-8") as f:
        lines = [ln.strip() for ln in f]
    line = lines[[ln.lower() for ln in lines].index("@data") + 1]  # the first case
    channels = line.split(":")[:-1]
    expected_first_steps = [[float(c.split(",")[t]) for c in channels] for t in (0, 1)]
    X, y = load_ucr_uea("JapaneseVowels")
    np.testing.assert_array_equal(X[0][:2], expected_first_steps)
    assert X[0].shape == (len(channels[0].split(",")), 12)
    assert y[0] == line.split(":")[-1]


def test_split_is_case_insensitive(aeon):
    X_lower, y_lower = load_ucr_uea("JapaneseVowels", "test")
    X_upper, y_upper = load_ucr_uea("JapaneseVowels", "TEST")
    assert len(X_lower) == len(X_upper) == 370
    assert all(np.array_equal(a, b) for a, b in zip(X_lower, X_upper))
    np.testing.assert_array_equal(y_lower, y_upper)


def test_list_ucr_uea(aeon):
    names = list_ucr_uea()
    assert names == sorted(names)
    assert {"JapaneseVowels", "BasicMotions", "GunPoint", "ItalyPowerDemand"} <= set(names)
    for name in names:
        assert os.path.isfile(os.path.join(datasets.data_folder(), name, f"{name}_TRAIN.ts"))
    assert "Airline" not in names  # a .csv forecasting set, no .ts


# -- agreement with aeon's own loader ------------------------------------------------------
@pytest.mark.parametrize("name, features", [
    ("JapaneseVowels", 12),  # multivariate, unequal lengths
    ("ItalyPowerDemand", 1),  # univariate, equal lengths (24)
    ("BasicMotions", 6),  # multivariate, equal lengths (100)
])
@pytest.mark.parametrize("split", ["train", "test"])
def test_same_as_aeons_loader(aeon, name, features, split):
    from aeon.datasets import load_from_ts_file  # (path, replace_missing_vals_with="NaN", ...)

    path = os.path.join(datasets.data_folder(), name, f"{name}_{split.upper()}.ts")
    theirs_X, theirs_y = load_from_ts_file(path)  # (N, C, T) array or list of (C, T_i)
    ours_X, ours_y = load_ucr_uea(name, split)
    assert len(ours_X) == len(theirs_X) == len(ours_y) == len(theirs_y) > 0
    for ours, theirs in zip(ours_X, theirs_X):
        theirs = np.asarray(theirs)
        assert theirs.shape[0] == features and ours.shape == theirs.T.shape
        assert np.array_equal(ours, theirs.T)
    # aeon lower-cases every line it reads ("Standing" -> "standing"); rnnlab keeps the
    # file's spelling, so labels agree exactly up to case, and exactly for digit labels.
    theirs_y = np.asarray(theirs_y).astype(str)
    np.testing.assert_array_equal(np.char.lower(ours_y), theirs_y)
    if name != "BasicMotions":
        np.testing.assert_array_equal(ours_y, theirs_y)


def test_basic_motions_keeps_the_files_spelling(aeon):
    _, y = load_ucr_uea("BasicMotions")
    assert sorted(set(y.tolist())) == ["Badminton", "Running", "Standing", "Walking"]


# -- the .ts parser on small files ---------------------------------------------------------
HEADER = ("# a comment\n@problemName tiny\n@timeStamps false\n@missing true\n"
          "@univariate false\n@dimensions 2\n@equalLength false\n@classLabel true a b\n@data\n")
# HEADER is 9 lines, so the first case is on line 10.


def write_ts(tmp_path, body, header=HEADER, name="tiny.ts"):
    path = tmp_path / name
    path.write_text(header + body, encoding="utf-8")
    return str(path)


def test_parser_reads_cases(tmp_path):
    X, y = read_ts(write_ts(tmp_path, "1,2,3:4,5,6:a\n\n# between\n7.5,-8e-1:9,10:b\n"))
    assert len(X) == 2 and y.tolist() == ["a", "b"] and y.dtype.kind == "U"
    np.testing.assert_array_equal(X[0], [[1, 4], [2, 5], [3, 6]])  # (T, F): transposed
    np.testing.assert_array_equal(X[1], [[7.5, 9], [-0.8, 10]])
    assert all(x.dtype == np.float64 for x in X)


def test_parser_missing_values_are_nan(tmp_path):
    X, _ = read_ts(write_ts(tmp_path, "1,?,3:?,5,6:a\n"))
    np.testing.assert_array_equal(np.isnan(X[0]), [[False, True], [True, False],
                                                   [False, False]])
    np.testing.assert_array_equal(X[0][[0, 2]], [[1, np.nan], [3, 6]])


@pytest.mark.parametrize("body, header, message", [
    ("1,2:3,4:a\n5,6:b\n", HEADER, r"tiny\.ts, line 11: 1 dimensions, but the first case has 2"),
    ("1,2:3,4:a\n1,2,3:4,5:b\n", HEADER,
     r"tiny\.ts, line 11: the dimensions have different lengths \[3, 2\]"),
    ("(0,1.0),(1,2.0):a\n", "@timeStamps true\n@data\n",
     r"tiny\.ts, line 1: files with time stamps are not supported"),
    ("1:2:a\n1:2:c\n", HEADER,
     r"line 11: label 'c' is not among the @classLabel values \['a', 'b'\]"),
])
def test_parser_errors_name_file_and_line(tmp_path, body, header, message):
    with pytest.raises(ValueError, match=message):
        read_ts(write_ts(tmp_path, body, header=header))


def test_parser_refuses_bad_numbers_and_missing_labels(tmp_path):
    with pytest.raises(ValueError, match=r"line 10: expected a number or '\?', got 'x'"):
        read_ts(write_ts(tmp_path, "1,x:3,4:a\n"))
    with pytest.raises(ValueError, match=r"line 10: a case needs values and a class label"):
        read_ts(write_ts(tmp_path, "1\n"))
    with pytest.raises(ValueError, match=r"line 2: files without class labels"):
        read_ts(write_ts(tmp_path, "1,2\n", header="@classLabel false\n@data\n"))
    with pytest.raises(ValueError, match=r"line 1: expected a header line"):
        read_ts(write_ts(tmp_path, "1,2:a\n", header=""))
    with pytest.raises(ValueError, match="no cases after @data"):
        read_ts(write_ts(tmp_path, ""))


def test_parser_without_a_label_list_accepts_any_label(tmp_path):
    _, y = read_ts(write_ts(tmp_path, "1:x\n2:3.5\n", header="@univariate true\n@data\n"))
    assert y.tolist() == ["x", "3.5"]


# -- bad input -----------------------------------------------------------------------------
def test_bad_split(aeon):
    with pytest.raises(ValueError, match=r"split must be one of \['train', 'test'\].*"
                                         r"got 'validation'"):
        load_ucr_uea("JapaneseVowels", split="validation")
    with pytest.raises(ValueError, match="split must be one of"):
        load_ucr_uea("JapaneseVowels", split=None)


def test_bad_split_is_refused_before_looking_for_aeon(monkeypatch):
    monkeypatch.setattr(datasets.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match="split"):
        load_ucr_uea("JapaneseVowels", "validation")


def test_unknown_name_lists_the_available_sets(aeon):
    with pytest.raises(ValueError, match=r"name must be a UCR/UEA set .*'JapaneseVowels'.*"
                                         r"got 'JapaneseVowel'") as info:
        load_ucr_uea("JapaneseVowel")
    assert "GunPoint" in str(info.value)


def test_without_aeon_says_how_to_install(monkeypatch):
    calls = []

    def find_nothing(name, *args):
        calls.append(name)
        return None

    monkeypatch.setattr(datasets.importlib.util, "find_spec", find_nothing)
    for call in (lambda: load_ucr_uea("JapaneseVowels"), list_ucr_uea):
        with pytest.raises(ImportError, match=r'pip install "rnnlab\[data\]" '
                                              r'\(or pip install aeon\)'):
            call()
    assert calls == ["aeon", "aeon"]
