"""Speed against PyTorch, measured in the same process: ``rnnlab bench``.

Shapes: B batch, I input features, H hidden units, T steps; G gates (1 RNN, 4 LSTM, 3 GRU).

Each configuration runs rnnlab's layer and ``torch.nn.RNN / LSTM / GRU`` (CPU, float32 or
float64, batch-first, the same weights and inputs) and times, after warm-up, the median of
several repeats of

- forward: rnnlab's training forward, which keeps what backward needs, against PyTorch under
  ``torch.no_grad()``, its inference path;
- inference: rnnlab under ``rnnlab.no_grad()``, its inference path, against the same;
- forward+backward: forward, then backward from a fixed dL/d output, gradients with respect
  to the weights and to x (PyTorch: ``x.requires_grad_()``, ``output.backward(dy)``).

Ratios rnnlab / PyTorch are what to compare; absolute times move with the machine and its
load. On a shared machine its speed drifts over seconds, so the two libraries take turns,
round by round (see :func:`alternating_medians`), and a drift slows both alike. Work is
counted in the recurrences' matrix products: forward 2 G H (I + H) B T floating-point
operations, forward+backward 3 times that; GFLOP/s are set against the rate of one large
matrix product of the same dtype (n = 2048) through NumPy, measured right before each configuration
(or the median over the run, if that is higher: a slow moment of the GEMM measurement must
not flatter a configuration).
"""

from __future__ import annotations

import math
import time

import numpy as np

from rnnlab.layers import GRU, LSTM, RNN, no_grad

GRID = ((1, 32, 64, 1000), (16, 8, 32, 100), (16, 32, 128, 200), (64, 32, 256, 100),
        (256, 64, 512, 100))  # (B, I, H, T)
CELLS = {"rnn": (RNN, 1), "lstm": (LSTM, 4), "gru": (GRU, 3)}
PASSES = ("forward", "inference", "forward+backward")
ROW_KEYS = ("cell", "B", "I", "H", "T", "pass", "rnnlab_ms", "torch_ms", "ratio", "gflops",
            "gemm_gflops", "gemm_fraction")


def seconds(fn) -> float:
    """The wall time of one call of ``fn()``."""
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def alternating_medians(fns, repeats: int, settle: float = 0.3) -> list:
    """The median wall time of each of ``fns``, over its timed calls in ``repeats`` rounds in
    which the functions take turns, so that a drift in the machine's speed falls on all alike.

    Each function's turn starts with a pause of ``settle`` seconds and one untimed call, then
    a few timed calls (as many as fit in about 0.1 s, 1 to 20). The pause matters: a library's
    idle worker threads keep spinning for a while after each call (OpenBLAS's, PyTorch's
    OpenMP ones), and timed right after the other library's, either one ran 2-5 times slower
    at small shapes (measured); after 0.3 s both ran as they do alone.
    """
    first = [seconds(fn) for fn in fns]  # warm-up: compilation, first allocations
    calls = [max(1, min(20, int(0.1 / max(t, 1e-9)))) for t in first]
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, count, record in zip(fns, calls, times):
            time.sleep(settle)
            fn()
            record.extend(seconds(fn) for _ in range(count))
    return [float(np.median(t)) for t in times]


def gemm_rate(n: int = 2048, repeats: int = 2, torch_too: bool = True,
              settle: float = 0.3, dtype: str = "float32") -> dict:
    """GFLOP/s of an n x n x n matrix product of ``dtype``, NumPy's (and PyTorch's if
    installed)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    work = 2.0 * n ** 3
    fns = {"numpy": lambda: a @ b}
    torch = _torch() if torch_too else None
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        fns["torch"] = lambda: ta @ tb
    medians = alternating_medians(list(fns.values()), repeats, settle)
    return {name: work / t / 1e9 for name, t in zip(fns, medians)}


def flops(cell: str, batch: int, n_in: int, hidden: int, steps: int, passes: str) -> float:
    """Matrix-product FLOPs of one pass: 2 G H (I + H) B T forward, 3x with backward."""
    forward = 2.0 * CELLS[cell][1] * hidden * (n_in + hidden) * batch * steps
    return 3.0 * forward if passes == "forward+backward" else forward


def bench_one(cell: str, batch: int, n_in: int, hidden: int, steps: int, repeats: int = 5,
              torch_too: bool = True, seed: int = 0, checkpoint_every: int | None = None,
              settle: float = 0.3, dtype: str = "float32") -> dict:
    """Time one configuration, every pass; returns {pass: (rnnlab_s, torch_s or None)}."""
    layer_class = CELLS[cell][0]
    kwargs = {} if checkpoint_every is None else {"checkpoint_every": checkpoint_every}
    layer = layer_class(n_in, hidden, dtype=dtype, seed=seed, **kwargs)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, steps, n_in)).astype(dtype)
    dy = rng.standard_normal((batch, steps, hidden)).astype(dtype)

    def ours_forward():
        layer.forward(x)

    def ours_inference():
        with no_grad():
            layer.forward(x)

    def ours_both():
        layer.forward(x)
        layer.zero_grad()
        layer.backward(dy)

    torch = _torch() if torch_too else None
    if torch is None:
        ours = alternating_medians([ours_forward, ours_inference, ours_both], repeats, settle)
        return {p: (t, None) for p, t in zip(PASSES, ours)}
    module = getattr(torch.nn, layer_class.__name__)(n_in, hidden, batch_first=True,
                                                     dtype=getattr(torch, dtype))
    module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in layer.state_dict().items()})
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

    forward = alternating_medians([ours_forward, theirs_forward], repeats, settle)
    inference = alternating_medians([ours_inference, theirs_forward], repeats, settle)
    both = alternating_medians([ours_both, theirs_both], repeats, settle)
    return {"forward": tuple(forward), "inference": tuple(inference),
            "forward+backward": tuple(both)}


def run_bench(cells=("rnn", "lstm", "gru"), grid=GRID, repeats: int = 5, torch_too: bool = True,
              progress: bool = False, dtype: str = "float32") -> dict:
    """The whole grid: rows (see ``ROW_KEYS``), the GEMM rates and a summary."""
    if torch_too and _torch() is None:
        raise ImportError("rnnlab bench compares with PyTorch: pip install torch "
                          "(or pass torch_too=False / --no-torch)")
    jobs = [(cell, *shape) for cell in cells for shape in grid]
    bar = _progress(len(jobs), progress)
    rows, rates = [], []
    for cell, batch, n_in, hidden, steps in jobs:
        if bar is not None:
            bar.set_description(f"{cell} B={batch} I={n_in} H={hidden} T={steps}")
        rate = gemm_rate(torch_too=torch_too, dtype=dtype)  # the machine's speed now
        rates.append(rate)
        timed = bench_one(cell, batch, n_in, hidden, steps, repeats, torch_too, dtype=dtype)
        for passes, (ours, theirs) in timed.items():
            work = flops(cell, batch, n_in, hidden, steps, passes)
            rows.append({
                "cell": cell, "B": batch, "I": n_in, "H": hidden, "T": steps, "pass": passes,
                "rnnlab_ms": 1e3 * ours, "torch_ms": None if theirs is None else 1e3 * theirs,
                "ratio": None if theirs is None else ours / theirs,
                "gflops": work / ours / 1e9, "gemm_gflops": rate["numpy"],
            })
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    gemm = {name: float(np.median([r[name] for r in rates])) for name in rates[0]}
    for row in rows:  # a slow moment of the GEMM measurement must not flatter a row
        row["gemm_gflops"] = max(row["gemm_gflops"], gemm["numpy"])
        row["gemm_fraction"] = row["gflops"] / row["gemm_gflops"]
    return {"rows": rows, "gemm_gflops": gemm, "summary": summarize(rows), "dtype": dtype}


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
    lines = [f"{result.get('dtype', 'float32')} GEMM (2048^3), median over the configurations: "
             + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in rates.items()),
             "'of GEMM' is against NumPy's rate measured right before each row, or this median "
             "if higher", ""]
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
