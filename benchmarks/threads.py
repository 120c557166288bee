"""Both cores, three ways: the LSTM's forward+backward and inference forward with rnnlab's
loops on one thread, the same with BLAS held to one thread (threadpoolctl), and the loops on
rnnlab's own threads (rnnlab.cells.parallel, the default), each against PyTorch.

- ``one thread``: ``RNNLAB_NUM_THREADS=1``. The loops run on the calling thread; the large
  products (the input projection, the weight gradients, and past 2^22 the per-step product)
  go to OpenBLAS with its two threads;
- ``one thread, BLAS 1``: the same inside ``threadpoolctl``'s limit of one BLAS thread, so
  that OpenBLAS's idle worker never spins on the second core, and nothing else uses it;
- ``threads``: the default, one block of rows per core for the whole loop, the products
  after backward on the same threads with BLAS held to one thread.

The four run in turns, with a pause before each turn (``rnnlab bench``'s
``alternating_medians``); the figure is the median over the rounds.

    python benchmarks/threads.py                  # the grid's LSTM shapes with B >= 16
    python benchmarks/threads.py --json

Measured figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
from threadpoolctl import ThreadpoolController

from rnnlab import LSTM, no_grad
from rnnlab.experiments.bench import _torch, alternating_medians

SHAPES = ((16, 8, 32, 100), (16, 32, 128, 200), (64, 32, 256, 100), (256, 64, 512, 100))
MODES = ("one thread", "one thread, BLAS 1", "threads", "PyTorch")


def measure(batch: int, n_in: int, hidden: int, steps: int, repeats: int) -> dict:
    torch = _torch()
    controller = ThreadpoolController()
    layer = LSTM(n_in, hidden, dtype="float32", seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, n_in)).astype("float32")
    dy = rng.standard_normal((batch, steps, hidden)).astype("float32")
    module = torch.nn.LSTM(n_in, hidden, batch_first=True)
    tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)

    def both():
        layer.forward(x)
        layer.zero_grad()
        layer.backward(dy)

    def inference():
        with no_grad():
            layer.forward(x)

    def theirs_both():
        module.zero_grad(set_to_none=True)
        module(tx.detach().requires_grad_())[0].backward(tdy)

    def theirs_inference():
        with torch.no_grad():
            module(tx)

    def mode(name, fn):
        def run():
            if name.startswith("one thread"):
                os.environ["RNNLAB_NUM_THREADS"] = "1"
            else:
                os.environ.pop("RNNLAB_NUM_THREADS", None)
            if name == "one thread, BLAS 1":
                with controller.limit(limits=1, user_api="blas"):
                    fn()
            else:
                fn()
        return run

    saved = os.environ.get("RNNLAB_NUM_THREADS")
    try:
        result = {}
        for passes, ours, theirs in (("forward+backward", both, theirs_both),
                                     ("inference", inference, theirs_inference)):
            fns = [mode(name, ours) for name in MODES[:3]] + [theirs]
            medians = alternating_medians(fns, repeats)
            result[passes] = {name: t * 1e3 for name, t in zip(MODES, medians)}
        return result
    finally:
        os.environ.pop("RNNLAB_NUM_THREADS", None)
        if saved is not None:
            os.environ["RNNLAB_NUM_THREADS"] = saved


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = []
    for shape in SHAPES:
        row = {"B": shape[0], "I": shape[1], "H": shape[2], "T": shape[3],
               **measure(*shape, args.repeats)}
        results.append(row)
        if not args.json:
            for passes in ("forward+backward", "inference"):
                ms = row[passes]
                torch_ms = ms["PyTorch"]
                cells = ", ".join(f"{name} {ms[name]:.2f} ms ({ms[name] / torch_ms:.2f}x)"
                                  for name in MODES[:3])
                print(f"LSTM B={shape[0]} I={shape[1]} H={shape[2]} T={shape[3]} {passes}: "
                      f"{cells}; PyTorch {torch_ms:.2f} ms", flush=True)
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
