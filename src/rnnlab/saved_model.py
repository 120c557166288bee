"""A saved model: one folder of safetensors and JSON that builds the model again, and reads
back the arrays and settings saved with it (a feature standardization, class names), so that
the model can be used elsewhere. Loading reads data only: no pickle, no code.

The folder ``path/`` holds three files:

- ``model.safetensors``: the model's state dict under PyTorch's names (loadable as is by
  ``safetensors.torch.load_file``), with the SHA-256 of ``model.json`` in its metadata
  (``"rnnlab.model.json.sha256"``), so that an edited or swapped ``model.json`` is refused;
- ``extras.safetensors``: the caller's named ``arrays`` (e.g. the mean and scale of a
  standardization), possibly none; its SHA-256 is recorded in ``model.json``;
- ``model.json``: ``{"format": "rnnlab-model", "version": 1, "architecture":
  module_spec(model), "rnnlab": ..., "numpy": ..., "python": ..., "extras_sha256": ...,
  "meta": {...}}``, ``meta`` the caller's JSON settings; ``meta["kind"]`` (e.g.
  "RNNClassifier", "Sequential", "rnnlab-train") says what wrote it, and a loader may
  require it.

The folder is written whole into a temporary folder beside it and renamed to ``path`` when
every file is on disk (as :func:`rnnlab.io.write_checkpoint` does): a reader sees the old
saved model or the new one, never a mix, and a failed write keeps what was there. A folder
at ``path`` is replaced only when it is a saved model itself.
"""

from __future__ import annotations

import hashlib
import os
import platform

import numpy as np

from rnnlab import io
from rnnlab._safetensors import InvalidFileError, file_bytes, json_object
from rnnlab.layers.module import Module
from rnnlab.layers.spec import build_module, module_spec

FORMAT, VERSION = "rnnlab-model", 1
MODEL_FILE, EXTRAS_FILE, JSON_FILE = "model.safetensors", "extras.safetensors", "model.json"
FILES = (JSON_FILE, MODEL_FILE, EXTRAS_FILE)
JSON_CHECKSUM_KEY = "rnnlab.model.json.sha256"  # in model.safetensors: SHA-256 of model.json


def save_model(path, model: Module, arrays: dict | None = None, meta: dict | None = None) -> str:
    """Write ``model`` (architecture and weights), ``arrays`` and ``meta`` to the folder
    ``path``, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The folder to write; its parent folders are created. An existing folder there is
        replaced only when it is a saved model.
    model : Module
        A module of :mod:`rnnlab.layers` (see :func:`rnnlab.layers.spec.module_spec`).
    arrays : dict of str to numpy array, optional
        Other arrays to keep with the model (``extras.safetensors``).
    meta : dict, optional
        JSON values to keep with the model; ``meta["kind"]``, a str, names what it is.

    Returns
    -------
    str
        The folder's path.

    Raises
    ------
    TypeError, ValueError
        For bad arguments, before anything is written.
    DiskWriteError
        When the folder cannot be written; what was at ``path`` is kept.
    """
    from rnnlab import __version__  # the package root, read when it is complete

    path = io._path(path, "path")
    if not isinstance(model, Module):
        raise TypeError(f"model must be an rnnlab Module, got {type(model).__name__}")
    meta = {} if meta is None else meta
    if not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict of JSON values or None, got {type(meta).__name__}")
    if "kind" in meta and not isinstance(meta["kind"], str):
        raise TypeError(f"meta['kind'] must be a str, got {type(meta['kind']).__name__}")
    check_replaceable(path)
    extras = file_bytes({} if arrays is None else arrays, name="arrays")
    info = {"format": FORMAT, "version": VERSION, "architecture": module_spec(model),
            "rnnlab": __version__, "numpy": np.__version__,
            "python": platform.python_version(),
            "extras_sha256": hashlib.sha256(extras).hexdigest(), "meta": meta}
    text = io._meta_bytes(info)
    weights = file_bytes(model.state_dict(), {JSON_CHECKSUM_KEY: hashlib.sha256(text).hexdigest()},
                         "model.state_dict()")
    files = {MODEL_FILE: weights, EXTRAS_FILE: extras, JSON_FILE: text}
    parent, name = os.path.split(os.path.abspath(path))
    kept = ("the saved model there is kept" if os.path.exists(path)
            else "nothing was written")
    prefixes = (f".{name}.tmp-", f".{name}.old-")  # the temporary and replaced folders
    try:
        final = io._write_checkpoint_folder(parent, name, files, prefixes)
    except OSError as err:
        raise io._write_failed(err, "the model", path, kept) from err
    io._leftovers(parent, prefixes)  # of an earlier save of this path that was killed
    return final


def check_replaceable(path) -> None:
    """Refuse a ``path`` that is a file, or a folder that is neither empty nor a saved model
    (it would be replaced, and everything in it lost): what :func:`save_model` checks first,
    for a caller that checks before long work."""
    path = io._path(path, "path")
    if not os.path.exists(path):
        return
    if not os.path.isdir(path):
        raise ValueError(f"path must name a folder to write the model into, got the file "
                         f"{path!r}")
    entries = os.listdir(path)
    if entries and not _is_saved_model(path):
        raise ValueError(f"path {path!r} is a folder that is not a saved rnnlab model (it "
                         f"holds {sorted(entries)[:5]}); saving would replace it: choose a "
                         f"new folder")


def _is_saved_model(path: str) -> bool:
    """Whether the folder ``path`` has a model.json of this format (of any version)."""
    try:
        with open(os.path.join(path, JSON_FILE), "rb") as f:
            return json_object(f.read(), JSON_FILE).get("format") == FORMAT
    except (OSError, InvalidFileError):
        return False


def load_model(path, expected_kind: str | None = None) -> tuple:
    """Read a folder :func:`save_model` wrote: ``(model, arrays, meta)``.

    Every file is checked before it is used: ``model.json``'s format and version, its
    checksum recorded in ``model.safetensors``, both safetensors files (truncation,
    corruption), the architecture (only rnnlab's layers are built, from their constructors),
    and the weights' names, shapes and dtypes against the model built. Nothing is unpickled.

    Parameters
    ----------
    path : str or os.PathLike
        The folder.
    expected_kind : str, optional
        What ``meta["kind"]`` must be (e.g. "RNNClassifier").

    Returns
    -------
    model : Module
        Built from the architecture, with the saved weights; in train mode, as every
        module starts (call ``model.eval()`` for inference).
    arrays : dict of str to numpy array
        The ``arrays`` saved with it.
    meta : dict
        The ``meta`` saved with it.

    Raises
    ------
    FileNotFoundError
        When there is nothing at ``path``.
    InvalidFileError
        (a ``ValueError``) When ``path`` is a file or another kind of folder (a checkpoint,
        a character model), a file is missing, truncated, corrupted or edited, the format is
        another or the version newer than this rnnlab reads ("upgrade rnnlab"), the
        architecture is invalid, or ``meta["kind"]`` is not ``expected_kind``. The message
        names the folder and what is wrong.
    """
    path = io._path(path, "path")
    if expected_kind is not None and not isinstance(expected_kind, str):
        raise TypeError(f"expected_kind must be a str or None, got "
                        f"{type(expected_kind).__name__}")
    info, weights, arrays = _read_folder(path)
    meta = info["meta"]
    if expected_kind is not None and meta.get("kind") != expected_kind:
        raise InvalidFileError(f"path {path!r} holds a saved model of kind "
                               f"{meta.get('kind')!r}, expected {expected_kind!r}")
    try:
        model = build_module(info["architecture"])
    except ValueError as err:
        raise InvalidFileError(f"path {path!r} has an invalid architecture in {JSON_FILE}: "
                               f"{err}") from None
    except (RecursionError, MemoryError) as err:
        raise InvalidFileError(f"path {path!r} has an architecture in {JSON_FILE} that "
                               f"cannot be built ({type(err).__name__})") from None
    expected = model.state_dict()
    differences = io.state_dict_differences(weights, expected)
    dtypes = [f"{name!r} expected {expected[name].dtype}, got {weights[name].dtype}"
              for name in sorted(expected) if name in weights
              and weights[name].dtype != expected[name].dtype]
    if differences or dtypes:
        raise InvalidFileError(f"path {path!r}: {MODEL_FILE} does not fit the architecture "
                               f"in {JSON_FILE}: "
                               f"{'; '.join(filter(None, [differences, ', '.join(dtypes)]))}")
    try:
        model.load_state_dict(weights)
    except (TypeError, ValueError) as err:
        raise InvalidFileError(f"path {path!r}: {MODEL_FILE} {err}") from None
    return model, arrays, meta


def _read_folder(path: str) -> tuple:
    """``(info, weights, arrays)`` of the saved model folder ``path``, every file checked."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"path must be a saved model folder, got {path!r} (no such "
                                f"file or folder)")
    if not os.path.isdir(path):
        raise InvalidFileError(f"path must be a saved model folder (holding {', '.join(FILES)}"
                               f"), got the file {path!r}{_file_hint(path)}")
    if not os.path.isfile(os.path.join(path, JSON_FILE)):
        raise InvalidFileError(f"path {path!r} is not a saved rnnlab model: {_what_it_is(path)}")
    with open(os.path.join(path, JSON_FILE), "rb") as f:
        raw = f.read()
    info = json_object(raw, f"path {path!r} is not a valid saved model: {JSON_FILE}")
    io._check_format(path, info, FORMAT, VERSION, "a saved model", JSON_FILE)
    read = io.read_tensor_files(path, (MODEL_FILE, EXTRAS_FILE), "saved model", FILES)
    (weights, metadata), (arrays, _) = read[MODEL_FILE], read[EXTRAS_FILE]
    if metadata.get(JSON_CHECKSUM_KEY) != hashlib.sha256(raw).hexdigest():
        raise InvalidFileError(f"path {path!r} is not a valid saved model: {JSON_FILE} is "
                               f"corrupted or was edited (its SHA-256 checksum does not match "
                               f"the one recorded in {MODEL_FILE} when it was written)")
    with open(os.path.join(path, EXTRAS_FILE), "rb") as f:
        extras_checksum = hashlib.sha256(f.read()).hexdigest()
    if extras_checksum != info.get("extras_sha256"):
        raise InvalidFileError(f"path {path!r} is not a valid saved model: {EXTRAS_FILE} is "
                               f"not the one saved with {JSON_FILE} (its checksum differs from "
                               f"the one recorded there)")
    for key, kind in (("architecture", dict), ("meta", dict)):
        if not isinstance(info.get(key), kind):
            raise InvalidFileError(f"path {path!r} is not a valid saved model: {JSON_FILE} "
                                   f"must hold {key!r}, a JSON object")
    return info, weights, arrays


def _file_hint(path: str) -> str:
    if path.endswith(".safetensors"):
        return " (a weights file: read it with rnnlab.io.load_weights)"
    return ""


def _what_it_is(path: str) -> str:
    """What the folder ``path``, which has no model.json, holds instead, for the message."""
    entries = set(os.listdir(path))
    if {io.META_FILE, io.WEIGHTS_FILE} <= entries:
        try:
            with open(os.path.join(path, io.META_FILE), "rb") as f:
                found = json_object(f.read(), io.META_FILE).get("format")
        except (OSError, InvalidFileError):
            found = None
        return (f"it is a training checkpoint (format {found!r}, {io.META_FILE} and "
                f"{io.WEIGHTS_FILE}), not a saved model: resume training from it, or save "
                f"the trained model")
    if io.list_checkpoints(path):
        return (f"it is a folder of training checkpoints "
                f"({os.path.basename(io.latest_checkpoint(path))}, ...), not a saved model")
    if {"vocabulary.json", "config.json", MODEL_FILE} <= entries:
        return ("it is a character model folder of `rnnlab text train` (model.safetensors, "
                "vocabulary.json, config.json): load it with rnnlab.text.training.load_model")
    return f"{JSON_FILE} is missing (a saved model holds {', '.join(FILES)})"
