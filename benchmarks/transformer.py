"""TransformerEncoderLayer forward+backward against torch.nn.TransformerEncoderLayer, in the
same run: float32, batch first, dropout 0, ReLU, post-norm, train mode (PyTorch's normal
path), the same weights and inputs, one thread each (``torch.set_num_threads(1)``, and
OpenBLAS, which NumPy uses, limited to one thread by ``OPENBLAS_NUM_THREADS=1``, set here
before NumPy loads unless already set). The two take turns
(:func:`rnnlab.experiments.bench.alternating_medians`); ratios rnnlab / PyTorch are printed
per shape, with their geometric mean.

    OPENBLAS_NUM_THREADS=1 python benchmarks/transformer.py
    python benchmarks/transformer.py --repeats 3 --json
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy is imported

import numpy as np  # noqa: E402

from rnnlab.experiments.bench import alternating_medians  # noqa: E402
from rnnlab.layers.transformer import TransformerEncoderLayer  # noqa: E402

SHAPES = ((32, 64, 128, 4, 512), (16, 128, 256, 8, 1024), (64, 32, 64, 2, 256))  # B T E h F


def passes(torch, batch, steps, d_model, nhead, ff):
    """(rnnlab's, PyTorch's) forward+backward on one shape, as calls without arguments."""
    ours = TransformerEncoderLayer(d_model, nhead, ff, dropout=0.0, seed=0)
    twin = torch.nn.TransformerEncoderLayer(d_model, nhead, ff, dropout=0.0, batch_first=True)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    twin.train()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, d_model), dtype=np.float32)
    dy = rng.standard_normal((batch, steps, d_model), dtype=np.float32)
    tx, tdy = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dy)

    def rnnlab_pass():
        ours.zero_grad()
        ours.forward(x)
        ours.backward(dy)

    def torch_pass():
        twin.zero_grad(set_to_none=True)
        tx.grad = None
        twin(tx).backward(tdy)

    return rnnlab_pass, torch_pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    rows = []
    for batch, steps, d_model, nhead, ff in SHAPES:
        times = alternating_medians(list(passes(torch, batch, steps, d_model, nhead, ff)),
                                    args.repeats)
        row = {"B": batch, "T": steps, "d_model": d_model, "nhead": nhead,
               "dim_feedforward": ff, "rnnlab_ms": 1e3 * times[0], "torch_ms": 1e3 * times[1],
               "ratio": times[0] / times[1]}
        rows.append(row)
        if not args.json:
            print(f"B={batch:<3} T={steps:<4} d={d_model:<4} heads={nhead} ff={ff:<5} "
                  f"rnnlab {row['rnnlab_ms']:8.2f} ms  torch {row['torch_ms']:8.2f} ms  "
                  f"ratio {row['ratio']:.2f}x", flush=True)
    geomean = float(np.exp(np.mean(np.log([r["ratio"] for r in rows]))))
    if args.json:
        print(json.dumps({"rows": rows, "geomean_ratio": geomean,
                          "threads": {"torch": torch.get_num_threads(),
                                      "OPENBLAS_NUM_THREADS":
                                          os.environ.get("OPENBLAS_NUM_THREADS")}}))
        return
    print(f"geometric mean ratio (rnnlab / PyTorch): {geomean:.2f}x")


if __name__ == "__main__":
    main()
