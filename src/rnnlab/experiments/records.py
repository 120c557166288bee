"""What the run store records, as values: strict JSON for configurations and metrics, UTC
times, study ids and the code version.

JSON
----
Configurations and metrics are stored as strict JSON. NumPy scalars become Python numbers,
NumPy arrays and tuples become lists, dataclasses become dicts, paths become strings, and
the non-finite floats NaN, +inf and -inf become the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"`` (they stay strings when read back), so that a diverged run's loss is kept and
every record stays valid JSON for other tools.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import math
import os
import secrets
import subprocess

import numpy as np

import rnnlab

NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}  # NaN is handled apart


def utc_now() -> str:
    """The current UTC time in ISO-8601, to the millisecond: ``2025-01-31T12:00:00.123+00:00``."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def new_study_id() -> str:
    """A unique id for a study, sortable by creation time: ``20250131T120000.123Z-3fa9c1``.

    The UTC time to the millisecond, then 24 random bits against collisions between
    processes that start a study in the same millisecond.
    """
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}.{now.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"


def _plain(value, name: str):
    """``value`` made of dicts, lists, str, int, float (finite), bool and None only."""
    if isinstance(value, (np.generic, np.ndarray)):
        value = value.tolist()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else NON_FINITE[value]
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, dict):
        return {_key(k, name): _plain(v, f"{name}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{name}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{name} must hold only JSON values (numbers, strings, lists, dicts), "
                    f"got {type(value).__name__} {value!r}")


def _key(key, name: str) -> str:
    if isinstance(key, np.generic):
        key = key.item()
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise TypeError(f"{name} must have string keys, got {type(key).__name__} {key!r}")
    return str(key)


def to_json(value: dict, name: str) -> str:
    """Encode the dict ``value`` as strict JSON (see the module's notes on NaN and NumPy)."""
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict, got {type(value).__name__} {value!r}")
    return json.dumps(_plain(value, name), allow_nan=False)


def from_json(text):
    """Decode what :func:`to_json` wrote (None stays None)."""
    return None if text is None else json.loads(text)


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``rnnlab.__version__``, plus ``+g<commit>`` when rnnlab runs from a git checkout.

    The commit comes from ``git rev-parse --short HEAD``, asked only when the package sits at
    ``src/rnnlab`` of a repository holding a ``pyproject.toml`` (so not when an installed
    rnnlab happens to live inside someone else's repository); any failure (no git, a
    timeout, not a checkout) leaves the bare version.
    """
    package = os.path.dirname(os.path.abspath(rnnlab.__file__))
    root = os.path.dirname(os.path.dirname(package))
    if not (os.path.basename(os.path.dirname(package)) == "src"
            and os.path.isdir(os.path.join(root, ".git"))
            and os.path.isfile(os.path.join(root, "pyproject.toml"))):
        return rnnlab.__version__
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                              capture_output=True, text=True, timeout=2.0, check=False)
    except (OSError, subprocess.SubprocessError):
        return rnnlab.__version__
    commit = done.stdout.strip()
    if done.returncode != 0 or not commit.isalnum():
        return rnnlab.__version__
    return f"{rnnlab.__version__}+g{commit}"
