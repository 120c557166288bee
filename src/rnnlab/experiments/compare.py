"""RNN vs LSTM vs GRU, measured: train every (cell, length, seed) on a task and tabulate.

The seeds' table says an RNN remembers 10-20 steps and an LSTM 100+, with 4x the parameters
and slower training. :func:`compare` trains each combination with the same budget, records
every run in the run store as it finishes (an interrupted study keeps what is done), and
:func:`format_table` prints the table with measured columns.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rnnlab.diagnostics import horizon_of
from rnnlab.experiments.runner import RunConfig, run_task

ROW_KEYS = ("cell", "length", "seed", "metric", "baseline", "solved", "params", "seconds")


def compare(base: RunConfig, cells, lengths, seeds, store=None, study: str | None = None,
            progress: bool = True) -> list:
    """Train ``base`` with every cell, length and seed; return one row per run.

    Parameters
    ----------
    base : RunConfig
        Everything but cell, length and seed.
    cells, lengths, seeds : sequences
    store : RunStore, optional
        Each run is recorded (kind "compare", this ``study``) as it trains.
    study : str, optional
        The study's id in the store.
    progress : bool
        A progress bar over the runs.

    Returns
    -------
    list of dict
        ``ROW_KEYS`` plus epochs, metric_name, task and (with a store) run_id, in the order
        run: lengths outermost, then cells, then seeds.
    """
    configs = [dataclasses.replace(base, cell=cell, length=int(length), seed=int(seed))
               for length in lengths for cell in cells for seed in seeds]  # all checked first
    if not configs:
        raise ValueError("cells, lengths and seeds must each name at least one value")
    bar = _bar(len(configs)) if progress else None
    rows = []
    try:
        for config in configs:
            if bar is not None:
                bar.set_description(f"{config.cell} length {config.length} seed {config.seed}")
            result = run_task(config, store=store, study=study, kind="compare")
            rows.append({k: v for k, v in result.items() if k not in ("history", "model")})
            if bar is not None:
                bar.update(1)
                bar.set_postfix(metric=f"{result['metric']:.4g}", solved=result["solved"])
    finally:
        if bar is not None:
            bar.close()
    return rows


def _bar(total: int):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError('a progress bar needs tqdm: pip install "rnnlab[train]"') from None
    return tqdm(total=total, dynamic_ncols=True, leave=False)


def summarize(rows: list) -> dict:
    """Per cell: {length: (mean metric, std, solved count, runs, params, seconds)} and the
    memory horizon, the longest length that most seeds solved with every shorter one too."""
    out = {}
    for cell in dict.fromkeys(r["cell"] for r in rows):
        mine = [r for r in rows if r["cell"] == cell]
        lengths = sorted({r["length"] for r in mine})
        per_length = {}
        for length in lengths:
            at = [r for r in mine if r["length"] == length]
            metrics = np.array([r["metric"] for r in at])
            per_length[length] = {
                "metric": float(metrics.mean()), "std": float(metrics.std()),
                "solved": sum(r["solved"] for r in at), "runs": len(at),
                "params": at[0]["params"], "seconds": float(np.mean([r["seconds"] for r in at])),
                "baseline": at[0]["baseline"]}
        majority = [2 * per_length[n]["solved"] > per_length[n]["runs"] for n in lengths]
        out[cell] = {"lengths": per_length, "horizon": horizon_of(lengths, majority),
                     "longest": lengths[-1]}
    return out


def format_table(rows: list, task_line: str = "") -> str:
    """The seeds' RNN-vs-LSTM table with measured columns, and each cell's memory horizon."""
    summary = summarize(rows)
    name = rows[0]["metric_name"]
    lines = [task_line] if task_line else []
    header = (f"{'cell':<5} {'length':>6} {'params':>8} {'s/epoch':>8} "
              f"{name + ' (mean +- sd)':>24} {'baseline':>9} {'solved':>7}")
    lines += [header, "-" * len(header)]
    for cell, info in summary.items():
        for length, s in info["lengths"].items():
            lines.append(f"{cell:<5} {length:>6} {s['params']:>8} {s['seconds']:>8.2f} "
                         f"{s['metric']:>13.4g} +- {s['std']:<8.2g} {s['baseline']:>9.4g} "
                         f"{s['solved']:>3}/{s['runs']:<3}")
    lines.append("")
    lines.append("memory horizon (longest length most seeds solved, every shorter one too):")
    for cell, info in summary.items():
        horizon = info["horizon"]
        if horizon is None:
            text = "none of the lengths tried"
        elif horizon == info["longest"]:
            text = f">= {horizon} (the longest tried)"
        else:
            text = str(horizon)
        lines.append(f"  {cell:<5} {text}")
    params = {cell: next(iter(info["lengths"].values()))["params"]
              for cell, info in summary.items()}
    if "rnn" in params and len(params) > 1:
        ratios = ", ".join(f"{cell} {p / params['rnn']:.2f}x" for cell, p in params.items()
                           if cell != "rnn")
        lines.append(f"parameters of the recurrent layer relative to rnn: {ratios}")
    return "\n".join(line.rstrip() for line in lines)
