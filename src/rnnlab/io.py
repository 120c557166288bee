"""Weights and checkpoints on disk: safetensors for arrays, JSON for everything else.

Nothing here ever leaves a file half written: every file is written to a temporary name in
the same folder, flushed to disk, then renamed over the target (an atomic step on POSIX and
Windows), and a checkpoint is a folder that appears under its final name only once all its
files are complete. A write that fails (a full disk, a read-only or non-writable folder)
removes its temporary files, keeps what was there before, and raises :class:`DiskWriteError`
naming the folder and the cause.

Loading reads arrays and JSON; it never runs code (no pickle). Every file is checked before
its contents are used (:mod:`rnnlab._safetensors`: the header length against the file's
size, the header, every tensor's byte range, and the SHA-256 that files written here carry):
a truncated, corrupted or foreign file raises :class:`InvalidFileError` (a ``ValueError``)
naming the file and what is wrong.

A weights file holds a state dict under PyTorch's names, so
``torch.nn.LSTM(...).load_state_dict(safetensors.torch.load_file(path))`` loads what
:func:`save_weights` wrote, and :func:`load_weights` reads what
``safetensors.torch.save_file(lstm.state_dict(), path)`` wrote.

A whole model (its architecture, weights and the arrays and settings that go with it) is a
saved model folder: :mod:`rnnlab.saved_model`, built on the writers here.

Needs the ``safetensors`` package (``pip install "rnnlab[train]"``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile

import numpy as np

from rnnlab._checks import positive_int
from rnnlab._safetensors import InvalidFileError, file_bytes, json_object, read_file

CHECKPOINT_PATTERN = re.compile(r"^epoch-(\d+)$")
WEIGHTS_FILE, STATE_FILE, META_FILE = "weights.safetensors", "state.safetensors", "state.json"
CHECKPOINT_FILES = (WEIGHTS_FILE, STATE_FILE, META_FILE)
META_CHECKSUM_KEY = "rnnlab.state.json.sha256"  # in state.safetensors: SHA-256 of state.json


class DiskWriteError(OSError):
    """Writing weights or a checkpoint failed (disk full, read-only or non-writable folder).

    ``errno`` is the cause's (e.g. ``errno.ENOSPC``); the message names the folder and says
    what was kept. No temporary files are left behind.
    """

    def __str__(self) -> str:
        return self.strerror


def _path(value, name: str) -> str:
    """``value`` as a str path, or ``TypeError`` naming the argument."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(value).__name__} "
                        f"{value!r}")
    path = os.fspath(value)
    if not isinstance(path, str):
        raise TypeError(f"{name} must be a str or os.PathLike of str, got {path!r}")
    return path


# -- writing -------------------------------------------------------------------------------
def _write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` and flush it to disk (the only place files are written)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sync_folder(folder: str) -> None:
    """Flush a folder's entries (a rename into it) to disk, where the platform allows."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_failed(err: OSError, what: str, where: str, kept: str) -> DiskWriteError:
    """The error for a failed write: the folder or file, the cause, and what was kept."""
    cause = err.strerror or str(err) or type(err).__name__
    cause = cause[:1].lower() + cause[1:]
    if err.errno in errno.errorcode:
        cause += f" ({errno.errorcode[err.errno]})"
    return DiskWriteError(err.errno, f"cannot write {what} to {where!r}: {cause}; {kept}")


def _leftovers(folder: str, prefixes: tuple) -> None:
    """Remove what writers killed in the middle left in ``folder``: the temporary files and
    folders named with ``prefixes`` (only rnnlab's own writes use them)."""
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            if name.startswith(prefixes):
                path = os.path.join(folder, name)
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(path)


def _atomic_write(path: str, data: bytes, what: str) -> None:
    """Write to a temporary file beside ``path``, then rename it over ``path``; remove the
    temporary files of an earlier write of ``path`` that was killed."""
    folder = os.path.dirname(os.path.abspath(path))
    kept = "the previous file is kept" if os.path.exists(path) else "nothing was written"
    prefix = f".{os.path.basename(path)}.tmp-"
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, dir=folder)
        os.close(fd)
        _write_bytes(tmp, data)
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(err, OSError):
            raise _write_failed(err, what, path, kept) from err
        raise
    _sync_folder(folder)
    _leftovers(folder, (prefix,))


def save_weights(path, state_dict: dict, metadata: dict | None = None) -> None:
    """Write ``{name: array}`` to a safetensors file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The file; its folder must exist.
    state_dict : dict of str to numpy array
        E.g. ``model.state_dict()``.
    metadata : dict of str to str, optional
        Stored in the file's header.

    Raises
    ------
    TypeError, ValueError
        For bad arguments, before anything is written.
    DiskWriteError
        When the file cannot be written (disk full, read-only folder, no permission); a
        file that was at ``path`` is kept unchanged.
    """
    path = _path(path, "path")
    if os.path.isdir(path):
        raise ValueError(f"path must name a file, got the folder {path!r}")
    _atomic_write(path, file_bytes(state_dict, metadata, "state_dict"), "the weights")


# -- reading -------------------------------------------------------------------------------


def state_dict_differences(found: dict, expected: dict, limit: int = 6) -> str:
    """What differs between two state dicts' names and shapes; ``""`` when nothing does.

    Parameters
    ----------
    found : dict of str to array
        E.g. what a file holds.
    expected : dict of str to array
        E.g. ``model.state_dict()``.
    limit : int
        At most this many names are listed per kind of difference.

    Returns
    -------
    str
        E.g. ``"missing ['lin.bias'], shapes differ: 'weight_hh_l0' expected (24, 8), got
        (32, 8)"``.
    """
    def listed(names):
        more = f" and {len(names) - limit} more" if len(names) > limit else ""
        return f"{names[:limit]}{more}"

    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = [f"{name!r} expected {np.shape(expected[name])}, got {np.shape(found[name])}"
              for name in sorted(set(found) & set(expected))
              if np.shape(found[name]) != np.shape(expected[name])]
    parts = []
    if missing:
        parts.append(f"missing {listed(missing)}")
    if unexpected:
        parts.append(f"unexpected {listed(unexpected)}")
    if shapes:
        more = f" and {len(shapes) - limit} more" if len(shapes) > limit else ""
        parts.append(f"shapes differ: {', '.join(shapes[:limit])}{more}")
    return "; ".join(parts)


def load_weights(path, expected: dict | None = None) -> dict:
    """Read a safetensors file into ``{name: numpy array}``, checked.

    Parameters
    ----------
    path : str or os.PathLike
    expected : dict of str to array, optional
        The state dict the file must match in names and shapes, e.g. ``model.state_dict()``.

    Raises
    ------
    InvalidFileError
        (a ``ValueError``) When the file is empty, truncated, corrupted (its checksum or
        structure), not a safetensors file, or (with ``expected``) holds other tensors.
    FileNotFoundError
        When there is no such file.
    """
    path = _path(path, "path")
    if os.path.isdir(path):
        raise InvalidFileError(f"path must name a safetensors file, got the folder {path!r}")
    try:
        tensors, _ = read_file(path)
    except InvalidFileError as err:
        raise InvalidFileError(f"path {path!r} {err}") from None
    if expected is not None:
        differences = state_dict_differences(tensors, expected)
        if differences:
            raise InvalidFileError(f"path {path!r} holds other tensors than expected: "
                                   f"{differences}")
    return tensors


# -- checkpoints ---------------------------------------------------------------------------
def write_text(path, text: str, what: str = "the file") -> None:
    """Write ``text`` as UTF-8 to ``path``, atomically (as :func:`write_json`)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    _atomic_write(_path(path, "path"), text.encode("utf-8"), what)


def write_json(path, value: dict, what: str = "the file") -> None:
    """Write the dict ``value`` as JSON to ``path``, atomically (a temporary file renamed over
    it): a reader sees the old file or the new one, never half of one."""
    _atomic_write(_path(path, "path"), _meta_bytes(value), what)


def _meta_bytes(meta) -> bytes:
    if not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
    try:
        text = json.dumps(meta, indent=1, sort_keys=True)
    except (TypeError, ValueError) as err:
        raise TypeError(f"meta must hold only JSON values (dicts with str keys, lists, str, "
                        f"numbers, bool, None): {err}") from None
    return text.encode("utf-8")


def write_checkpoint(directory, epoch: int, weights: dict, state: dict, meta: dict,
                     keep: int = 2) -> str:
    """Write the folder ``directory/epoch-NNNN`` holding a complete checkpoint, atomically.

    The files are written into a temporary folder, which is renamed to its final name only
    when all three are on disk; an interruption or a failed write at any point leaves the
    earlier checkpoints as they were, and no temporary files. Afterwards only the newest
    ``keep`` checkpoints are kept, and what a writer killed in the middle left behind
    (``.tmp-epoch-*``, ``.old-epoch-*``) is removed.

    Parameters
    ----------
    directory : str or os.PathLike
        Created if missing.
    epoch : int
        The number of finished epochs (names the folder), >= 0.
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

    Raises
    ------
    TypeError, ValueError
        For bad arguments, before anything is written.
    DiskWriteError
        When the checkpoint cannot be written (disk full, read-only or non-writable folder);
        the message names the folder and the checkpoint that is kept.
    """
    directory = _path(directory, "directory")
    if isinstance(epoch, (bool, np.bool_)) or not isinstance(epoch, (int, np.integer)):
        raise TypeError(f"epoch must be an int >= 0, got {type(epoch).__name__} {epoch!r}")
    if epoch < 0:
        raise ValueError(f"epoch must be an int >= 0, got {epoch}")
    keep = positive_int(keep, "keep")
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(f"directory must be a folder, got the file {directory!r}")
    meta_bytes = _meta_bytes(meta)
    meta_checksum = {META_CHECKSUM_KEY: hashlib.sha256(meta_bytes).hexdigest()}
    files = {WEIGHTS_FILE: file_bytes(weights, name="weights"),
             STATE_FILE: file_bytes(state, meta_checksum, "state"), META_FILE: meta_bytes}
    previous = latest_checkpoint(directory)
    kept = (f"the previous checkpoint {previous!r} is kept" if previous
            else "no checkpoint was written")
    try:
        final = _write_checkpoint_folder(directory, f"epoch-{int(epoch):04d}", files)
    except OSError as err:
        raise _write_failed(err, "the checkpoint", directory, kept) from err
    for path in list_checkpoints(directory)[:-keep]:
        _remove_folder(directory, path)
    _leftovers(directory, (".tmp-epoch-", ".old-epoch-"))  # of writers killed before
    return final


def _write_checkpoint_folder(directory: str, name: str, files: dict,
                             prefixes: tuple = (".tmp-epoch-", ".old-epoch-")) -> str:
    """Write ``files`` into a temporary folder and rename it to ``directory/name``; the
    temporary and the replaced folders are named with ``prefixes`` (rnnlab.saved_model
    gives its own)."""
    os.makedirs(directory, exist_ok=True)
    final = os.path.join(directory, name)
    tmp = tempfile.mkdtemp(prefix=prefixes[0], dir=directory)
    try:
        for filename, data in files.items():
            _write_bytes(os.path.join(tmp, filename), data)
        if os.path.exists(final):  # rewriting an epoch: move the old one aside first
            _replace_folder(directory, tmp, final, prefixes[1])
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _sync_folder(directory)
    return final


def _replace_folder(directory: str, new: str, final: str, prefix: str = ".old-epoch-") -> None:
    """Rename the folder ``new`` to ``final``, where a folder exists (kept if this fails)."""
    old = tempfile.mkdtemp(prefix=prefix, dir=directory)
    aside = os.path.join(old, "checkpoint")
    try:
        os.replace(final, aside)
    except BaseException:
        os.rmdir(old)
        raise
    try:
        os.replace(new, final)
    except BaseException:
        os.replace(aside, final)  # put the old one back (should this fail, it stays in old)
        os.rmdir(old)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _remove_folder(directory: str, path: str) -> None:
    """Remove an old checkpoint: renamed aside first, so it never shows half deleted."""
    aside = None
    try:
        aside = tempfile.mkdtemp(prefix=".old-epoch-", dir=directory)
        os.replace(path, os.path.join(aside, "checkpoint"))
    except OSError:
        pass  # the new checkpoint is written; an old one that cannot go stays complete
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def list_checkpoints(directory) -> list:
    """The complete checkpoint folders in ``directory``, oldest first."""
    directory = _path(directory, "directory")
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        match = CHECKPOINT_PATTERN.match(name)
        path = os.path.join(directory, name)
        if match and all(os.path.isfile(os.path.join(path, f)) for f in CHECKPOINT_FILES):
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def latest_checkpoint(directory) -> str | None:
    """The newest complete checkpoint folder in ``directory``, or None."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


def _read_meta(path: str, checksum: str | None) -> dict:
    """``state.json`` of the checkpoint folder ``path``, checked to be a JSON object (and
    against its ``checksum``, recorded in state.safetensors, when there is one)."""
    with open(os.path.join(path, META_FILE), "rb") as f:
        raw = f.read()
    if checksum is not None and hashlib.sha256(raw).hexdigest() != checksum:
        raise InvalidFileError(f"path {path!r} is not a valid checkpoint: {META_FILE} is "
                               f"corrupted (its SHA-256 checksum does not match the one "
                               f"recorded in {STATE_FILE} when it was written)")
    meta = json_object(raw, f"path {path!r} is not a valid checkpoint: {META_FILE}")
    return meta


def _check_format(path: str, meta: dict, expected_format: str, max_version: int,
                  what: str = "a checkpoint", file: str = META_FILE) -> None:
    """Check ``meta``'s "format" and "version", read from ``file`` of ``path``, which must
    be ``what`` (as "a saved model", for the messages)."""
    found, version = meta.get("format"), meta.get("version")
    if found != expected_format:
        raise InvalidFileError(f"path {path!r} must be {what} of format "
                               f"{expected_format!r}, got format {found!r} in {file}")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidFileError(f"path {path!r} has an invalid version in {file}: "
                               f"expected an int from 1 to {max_version}, got {version!r}")
    if version > max_version:
        raise InvalidFileError(f"path {path!r} is a {expected_format} of version {version}, "
                               f"newer than this rnnlab reads ({max_version}): upgrade rnnlab")


def read_tensor_files(path: str, names, what: str, holds) -> dict:
    """``{name: (tensors, metadata)}`` of the safetensors files ``names`` in the folder
    ``path``, a ``what`` whose files are ``holds``; a missing one of ``holds``, or a
    truncated or corrupted file, raises InvalidFileError naming the folder and the file."""
    missing = [f for f in holds if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise InvalidFileError(f"path {path!r} is not a complete {what}: "
                               f"{', '.join(missing)} missing (a {what} holds "
                               f"{', '.join(holds)})")
    read = {}
    for name in names:
        try:
            read[name] = read_file(os.path.join(path, name))
        except InvalidFileError as err:
            raise InvalidFileError(f"path {path!r} is not a valid {what}: "
                                   f"{name} {err}") from None
    return read


def read_checkpoint(path, expected_format: str | None = None,
                    max_version: int | None = None) -> tuple:
    """Read a checkpoint folder: ``(weights, state, meta)`` as :func:`write_checkpoint` took.

    Parameters
    ----------
    path : str or os.PathLike
        A folder :func:`write_checkpoint` wrote.
    expected_format : str, optional
        When given, ``meta["format"]`` must equal it and ``meta["version"]`` be an int from 1
        to ``max_version``.
    max_version : int, optional
        The newest version this reader knows (default 1).

    Raises
    ------
    FileNotFoundError
        When there is no such folder.
    InvalidFileError
        (a ``ValueError``) When ``path`` is a file, a file of the checkpoint is missing,
        ``state.json`` is not a JSON object or of another format or version, or a tensor
        file is truncated, corrupted or not safetensors.
    """
    path = _path(path, "path")
    if not os.path.exists(path):
        raise FileNotFoundError(f"path must be a checkpoint folder, got {path!r} (no such "
                                f"file or folder)")
    if not os.path.isdir(path):
        raise InvalidFileError(f"path must be a checkpoint folder, got the file {path!r}")
    read = read_tensor_files(path, (STATE_FILE, WEIGHTS_FILE), "checkpoint", CHECKPOINT_FILES)
    meta = _read_meta(path, read[STATE_FILE][1].get(META_CHECKSUM_KEY))
    if expected_format is not None:
        _check_format(path, meta, expected_format, 1 if max_version is None else max_version)
    return read[WEIGHTS_FILE][0], read[STATE_FILE][0], meta
