"""Real sequence data: the UCR/UEA archive sets that the aeon package ships in its wheel, and
MNIST-1D (Greydanus 2020), generated offline by the mnist1d package.

The files are read straight from aeon's folder with a small ``.ts`` parser, without importing
aeon (whose import pulls in numba and takes seconds); the tests check that the values and
labels equal those of aeon's own ``aeon.datasets.load_from_ts_file``. Needs
``pip install "rnnlab[data]"`` (or ``pip install aeon``).

Shapes: each sequence is (T_i, F), T_i steps (which may differ between sequences), F features
(the file's dimensions, or channels).

JapaneseVowels (Kudo, Toyama & Shimbo 1999), the example used throughout: nine male speakers
say the vowels /ae/; each utterance is a sequence of 12 LPC cepstrum coefficients, 7 to 29
frames long; the task is to name the speaker, labelled "1" to "9". Train 270 sequences (30 per
speaker), test 370.

>>> X_train, y_train = load_ucr_uea("JapaneseVowels", "train")
>>> len(X_train), X_train[0].shape, str(y_train[0])
(270, (20, 12), '1')

MNIST-1D (Greydanus 2020, "Scaling down deep learning", arXiv:2011.14439): ten 1D templates of
the digits, padded, scaled, translated, sheared, noised and resampled to 40 steps; 4000 train
and 1000 test sequences, labels 0 to 9. :func:`load_mnist1d` returns them as an (N, 40, 1)
array, generated from the package's templates and default arguments, never downloaded.
"""

from __future__ import annotations

import importlib.util
import os
import random
import zipfile

import numpy as np

from rnnlab._checks import MissingFileError

SPLITS = ("train", "test")
_INSTALL = 'pip install "rnnlab[data]" (or pip install aeon)'


# -- locating aeon's files -----------------------------------------------------------------
def data_folder() -> str:
    """aeon's ``datasets/data`` folder, found without importing aeon.

    Raises
    ------
    ImportError
        If aeon is not installed, or its data folder is missing.
    """
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the UCR/UEA data comes with the aeon package: {_INSTALL}")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data")
    if not os.path.isdir(folder):
        raise ImportError(f"the installed aeon has no data folder {folder}; reinstall it: "
                          f"{_INSTALL}")
    return folder


def list_ucr_uea() -> list[str]:
    """The names of the UCR/UEA sets shipped with the installed aeon, sorted.

    A name is listed when aeon's data folder holds ``<name>/<name>_TRAIN.ts``.

    Returns
    -------
    list of str
        E.g. ``["ACSF1", "ArrowHead", "BasicMotions", ..., "JapaneseVowels", ...]``.

    Raises
    ------
    ImportError
        If aeon is not installed.
    """
    folder = data_folder()
    return sorted(name for name in os.listdir(folder)
                  if os.path.isfile(os.path.join(folder, name, f"{name}_TRAIN.ts")))


def load_ucr_uea(name: str, split: str = "train") -> tuple[list[np.ndarray], np.ndarray]:
    """Load one split of a UCR/UEA set as a list of sequences and their labels.

    Parameters
    ----------
    name : str
        The set's name, e.g. "JapaneseVowels", "BasicMotions", "GunPoint" (see
        :func:`list_ucr_uea`).
    split : {"train", "test"}
        Which file to read, case-insensitive.

    Returns
    -------
    X : list of (T_i, F) float64 arrays
        Time steps first, features (the file's dimensions) second; NaN where the file has
        "?" (a missing value).
    y : (N,) str array
        The class labels, spelled as in the file. (For the few regression sets, whose header
        says ``@targetLabel true``, these are the target values as text.)

    Raises
    ------
    ValueError
        If ``split`` or ``name`` is not one of the choices, or the file is malformed.
    ImportError
        If aeon is not installed.

    Examples
    --------
    JapaneseVowels: 9 speakers, 12 LPC cepstrum coefficients, 7 to 29 steps; 270 sequences in
    train, 370 in test (Kudo, Toyama & Shimbo 1999).

    >>> X, y = load_ucr_uea("JapaneseVowels", "test")
    >>> len(X), X[0].shape[1], sorted(set(y.tolist()))[:3]
    (370, 12, ['1', '2', '3'])
    """
    if not isinstance(split, str) or split.lower() not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)} (any case), got {split!r}")
    names = list_ucr_uea()
    if name not in names:
        raise ValueError(f"name must be a UCR/UEA set shipped with aeon, one of {names}; "
                         f"got {name!r}")
    return read_ts(os.path.join(data_folder(), name, f"{name}_{split.upper()}.ts"))


# -- MNIST-1D -------------------------------------------------------------------------------
MNIST1D_STEPS = 40  # T: the published sequence length (mnist1d's final_seq_length)
MNIST1D_CLASSES = 10  # the digits 0 to 9
_MNIST1D_INSTALL = 'pip install "rnnlab[data]" (or pip install mnist1d)'


def load_mnist1d(split: str = "train", seed: int = 42,
                 shuffle_seq: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Generate one split of MNIST-1D (Greydanus 2020) offline, as the mnist1d package does.

    Calls the package's ``make_dataset`` with its default arguments (``get_dataset_args``:
    5000 sequences, 80% for training, 40 steps, seed 42), which builds the set from the
    templates in its code; nothing is downloaded and nothing is written to disk. The package
    draws from NumPy's and Python's global random generators; their states are restored
    afterwards, so loading leaves the caller's random numbers as they were.

    Parameters
    ----------
    split : {"train", "test"}
        Which part, case-insensitive: the first 4000 sequences of the shuffled set, or the
        last 1000.
    seed : int
        The generator's seed, in [0, 2**32); 42, the default, gives the published set.
    shuffle_seq : bool
        Shuffle the time steps of every sequence with one fixed permutation (the "shuffle"
        variant of the MNIST-1D paper, which takes away the spatial structure).

    Returns
    -------
    X : (N, 40, 1) float64 array
        N = 4000 (train) or 1000 (test) sequences of 40 steps and one feature, standardized
        over the whole set (train and test together) by the package. Unlike the UCR/UEA sets
        all sequences have the same length, so this is one array rather than a list; it goes
        straight into ``SequenceData`` or an estimator's ``fit``.
    y : (N,) int64 array
        The digits, 0 to 9.

    Raises
    ------
    ValueError
        If ``split`` is not "train" or "test", or ``seed`` is out of range.
    TypeError
        If ``seed`` is not an int or ``shuffle_seq`` not a bool.
    ImportError
        If the mnist1d package is not installed.

    Examples
    --------
    >>> X, y = load_mnist1d("train")
    >>> X.shape, X.dtype, sorted(set(y.tolist())) == list(range(10))
    ((4000, 40, 1), dtype('float64'), True)
    """
    if not isinstance(split, str) or split.lower() not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)} (any case), got {split!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must lie in [0, 2**32), got {seed}")
    if not isinstance(shuffle_seq, (bool, np.bool_)):
        raise TypeError(f"shuffle_seq must be a bool, got {type(shuffle_seq).__name__} "
                        f"{shuffle_seq!r}")
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:
        raise ImportError(f"MNIST-1D is generated by the mnist1d package, which is not "
                          f"installed ({err}): {_MNIST1D_INSTALL}") from err
    args = get_dataset_args()  # a fresh object each call: the published defaults
    args.seed, args.shuffle_seq = int(seed), bool(shuffle_seq)
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        dataset = make_dataset(args)  # builds from the templates; get_dataset may download
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    x, y = (dataset["x"], dataset["y"]) if split.lower() == "train" \
        else (dataset["x_test"], dataset["y_test"])
    return np.ascontiguousarray(x[:, :, None], dtype=np.float64), y.astype(np.int64)


# -- any file of sequences -----------------------------------------------------------------
DATA_FILE_TYPES = (".ts", ".npz")


def read_data_file(path: str, name: str = "path") -> tuple[list[np.ndarray], np.ndarray]:
    """Sequences and their targets from a ``.ts`` or ``.npz`` file.

    Parameters
    ----------
    path : str
        ``.ts``: the UCR/UEA text format (see :func:`read_ts`); a file whose header says
        ``@targetLabel true`` holds regression targets, read as floats.
        ``.npz`` (``numpy.savez``): ``x`` (N, T, F) or (N, T) floats, ``y`` (N,) class labels
        (ints, strings or bools) or (N,) / (N, K) float targets, and optionally ``lengths``
        (N,) ints, the valid steps of each row of ``x`` (all T by default). Read without
        pickle: object arrays are refused. ``x`` may hold NaN (a missing value) but not
        infinities; float targets must be finite.
    name : str
        The argument's name in error messages (``"test_path"`` for a test file).

    Returns
    -------
    X : list of (T_i, F) float64 arrays
    y : (N,) str, int or bool array of labels, or (N,) / (N, K) float64 targets

    Raises
    ------
    TypeError
        If ``path`` is not a str (or os.PathLike).
    ValueError
        Naming ``name``: for another file type, a file that is not what its extension says
        (truncated, corrupted, binary where text is expected), a missing key, values that are
        not numbers, or shapes that do not fit together.
    FileNotFoundError
        If ``path`` names no file (:class:`~rnnlab._checks.MissingFileError`, which is also a
        ``ValueError``).
    """
    path = check_data_path(path, name)
    if path.lower().endswith(".ts"):
        X, y, header = _parse_ts(path, name)
        if header.get("has_target"):
            where = f"{name} {os.path.basename(path)}, target"
            y = np.array([_parse_value(v, where) for v in y])
            if not np.isfinite(y).all():
                raise ValueError(f"{where}: every target must be a number, got "
                                 f"{int((~np.isfinite(y)).sum())} missing ('?') or infinite")
        return X, y
    return _read_npz(path, name)


def check_data_path(path, name: str = "path") -> str:
    """``path`` as a str if it names an existing ``.ts`` or ``.npz`` file, else raise naming
    ``name``."""
    return _existing_file(path, name, check_type=True)


def _existing_file(path, name: str, check_type: bool = False) -> str:
    """``path`` as a str if it names an existing file (of a data file type, with
    ``check_type``), else raise naming ``name``."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str, got {type(path).__name__}")
    path = os.fspath(path)
    if check_type and os.path.splitext(path)[1].lower() not in DATA_FILE_TYPES:
        raise ValueError(f"{name} must name a {' or '.join(DATA_FILE_TYPES)} file, got {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"{name} must name a file, got the folder {path!r}")
    if not os.path.isfile(path):
        raise MissingFileError(f"{name}: no such file {path!r}")
    return path


def _load_npz(path: str, where: str) -> dict:
    """Every array of an ``.npz`` archive, read without pickle; anything that is not such an
    archive (empty, truncated, text, a ``.npy`` array, object arrays) raises naming ``where``."""
    errors = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile)
    with open(path, "rb") as handle:  # ours to close, whatever np.load makes of the bytes
        try:
            loaded = np.load(handle, allow_pickle=False)
            arrays = None
            if isinstance(loaded, np.lib.npyio.NpzFile):
                with loaded:
                    arrays = {key: loaded[key] for key in loaded.files}
        except errors as err:
            raise ValueError(f"{where}: cannot read it as a .npz archive without pickle "
                             f"({type(err).__name__}: {err})") from None
    if arrays is None:  # a .npy array saved under a .npz name
        raise ValueError(f"{where}: a single .npy array, not a .npz archive of 'x' and 'y' "
                         f"(numpy.savez)")
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):  # np.load gives the raw bytes of a non-.npy member
            raise ValueError(f"{where}: member {key!r} of the archive is not a .npy array")
    return arrays


def _read_npz(path: str, name: str = "path") -> tuple[list[np.ndarray], np.ndarray]:
    """``x``, ``y`` and optional ``lengths`` from an ``.npz`` file (see :func:`read_data_file`)."""
    where = f"{name} {os.path.basename(path)}"
    arrays = _load_npz(path, where)
    missing = [key for key in ("x", "y") if key not in arrays]
    if missing:
        raise ValueError(f"{where} must hold arrays 'x' and 'y' (and optionally 'lengths'); "
                         f"missing {missing}, found {sorted(arrays)}")
    x, y = arrays["x"], arrays["y"]
    if x.dtype.kind not in "fiu":
        raise ValueError(f"{where}: x must hold numbers, got dtype {x.dtype}")
    if x.dtype.kind == "f" and np.isinf(x).any():
        raise ValueError(f"{where}: x must be finite (NaN marks a missing value), got "
                         f"{int(np.isinf(x).sum())} infinite value(s)")
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{where}: x must have shape (N, T, F) or (N, T) with N, T >= 1, "
                         f"got {arrays['x'].shape}")
    count, steps = x.shape[:2]
    if y.ndim not in (1, 2) or y.shape[0] != count:
        raise ValueError(f"{where}: y must have shape (N,) or (N, K) with N = {count}, "
                         f"got {y.shape}")
    if y.dtype.kind not in "biufUS":
        raise ValueError(f"{where}: y must hold class labels (ints, strings, bools) or float "
                         f"targets, got dtype {y.dtype}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{where}: y must be finite, got {int((~np.isfinite(y)).sum())} NaN "
                         f"or infinite value(s)")
    lengths = arrays.get("lengths")
    if lengths is None:
        lengths = np.full(count, steps)
    elif lengths.shape != (count,) or lengths.dtype.kind not in "iu" \
            or lengths.min() < 1 or lengths.max() > steps:
        raise ValueError(f"{where}: lengths must be (N,) = ({count},) ints in [1, T = {steps}], "
                         f"got shape {lengths.shape}, dtype {lengths.dtype}")
    X = [np.ascontiguousarray(x[n, :lengths[n]], dtype=np.float64) for n in range(count)]
    return X, y


# -- the .ts format ------------------------------------------------------------------------
def read_ts(path: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Parse a ``.ts`` file into sequences and labels.

    The format: ``#`` comment lines; ``@`` header lines (``@problemName``, ``@timeStamps``,
    ``@missing``, ``@univariate``, ``@dimensions``, ``@equalLength``, ``@seriesLength``,
    ``@classLabel true <labels...>``, ...) up to ``@data``; then one case a line, its
    dimensions separated by ``:``, the values within a dimension by ``,``, and the class label
    as the last ``:`` field. ``?`` is a missing value.

    Parameters
    ----------
    path : str
        The ``.ts`` file.

    Returns
    -------
    X : list of (T_i, F) float64 arrays
        One per case, C-contiguous; NaN for ``?``.
    y : (N,) str array
        The labels as written.

    Raises
    ------
    ValueError
        Naming the file and line: time stamps (``@timeStamps true``), a file without
        labels, a case whose number of dimensions differs from the first case's, dimensions
        of different lengths within a case, a value that is not a number, or a label missing
        from the ``@classLabel`` list.
    """
    X, y, _ = _parse_ts(_existing_file(path, "path"), "path")
    return X, y


def _parse_ts(path: str, name: str = "path") -> tuple[list[np.ndarray], np.ndarray, dict]:
    """:func:`read_ts`, and the header it read (``has_target`` for regression files); errors
    name the argument ``name`` and the file."""
    X, y = [], []
    header = {"labels": None, "dimensions": None}
    in_data = False
    filename = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                where = f"{name} {filename}, line {number}"
                if in_data:
                    series, label = _read_case(line, where, header)
                    X.append(series)
                    y.append(label)
                else:
                    in_data = _read_header_line(line, where, header)
    except UnicodeDecodeError as err:
        raise ValueError(f"{name} {filename}: not a UTF-8 text file, as a .ts file must be "
                         f"({err.reason} at byte {err.start})") from None
    if not in_data:
        raise ValueError(f"{name} {filename}: no @data line (the file is empty, truncated or "
                         f"not a .ts file)")
    if not X:
        raise ValueError(f"{name} {filename}: no cases after @data")
    return X, np.array(y, dtype=str), header


def _read_header_line(line: str, where: str, header: dict) -> bool:
    """Record one ``@`` line in ``header``; return True at ``@data``.

    ``header["labels"]`` becomes the set of ``@classLabel true`` values. Like aeon, a file
    has labels unless it says ``@classLabel false`` (a regression file's ``@targetLabel true``
    puts its target where the label goes).
    """
    if not line.startswith("@"):
        raise ValueError(f"{where}: expected a header line starting with '@' before @data, "
                         f"got {line[:40]!r}")
    key, *values = line.split()
    key = key.lower()
    flag = values[0].lower() if values else ""
    if key == "@timestamps" and flag == "true":
        raise ValueError(f"{where}: files with time stamps are not supported")
    if key == "@classlabel":
        header["has_labels"] = flag == "true"
        header["labels"] = (set(values[1:]) or None) if flag == "true" else None
    if key == "@targetlabel" and flag == "true":
        header["has_target"] = True
    if key == "@data" and not (header.get("has_labels", True) or header.get("has_target")):
        raise ValueError(f"{where}: files without class labels (@classLabel false) are not "
                         f"supported")
    return key == "@data"


def _read_case(line: str, where: str, header: dict) -> tuple[np.ndarray, str]:
    """One data line -> its (T, F) float64 array and its label, checked against ``header``.

    The first case sets ``header["dimensions"]``; every later case must match it.
    """
    *fields, label = line.split(":")
    if not fields:
        raise ValueError(f"{where}: a case needs values and a class label, got {line[:40]!r}")
    if header["dimensions"] is None:
        header["dimensions"] = len(fields)
    if len(fields) != header["dimensions"]:
        raise ValueError(f"{where}: {len(fields)} dimensions, but the first case "
                         f"has {header['dimensions']}")
    series = [[_parse_value(v, where) for v in field.split(",")] for field in fields]
    if len({len(s) for s in series}) != 1:
        raise ValueError(f"{where}: the dimensions have different lengths "
                         f"{[len(s) for s in series]}")
    label = label.strip()
    if header["labels"] is not None and label not in header["labels"]:
        raise ValueError(f"{where}: label {label!r} is not among the @classLabel "
                         f"values {sorted(header['labels'])}")
    return np.ascontiguousarray(np.array(series, dtype=np.float64).T), label  # (T, F)


def _parse_value(text: str, where: str) -> float:
    """One value: ``?`` (missing) -> NaN, else a float; anything else raises naming ``where``."""
    text = text.strip()
    if text == "?":
        return np.nan
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{where}: expected a number or '?', got {text!r}") from None
