"""A sweep's spec: a TOML file naming a study, the options every point shares and a grid.

.. code-block:: toml

    name = "adding-lr"            # the study's name in the run store
    [fixed]                       # options of `rnnlab train`, dashes as underscores
    task = "adding"
    length = 50
    [grid]                        # every combination is one point
    cell = ["rnn", "lstm", "gru"]
    lr = [0.001, 0.01]
    seed = [0, 1, 2]

:func:`read_spec` reads and checks the file's form (every problem is a :class:`SpecError`
naming the key, before any work); :func:`points` expands the grid, the last key varying
fastest; :func:`config_hash` is a point's identity in the run store, a hash of its whole
:class:`~rnnlab.experiments.runner.RunConfig`. What a key means (an option of
``rnnlab train``) is the command line's to say: it turns each point into a RunConfig.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import json
import os

TOP_KEYS = ("name", "fixed", "grid")
SCALARS = (str, int, float, bool)


class SpecError(ValueError):
    """A spec that cannot run; ``key`` is the key it is about (``"grid.lr"``), or None for
    the file as a whole."""

    def __init__(self, key, message: str):
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


@dataclasses.dataclass
class Spec:
    """A sweep's study name, the values every point shares, and the grid's values."""

    name: str  # the study's name in the run store
    fixed: dict  # key -> value, the same for every point
    grid: dict  # key -> list of values, each combination one point (insertion order)

    def to_json(self) -> dict:
        return {"name": self.name, "fixed": dict(self.fixed), "grid": dict(self.grid)}

    def __len__(self) -> int:
        size = 1
        for values in self.grid.values():
            size *= len(values)
        return size


def read_spec(path, known=None) -> Spec:
    """Read and check the TOML spec at ``path`` (see :func:`parse_spec`)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise ImportError("reading a sweep spec needs Python >= 3.11 (tomllib) or "
                              "pip install tomli") from None
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as err:
        raise SpecError(None, f"cannot read the spec {os.fspath(path)!r}: "
                              f"{err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise SpecError(None, f"the spec {os.fspath(path)!r} is not TOML: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise SpecError(None, f"the spec {os.fspath(path)!r} is not TOML: {err}") from None
    return parse_spec(data, known)


def parse_spec(data: dict, known=None) -> Spec:
    """Check a spec's form and return it.

    Parameters
    ----------
    data : dict
        The TOML document: ``name`` (a non-empty string), ``[fixed]`` (optional: key =
        value) and ``[grid]`` (key = a non-empty list of distinct values; at least one key).
    known : collection of str, optional
        The keys a spec may use (the options of ``rnnlab train``); any key if None.

    Raises
    ------
    SpecError
        Naming the key: an unknown key, a value of the wrong form, an empty grid or list, a
        value twice in one list, a key both fixed and in the grid.
    """
    if not isinstance(data, dict):
        raise SpecError(None, f"a spec must be a table, got {type(data).__name__}")
    for key in data:
        if key not in TOP_KEYS:
            raise SpecError(key, f"unknown key{_suggest(key, TOP_KEYS)}; a spec has "
                                 f"{', '.join(TOP_KEYS)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SpecError("name", f"must be a non-empty string (the study's name), got "
                                f"{name!r}")
    fixed, grid = data.get("fixed", {}), data.get("grid")
    for table, value in (("fixed", fixed), ("grid", grid)):
        if not isinstance(value, dict):
            raise SpecError(table, f"must be a table ([{table}]), got {value!r}")
    if not grid:
        raise SpecError("grid", "is empty: it needs at least one key with a list of values")
    for key, value in fixed.items():
        _check_key(f"fixed.{key}", key, known)
        _check_value(f"fixed.{key}", value)
    for key, values in grid.items():
        where = f"grid.{key}"
        _check_key(where, key, known)
        if key in fixed:
            raise SpecError(where, "is also in [fixed]: a key is fixed or varies, not both")
        if not isinstance(values, list) or not values:
            raise SpecError(where, f"must be a non-empty list of values, got {values!r}")
        for value in values:
            _check_value(where, value)
        texts = [json.dumps(v, sort_keys=True) for v in values]
        if len(set(texts)) != len(texts):
            raise SpecError(where, f"must name each value once, got {values!r}")
    return Spec(name=name, fixed=dict(fixed), grid={k: list(v) for k, v in grid.items()})


def _check_key(where: str, key: str, known) -> None:
    if known is not None and key not in known:
        raise SpecError(where, f"unknown key{_suggest(key, known)}; the keys are the options "
                               f"of rnnlab train, dashes as underscores")


def _check_value(where: str, value) -> None:
    """A value is a string, number or boolean, or a list of them (e.g. tbptt = [5, 10])."""
    if isinstance(value, SCALARS):
        return
    if isinstance(value, list) and value and all(isinstance(v, SCALARS) for v in value):
        return
    raise SpecError(where, f"must be a string, a number, a boolean or a list of them, "
                           f"got {value!r}")


def _suggest(key: str, choices) -> str:
    close = difflib.get_close_matches(key, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def points(spec: Spec) -> list:
    """Every point of ``spec``: ``{**fixed, **one combination of the grid}``, the grid's
    last key varying fastest."""
    keys = list(spec.grid)
    return [{**spec.fixed, **dict(zip(keys, combo))}
            for combo in itertools.product(*(spec.grid[k] for k in keys))]


def _json_value(value):
    """``value`` as the config's JSON holds it (tuples as lists)."""
    return json.loads(json.dumps(value))


def config_hash(config) -> str:
    """A point's identity: the SHA-256 of its RunConfig as canonical JSON (sorted keys).

    Two points with the same config train the same model on the same data (everything
    derives from the config's seed), so a sweep that finds a point's hash done skips it.
    Settings at their default are left out, so that a setting added to RunConfig later
    (at a default that changes nothing) leaves the hashes of earlier studies as they were.
    """
    defaults = {f.name: f.default for f in dataclasses.fields(config)
                if f.default is not dataclasses.MISSING}
    values = {k: v for k, v in config.to_json().items()
              if k not in defaults or v != _json_value(defaults[k])}
    text = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
