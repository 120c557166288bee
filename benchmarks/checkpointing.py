"""Checkpointed BPTT (``checkpoint_every=k``) against full BPTT: memory, time, gradients.

For each mode, on a fresh layer with the same weights, one forward + backward over random
x and d_output measures:

- peak memory: tracemalloc's peak during forward + backward (NumPy reports its allocations
  to tracemalloc) minus what was allocated before forward began (x, d_output, parameters);
  the caller's part of it (the output (B, T, H) and dx (B, T, I), the same in both modes)
  is shown apart, and the rest is the activation memory BPTT itself needs;
- time: the median of ``--repeats`` forward + backward runs after one warm-up run, with
  tracemalloc off (it slows every allocation);
- the largest |difference| between the two modes' outputs and gradients (dx, d_state0 and
  every parameter's).

    python benchmarks/checkpointing.py        # LSTM, T=10000, B=32, H=256, k=100 (~3 min)
    python benchmarks/checkpointing.py --cell gru --steps 2000 --every 45 --json

On a machine whose cores are busy with other work, multi-threaded BLAS calls can wait for a
descheduled thread; pinning BLAS to one thread (OPENBLAS_NUM_THREADS=1) then gives steadier
times. The figures in docs/performance.md were measured on an otherwise idle machine with the
default threads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import tracemalloc

import numpy as np

import rnnlab

CELLS = {"rnn": rnnlab.RNN, "lstm": rnnlab.LSTM, "gru": rnnlab.GRU}
MB = 2.0 ** 20


def make_layer(args, every):
    """The layer under test; the same seed gives the same weights in both modes."""
    return CELLS[args.cell](args.input_size, args.hidden_size, dtype=args.dtype, seed=args.seed,
                            checkpoint_every=every)


def make_data(args):
    """Random x (B, T, I) and d_output (B, T, H)."""
    rng = np.random.default_rng(args.seed + 1)
    x = rng.standard_normal((args.batch, args.steps, args.input_size)).astype(args.dtype)
    d_output = rng.standard_normal((args.batch, args.steps, args.hidden_size))
    return x, d_output.astype(args.dtype)


def forward_backward(layer, x, d_output) -> tuple:
    """One forward and backward; returns (output, dx, d_state0 as a list)."""
    output, _ = layer(x)
    dx, d_state0 = layer.backward(d_output)
    return output, dx, list(d_state0) if isinstance(d_state0, tuple) else [d_state0]


def measure_memory(args, every, x, d_output) -> dict:
    """Peak traced memory of forward + backward above what existed before, and results."""
    layer = make_layer(args, every)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        output, dx, d_state0 = forward_backward(layer, x, d_output)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    caller = output.nbytes + dx.nbytes
    results = {"output": output, "dx": dx, **{f"d_state0[{k}]": d for k, d in
                                               enumerate(d_state0)}}
    results.update({f"grad {name}": g for name, g in layer.grad_dict().items()})
    return {"peak_mb": (peak - before) / MB, "caller_mb": caller / MB,
            "activations_mb": (peak - before - caller) / MB, "results": results}


def measure_time(args, every, x, d_output) -> dict:
    """Median seconds of forward + backward over ``args.repeats`` runs after a warm-up."""
    seconds = []
    for run in range(args.repeats + 1):
        layer = make_layer(args, every)
        began = time.perf_counter()
        forward_backward(layer, x, d_output)
        if run:  # run 0 warms up
            seconds.append(time.perf_counter() - began)
        del layer  # drops its cache before the next layer's forward
    return {"seconds": statistics.median(seconds), "all_seconds": seconds}


def max_differences(full: dict, checkpointed: dict) -> dict:
    """max |full - checkpointed| for every output and gradient, by name."""
    return {name: float(np.abs(full[name].astype(np.float64) - checkpointed[name]).max())
            for name in full}


def relative_differences(full: dict, differences: dict) -> dict:
    """max |full - checkpointed| / max |full|, by name."""
    return {name: differences[name] / max(float(np.abs(full[name]).max()), 1e-300)
            for name in full}


def print_table(report: dict) -> None:
    c = report["config"]
    print(f"{c['cell'].upper()} T={c['steps']} B={c['batch']} I={c['input_size']} "
          f"H={c['hidden_size']} {c['dtype']}, checkpoint_every={c['every']}")
    print(f"{'mode':<22}{'peak MB':>12}{'caller MB':>12}{'activations MB':>16}{'time s':>10}")
    for mode in ("full", "checkpointed"):
        m = report[mode]
        label = "full BPTT" if mode == "full" else f"checkpoint_every={c['every']}"
        print(f"{label:<22}{m['peak_mb']:>12.1f}{m['caller_mb']:>12.1f}"
              f"{m['activations_mb']:>16.1f}{m['seconds']:>10.2f}")
    r = report["ratios"]
    print(f"checkpointed / full: peak memory {r['peak_memory']:.3f}, activation memory "
          f"{r['activation_memory']:.4f}, time {r['time']:.2f} (median of {c['repeats']}; "
          f"times on a shared machine are noisy)")
    d, rel = report["max_abs_difference"], report["max_relative_difference"]
    worst = max(d, key=d.get)
    print(f"max |difference| full vs checkpointed: {d[worst]:.3g} in {worst} "
          f"({rel[worst]:.2g} of its largest entry); outputs {d['output']:.3g}, "
          f"dx {d['dx']:.3g}; largest relative: {max(rel.values()):.2g} "
          f"({max(rel, key=rel.get)})")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    parser.add_argument("--steps", type=int, default=10000, help="T")
    parser.add_argument("--batch", type=int, default=32, help="B")
    parser.add_argument("--input-size", type=int, default=32, help="I")
    parser.add_argument("--hidden-size", type=int, default=256, help="H")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--every", type=int, default=None,
                        help="checkpoint_every k (default round(sqrt(T)))")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    every = args.every if args.every is not None else max(1, round(args.steps ** 0.5))
    x, d_output = make_data(args)
    for k in (None, every):  # compile the cells' kernels before anything is measured
        short = min(args.steps, 2 * every + 1)
        forward_backward(make_layer(args, k), x[:, :short], d_output[:, :short])

    report = {"config": {**vars(args), "every": every,
                         "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}}
    for mode, k in (("full", None), ("checkpointed", every)):
        report[mode] = {**measure_memory(args, k, x, d_output),
                        **measure_time(args, k, x, d_output)}
    full_results = report["full"].pop("results")
    report["max_abs_difference"] = max_differences(full_results,
                                                   report["checkpointed"].pop("results"))
    report["max_relative_difference"] = relative_differences(full_results,
                                                             report["max_abs_difference"])
    full, checkpointed = report["full"], report["checkpointed"]
    report["ratios"] = {
        "peak_memory": checkpointed["peak_mb"] / full["peak_mb"],
        "activation_memory": checkpointed["activations_mb"] / full["activations_mb"],
        "time": checkpointed["seconds"] / full["seconds"]}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return report


if __name__ == "__main__":
    main()
