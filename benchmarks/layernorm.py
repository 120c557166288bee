"""The cost of layer normalization: LSTM(norm="layer") against the plain LSTM, forward and
forward+backward, in the same run on the benchmark grid (float32, the two taking turns).

    python benchmarks/layernorm.py                  # the grid of rnnlab bench
    python benchmarks/layernorm.py --repeats 3 --json
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from rnnlab import LSTM
from rnnlab.experiments.bench import GRID, alternating_medians


def passes(layer, x, dy):
    def forward():
        layer.forward(x)

    def both():
        layer.forward(x)
        layer.zero_grad()
        layer.backward(dy)

    return forward, both


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for batch, n_in, hidden, steps in GRID:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch, steps, n_in), dtype=np.float32)
        dy = rng.standard_normal((batch, steps, hidden), dtype=np.float32)
        plain = passes(LSTM(n_in, hidden, seed=0), x, dy)
        normed = passes(LSTM(n_in, hidden, seed=0, norm="layer"), x, dy)
        for name, k in (("forward", 0), ("forward+backward", 1)):
            t_plain, t_norm = alternating_medians([plain[k], normed[k]], args.repeats)
            rows.append({"B": batch, "I": n_in, "H": hidden, "T": steps, "pass": name,
                         "lstm_ms": 1e3 * t_plain, "ln_lstm_ms": 1e3 * t_norm,
                         "ratio": t_norm / t_plain})
            if not args.json:
                r = rows[-1]
                print(f"B={batch:<4} I={n_in:<3} H={hidden:<4} T={steps:<5} {name:<17} "
                      f"lstm {r['lstm_ms']:9.2f} ms  ln-lstm {r['ln_lstm_ms']:9.2f} ms  "
                      f"ratio {r['ratio']:5.2f}", flush=True)
    ratios = {p: [r["ratio"] for r in rows if r["pass"] == p] for p in ("forward",
                                                                       "forward+backward")}
    summary = {p: {"geomean_ratio": float(np.exp(np.mean(np.log(v)))), "worst": max(v)}
               for p, v in ratios.items()}
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary}))
    else:
        for p, s in summary.items():
            print(f"{p}: geometric-mean ratio {s['geomean_ratio']:.2f}, worst {s['worst']:.2f}")


if __name__ == "__main__":
    main()
