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

import numpy as np

# the file formats live in rnnlab.data_files; these names stay importable from here
from rnnlab.data_files import DATA_FILE_TYPES, check_data_path, read_data_file, read_ts

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

__all__ = ["data_folder", "list_ucr_uea", "load_ucr_uea", "load_mnist1d", "read_ts",
           "read_data_file", "check_data_path", "DATA_FILE_TYPES", "SPLITS"]
