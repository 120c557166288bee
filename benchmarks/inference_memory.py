"""Memory of the training forward against the inference forward (``rnnlab.no_grad()``).

For an LSTM of 1 and 3 layers, the same weights and input: tracemalloc's peak during the
forward (NumPy reports its allocations to it) and what stays allocated after it (the cache
and the work arrays the layer keeps for the next batch), each less what was allocated
before the forward began. The output, which the caller holds, is counted in both.

    python benchmarks/inference_memory.py          # B=64, I=64, H=256, T=100, float32

Measured figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import tracemalloc

import numpy as np

import rnnlab

MIB = 2.0 ** 20


def measure(layers: int, batch: int, n_in: int, hidden: int, steps: int) -> dict:
    x = np.random.default_rng(0).standard_normal((batch, steps, n_in)).astype("float32")
    result = {}
    for mode in ("training forward", "no_grad"):
        layer = rnnlab.LSTM(n_in, hidden, layers, dtype="float32", seed=0)
        layer.forward(x[:2, :2])  # compile outside the measurement
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        if mode == "no_grad":
            with rnnlab.no_grad():
                out = layer.forward(x)
        else:
            out = layer.forward(x)
        held, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result[mode] = {"held_after_mib": (held - before) / MIB,
                        "peak_mib": (peak - before) / MIB}
        del out
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="64,64,256,100", help="B,I,H,T")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    batch, n_in, hidden, steps = (int(v) for v in args.shape.split(","))
    rows = {layers: measure(layers, batch, n_in, hidden, steps) for layers in (1, 3)}
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"LSTM B={batch} I={n_in} H={hidden} T={steps}, float32 (MiB)")
    for layers, row in rows.items():
        cells = "; ".join(f"{mode}: held after {m['held_after_mib']:.1f}, peak "
                          f"{m['peak_mib']:.1f}" for mode, m in row.items())
        print(f"{layers} layer{'s' if layers > 1 else ''}: {cells}")


if __name__ == "__main__":
    main()
