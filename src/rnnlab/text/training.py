"""Training a character model on a text, and saving and loading it.

The text's last ``val_fraction`` (5% by default) is held out; the rest is cut into B parallel
streams (:class:`rnnlab.text.TextStreams`) and trained on chunk after chunk, the state carried
across chunks and reset at each pass's start: truncated BPTT, TBPTT(k1, k2) with k1 =
``seq_len`` new steps per update and k2 = ``k2`` (``seq_len`` by default) steps
back-propagated, as the Trainer's (:func:`rnnlab.training.truncated_bptt`); Adam, the
gradient norm clipped. Every ``eval_every`` updates, and at the end, the held-out
text is measured in bits per character, read as streams too, the state carried; with a
``checkpoint_dir``, a checkpoint is written then, from which the run resumes bit for bit
(:mod:`rnnlab.text.checkpoints`).

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
from rnnlab._checks import boolean, finite_number, positive_int, probability
from rnnlab.optim import Adam
from rnnlab.text.checkpoints import (Progress, find_checkpoint, load_checkpoint,
                                     save_checkpoint, text_digest)
from rnnlab.text.model import CELLS, CharLM, train_chunk
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
    one_hot: bool = False  # one-hot input instead of a learned embedding
    dropout: float = 0.0  # between stacked layers
    seq_len: int = 100  # L = k1: new steps per chunk, one update each
    k2: int | None = None  # steps back-propagated, >= seq_len; None: seq_len (k1 = k2)
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
        if self.k2 is not None and positive_int(self.k2, "k2") < self.seq_len:
            raise ValueError(f"k2 must be >= seq_len (k1): each update back-propagates "
                             f"through at least its {self.seq_len} new steps, got "
                             f"k2 = {self.k2}")
        if self.embedding_size is not None:
            positive_int(self.embedding_size, "embedding_size")
            if boolean(self.one_hot, "one_hot"):
                raise ValueError("embedding_size must be None with one_hot=True")
        boolean(self.one_hot, "one_hot")
        probability(self.dropout, "dropout")
        for name in ("lr", "clip_norm"):
            if not finite_number(getattr(self, name), name) > 0:
                raise ValueError(f"{name} must be a finite number > 0, got {getattr(self, name)}")
        if not 0 < finite_number(self.val_fraction, "val_fraction") < 0.5:
            raise ValueError(f"val_fraction must lie in (0, 0.5), got {self.val_fraction}")


    def make_model(self, vocabulary_size: int, dtype="float32") -> CharLM:
        """The :class:`~rnnlab.text.CharLM` this config describes, initialized from
        ``seed``."""
        return CharLM(vocabulary_size, self.cell, self.hidden_size, self.num_layers,
                      self.embedding_size, self.dropout, one_hot=self.one_hot, dtype=dtype,
                      seed=self.seed)


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


def train_text(text: str, config: TextConfig, progress: bool = False, report=None,
               checkpoint_dir=None, resume: bool = False, keep_checkpoints: int = 2) -> dict:
    """Train a character model on ``text``; ``report(record)`` is called after every
    validation with ``{"updates", "train_bpc", "val_bpc", "seconds"}``.

    With ``checkpoint_dir``, a checkpoint is written after every validation, the newest
    ``keep_checkpoints`` kept (:mod:`rnnlab.text.checkpoints`); ``resume`` continues from the
    newest one that loads, to the same weights as a run never interrupted (a folder with
    checkpoints needs ``resume``; one without starts from the beginning).

    Returns ``{"model", "vocabulary", "history", "val_bpc", "chars_per_second",
    "resumed_from"}``; raises :class:`rnnlab.training.TrainingDiverged` when the loss stops
    being finite, :class:`rnnlab.text.checkpoints.CheckpointError` for a checkpoint folder
    this run cannot use.
    """
    train_ids, val_ids, vocabulary = split_text(text, config)
    keep_checkpoints = positive_int(keep_checkpoints, "keep_checkpoints")
    model = config.make_model(len(vocabulary))
    optimizer = Adam(model, lr=config.lr)
    run, resumed_from, digest = Progress(), None, text_digest(text)
    if checkpoint_dir is not None:
        resumed_from, _ = find_checkpoint(checkpoint_dir, config, digest, resume)
        if resumed_from is not None:
            run = load_checkpoint(resumed_from, model, optimizer)
    streams = TextStreams(train_ids, config.batch_size, config.seq_len)
    val_streams = TextStreams(val_ids, min(config.batch_size, (len(val_ids) - 1)),
                              config.seq_len)
    bar = _progress(config.updates, run.updates) if progress else None
    losses, began, trained = [], time.perf_counter(), 0
    k1, k2 = config.seq_len, config.k2 or config.seq_len
    for update in range(run.updates, config.updates):
        k = update % len(streams)
        if k == 0:
            run.state = None  # a new pass starts each stream from zeros
        # TBPTT(k1, k2) on chunk k: read from the window start, k2 steps before the chunk's
        # nominal end (the state carried there); the loss is the k1 new steps' only
        start, end = k * k1, min((k + 1) * k1, streams.steps)
        window = max(0, start + k1 - k2)
        x, y = streams.inputs[:, window:end], streams.targets[:, window:end]
        loss, final = train_chunk(model, optimizer, x, y, run.state, config.clip_norm,
                                  skip=start - window)
        if not math.isfinite(loss):
            raise TrainingDiverged(f"the loss is {loss} at update {update + 1}")
        following = max(0, end + k1 - k2)  # the next chunk's window start
        if following == end:  # k1 = k2: the state at this chunk's end
            run.state = final
        elif following > window and k + 1 < len(streams):  # read on to it, with the new weights
            _, run.state = model.forward(streams.inputs[:, window:following], state=run.state,
                                         return_state=True)
        losses.append(loss)
        new = config.batch_size * (end - start)
        run.updates, run.characters, trained = update + 1, run.characters + new, trained + new
        if bar is not None:
            bar.update(1)
            bar.set_postfix(bpc=f"{bits_per_char(loss):.3f}")
        if run.updates % config.eval_every == 0 or run.updates == config.updates:
            seconds = run.seconds + time.perf_counter() - began
            record = {"updates": run.updates,
                      "train_bpc": bits_per_char(float(np.mean(losses))),
                      "val_bpc": bits_per_char(stream_loss(model, val_streams)),
                      "seconds": seconds}
            run.history.append(record)
            losses = []
            if checkpoint_dir is not None:
                saved = dataclasses.replace(run, seconds=seconds)
                save_checkpoint(checkpoint_dir, model, optimizer, saved, config, vocabulary,
                                digest, keep_checkpoints)
            if report is not None:
                report(record)
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - began
    return {"model": model, "vocabulary": vocabulary, "history": run.history,
            "val_bpc": run.history[-1]["val_bpc"] if run.history else None,
            "chars_per_second": trained / seconds if trained else None,
            "resumed_from": resumed_from}


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
    model = config.make_model(len(vocabulary))
    model.load_state_dict(io.load_weights(os.path.join(folder, FILES[0]), model.state_dict()))
    return model.eval(), vocabulary, config


def load_results(folder) -> dict:
    """What the training reached, as :func:`save_model` recorded it (``{}`` when nothing
    was); e.g. ``val_bpc``, ``history``."""
    try:
        with open(os.path.join(os.fspath(folder), FILES[2]), encoding="utf-8") as f:
            results = json.load(f).get("results", {})
    except (OSError, ValueError, AttributeError) as err:
        raise ValueError(f"{os.fspath(folder)!r}: no readable config ({err})") from None
    return results if isinstance(results, dict) else {}


def _progress(total: int, done: int = 0):
    """A tqdm bar of ``total`` updates, ``done`` of them already, or None without tqdm (the
    train extra)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=done, desc="updates", leave=False)
