"""Sampling text from a character model, one character at a time through its ``step``.

Shapes: B batch, V the vocabulary's size.

Notes
-----
At each step the model gives logits z (V,) for the next character; with temperature tau > 0
and top-k,

    (1) z_j <- -inf for every j outside the k largest z (all kept without top-k)
    (2) p = softmax(z / tau)
    (3) the next character ~ p, drawn with the sampler's own seeded generator

and temperature 0 takes argmax z (greedy). The character drawn is fed back as the next
step's input, the state carried from step to step (``Sequential.step``).
"""

from __future__ import annotations

import numpy as np

from rnnlab._checks import finite_number, positive_int
from rnnlab._checks import seed as check_seed
from rnnlab.layers.embedding import TokenInput


def sample_next(logits, temperature: float = 1.0, top_k: int | None = None, rng=None):
    """Draw one class per row of ``logits`` (B, V): equations (1)-(3); greedy (argmax) at
    temperature 0. ``rng`` a numpy Generator (a fresh one if None)."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] < 1:
        raise ValueError(f"logits must have shape (B, V), got {logits.shape}")
    temperature = finite_number(temperature, "temperature")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0: greedy), got {temperature}")
    if top_k is not None:
        top_k = positive_int(top_k, "top_k")
    if temperature == 0:
        return logits.argmax(axis=1)
    z = logits.copy()
    if top_k is not None and top_k < z.shape[1]:
        kth = np.partition(z, -top_k, axis=1)[:, -top_k][:, None]  # the k-th largest
        z[z < kth] = -np.inf  # (1)
    z = (z - z.max(axis=1, keepdims=True)) / temperature
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)  # (2)
    rng = np.random.default_rng() if rng is None else rng
    u = rng.random((len(p), 1))
    return np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), p.shape[1] - 1)  # (3)


def generate(model, vocabulary, length: int, prime: str = "", temperature: float = 0.8,
             top_k: int | None = None, seed=None) -> str:
    """``length`` characters sampled from ``model`` after reading ``prime``.

    Parameters
    ----------
    model : Sequential
        Steps from a character (token ids (B,) when its first module takes them, an
        Embedding or OneHot as in :class:`~rnnlab.text.CharLM`; else a one-hot (B, V)) to
        logits (B, V) over ``vocabulary``.
    vocabulary : Vocabulary
    length : int
        Characters to generate (the prime not included).
    prime : str
        Read first, to set the state; empty: one character drawn uniformly from the
        vocabulary (with ``seed``) starts the text, and is returned first.
    temperature, top_k : see :func:`sample_next`
    seed : int or numpy.random.Generator, optional
        The same seed gives the same text.
    """
    length = positive_int(length, "length")
    rng = np.random.default_rng(check_seed(seed))
    ids = vocabulary.encode(prime) if prime else rng.integers(len(vocabulary), size=1)
    sample_next(np.zeros((1, len(vocabulary))), temperature, top_k)  # checks, before any work
    ids_input = isinstance(model.modules[0], TokenInput)
    eye = np.eye(len(vocabulary), dtype=model.dtype or np.float32)

    def as_input(k):
        return np.array([k]) if ids_input else eye[[k]]

    state, logits = None, None
    for k in ids:  # read the prime
        logits, state = model.step(as_input(k), state)
    out = [] if prime else [int(ids[0])]
    for _ in range(length - len(out)):
        k = int(sample_next(logits, temperature, top_k, rng)[0])
        out.append(k)
        logits, state = model.step(as_input(k), state)
    return vocabulary.decode(np.array(out, dtype=np.int64))
