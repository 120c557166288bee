"""Speed against PyTorch, measured in the same process: ``rnnlab bench``.

Shapes: B batch, I input features, H hidden units, T steps; G gates (1 RNN, 4 LSTM, 3 GRU).

Each configuration runs rnnlab's layer and ``torch.nn.RNN / LSTM / GRU`` (CPU, float32,
batch-first, the same weights and inputs) and times, after warm-up, the median of several
repeats of

- forward: the layer on x (PyTorch under ``torch.no_grad()``, its inference path; rnnlab's
  forward always keeps what backward needs);
- forward+backward: forward, then backward from a fixed dL/d output, gradients with respect
  to the weights and to x (PyTorch: ``x.requires_grad_()``, ``output.backward(dy)``).

Ratios rnnlab / PyTorch are what to compare; absolute times move with the machine and its
load. Work is counted in the recurrences' matrix products: forward 2 G H (I + H) B T
floating-point operations, forward+backward 3 times that; GFLOP/s are set against the rate
of one large float32 matrix product (n = 2048) on the same machine, in the same run.
"""

from __future__ import annotations

import math
import time

import numpy as np

from rnnlab.layers import GRU, LSTM, RNN

GRID = ((1, 32, 64, 1000), (16, 8, 32, 100), (16, 32, 128, 200), (64, 32, 256, 100),
        (256, 64, 512, 100))  # (B, I, H, T)
CELLS = {"rnn": (RNN, 1), "lstm": (LSTM, 4), "gru": (GRU, 3)}
PASSES = ("forward", "forward+backward")
ROW_KEYS = ("cell", "B", "I", "H", "T", "pass", "rnnlab_ms", "torch_ms", "ratio", "gflops",
            "gemm_fraction")


def median_seconds(fn, repeats: int, warmup: int = 1) -> float:
    """The median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return float(np.median(times))


def gemm_rate(n: int = 2048, repeats: int = 5) -> dict:
    """GFLOP/s of an n x n x n float32 matrix product, NumPy's (and PyTorch's if installed)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    flops = 2.0 * n ** 3
    rates = {"numpy": flops / median_seconds(lambda: a @ b, repeats) / 1e9}
    torch = _torch()
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        rates["torch"] = flops / median_seconds(lambda: ta @ tb, repeats) / 1e9
    return rates


def flops(cell: str, batch: int, n_in: int, hidden: int, steps: int, passes: str) -> float:
    """Matrix-product FLOPs of one pass: 2 G H (I + H) B T forward, 3x with backward."""
    forward = 2.0 * CELLS[cell][1] * hidden * (n_in + hidden) * batch * steps
    return forward if passes == "forward" else 3.0 * forward


def bench_one(cell: str, batch: int, n_in: int, hidden: int, steps: int, repeats: int = 5,
              torch_too: bool = True, seed: int = 0, checkpoint_every: int | None = None) -> dict:
    """Time one configuration, both passes; returns {pass: (rnnlab_s, torch_s or None)}."""
    layer_class = CELLS[cell][0]
    kwargs = {} if checkpoint_every is None else {"checkpoint_every": checkpoint_every}
    layer = layer_class(n_in, hidden, dtype="float32", seed=seed, **kwargs)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, steps, n_in), dtype=np.float32)
    dy = rng.standard_normal((batch, steps, hidden), dtype=np.float32)

    def ours_forward():
        layer.forward(x)

    def ours_both():
        layer.forward(x)
        layer.zero_grad()
        layer.backward(dy)

    times = {"forward": [median_seconds(ours_forward, repeats)],
             "forward+backward": [median_seconds(ours_both, repeats)]}
    torch = _torch() if torch_too else None
    if torch is not None:
        module = getattr(torch.nn, layer_class.__name__)(n_in, hidden, batch_first=True)
        module.load_state_dict({k: torch.from_numpy(v.copy())
                                for k, v in layer.state_dict().items()})
        tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)
        with torch.no_grad():  # the same computation on both sides, or the timing means nothing
            difference = np.abs(module(tx)[0].numpy() - layer.forward(x)[0]).max()
        if not difference <= 1e-4:
            raise RuntimeError(f"rnnlab's and PyTorch's outputs differ by {difference:.3g} for "
                               f"{cell} B={batch} I={n_in} H={hidden} T={steps}")

        def theirs_forward():
            with torch.no_grad():
                module(tx)

        def theirs_both():
            module.zero_grad(set_to_none=True)
            leaf = tx.detach().requires_grad_()
            module(leaf)[0].backward(tdy)

        times["forward"].append(median_seconds(theirs_forward, repeats))
        times["forward+backward"].append(median_seconds(theirs_both, repeats))
    return {p: (t[0], t[1] if len(t) > 1 else None) for p, t in times.items()}


def run_bench(cells=("rnn", "lstm", "gru"), grid=GRID, repeats: int = 5, torch_too: bool = True,
              progress: bool = False) -> dict:
    """The whole grid: rows (see ``ROW_KEYS``), the GEMM rates and a summary."""
    if torch_too and _torch() is None:
        raise ImportError("rnnlab bench compares with PyTorch: pip install torch "
                          "(or pass torch_too=False / --no-torch)")
    rates = gemm_rate()
    jobs = [(cell, *shape) for cell in cells for shape in grid]
    bar = _progress(len(jobs), progress)
    rows = []
    for cell, batch, n_in, hidden, steps in jobs:
        if bar is not None:
            bar.set_description(f"{cell} B={batch} I={n_in} H={hidden} T={steps}")
        timed = bench_one(cell, batch, n_in, hidden, steps, repeats, torch_too)
        for passes, (ours, theirs) in timed.items():
            work = flops(cell, batch, n_in, hidden, steps, passes)
            rows.append({
                "cell": cell, "B": batch, "I": n_in, "H": hidden, "T": steps, "pass": passes,
                "rnnlab_ms": 1e3 * ours, "torch_ms": None if theirs is None else 1e3 * theirs,
                "ratio": None if theirs is None else ours / theirs,
                "gflops": work / ours / 1e9, "gemm_fraction": work / ours / 1e9 / rates["numpy"],
            })
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return {"rows": rows, "gemm_gflops": rates, "summary": summarize(rows)}


def summarize(rows: list) -> dict:
    """Per pass: the geometric-mean ratio rnnlab / PyTorch and the worst configuration."""
    out = {}
    for passes in PASSES:
        ratios = [r for r in rows if r["pass"] == passes and r["ratio"] is not None]
        if not ratios:
            continue
        worst = max(ratios, key=lambda r: r["ratio"])
        out[passes] = {
            "geomean_ratio": math.exp(np.mean([math.log(r["ratio"]) for r in ratios])),
            "worst_ratio": worst["ratio"],
            "worst": f"{worst['cell']} B={worst['B']} I={worst['I']} H={worst['H']} "
                     f"T={worst['T']}",
        }
    return out


def format_bench(result: dict) -> str:
    """The table, the GEMM rates and the summary, for people."""
    rates = result["gemm_gflops"]
    lines = ["float32 GEMM (2048^3): " + ", ".join(f"{k} {v:.0f} GFLOP/s"
                                                   for k, v in rates.items()), ""]
    header = (f"{'cell':<5} {'B':>4} {'I':>3} {'H':>4} {'T':>5}  {'pass':<16} {'rnnlab ms':>10} "
              f"{'torch ms':>10} {'ratio':>6} {'GFLOP/s':>8} {'of GEMM':>8}")
    lines += [header, "-" * len(header)]
    for r in result["rows"]:
        theirs = "-" if r["torch_ms"] is None else f"{r['torch_ms']:.2f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"{r['cell']:<5} {r['B']:>4} {r['I']:>3} {r['H']:>4} {r['T']:>5}  "
                     f"{r['pass']:<16} {r['rnnlab_ms']:>10.2f} {theirs:>10} {ratio:>6} "
                     f"{r['gflops']:>8.1f} {100 * r['gemm_fraction']:>7.0f}%")
    lines.append("")
    for passes, s in result["summary"].items():
        lines.append(f"{passes}: geometric-mean ratio rnnlab/PyTorch {s['geomean_ratio']:.2f}, "
                     f"worst {s['worst_ratio']:.2f} ({s['worst']})")
    return "\n".join(lines)


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _progress(total: int, show: bool):
    if not show:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="config", leave=False)
