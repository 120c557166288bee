"""Weights and checkpoints on disk: safetensors for arrays, JSON for everything else.

Nothing here ever leaves a file half written: every file is written to a temporary name in
the same folder, flushed to disk, then renamed over the target (an atomic step on POSIX and
Windows), and a checkpoint is a folder that appears under its final name only once all its
files are complete. Loading reads arrays and JSON; it never runs code (no pickle).

A weights file holds a state dict under PyTorch's names, so
``torch.nn.LSTM(...).load_state_dict(safetensors.torch.load_file(path))`` loads what
:func:`save_weights` wrote, and :func:`load_weights` reads what
``safetensors.torch.save_file(lstm.state_dict(), path)`` wrote.

Needs the ``safetensors`` package (``pip install "rnnlab[train]"``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile

import numpy as np

from rnnlab._checks import positive_int

CHECKPOINT_PATTERN = re.compile(r"^epoch-(\d+)$")
WEIGHTS_FILE, STATE_FILE, META_FILE = "weights.safetensors", "state.safetensors", "state.json"


def _safetensors_numpy():
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError('reading and writing weights needs safetensors: '
                          'pip install "rnnlab[train]" (or pip install safetensors)') from None
    return safetensors.numpy


def _write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` and flush it to disk (the only place files are written)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _atomic_write(path: str, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename it over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    os.close(fd)
    try:
        _write_bytes(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _tensor_bytes(tensors: dict, metadata: dict | None = None) -> bytes:
    for name, value in tensors.items():
        if not isinstance(value, np.ndarray):
            raise TypeError(f"tensors[{name!r}] must be a numpy array, got {type(value).__name__}")
    arrays = {name: np.ascontiguousarray(value) for name, value in tensors.items()}
    return _safetensors_numpy().save(arrays, metadata=metadata)


def save_weights(path, state_dict: dict, metadata: dict | None = None) -> None:
    """Write ``{name: array}`` to a safetensors file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
    state_dict : dict of str to numpy array
        E.g. ``model.state_dict()``.
    metadata : dict of str to str, optional
        Stored in the file's header.
    """
    _atomic_write(os.fspath(path), _tensor_bytes(state_dict, metadata))


def load_weights(path) -> dict:
    """Read a safetensors file into ``{name: numpy array}``."""
    with open(os.fspath(path), "rb") as f:
        return dict(_safetensors_numpy().load(f.read()))


def _write_json(path: str, value) -> None:
    _write_bytes(path, json.dumps(value, indent=1, sort_keys=True).encode("utf-8"))


def write_checkpoint(directory, epoch: int, weights: dict, state: dict, meta: dict,
                     keep: int = 2) -> str:
    """Write the folder ``directory/epoch-NNNN`` holding a complete checkpoint, atomically.

    The files are written into a temporary folder, which is renamed to its final name only
    when all three are on disk; an interruption at any point leaves the earlier checkpoints
    as they were. Afterwards only the newest ``keep`` checkpoints are kept.

    Parameters
    ----------
    directory : str or os.PathLike
        Created if missing.
    epoch : int
        The number of finished epochs (names the folder).
    weights : dict of str to array
        The model's state dict (``weights.safetensors``, loadable by PyTorch as is).
    state : dict of str to array
        Other arrays: optimizer buffers, best weights (``state.safetensors``).
    meta : dict
        JSON-serializable: configuration, optimizer scalars, history (``state.json``).
    keep : int
        How many checkpoints to keep, newest first.

    Returns
    -------
    str
        The checkpoint folder's path.
    """
    keep = positive_int(keep, "keep")
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    final = os.path.join(directory, f"epoch-{epoch:04d}")
    tmp = tempfile.mkdtemp(prefix=".tmp-epoch-", dir=directory)
    try:
        _write_bytes(os.path.join(tmp, WEIGHTS_FILE), _tensor_bytes(weights))
        _write_bytes(os.path.join(tmp, STATE_FILE), _tensor_bytes(state))
        _write_json(os.path.join(tmp, META_FILE), meta)
        if os.path.exists(final):  # rewriting an epoch: move the old one aside first
            old = tempfile.mkdtemp(prefix=".old-epoch-", dir=directory)
            os.replace(final, os.path.join(old, "checkpoint"))
            os.replace(tmp, final)
            shutil.rmtree(old)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for path in list_checkpoints(directory)[:-keep]:
        shutil.rmtree(path)
    return final


def list_checkpoints(directory) -> list:
    """The complete checkpoint folders in ``directory``, oldest first."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        match = CHECKPOINT_PATTERN.match(name)
        path = os.path.join(directory, name)
        if match and all(os.path.isfile(os.path.join(path, f))
                         for f in (WEIGHTS_FILE, STATE_FILE, META_FILE)):
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def latest_checkpoint(directory) -> str | None:
    """The newest complete checkpoint folder in ``directory``, or None."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


def read_checkpoint(path) -> tuple:
    """Read a checkpoint folder: ``(weights, state, meta)`` as :func:`write_checkpoint` took."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"path must be a checkpoint folder, got {path!r}")
    with open(os.path.join(path, META_FILE), encoding="utf-8") as f:
        meta = json.load(f)
    return (load_weights(os.path.join(path, WEIGHTS_FILE)),
            load_weights(os.path.join(path, STATE_FILE)), meta)
