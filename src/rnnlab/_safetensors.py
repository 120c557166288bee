"""The safetensors format, written with a checksum and read only after checking.

A safetensors file is an 8-byte little-endian header length, a JSON header (each tensor's
dtype, shape and byte range; optional string metadata) and the tensors' bytes. Before a file
is handed to the ``safetensors`` package, its header length is checked against the file's
size and safetensors' own limit (so a field claiming terabytes allocates nothing), the
header is parsed, and every tensor's byte range is checked to tile the data exactly. Files
written here carry a SHA-256 of their tensors and metadata under ``"rnnlab.sha256"``, so a
changed byte anywhere is detected; files of other tools (e.g. PyTorch) are checked for
structure only. :mod:`rnnlab.io` builds weights and checkpoints on this.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct

import numpy as np

CHECKSUM_KEY = "rnnlab.sha256"  # safetensors metadata: SHA-256 of the file's contents
MAX_HEADER_BYTES = 100_000_000  # the largest JSON header safetensors itself accepts
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2,
               "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8,
               "F64": 8, "C64": 8}  # bytes per element of each safetensors dtype
TENSOR_KINDS = "biuf"  # NumPy dtype kinds a tensor may have: bool, int, uint, float


class InvalidFileError(ValueError):
    """A weights, state or checkpoint file (or folder) that cannot be used as one: truncated,
    corrupted, not a safetensors or JSON file, of an unknown format or version, or holding
    other tensors than expected. The message names the file and what is wrong."""


def safetensors_numpy():
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError('reading and writing weights needs safetensors: '
                          'pip install "rnnlab[train]" (or pip install safetensors)') from None
    return safetensors.numpy


def _tensor_dict(tensors, name: str) -> dict:
    """``tensors`` checked to be ``{str: numeric ndarray}``, as contiguous little-endian arrays."""
    if not isinstance(tensors, dict):
        raise TypeError(f"{name} must be a dict of str to numpy array, "
                        f"got {type(tensors).__name__}")
    arrays = {}
    for key, value in tensors.items():
        if not isinstance(key, str):
            raise TypeError(f"{name} must have str keys, got {type(key).__name__} {key!r}")
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{name}[{key!r}] must be a numpy array, got {type(value).__name__}")
        if value.dtype.kind not in TENSOR_KINDS:
            raise TypeError(f"{name}[{key!r}] must have a bool, int or float dtype, "
                            f"got {value.dtype}")
        arrays[key] = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
    return arrays


def _checksum(arrays: dict, metadata: dict) -> str:
    """SHA-256 of the metadata and of the tensors' names, dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    other = sorted((k, v) for k, v in metadata.items() if k != CHECKSUM_KEY)
    digest.update(json.dumps(other).encode("utf-8"))
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name], dtype=arrays[name].dtype.newbyteorder("<"))
        digest.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode("utf-8"))
        digest.update(array.tobytes())
    return digest.hexdigest()


def file_bytes(tensors: dict, metadata: dict | None = None, name: str = "tensors") -> bytes:
    """The safetensors file holding ``tensors``, with ``metadata`` and the checksum."""
    arrays = _tensor_dict(tensors, name)
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in metadata.items()):
            raise TypeError(f"metadata must be a dict of str to str or None, got {metadata!r}")
        if CHECKSUM_KEY in metadata:
            raise ValueError(f"metadata must not hold the key {CHECKSUM_KEY!r}: rnnlab "
                             f"stores the file's checksum there")
    metadata = {**(metadata or {}), CHECKSUM_KEY: _checksum(arrays, metadata or {})}
    return safetensors_numpy().save(arrays, metadata=metadata)


def _header_length(head: bytes, size: int) -> int:
    """The header length that opens a safetensors file; raise (a reason) if it cannot be."""
    if size == 0:
        raise InvalidFileError("is empty (0 bytes), not a safetensors file")
    if size < 8:
        raise InvalidFileError(f"is truncated or not a safetensors file: it holds {size} "
                               f"bytes, fewer than the 8-byte header length that starts one")
    (length,) = struct.unpack("<Q", head)
    if length <= size - 8 and length <= MAX_HEADER_BYTES:
        return length
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head):  # a length is never text
        raise InvalidFileError(f"is not a safetensors file: it starts with text "
                               f"({head!r}), e.g. JSON, where a safetensors file starts with "
                               f"the 8-byte length of its header")
    if length > MAX_HEADER_BYTES:
        raise InvalidFileError(f"is corrupted or not a safetensors file: its header length "
                               f"field says {length} bytes, more than safetensors allows "
                               f"({MAX_HEADER_BYTES})")
    raise InvalidFileError(f"is truncated or not a safetensors file: its header length field "
                           f"says {length} bytes, but only {size - 8} follow it")


def json_object(raw: bytes, what: str) -> dict:
    """``raw`` parsed as a JSON object, or ``InvalidFileError`` saying that ``what`` is not."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise InvalidFileError(f"{what} is not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise InvalidFileError(f"{what} holds a JSON {type(value).__name__}, not an object")
    return value


def _parse_header(raw: bytes) -> dict:
    """The JSON header of a safetensors file; raise (a reason) if it is not one."""
    return json_object(raw, "is corrupted or not a safetensors file: its header")


def _naturals(values) -> bool:
    """Whether ``values`` is a list of ints >= 0 (as a header's shapes and offsets are)."""
    return isinstance(values, list) and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in values)


def _check_layout(header: dict, data_bytes: int) -> None:
    """Check every tensor's entry and that the tensors exactly tile the data after the header."""
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not (isinstance(entry, dict) and isinstance(entry.get("dtype"), str)
                and _naturals(entry.get("shape"))
                and _naturals(entry.get("data_offsets")) and len(entry["data_offsets"]) == 2):
            raise InvalidFileError(f"is corrupted: the header entry of tensor {name!r} is "
                                   f"invalid ({entry!r})")
        begin, end = entry["data_offsets"]
        itemsize = DTYPE_BYTES.get(entry["dtype"])
        if itemsize is not None and end - begin != itemsize * math.prod(entry["shape"]):
            raise InvalidFileError(
                f"is corrupted: tensor {name!r} ({entry['dtype']}, shape {entry['shape']}) "
                f"needs {itemsize * math.prod(entry['shape'])} bytes, its data offsets "
                f"{entry['data_offsets']} span {end - begin}")
        spans.append((begin, end, name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise InvalidFileError(f"is corrupted: tensor {name!r} starts at byte {begin} of "
                                   f"the data, where {position} was expected")
        position = end
    if position > data_bytes:
        raise InvalidFileError(f"is truncated: its header describes {position} bytes of "
                               f"tensor data, but the file holds {data_bytes}")
    if position < data_bytes:
        raise InvalidFileError(f"is corrupted: it holds {data_bytes - position} bytes after "
                               f"its last tensor")


def read_file(path: str) -> tuple:
    """Read a safetensors file, checked: ``(tensors, metadata)``; raise ``InvalidFileError``
    with a reason (the caller names the file)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        length = _header_length(f.read(8), size)
        header = _parse_header(f.read(length))
        _check_layout(header, size - 8 - length)
        f.seek(0)
        data = f.read()
    try:
        tensors = dict(safetensors_numpy().load(data))
    except Exception as err:  # safetensors.SafetensorError, or an unsupported dtype
        raise InvalidFileError(f"is corrupted: safetensors cannot read it "
                               f"({type(err).__name__}: {err})") from None
    metadata = header.get("__metadata__")
    _verify_checksum(tensors, metadata)
    return tensors, metadata or {}


def _verify_checksum(tensors: dict, metadata) -> None:
    """Compare the checksum recorded in ``metadata`` (if any) with the tensors'."""
    if metadata is None:
        return
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise InvalidFileError(f"is corrupted: its metadata is not a map of str to str "
                               f"({metadata!r})")
    if CHECKSUM_KEY not in metadata:
        for key, value in metadata.items():  # one changed byte must not disable the check
            if (len(key) == len(CHECKSUM_KEY) and re.fullmatch(r"[0-9a-f]{64}", value)
                    and sum(a != b for a, b in zip(key, CHECKSUM_KEY)) <= 2):
                raise InvalidFileError(f"is corrupted: its checksum entry {key!r} should be "
                                       f"{CHECKSUM_KEY!r}")
        return  # not written by rnnlab (e.g. by PyTorch): checked for structure only
    if _checksum(tensors, metadata) != metadata[CHECKSUM_KEY]:
        raise InvalidFileError("is corrupted: the SHA-256 checksum of its contents does not "
                               "match the one recorded when it was written (bytes changed "
                               "on disk)")
