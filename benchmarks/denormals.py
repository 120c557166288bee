"""Vanishing gradients and denormal floats: forward + backward time, rnnlab and PyTorch.

A gradient that shrinks step after step ends in denormal floats (below 1.2e-38 in float32),
and arithmetic on those is 10-100 times slower. Here the weights are scaled down (x 0.05) so
that dL/dh_t vanishes going back from the last step, the only one with a gradient; rnnlab's
kernels flush values below the smallest normal number to zero (docs/performance.md).

    python benchmarks/denormals.py            # RNN, LSTM, GRU at B=128, I=1, H=128, T=400
    python benchmarks/denormals.py --cells lstm --steps 1000 --json
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import rnnlab
from rnnlab.experiments.bench import alternating_medians

CELLS = {"rnn": rnnlab.RNN, "lstm": rnnlab.LSTM, "gru": rnnlab.GRU}


def measure(cell: str, batch: int, hidden: int, steps: int, repeats: int) -> dict:
    """Median seconds of forward + backward for rnnlab and PyTorch from the same weights, and
    the count of denormal values among rnnlab's dL/dh_t."""
    import torch

    layer = CELLS[cell](1, hidden, dtype="float32", seed=0)
    for name, value in layer.state_dict().items():
        if name.startswith("weight"):
            value *= 0.05  # the gradient shrinks by orders of magnitude per step
    x = np.random.default_rng(0).standard_normal((batch, steps, 1)).astype(np.float32)
    d_out = np.zeros((batch, steps, hidden), np.float32)
    d_out[:, -1] = 1.0  # a loss on the last step only

    def ours():
        layer.forward(x)
        layer.zero_grad()
        layer.backward(d_out)

    module = getattr(torch.nn, type(layer).__name__)(1, hidden, batch_first=True)
    module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in layer.state_dict().items()})
    tx, tdy = torch.from_numpy(x), torch.from_numpy(d_out)

    def theirs():
        module.zero_grad(set_to_none=True)
        module(tx.detach().requires_grad_())[0].backward(tdy)

    rnnlab_s, torch_s = alternating_medians([ours, theirs], repeats)
    layer.track_state_grads = True
    ours()
    dh = np.abs(layer.state_grads[0]["h"])
    tiny = np.finfo(np.float32).tiny
    return {"cell": cell, "B": batch, "H": hidden, "T": steps, "rnnlab_s": rnnlab_s,
            "torch_s": torch_s, "denormal_dh": int(((dh > 0) & (dh < tiny)).sum()),
            "zero_dh_fraction": float((dh == 0).mean())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="rnn,lstm,gru")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = [measure(c, args.batch, args.hidden, args.steps, args.repeats)
            for c in args.cells.split(",")]
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'cell':<5} {'rnnlab s':>9} {'torch s':>8} {'denormal dL/dh':>15} {'zero dL/dh':>11}")
    for r in rows:
        print(f"{r['cell']:<5} {r['rnnlab_s']:>9.3f} {r['torch_s']:>8.3f} {r['denormal_dh']:>15d} "
              f"{100 * r['zero_dh_fraction']:>10.0f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
