"""Text that every machine with Python already has, and that nobody here wrote: the Python
standard library's own source files, concatenated, a corpus for a character model without a
download.
"""

from __future__ import annotations

import os
import sysconfig

CORPORA = ("python-stdlib",)


def python_stdlib(max_chars: int | None = None) -> str:
    """The ``.py`` files directly in the standard library's folder (not its packages, tests
    or site-packages), in name order, each UTF-8 file whole, concatenated; the first
    ``max_chars`` characters when given."""
    folder = sysconfig.get_paths()["stdlib"]
    parts, total = [], 0
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not name.endswith(".py") or not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (UnicodeDecodeError, OSError):
            continue  # a file that is not UTF-8 text, or unreadable: not part of the corpus
        parts.append(text)
        total += len(text)
        if max_chars is not None and total >= max_chars:
            break
    corpus = "".join(parts)
    return corpus if max_chars is None else corpus[:max_chars]


def corpus(name: str, max_chars: int | None = None) -> str:
    """The corpus ``name`` (one of :data:`CORPORA`)."""
    if name not in CORPORA:
        raise ValueError(f"name must be one of {list(CORPORA)}, got {name!r}")
    return python_stdlib(max_chars)
