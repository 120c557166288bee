"""The ``type=`` of the command line's options: each parses one option's text or raises
``argparse.ArgumentTypeError`` saying what it expected (argparse names the option)."""

from __future__ import annotations

import argparse

import numpy as np


MAX_SEED = 2**63 - 1  # seeds are stored as SQLite integers


def finite_float(text: str) -> float:
    """argparse type: a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def probability(text: str) -> float:
    """argparse type: a dropout probability, a number in [0, 1)."""
    value = finite_float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1), got {text!r}")
    return value


def float_list(text: str) -> tuple:
    """argparse type: comma-separated finite numbers, e.g. ``1,-0.5,0.3``."""
    parts = [p.strip() for p in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 1,-0.5,0.3, "
                                         f"got {text!r}")
    return tuple(finite_float(p) for p in parts)


def _int_from(text: str, low: int) -> int:
    """``text`` as an int >= ``low``, or an argparse error saying what was expected."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low:
        raise argparse.ArgumentTypeError(f"expected an int >= {low}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    return _int_from(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: an int >= 0."""
    return _int_from(text, 0)


def seed(text: str) -> int:
    """argparse type: an int in [0, 2**63)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an int in [0, 2**63), got {text!r}")
    return value


def int_list(text: str) -> tuple:
    """argparse type: comma-separated ints >= 0, each once, e.g. ``10,20,50``."""
    try:
        values = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints such as 10,20,50, "
                                         f"got {text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected ints >= 0, got {text!r}")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected each value once, got {text!r}")
    return values


def names_among(known):
    """argparse type: comma-separated names, each one of ``known``, each once."""
    def parse(text: str) -> tuple:
        names = tuple(p.strip() for p in text.split(","))
        if not all(names) or any(n not in known for n in names):
            raise argparse.ArgumentTypeError(f"expected comma-separated names among "
                                             f"{', '.join(known)}, got {text!r}")
        if len(set(names)) != len(names):
            raise argparse.ArgumentTypeError(f"expected each name once, got {text!r}")
        return names
    return parse


def chrono(text: str):
    """argparse type: ``auto``, ``off`` or T_max (an int >= 2)."""
    if text in ("auto", "off"):
        return None if text == "off" else "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto, off or an int >= 2, "
                                         f"got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected auto, off or an int >= 2, got {text!r}")
    return value


def lr_list(text: str) -> tuple:
    """argparse type: comma-separated learning rates > 0, each once."""
    values = tuple(positive_float(p.strip()) for p in text.split(","))
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected each rate once, got {text!r}")
    return values


def tbptt(text: str) -> tuple:
    """argparse type: ``k1,k2`` for truncated BPTT (1 <= k1 <= k2)."""
    try:
        values = tuple(int(p) for p in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 2 or min(values) < 1 or values[1] < values[0]:
        raise argparse.ArgumentTypeError(f"expected k1,k2, ints with 1 <= k1 <= k2, "
                                         f"got {text!r}")
    return values


def shapes(text: str) -> tuple:
    """argparse type: B,I,H,T separated by ``;``, e.g. ``16,8,32,100;1,32,64,1000``."""
    shapes = []
    for part in text.split(";"):
        try:
            values = tuple(int(p) for p in part.split(","))
        except ValueError:
            values = ()
        if len(values) != 4 or min(values) < 1:
            raise argparse.ArgumentTypeError(f"expected B,I,H,T (ints >= 1) separated by ';', "
                                             f"got {part!r}")
        shapes.append(values)
    return tuple(shapes)
