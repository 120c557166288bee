"""The characters of a text: a vocabulary built from a training text, and reading a text file
with the checks a user's file needs.

Shapes: N characters, V the vocabulary's size.

A character model predicts the next character among the V characters its training text
holds, in the vocabulary's order (sorted by code point), so class k is ``chars[k]``. The
vocabulary is saved with the model (JSON), and a text with a character outside it, at
sampling or evaluation time, is refused with the characters named: the model has no output
for them.
"""

from __future__ import annotations

import os

import numpy as np

MIN_CHARS = 1000  # a text shorter than this cannot fill a few sequences of a training batch


class Vocabulary:
    """The sorted distinct characters of a text; ``encode`` and ``decode`` between text and
    class indices.

    Parameters
    ----------
    chars : str
        The characters, each once (their order is kept: class k is ``chars[k]``).
    """

    def __init__(self, chars: str):
        if not isinstance(chars, str) or not chars:
            raise TypeError(f"chars must be a non-empty str, got {type(chars).__name__} "
                            f"{chars!r}")
        if len(set(chars)) != len(chars):
            raise ValueError("chars must hold each character once")
        self.chars = chars
        self._index = {c: k for k, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> "Vocabulary":
        """The vocabulary of ``text``: its distinct characters, sorted by code point."""
        if not isinstance(text, str) or not text:
            raise ValueError("text must be a non-empty str")
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and other.chars == self.chars

    def encode(self, text: str) -> np.ndarray:
        """``text`` -> (N,) int64 class indices; refuse characters outside the vocabulary,
        naming them."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        unknown = sorted(set(text) - set(self._index))
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:10])
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            raise ValueError(f"text holds {len(unknown)} character(s) that the model's "
                             f"vocabulary ({len(self)} characters, from its training text) "
                             f"does not: {shown}{more}")
        return np.fromiter((self._index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids) -> str:
        """Class indices -> text."""
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu" or ids.ndim != 1:
            raise TypeError(f"ids must be a 1-D array of int class indices, got dtype "
                            f"{ids.dtype} and shape {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"ids must lie in [0, {len(self)}), got {ids.min()}..{ids.max()}")
        return "".join(self.chars[k] for k in ids)

    def to_json(self) -> dict:
        return {"chars": self.chars}

    @classmethod
    def from_json(cls, data: dict) -> "Vocabulary":
        if not isinstance(data, dict) or not isinstance(data.get("chars"), str):
            raise ValueError("a vocabulary is a JSON object {\"chars\": \"...\"}")
        return cls(data["chars"])

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} characters)"


def read_text(path, min_chars: int = MIN_CHARS) -> str:
    """The text of the file at ``path``, UTF-8; refuse, naming the file, one that is missing,
    empty, binary (a NUL byte), not UTF-8, or shorter than ``min_chars`` characters."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path!r} is not a file")
    with open(path, "rb") as f:
        raw = f.read()
    if not raw:
        raise ValueError(f"{path!r} is empty")
    if b"\x00" in raw:
        raise ValueError(f"{path!r} looks binary (it holds NUL bytes), not text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path!r} is not UTF-8 text (byte {err.start}: {err.reason})") from None
    if len(text) < min_chars:
        raise ValueError(f"{path!r} holds {len(text)} characters; a character model needs at "
                         f"least {min_chars} to train on")
    return text
