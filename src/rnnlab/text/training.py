"""Training a character model on a text, and saving and loading it.

The text's last ``val_fraction`` (5% by default) is held out; the rest is cut into B parallel
streams (:class:`rnnlab.text.TextStreams`) and trained on chunk after chunk, the state carried
across chunks and reset at each pass's start (truncated BPTT with k1 = k2 = ``seq_len``),
Adam, the gradient norm clipped. Every ``eval_every`` updates, and at the end, the held-out
text is measured in bits per character, read as streams too, the state carried.

A saved model is a folder: ``model.safetensors`` (the weights, PyTorch's names),
``vocabulary.json`` and ``config.json`` (how to build it again, and what it reached), each
written whole. Loading reads data only (no pickle).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass

import numpy as np

from rnnlab import io
from rnnlab._checks import finite_number, positive_int, probability
from rnnlab.optim import Adam
from rnnlab.text.model import CELLS, char_model, train_chunk
from rnnlab.text.streams import TextStreams, bits_per_char, stream_loss
from rnnlab.text.vocabulary import Vocabulary
from rnnlab.training import TrainingDiverged

FILES = ("model.safetensors", "vocabulary.json", "config.json")


@dataclass
class TextConfig:
    """How to build and train a character model (saved with it)."""

    cell: str = "lstm"
    hidden_size: int = 256
    num_layers: int = 2
    embedding_size: int | None = None  # min(H, V) when None
    dropout: float = 0.0  # between stacked layers
    seq_len: int = 100  # L: steps per chunk, the truncation of BPTT
    batch_size: int = 32  # B: parallel streams
    updates: int = 1000
    lr: float = 2e-3
    clip_norm: float = 5.0
    eval_every: int = 100
    val_fraction: float = 0.05
    seed: int = 0

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {self.cell!r}")
        for name in ("hidden_size", "num_layers", "seq_len", "batch_size", "updates",
                     "eval_every"):
            positive_int(getattr(self, name), name)
        if self.embedding_size is not None:
            positive_int(self.embedding_size, "embedding_size")
        probability(self.dropout, "dropout")
        for name in ("lr", "clip_norm"):
            if not finite_number(getattr(self, name), name) > 0:
                raise ValueError(f"{name} must be a finite number > 0, got {getattr(self, name)}")
        if not 0 < finite_number(self.val_fraction, "val_fraction") < 0.5:
            raise ValueError(f"val_fraction must lie in (0, 0.5), got {self.val_fraction}")


def split_text(text: str, config: TextConfig) -> tuple:
    """(training ids, validation ids, vocabulary): the vocabulary of the whole text, the last
    ``val_fraction`` held out; refuse a text too short for the streams."""
    vocabulary = Vocabulary.from_text(text)
    ids = vocabulary.encode(text)
    cut = len(ids) - max(2, int(len(ids) * config.val_fraction))
    train, val = ids[:cut], ids[cut:]
    need = config.batch_size * config.seq_len + 1
    if len(train) < need:
        raise ValueError(f"the text is too short: {len(train)} training characters, and "
                         f"batch_size x seq_len = {need - 1} are needed for one chunk of every "
                         f"stream")
    return train, val, vocabulary


def train_text(text: str, config: TextConfig, progress: bool = False, report=None) -> dict:
    """Train a character model on ``text``; ``report(record)`` is called after every
    validation with ``{"updates", "train_bpc", "val_bpc", "seconds"}``.

    Returns ``{"model", "vocabulary", "history", "val_bpc", "chars_per_second"}``; raises
    :class:`rnnlab.training.TrainingDiverged` when the loss stops being finite.
    """
    train_ids, val_ids, vocabulary = split_text(text, config)
    model = char_model(len(vocabulary), config.cell, config.hidden_size, config.num_layers,
                       config.embedding_size, config.dropout, seed=config.seed)
    optimizer = Adam(model, lr=config.lr)
    streams = TextStreams(train_ids, config.batch_size, config.seq_len)
    val_streams = TextStreams(val_ids, min(config.batch_size, (len(val_ids) - 1)),
                              config.seq_len)
    bar = _progress(config.updates) if progress else None
    history, state, losses, trained, began = [], None, [], 0, time.perf_counter()
    for update in range(config.updates):
        k = update % len(streams)
        if k == 0:
            state = None  # a new pass starts each stream from zeros
        x, y = streams.chunk(k)
        loss, state = train_chunk(model, optimizer, x, y, state, config.clip_norm)
        if not math.isfinite(loss):
            raise TrainingDiverged(f"the loss is {loss} at update {update + 1}")
        losses.append(loss)
        trained += x.size
        if bar is not None:
            bar.update(1)
            bar.set_postfix(bpc=f"{bits_per_char(loss):.3f}")
        if (update + 1) % config.eval_every == 0 or update + 1 == config.updates:
            record = {"updates": update + 1, "train_bpc": bits_per_char(float(np.mean(losses))),
                      "val_bpc": bits_per_char(stream_loss(model, val_streams)),
                      "seconds": time.perf_counter() - began}
            history.append(record)
            losses = []
            if report is not None:
                report(record)
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - began
    return {"model": model, "vocabulary": vocabulary, "history": history,
            "val_bpc": history[-1]["val_bpc"], "chars_per_second": trained / seconds}


def save_model(folder, model, vocabulary: Vocabulary, config: TextConfig,
               results: dict | None = None) -> None:
    """Write the model's weights, vocabulary and config into ``folder`` (created if needed)."""
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    io.save_weights(os.path.join(folder, FILES[0]), model.state_dict())
    io.write_json(os.path.join(folder, FILES[1]), vocabulary.to_json(), "the vocabulary")
    io.write_json(os.path.join(folder, FILES[2]),
                  {"config": dataclasses.asdict(config), "results": results or {}}, "the config")


def load_model(folder) -> tuple:
    """``(model, vocabulary, config)`` from a folder :func:`save_model` wrote; refuse a folder
    without those files, or whose weights do not fit the config, naming what is wrong."""
    folder = os.fspath(folder)
    missing = [f for f in FILES if not os.path.isfile(os.path.join(folder, f))]
    if missing:
        raise ValueError(f"{folder!r} is not a saved character model: missing {missing}")
    try:
        with open(os.path.join(folder, FILES[1]), encoding="utf-8") as f:
            vocabulary = Vocabulary.from_json(json.load(f))
        with open(os.path.join(folder, FILES[2]), encoding="utf-8") as f:
            config = TextConfig(**json.load(f)["config"])
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"{folder!r}: a damaged vocabulary or config ({err})") from None
    model = char_model(len(vocabulary), config.cell, config.hidden_size, config.num_layers,
                       config.embedding_size, config.dropout, seed=0)
    model.load_state_dict(io.load_weights(os.path.join(folder, FILES[0]), model.state_dict()))
    return model.eval(), vocabulary, config


def _progress(total: int):
    """A tqdm bar of ``total`` updates, or None without tqdm (the train extra)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="updates", leave=False)
