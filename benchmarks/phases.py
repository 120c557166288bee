"""Where the time of the LSTM's forward+backward goes, phase by phase.

Runs the calls that :func:`rnnlab.cells.lstm.forward` and :func:`rnnlab.cells.lstm.backward`
make, in their order and on the same arrays, with a clock around each phase. Two paths:

- ``--path single`` (the loops on one thread, BLAS for the large products): forward, x to
  time-major; the input projection W_ih x_t for all t (one GEMM); T recurrent products
  h_{t-1} W_hh^T; T gate kernels; the output back to batch-first. Backward, dL/dy to
  time-major; T gate kernels; T recurrent products da_t W_hh; the three products after the
  loop (dW_ih, dW_hh, dx) and dx back to batch-first;
- ``--path threads`` (:mod:`rnnlab.cells.parallel`, what the layer runs at these sizes
  when threadpoolctl is installed): the same phases, but each time loop (its products and
  gate kernels together, one block of rows per thread) is one phase, and the three products
  after backward run on the same threads.

Each phase is set against the float32 GEMM rate measured in the same run (NumPy, 2048^3):
its FLOPs over its time, and its share of the whole. The whole is also timed as the layer
runs it (``layer.forward``, ``layer.backward``), to show that the phases add up.

    python benchmarks/phases.py                       # LSTM B=256, I=64, H=512, T=100
    python benchmarks/phases.py --path single --shape 64,32,256,100 --json

Measured figures and what they say: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict

import numpy as np

from rnnlab import LSTM
from rnnlab.cells import parallel
from rnnlab.cells.common import (Params, Workspace, backward_product, final_state_grad,
                                 kernel_biases, recurrent_product, sequence_inputs, time_major,
                                 weight_grads)
from rnnlab.cells.compiled import lstm as compiled
from rnnlab.experiments.bench import gemm_rate


class Clock:
    """Adds the time of each ``with clock("phase"):`` block to that phase."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self._name, self._start = None, 0.0

    def __call__(self, name):
        self._name = name
        return self

    def __enter__(self):
        self._start = time.perf_counter()

    def __exit__(self, *exc):
        self.seconds[self._name] += time.perf_counter() - self._start


def _forward_arrays(params: Params, x, ws: Workspace) -> tuple:
    """The bias the kernels add and the states h, c (zero at t = 0) and tanh(c_t), as
    cells/lstm.py's forward makes them."""
    batch, steps, _ = x.shape
    hidden = params.weight_hh.shape[1]
    b_ih, b_hh = kernel_biases(params)
    h = ws.empty("h", (steps + 1, batch, hidden), x)
    c = ws.empty("c", h.shape, x)
    h[0], c[0] = 0, 0
    return b_ih + b_hh, h, c, ws.empty("tanh_c", (steps, batch, hidden), x)


def run_threads(params: Params, x, dy, clock: Clock, ws: Workspace) -> None:
    """One forward+backward of the LSTM on rnnlab's threads (cells/lstm.py's threaded
    branches), each phase clocked."""
    with clock("forward: x to time-major"):
        x_tm, valid, gates = sequence_inputs(params, x, None, ws, "gates", project=False)
    bias, h, c, tanh_c = _forward_arrays(params, x, ws)
    with clock("forward: time loop (products and gates), threads"):
        parallel.forward(compiled.forward_rows, params, x, ws, bias, valid, gates, h, c,
                         tanh_c)
    with clock("forward: output to batch-first"):
        h[1:].swapaxes(0, 1).copy()
    with clock("backward: dL/dy to time-major"):
        d_y = time_major(dy, ws.empty("dy", tanh_c.shape, tanh_c))
    dh_next, dc = final_state_grad(None, h[0]), final_state_grad(None, c[0])
    da = ws.empty("da", gates.shape, gates)
    dc_all = ws.empty("dc_all", d_y.shape, d_y)
    carry = np.zeros_like(dc)
    with clock("backward: time loop (gates and products), threads"):
        parallel.backward(compiled.backward_rows, params, d_y, dh_next, carry, dc, gates, c,
                          tanh_c, valid, da, dc_all)
    with clock("backward: dW_ih, dW_hh, dx, threads"):
        parallel.weight_grads(params.weight_ih, x_tm, h[:-1], da, da)


def run_single(params: Params, x, dy, clock: Clock, ws: Workspace) -> None:
    """One forward+backward of the LSTM, the calls of cells/lstm.py's single-thread
    branches, each phase clocked."""
    batch, steps, _ = x.shape
    with clock("forward: x to time-major, input projection"):
        x_tm, valid, gates = sequence_inputs(params, x, None, ws, "gates")
    bias, h, c, tanh_c = _forward_arrays(params, x, ws)
    product = recurrent_product(params, batch, None, ws)
    for t in range(steps):
        with clock("forward: recurrent products"):
            product(h[t])
        with clock("forward: gate kernels"):
            compiled.forward_step(t, gates, product.out, bias, valid, h, c, tanh_c)
    with clock("forward: output to batch-first"):
        h[1:].swapaxes(0, 1).copy()
    with clock("backward: dL/dy to time-major"):
        d_y = time_major(dy, ws.empty("dy", tanh_c.shape, tanh_c))
    back = backward_product(params, None, h[0])
    dh_next = back.out
    dc = final_state_grad(None, c[0])
    da = ws.empty("da", gates.shape, gates)
    dc_all = ws.empty("dc_all", d_y.shape, d_y)
    carry = np.zeros_like(dc)
    dbias = np.zeros_like(gates[0, 0])
    for t in reversed(range(steps)):
        with clock("backward: gate kernels"):
            compiled.backward_step(t, d_y, dh_next, carry, dc, gates, c, tanh_c, valid, da,
                                   dc_all, dbias)
        with clock("backward: recurrent products"):
            back(da[t])
    with clock("backward: dW_ih, dW_hh, dx"):
        weight_grads(params, x_tm, h[:-1], da, da)


FLOPS = {  # FLOPs of each phase for one forward+backward; B, I, H, T
    "forward: x to time-major, input projection": lambda b, i, h, t: 2 * t * b * i * 4 * h,
    "forward: recurrent products": lambda b, i, h, t: 2 * t * b * h * 4 * h,
    "forward: time loop (products and gates), threads":
        lambda b, i, h, t: 2 * t * b * (i + h) * 4 * h,
    "backward: recurrent products": lambda b, i, h, t: 2 * t * b * h * 4 * h,
    "backward: time loop (gates and products), threads":
        lambda b, i, h, t: 2 * t * b * h * 4 * h,
    "backward: dW_ih, dW_hh, dx": lambda b, i, h, t: 2 * t * b * 4 * h * (2 * i + h),
    "backward: dW_ih, dW_hh, dx, threads": lambda b, i, h, t: 2 * t * b * 4 * h * (2 * i + h),
}
PATHS = {"single": run_single, "threads": run_threads}


def measure(batch: int, n_in: int, hidden: int, steps: int, repeats: int, dtype: str,
            path: str = "threads") -> dict:
    layer = LSTM(n_in, hidden, dtype=dtype, seed=0)
    params = Params(*(layer.state_dict()[f"{n}_l0"] for n in
                      ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, n_in)).astype(dtype)
    dy = rng.standard_normal((batch, steps, hidden)).astype(dtype)
    rate = gemm_rate(torch_too=False, dtype=dtype)["numpy"]
    ws = Workspace()
    run_phases = PATHS[path]
    run_phases(params, x, dy, Clock(), ws)  # warm-up: compile, fault the work arrays in
    layer.forward(x)
    layer.backward(dy)
    runs, wholes = [], []
    for _ in range(repeats):
        time.sleep(0.3)
        clock = Clock()
        run_phases(params, x, dy, clock, ws)
        runs.append(clock.seconds)
        time.sleep(0.3)
        start = time.perf_counter()
        layer.forward(x)
        layer.zero_grad()
        layer.backward(dy)
        wholes.append(time.perf_counter() - start)
    phases = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
    total = sum(phases.values())
    whole = statistics.median(wholes)
    all_flops = 3 * 2 * steps * batch * (n_in + hidden) * 4 * hidden  # as rnnlab bench counts
    rows = []
    for name, seconds in phases.items():
        flops = FLOPS[name](batch, n_in, hidden, steps) if name in FLOPS else 0
        rows.append({"phase": name, "ms": seconds * 1e3, "share": seconds / total,
                     "gflops": flops / seconds / 1e9 if flops else None,
                     "of_gemm": flops / seconds / 1e9 / rate if flops else None})
    return {"shape": {"B": batch, "I": n_in, "H": hidden, "T": steps}, "dtype": dtype,
            "path": path, "layer_threads": parallel.usable(params, x),
            "gemm_gflops": rate, "phases": rows, "sum_ms": total * 1e3,
            "layer_ms": whole * 1e3, "layer_of_gemm": all_flops / whole / 1e9 / rate,
            "phases_of_gemm": all_flops / total / 1e9 / rate}


def report(result: dict) -> str:
    s = result["shape"]
    lines = [f"LSTM B={s['B']} I={s['I']} H={s['H']} T={s['T']} {result['dtype']}, path "
             f"{result['path']} (the layer's own: "
             f"{'threads' if result['layer_threads'] else 'single'}): "
             f"GEMM {result['gemm_gflops']:.0f} GFLOP/s (2048^3, NumPy, measured before)",
             f"{'phase':<52} {'ms':>8} {'share':>6} {'GFLOP/s':>8} {'of GEMM':>8}"]
    for row in result["phases"]:
        rate = "" if row["gflops"] is None else f"{row['gflops']:8.0f} {row['of_gemm']:8.0%}"
        lines.append(f"{row['phase']:<52} {row['ms']:8.1f} {row['share']:6.1%} {rate}")
    lines.append(f"{'sum of the phases':<52} {result['sum_ms']:8.1f} "
                 f"{'':6} {'':8} {result['phases_of_gemm']:8.0%}")
    lines.append(f"{'the layer, forward + backward':<52} {result['layer_ms']:8.1f} "
                 f"{'':6} {'':8} {result['layer_of_gemm']:8.0%}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="256,64,512,100", help="B,I,H,T")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--path", default="threads", choices=sorted(PATHS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    batch, n_in, hidden, steps = (int(v) for v in args.shape.split(","))
    result = measure(batch, n_in, hidden, steps, args.repeats, args.dtype, args.path)
    print(json.dumps(result, indent=1) if args.json else report(result))


if __name__ == "__main__":
    main()
