"""The cost of the recurrent layers' options against the plain layer, in the same run on the
benchmark grid (float32, the variants taking turns): layer normalization (``norm="layer"``)
and variational recurrent dropout (``recurrent_dropout=0.25``, train mode), forward and
forward+backward, for RNN, LSTM and GRU.

    python benchmarks/variants.py                       # every cell, the grid of rnnlab bench
    python benchmarks/variants.py --cells lstm --repeats 3 --json
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from rnnlab import GRU, LSTM, RNN
from rnnlab.experiments.bench import GRID, alternating_medians

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
VARIANTS = {"plain": {}, "layer-norm": {"norm": "layer"},
            "recurrent-dropout": {"recurrent_dropout": 0.25}}
PASSES = ("forward", "forward+backward")


def passes(layer, x, dy):
    """(forward, forward+backward) of ``layer`` on x, as two calls without arguments."""
    def forward():
        layer.forward(x)

    def both():
        layer.forward(x)
        layer.zero_grad()
        layer.backward(dy)

    return forward, both


def geomean(values) -> float:
    return float(np.exp(np.mean(np.log(values))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default="rnn,lstm,gru",
                        help="comma-separated among rnn, lstm, gru (default all)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cells = args.cells.split(",")
    unknown = sorted(set(cells) - set(CELLS))
    if unknown:
        parser.error(f"--cells: unknown {unknown}; expected among {sorted(CELLS)}")
    rows = []
    for cell in cells:
        for batch, n_in, hidden, steps in GRID:
            rng = np.random.default_rng(0)
            x = rng.standard_normal((batch, steps, n_in), dtype=np.float32)
            dy = rng.standard_normal((batch, steps, hidden), dtype=np.float32)
            calls = [passes(CELLS[cell](n_in, hidden, seed=0, **options), x, dy)
                     for options in VARIANTS.values()]
            for k, name in enumerate(PASSES):
                times = alternating_medians([c[k] for c in calls], args.repeats)
                row = {"cell": cell, "B": batch, "I": n_in, "H": hidden, "T": steps,
                       "pass": name, "plain_ms": 1e3 * times[0]}
                for variant, t in zip(list(VARIANTS)[1:], times[1:]):
                    row[f"{variant}_ratio"] = t / times[0]
                rows.append(row)
                if not args.json:
                    print(f"{cell:<5} B={batch:<4} I={n_in:<3} H={hidden:<4} T={steps:<5} "
                          f"{name:<17} plain {row['plain_ms']:9.2f} ms  layer-norm "
                          f"{row['layer-norm_ratio']:5.2f}x  recurrent-dropout "
                          f"{row['recurrent-dropout_ratio']:5.2f}x", flush=True)
    summary = {}
    for cell in cells:
        for name in PASSES:
            mine = [r for r in rows if r["cell"] == cell and r["pass"] == name]
            summary[f"{cell} {name}"] = {
                v: {"geomean_ratio": geomean([r[f"{v}_ratio"] for r in mine]),
                    "worst": max(r[f"{v}_ratio"] for r in mine)} for v in list(VARIANTS)[1:]}
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary}))
        return
    for key, s in summary.items():
        print(f"{key:<22} " + "  ".join(f"{v}: geometric mean {r['geomean_ratio']:.2f}x, worst "
                                        f"{r['worst']:.2f}x" for v, r in s.items()))


if __name__ == "__main__":
    main()
