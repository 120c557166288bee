"""Real sequence data: the UCR/UEA archive sets that the aeon package ships in its wheel.

The files are read straight from aeon's folder with a small ``.ts`` parser, without importing
aeon (whose import pulls in numba and takes seconds); the tests check that the values and
labels equal those of aeon's own ``load_from_ts_file``. Needs ``pip install "rnnlab[data]"``.

JapaneseVowels (Kudo, Toyama & Shimbo 1999): nine male speakers say the vowels /ae/; each
utterance is a sequence of 12 LPC cepstrum coefficients, 7 to 29 frames long; the task is to
name the speaker. Train 270 sequences (30 per speaker), test 370.

>>> X_train, y_train = load_ucr_uea("JapaneseVowels", "train")
>>> len(X_train), X_train[0].shape, y_train[0]
(270, (20, 12), '1')
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

SPLITS = ("train", "test")


def _data_folder() -> str:
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError('the UCR/UEA data comes with the aeon package: '
                          'pip install "rnnlab[data]" (or pip install aeon)')
    return os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data")


def list_ucr_uea() -> list:
    """The names of the UCR/UEA sets shipped with the installed aeon, sorted."""
    folder = _data_folder()
    return sorted(name for name in os.listdir(folder)
                  if os.path.isfile(os.path.join(folder, name, f"{name}_TRAIN.ts")))


def load_ucr_uea(name: str, split: str = "train") -> tuple:
    """Load one split of a UCR/UEA set as a list of sequences and their labels.

    Parameters
    ----------
    name : str
        E.g. "JapaneseVowels", "BasicMotions", "GunPoint" (see :func:`list_ucr_uea`).
    split : {"train", "test"}

    Returns
    -------
    X : list of (T_i, F) float64 arrays
        Time steps first, features (the file's dimensions) second; NaN where the file has
        "?" (a missing value).
    y : (N,) str array
        The class labels, as written in the file.
    """
    if not isinstance(split, str) or split.lower() not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    names = list_ucr_uea()
    if name not in names:
        raise ValueError(f"name must be a UCR/UEA set shipped with aeon, one of {names}; "
                         f"got {name!r}")
    return _read_ts(os.path.join(_data_folder(), name, f"{name}_{split.upper()}.ts"))


def _parse_value(text: str) -> float:
    return np.nan if text == "?" else float(text)


def _read_ts(path: str) -> tuple:
    """Parse a ``.ts`` file: ``@`` header lines, then one case a line, dimensions separated
    by ``:``, values by ``,``, the class label last."""
    labels_allowed, dimensions, X, y = None, None, [], []
    in_data = False
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{os.path.basename(path)}, line {number}"
            if not in_data:
                key, _, rest = line.partition(" ")
                key = key.lower()
                if key == "@timestamps" and rest.strip().lower() == "true":
                    raise ValueError(f"{where}: files with time stamps are not supported")
                if key == "@classlabel" and rest.split()[:1] == ["true"]:
                    labels_allowed = set(rest.split()[1:])
                if key == "@data":
                    in_data = True
                continue
            *fields, label = line.split(":")
            if not fields:
                raise ValueError(f"{where}: a case needs values and a class label, got {line!r}")
            if dimensions is None:
                dimensions = len(fields)
            if len(fields) != dimensions:
                raise ValueError(f"{where}: {len(fields)} dimensions, but the first case "
                                 f"has {dimensions}")
            series = [[_parse_value(v) for v in field.split(",")] for field in fields]
            if len({len(s) for s in series}) != 1:
                raise ValueError(f"{where}: the dimensions have different lengths "
                                 f"{[len(s) for s in series]}")
            label = label.strip()
            if labels_allowed is not None and label not in labels_allowed:
                raise ValueError(f"{where}: label {label!r} is not among the @classLabel "
                                 f"values {sorted(labels_allowed)}")
            X.append(np.array(series, dtype=np.float64).T)  # (T_i, F)
            y.append(label)
    if not X:
        raise ValueError(f"{path}: no cases after @data")
    return X, np.array(y)
