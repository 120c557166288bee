"""A character language model trained by rnnlab and by PyTorch, the same way, in the same run
(issue 19's benchmark): validation bits per character of both, and training speed.

Both models are Embedding (V, E) -> LSTM (E, H, layers) -> Linear (H, V), E = min(H, V)
(:func:`rnnlab.text.char_model`; PyTorch: ``torch.nn.Embedding``, ``torch.nn.LSTM(batch_first
=True)``, ``torch.nn.Linear``), float32, dropout 0, from the same initial weights (rnnlab's
``state_dict`` copied into PyTorch's modules; their outputs are checked equal before
training). The text is the first ``--chars`` characters of the Python standard library's
source (:func:`rnnlab.text.python_stdlib`), the vocabulary that slice's characters; the last
5% is held out for validation. Both train on the same chunks of the same
:class:`rnnlab.text.TextStreams` in the same order (truncated BPTT of ``--seq-len`` steps over
``--batch-size`` streams; the state carried from chunk to chunk, detached in PyTorch, and
reset to zeros at the start of each pass over the text), for ``--updates`` updates of Adam
(the same lr, betas (0.9, 0.999) and eps 1e-8, rnnlab's defaults and PyTorch's) after the
gradient's global norm is clipped to 5 (``rnnlab.optim.clip_grad_norm_`` and
``torch.nn.utils.clip_grad_norm_``). Validation: the mean cross-entropy over the held-out
streams, evaluation mode, the state carried chunk to chunk (rnnlab's
:func:`rnnlab.text.stream_loss`, and the same loop in PyTorch under ``torch.no_grad()``), in
bits per character; the baseline is the unigram entropy of the training text.

Speed: the wall time of each library's whole training loop (evaluation not included), run
once each, rnnlab's first, then PyTorch's, after a pause of 0.3 s (the runs cannot take turns
update by update: each update depends on the one before). Characters per second count the
targets trained on (B x L per update). The median update's time is reported as well: on a
shared machine it is less moved by a burst of someone else's work than the total. One thread
each: ``torch.set_num_threads(1)``, and OpenBLAS, which NumPy uses, limited to one thread by
``OPENBLAS_NUM_THREADS=1``, set here before NumPy loads unless already set.

    python benchmarks/char_lm.py
    python benchmarks/char_lm.py --hidden 256 --layers 2 --updates 1000 --json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy is imported

import numpy as np  # noqa: E402

from rnnlab.optim import Adam  # noqa: E402
from rnnlab.text import (TextStreams, Vocabulary, bits_per_char, char_model,  # noqa: E402
                         python_stdlib, stream_loss, train_chunk, unigram_entropy)

HELD_OUT = 0.05  # the fraction of the text kept for validation (its end)
CLIP_NORM = 5.0
BETAS, EPS = (0.9, 0.999), 1e-8  # rnnlab.optim.Adam's defaults, and torch.optim.Adam's
SETTLE = 0.3  # seconds of pause before each timed loop (see rnnlab.experiments.bench)


def torch_twin(torch, model, vocabulary_size: int, hidden: int, layers: int):
    """PyTorch's model of rnnlab's ``model``'s architecture, with its weights."""
    nn = torch.nn
    embedding_size = model.modules[0].state_dict()["weight"].shape[1]

    class CharLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocabulary_size, embedding_size)
            self.rnn = nn.LSTM(embedding_size, hidden, layers, batch_first=True)
            self.linear = nn.Linear(hidden, vocabulary_size)

        def forward(self, x, state=None):
            out, state = self.rnn(self.embedding(x), state)
            return self.linear(out), state

    twin = CharLSTM()
    names = {"0": "embedding", "1": "rnn", "2": "linear"}
    weights = {}
    for key, value in model.state_dict().items():
        index, name = key.split(".", 1)
        weights[f"{names[index]}.{name}"] = torch.from_numpy(np.array(value, dtype=np.float32))
    twin.load_state_dict(weights)  # strict: every parameter named, none left over
    return twin


def train_rnnlab(model, streams: TextStreams, updates: int, lr: float) -> dict:
    """``updates`` truncated-BPTT updates on the chunks in order; timed."""
    optimizer = Adam(model, lr=lr, betas=BETAS, eps=EPS)
    losses, times, chars = [], [], 0
    state = None
    model.train()
    time.sleep(SETTLE)
    began = time.perf_counter()
    for update in range(updates):
        k = update % len(streams)
        if k == 0:
            state = None  # a pass's start: zeros
        x, y = streams.chunk(k)
        start = time.perf_counter()
        loss, state = train_chunk(model, optimizer, x, y, state, clip_norm=CLIP_NORM)
        times.append(time.perf_counter() - start)
        losses.append(loss)
        chars += y.size
    return {"seconds": time.perf_counter() - began, "chars": chars, "losses": losses,
            "update_seconds": times}


def train_torch(torch, twin, streams: TextStreams, updates: int, lr: float) -> dict:
    """The same updates as :func:`train_rnnlab`, in PyTorch; timed."""
    optimizer = torch.optim.Adam(twin.parameters(), lr=lr, betas=BETAS, eps=EPS)
    loss_fn = torch.nn.functional.cross_entropy
    chunks = [tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in streams.chunk(k))
              for k in range(min(updates, len(streams)))]  # as rnnlab's: ready before timing
    losses, times, chars = [], [], 0
    state = None
    twin.train()
    time.sleep(SETTLE)
    began = time.perf_counter()
    for update in range(updates):
        k = update % len(streams)
        if k == 0:
            state = None
        x, y = chunks[k]
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        logits, state = twin(x, state)
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(twin.parameters(), CLIP_NORM)
        optimizer.step()
        state = tuple(s.detach() for s in state)  # truncated BPTT: a constant next chunk
        times.append(time.perf_counter() - start)
        losses.append(loss.item())
        chars += y.numel()
    return {"seconds": time.perf_counter() - began, "chars": chars, "losses": losses,
            "update_seconds": times}


def torch_stream_loss(torch, twin, streams: TextStreams) -> float:
    """:func:`rnnlab.text.stream_loss` for PyTorch's model: nats per character."""
    total, count, state = 0.0, 0, None
    twin.eval()
    with torch.no_grad():
        for k in range(len(streams)):
            x, y = (torch.from_numpy(np.ascontiguousarray(a)) for a in streams.chunk(k))
            logits, state = twin(x, state)
            total += float(torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"))
            count += y.numel()
    twin.train()
    return total / count


def summary(run: dict, validation_nats: float) -> dict:
    tail = run["losses"][-min(50, len(run["losses"])):]
    return {"val_bits_per_char": bits_per_char(validation_nats),
            "train_bits_per_char_last_50": bits_per_char(float(np.mean(tail))),
            "train_seconds": run["seconds"],
            "chars_per_second": run["chars"] / run["seconds"],
            "median_update_ms": 1e3 * float(np.median(run["update_seconds"])),
            "chars_per_second_median_update":
                run["chars"] / len(run["losses"]) / float(np.median(run["update_seconds"]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--chars", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    text = python_stdlib(args.chars)
    vocabulary = Vocabulary.from_text(text)  # the slice's characters: validation's are in it
    ids = vocabulary.encode(text)
    split = int(round(len(ids) * (1 - HELD_OUT)))
    train = TextStreams(ids[:split], args.batch_size, args.seq_len)
    validation = TextStreams(ids[split:], args.batch_size, args.seq_len)
    baseline = unigram_entropy(ids[:split], len(vocabulary))

    model = char_model(len(vocabulary), "lstm", args.hidden, args.layers, dtype="float32",
                       seed=args.seed)
    twin = torch_twin(torch, model, len(vocabulary), args.hidden, args.layers)
    x, _ = train.chunk(0)
    with torch.no_grad():  # the same function before training, or the comparison means nothing
        difference = np.abs(twin(torch.from_numpy(np.ascontiguousarray(x)))[0].numpy()
                            - model.forward(x)).max()
    if not difference <= 1e-4:
        raise RuntimeError(f"rnnlab's and PyTorch's initial outputs differ by {difference:.3g}")

    ours = summary(train_rnnlab(model, train, args.updates, args.lr),
                   stream_loss(model, validation))
    theirs = summary(train_torch(torch, twin, train, args.updates, args.lr),
                     torch_stream_loss(torch, twin, validation))
    relative = (ours["val_bits_per_char"] - theirs["val_bits_per_char"]) \
        / theirs["val_bits_per_char"]
    result = {
        "config": {"cell": "lstm", "hidden": args.hidden, "layers": args.layers,
                   "embedding": model.modules[0].state_dict()["weight"].shape[1],
                   "batch_size": args.batch_size, "seq_len": args.seq_len,
                   "updates": args.updates, "lr": args.lr, "betas": list(BETAS), "eps": EPS,
                   "clip_norm": CLIP_NORM, "chars": len(text), "vocabulary": len(vocabulary),
                   "train_chars": split, "validation_chars": len(ids) - split,
                   "chunks_per_pass": len(train), "passes": args.updates / len(train),
                   "seed": args.seed, "initial_output_difference": float(difference)},
        "rnnlab": ours, "torch": theirs,
        "relative_difference_val_bits_per_char": relative,
        "within_2_percent": bool(abs(relative) <= 0.02),
        "speed_ratio_rnnlab_over_torch": ours["chars_per_second"] / theirs["chars_per_second"],
        "speed_ratio_median_update": ours["chars_per_second_median_update"]
        / theirs["chars_per_second_median_update"],
        "unigram_entropy_bits_per_char": baseline,
        "timing": "each library's whole training loop once, rnnlab first, then PyTorch",
        "threads": {"torch": torch.get_num_threads(),
                    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")},
    }
    if args.json:
        print(json.dumps(result))
        return
    c = result["config"]
    print(f"LSTM char model: V={c['vocabulary']} E={c['embedding']} H={c['hidden']} "
          f"layers={c['layers']}, B={c['batch_size']} L={c['seq_len']}, {c['updates']} updates "
          f"({c['passes']:.2f} passes), Adam lr={c['lr']:g}, clip {CLIP_NORM:g}")
    print(f"text: python-stdlib, {c['chars']:,} chars ({c['train_chars']:,} train, "
          f"{c['validation_chars']:,} validation); unigram entropy of the training text "
          f"{baseline:.3f} bits/char")
    header = (f"{'':<8} {'val bits/char':>13} {'train bpc (last 50)':>20} {'train s':>8} "
              f"{'chars/s':>9} {'median update ms':>17}")
    print(header)
    print("-" * len(header))
    for name, row in (("rnnlab", ours), ("PyTorch", theirs)):
        print(f"{name:<8} {row['val_bits_per_char']:>13.4f} "
              f"{row['train_bits_per_char_last_50']:>20.4f} {row['train_seconds']:>8.1f} "
              f"{row['chars_per_second']:>9.0f} {row['median_update_ms']:>17.2f}")
    print(f"relative difference of validation bits/char (rnnlab - PyTorch) / PyTorch: "
          f"{100 * relative:+.3f}% ({'within' if abs(relative) <= 0.02 else 'NOT within'} 2%)")
    print(f"speed rnnlab / PyTorch: {result['speed_ratio_rnnlab_over_torch']:.2f}x "
          f"(whole loop), {result['speed_ratio_median_update']:.2f}x (median update)")
    print(f"timing: {result['timing']}; threads: torch {torch.get_num_threads()}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")
    if not math.isfinite(relative):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
