"""Files of sequences: the UCR/UEA ``.ts`` text format, NumPy ``.npz`` archives, and (for
applying a model, without targets) ``.csv`` files of one univariate sequence a row; each read
into a list of (T_i, F) arrays and their targets, checked, without pickle.

Shapes: N sequences, T_i steps of each (which may differ), F features (channels).
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from rnnlab._checks import MissingFileError

# -- any file of sequences -----------------------------------------------------------------
DATA_FILE_TYPES = (".ts", ".npz")  # with targets: what a model is trained on
INPUT_FILE_TYPES = (".ts", ".npz", ".csv")  # targets optional: what a model is applied to
LAYOUTS = (None, "NTF", "NCT")  # None: (N, T, F), refusing x with fewer steps than features


def read_data_file(path: str, name: str = "path",
                   layout: str | None = None) -> tuple[list[np.ndarray], np.ndarray]:
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
    layout : {None, "NTF", "NCT"}
        How a ``.npz`` file's 3-D ``x`` is laid out: (N, T, F), or (N, C, T) as aeon and
        sktime write it (C channels, the features). None is (N, T, F) but refuses an ``x``
        with fewer steps than features, which is more often (N, C, T) data: say which.

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
    return _read_npz(path, name, _layout(layout))


def read_input_file(path, name: str = "DATA", layout: str | None = None) -> tuple:
    """Sequences to apply a model to, and their targets where the file has them: ``(X, y)``
    with ``y`` None for a ``.ts`` file of ``@classLabel false``, a ``.npz`` file without
    ``y``, and a ``.csv`` file (one univariate sequence a row: comma-separated numbers,
    ``?`` or an empty cell for a missing value, shorter rows ending early; no header, no
    labels). Otherwise as :func:`read_data_file`."""
    path = _existing_file(path, name)
    extension = os.path.splitext(path)[1].lower()
    if extension not in INPUT_FILE_TYPES:
        raise ValueError(f"{name} must name a {', '.join(INPUT_FILE_TYPES)} file, got {path!r}")
    if extension == ".csv":
        return _read_csv(path, name), None
    if extension == ".npz":
        return _read_npz(path, name, _layout(layout), targets=False)
    X, y, header = _parse_ts(path, name, labels=False)
    return X, (None if header.get("unlabeled") else y)


def _layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {list(LAYOUTS)}, got {layout!r}")
    return layout


def _read_csv(path: str, name: str) -> list:
    """One univariate sequence a row of a ``.csv`` file, as (T_i, 1) arrays."""
    filename, X = os.path.basename(path), []
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                cells = line.strip().split(",")
                while cells and not cells[-1].strip():  # a shorter row: trailing empties
                    cells.pop()
                if not cells:
                    continue
                where = f"{name} {filename}, line {number}"
                values = [_parse_value(c if c.strip() else "?", where) for c in cells]
                X.append(np.array(values, dtype=np.float64)[:, None])
    except UnicodeDecodeError as err:
        raise ValueError(f"{name} {filename}: not a UTF-8 text file, as a .csv file must be "
                         f"({err.reason} at byte {err.start})") from None
    if not X:
        raise ValueError(f"{name} {filename}: no rows (one univariate sequence a row)")
    return X


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


def _read_npz(path: str, name: str = "path", layout: str | None = None,
              targets: bool = True) -> tuple[list[np.ndarray], np.ndarray]:
    """``x``, ``y`` and optional ``lengths`` from an ``.npz`` file (see :func:`read_data_file`);
    without ``targets``, ``y`` may be missing (then None)."""
    where = f"{name} {os.path.basename(path)}"
    arrays = _load_npz(path, where)
    if not targets and "y" not in arrays and "x" in arrays:
        arrays = {**arrays, "y": None}
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
    elif x.ndim == 3 and layout == "NCT":
        x = x.transpose(0, 2, 1)
    elif x.ndim == 3 and layout is None and x.shape[1] < x.shape[2]:
        raise ValueError(f"{where}: x of shape {x.shape} is ambiguous: as (N, T, F) it is "
                         f"{x.shape[0]} sequences of {x.shape[1]} step(s) with {x.shape[2]} "
                         f"features; as aeon's and sktime's (N, C, T) it is {x.shape[1]} "
                         f"channel(s) of {x.shape[2]} steps. Say which: layout NCT or NTF")
    if x.ndim != 3 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{where}: x must have shape (N, T, F) or (N, T) with N, T >= 1, "
                         f"got {arrays['x'].shape}")
    count, steps = x.shape[:2]
    if y is None:
        pass
    elif y.ndim not in (1, 2) or y.shape[0] != count:
        raise ValueError(f"{where}: y must have shape (N,) or (N, K) with N = {count}, "
                         f"got {y.shape}")
    elif y.dtype.kind not in "biufUS":
        raise ValueError(f"{where}: y must hold class labels (ints, strings, bools) or float "
                         f"targets, got dtype {y.dtype}")
    elif y.dtype.kind == "f" and not np.isfinite(y).all():
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


def _parse_ts(path: str, name: str = "path",
              labels: bool = True) -> tuple[list[np.ndarray], np.ndarray, dict]:
    """:func:`read_ts`, and the header it read (``has_target`` for regression files); errors
    name the argument ``name`` and the file."""
    X, y = [], []
    header = {"labels": None, "dimensions": None, "labels_required": labels}
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
    unlabeled = not (header.get("has_labels", True) or header.get("has_target"))
    header["unlabeled"] = unlabeled
    if key == "@data" and unlabeled and header["labels_required"]:
        raise ValueError(f"{where}: files without class labels (@classLabel false) are not "
                         f"supported")
    return key == "@data"


def _read_case(line: str, where: str, header: dict) -> tuple[np.ndarray, str]:
    """One data line -> its (T, F) float64 array and its label, checked against ``header``.

    The first case sets ``header["dimensions"]``; every later case must match it.
    """
    if header.get("unlabeled"):
        fields, label = line.split(":"), ""
    else:
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
    known = header["labels"]
    if not header.get("unlabeled") and known is not None and label not in known:
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
