"""Recurrent cells compared fairly: the same budget, a learning rate tuned per cell on
validation data, several seeds, and the spread reported.

The classic claim (Hochreiter & Schmidhuber 1997; Bengio et al. 1994) is that a vanilla RNN
remembers 10-20 steps and an LSTM 100 and more. :func:`compare` trains every cell variant
(:data:`VARIANTS`: initializations count as cells) at every length, for every learning rate
of a grid and every seed, each run with the same budget of updates on a stream of fresh
sequences. Per (variant, length) it picks the learning rate on the validation set alone,
and reports that learning rate's test metrics across seeds: mean, spread, how many solved,
and the updates each took to solve. Every run, and every selection with its whole grid, is
recorded in the run store as it finishes (an interrupted study keeps what is done).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math

import numpy as np

from rnnlab.diagnostics import horizon_of
from rnnlab.experiments.runner import GATED, RunConfig, run_task
from rnnlab.training import TrainingDiverged

DEFAULT_CHUNK = 10  # K, the steps per chunk of the hierarchical variants
# The cell variants --cells may name: a cell, how it starts, and its form.
VARIANTS = {
    "rnn": {"cell": "rnn"},  # tanh, PyTorch's initialization
    "irnn": {"cell": "rnn", "nonlinearity": "relu", "init_hh": "identity"},  # Le et al. 2015
    "lstm": {"cell": "lstm"},  # forget bias from the base config (1, as Keras)
    "lstm-chrono": {"cell": "lstm", "chrono": "auto"},  # Tallec & Ollivier 2018
    "gru": {"cell": "gru"},
    "gru-chrono": {"cell": "gru", "chrono": "auto"},
    "ln-lstm": {"cell": "lstm", "norm": "layer"},  # layer-normalized: Ba, Kiros & Hinton 2016
    "hier-lstm": {"cell": "lstm", "chunk": DEFAULT_CHUNK},  # two levels: K-step chunks, and
    "hier-gru": {"cell": "gru", "chunk": DEFAULT_CHUNK},  # the chunks (El Hihi & Bengio 1995)
    # attention: pooling (one target), or an encoder-decoder (reverse, sort, seq-copy)
    "lstm-attn": {"cell": "lstm", "attention": "additive"},  # Bahdanau et al. 2015
    "gru-attn": {"cell": "gru", "attention": "additive"},
    "transformer": {"cell": "transformer"},  # Vaswani et al. 2017, pre-norm
}
HIERARCHICAL = tuple(v for v, fields in VARIANTS.items() if "chunk" in fields)
LR_GRID = (1e-3, 3e-3, 1e-2)  # the default learning rates tried per variant and length
ROW_KEYS = ("cell", "variant", "length", "lr", "metric", "std", "solved", "runs",
            "updates_to_solve", "baseline", "params", "update_ms")


def variant_config(base: RunConfig, variant: str, chrono=None, chunk=None) -> tuple:
    """(label, RunConfig) of ``variant`` on ``base``; ``chrono`` (T_max, "auto" or None)
    applies chrono initialization to the gated cells and labels them "-chrono"; ``chunk``
    is K of the hierarchical variants (:data:`DEFAULT_CHUNK` if None)."""
    if variant not in VARIANTS:
        raise ValueError(f"cells must name variants among {sorted(VARIANTS)}, got {variant!r}")
    fields = dict(VARIANTS[variant])
    if "chunk" in fields and chunk is not None:
        fields["chunk"] = chunk
    label = variant
    if chrono is not None and fields["cell"] in GATED:
        fields["chrono"] = chrono
        label = variant if variant.endswith("-chrono") else f"{variant}-chrono"
    fields.setdefault("chrono", None)
    fields.setdefault("norm", None)
    fields.setdefault("chunk", None)
    fields.setdefault("attention", None)
    fields.setdefault("nonlinearity", base.nonlinearity if fields["cell"] == "rnn" else "tanh")
    fields.setdefault("init_hh", None)
    return label, dataclasses.replace(base, **fields)


def plan(base: RunConfig, cells, lengths, seeds, lrs=None, chrono=None, chunk=None) -> list:
    """Every run of a comparison, checked before any trains: a list of
    ``(label, length, lr, seed, RunConfig)``, lengths outermost, then variants, learning
    rates and seeds."""
    lrs = (base.lr,) if lrs is None else tuple(lrs)
    variants = [variant_config(base, v, chrono, chunk) for v in cells]
    labels = [label for label, _ in variants]
    if len(set(labels)) != len(labels):
        raise ValueError(f"cells must name each variant once (with chrono, lstm and "
                         f"lstm-chrono are the same), got {list(cells)}")
    runs = [(label, int(length), float(lr), int(seed),
             dataclasses.replace(config, length=int(length), lr=float(lr), seed=int(seed)))
            for length in lengths for label, config in variants for lr in lrs
            for seed in seeds]
    if not runs:
        raise ValueError("cells, lengths, lrs and seeds must each name at least one value")
    return runs


def compare(base: RunConfig, cells, lengths, seeds, lrs=None, chrono=None, store=None,
            study: str | None = None, progress: bool = True, chunk=None,
            workers: int | None = None) -> list:
    """Train every variant at every length with every learning rate and seed; return one
    row per (variant, length), for the learning rate chosen on validation data.

    Parameters
    ----------
    base : RunConfig
        Everything but the variant, length, learning rate and seed: the budget (updates,
        batch size, stream or fixed set) is the same for every run.
    cells : sequence of str
        Names in :data:`VARIANTS`.
    lengths, seeds : sequences of int
    lrs : sequence of float, optional
        The learning rates tried (e.g. :data:`LR_GRID`); ``base.lr`` alone by default.
    chrono : int, "auto" or None
        Chrono initialization's T_max for the gated cells (None: each variant's own).
    store : RunStore, optional
        Each run is recorded (kind "compare", this ``study``) as it trains, and each
        selection (kind "selection") with its grid and winner once its runs are done.
    study : str, optional
        The study's id in the store.
    progress : bool
        A progress bar over the runs.
    chunk : int, optional
        K, the steps per chunk of the hierarchical variants (hier-lstm, hier-gru);
        :data:`DEFAULT_CHUNK` by default.
    workers : int, optional
        With 2 or more, the runs train in parallel on a Dask LocalCluster of this many
        worker processes (the sweep engine, :mod:`rnnlab.experiments.engine`; the ``sweep``
        extra), each recorded as it comes back; the rows are those one process gives, but
        for the timings. None or 1: one run after another, in this process.

    Returns
    -------
    list of dict
        One row per (variant, length), in the order run, with :data:`ROW_KEYS` (metric is the
        mean test metric of the chosen lr across seeds, std its spread, solved how many
        seeds solved the test set, updates_to_solve the median across seeds when most
        solved on validation, else None), plus grid (per lr: the validation summary and run
        ids), per_seed (the chosen lr's runs), metric_name, task, chrono, seconds and, with
        a store, selection_id.

    Notes
    -----
    The learning rate is chosen on the validation set alone: most seeds solved, then fewest
    updates to solve (unsolved counted as the budget plus one evaluation), then fewest
    diverged, then the best mean last validation metric of the runs that did not diverge.
    The test set is measured once per run, at its end, and never read by the choice. A
    row's metric and spread are over its seeds that did not diverge (``diverged`` counts
    the others).
    """
    runs = plan(base, cells, lengths, seeds, lrs, chrono, chunk)  # every config checked first
    if workers is not None and workers > 1:
        return _compare_on_workers(runs, workers, store, study, progress)
    expected = collections.Counter((label, length) for label, length, *_ in runs)
    bar = _bar(len(runs)) if progress else None
    groups: dict = {}
    rows = []
    try:
        for label, length, lr, seed, config in runs:
            if bar is not None:
                bar.set_description(f"{label} length {length} lr {lr:g} seed {seed}")
            result = _run(config, store, study)
            result["variant"] = label
            group = groups.setdefault((label, length), [])
            group.append(result)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(metric=f"{result['metric']:.4g}", solved=result["solved"])
            if len(group) == expected[label, length]:  # the row's last run: choose its lr
                rows.append(select(group, config, store, study))
    finally:
        if bar is not None:
            bar.close()
    return rows


def _compare_on_workers(runs: list, workers: int, store, study, progress: bool) -> list:
    """:func:`compare` of the planned ``runs`` on ``workers`` Dask worker processes: each
    run recorded as it comes back, each row chosen once its runs are all back (from them
    in planned order, as one process would), the rows returned in planned order."""
    from rnnlab.experiments.engine import run_points

    indices: dict = {}
    for index, (label, length, *_) in enumerate(runs):
        indices.setdefault((label, length), []).append(index)
    results: list = [None] * len(runs)
    rows = {}
    bar = _bar(len(runs)) if progress else None
    try:
        with contextlib.closing(run_points([r[-1] for r in runs], workers)) as returned:
            for index, outcome in returned:
                label, length, *_, config = runs[index]
                results[index] = dict(_returned(config, outcome, store, study), variant=label)
                if bar is not None:
                    bar.update(1)
                mine = indices[label, length]
                if all(results[i] is not None for i in mine):
                    rows[label, length] = select([results[i] for i in mine], runs[mine[-1]][-1],
                                                 store, study)
    finally:
        if bar is not None:
            bar.close()
    return [rows[key] for key in indices]


def _returned(config: RunConfig, outcome: dict, store, study) -> dict:
    """A run trained on a worker (:func:`rnnlab.experiments.engine.run_point`), recorded as
    ``run_task`` records one; its result as :func:`_run` gives it."""
    run_id = None
    if store is not None:
        run_id = store.start_run(config.to_json(), seed=config.seed, study=study,
                                 kind="compare", task=config.task, cell=config.cell)
        store.finish_point(run_id, outcome["status"], outcome["metrics"], outcome["error"],
                           outcome["worker"], outcome["started"], outcome["epochs"])
    error = outcome["error"] or ""
    if outcome["status"] == "finished":
        result = dict(outcome["metrics"], diverged=None)
    elif error.startswith("TrainingDiverged: "):
        result = _diverged(config, error[len("TrainingDiverged: "):])
    else:
        raise RuntimeError(f"a run of the comparison failed (run {run_id}): {error}")
    if run_id is not None:
        result["run_id"] = run_id
    return result


def _run(config: RunConfig, store, study) -> dict:
    """One run; a run that diverges is a result (not solved), and the store marks it
    failed with the reason."""
    try:
        result = run_task(config, store=store, study=study, kind="compare")
    except TrainingDiverged as err:
        return _diverged(config, str(err))
    result.pop("model")
    result.pop("history")
    result["diverged"] = None
    return result


def _diverged(config: RunConfig, reason: str) -> dict:
    """The result of a run that diverged: no metric, not solved."""
    task = config.make_task()
    return {"task": task.config(), "cell": config.cell, "length": task.length,
            "seed": config.seed, "lr": float(config.lr), "metric_name": task.metric_name,
            "metric": math.nan, "baseline": float(task.baseline), "solved": False,
            "val_metric": math.nan, "updates_to_solve": None, "updates": None,
            "params": None, "model_params": None, "seconds": math.nan, "update_ms": math.nan,
            "chrono": config.chrono_steps(task), "diverged": reason}


def _lr_key(results: list, never: int, sign: float):
    """The validation-only ranking of one learning rate's runs (smaller is better);
    ``never`` stands for the updates of a run that never solved, ``sign`` is -1 where a
    larger metric is better."""
    solved = sum(r["updates_to_solve"] is not None for r in results)
    steps = np.mean([never if r["updates_to_solve"] is None else r["updates_to_solve"]
                     for r in results])
    diverged = sum(r["diverged"] is not None for r in results)
    finite = [r["val_metric"] for r in results if np.isfinite(r["val_metric"])]
    return (-solved, steps, diverged, sign * np.mean(finite) if finite else math.inf)


def select(group: list, config: RunConfig, store=None, study: str | None = None) -> dict:
    """The row of one (variant, length): the learning rate chosen on validation data and
    its runs' test metrics across seeds; recorded in ``store`` with the whole grid."""
    lrs = list(dict.fromkeys(r["lr"] for r in group))
    by_lr = {lr: [r for r in group if r["lr"] == lr] for lr in lrs}
    never = config.updates + config.eval_every
    sign = 1.0 if config.make_task().lower_is_better else -1.0
    winner = min(lrs, key=lambda lr: _lr_key(by_lr[lr], never, sign))
    grid = [{"lr": lr,
             "val_metric": float(np.mean([r["val_metric"] for r in by_lr[lr]])),
             "val_solved": sum(r["updates_to_solve"] is not None for r in by_lr[lr]),
             "updates_to_solve": [r["updates_to_solve"] for r in by_lr[lr]],
             "diverged": sum(r["diverged"] is not None for r in by_lr[lr]),
             "run_ids": [r.get("run_id") for r in by_lr[lr]]} for lr in lrs]
    chosen = by_lr[winner]
    metrics = np.array([r["metric"] for r in chosen if r["diverged"] is None], dtype=float)
    steps = [math.inf if r["updates_to_solve"] is None else r["updates_to_solve"]
             for r in chosen]  # a seed that never solved is censored above the budget
    median_steps = float(np.median(steps))  # finite when most seeds solved
    first = chosen[0]
    params = next((r["params"] for r in group if r["params"] is not None), None)
    model_params = next((r.get("model_params") for r in group
                         if r.get("model_params") is not None), None)
    row = {
        "cell": first["cell"], "variant": first["variant"], "length": first["length"],
        "lr": winner, "metric": float(np.mean(metrics)) if metrics.size else math.nan,
        "std": float(np.std(metrics)) if metrics.size > 1 else 0.0,
        "solved": sum(r["solved"] for r in chosen), "runs": len(chosen),
        "diverged": len(chosen) - metrics.size,
        "updates_to_solve": median_steps if math.isfinite(median_steps) else None,
        "baseline": first["baseline"], "params": params, "model_params": model_params,
        "update_ms": float(np.nanmean([r["update_ms"] for r in group]))
        if any(np.isfinite(r["update_ms"]) for r in group) else math.nan,
        "seconds": float(np.nansum([r["seconds"] for r in group])),
        "metric_name": first["metric_name"], "task": first["task"], "chrono": first["chrono"],
        "budget": config.updates, "grid": grid,
        "per_seed": [{k: r.get(k) for k in ("seed", "metric", "solved", "updates_to_solve",
                                            "val_metric", "diverged", "run_id")}
                     for r in chosen],
    }
    if store is not None:
        record = {"variant": row["variant"], "length": row["length"], "task": first["task"],
                  "lrs": lrs, "seeds": [r["seed"] for r in chosen],
                  "rule": "validation only: most seeds solved, fewest updates to solve, "
                          "best mean last validation metric"}
        with store.record(record, study=study, kind="selection", task=first["task"]["name"],
                          cell=first["cell"]) as run:
            run.finish({"winner": winner, "grid": grid, "metric": row["metric"],
                        "std": row["std"], "solved": row["solved"], "runs": row["runs"]})
            row["selection_id"] = run.id
    return row


def variant_of(config: RunConfig) -> str:
    """The :data:`VARIANTS` label of a run's config (the inverse of :func:`variant_config`)."""
    if config.cell == "transformer":
        return "transformer"
    if config.attention is not None:
        return f"{config.cell}-attn"
    if config.cell == "rnn" and config.chunk is None:
        irnn = config.nonlinearity == "relu" and config.init_hh == "identity"
        return "irnn" if irnn else "rnn"
    prefix = "hier-" if config.chunk is not None else "ln-" if config.norm is not None else ""
    return prefix + config.cell + ("-chrono" if config.chrono is not None else "")


def study_rows(store, study: str) -> list:
    """The rows of a comparison rebuilt from its runs in ``store``: for a study that was
    interrupted, or whose printed table was lost. Runs still running or interrupted are
    left out; the learning rates are chosen again by the same rule (see :func:`compare`),
    over the runs there are."""
    groups: dict = {}
    for run in reversed(store.runs(study=study, kind="compare")):  # oldest first
        fields = dict(run["config"])
        fields["tbptt"] = None if fields.get("tbptt") is None else tuple(fields["tbptt"])
        config = RunConfig(**fields)
        if run["status"] == "finished":
            result = {"diverged": None, **run["metrics"]}
        elif run["status"] == "failed" and "TrainingDiverged" in (run["error"] or ""):
            result = _diverged(config, run["error"])
        else:
            continue
        result.update(variant=variant_of(config), run_id=run["id"])
        groups.setdefault((result["variant"], config.length), ([], config))[0].append(result)
    return [select(group, config) for group, config in groups.values()]


def _bar(total: int):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError('a progress bar needs tqdm: pip install "rnnlab[train]"') from None
    return tqdm(total=total, dynamic_ncols=True, leave=False)


def summarize(rows: list) -> dict:
    """Per variant: its rows by length and its memory horizon, the longest length that
    most seeds solved with every shorter one too."""
    out = {}
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = sorted((r for r in rows if r["variant"] == variant), key=lambda r: r["length"])
        lengths = [r["length"] for r in mine]
        majority = [2 * r["solved"] > r["runs"] for r in mine]
        out[variant] = {"lengths": {r["length"]: r for r in mine},
                        "horizon": horizon_of(lengths, majority), "longest": lengths[-1]}
    return out


def horizon_text(info: dict) -> str:
    """A variant's memory horizon in words."""
    horizon = info["horizon"]
    if horizon is None:
        return "none of the lengths tried"
    if horizon == info["longest"]:
        return f">= {horizon} (the longest tried)"
    return str(horizon)


def format_table(rows: list, task_line: str = "") -> str:
    """The RNN-vs-LSTM table with measured columns, and each variant's memory horizon."""
    summary = summarize(rows)
    name = rows[0]["metric_name"]
    width = max([12] + [len(variant) for variant in summary])  # the cell column
    lines = [task_line] if task_line else []
    header = (f"{'cell':<{width}} {'length':>6} {'params':>7} {'ms/upd':>7} {'lr':>6} "
              f"{name + ' (mean +- sd)':>24} {'baseline':>9} {'solved':>7} "
              f"{'updates to solve':>17}")
    lines += [header, "-" * len(header)]
    for variant, info in summary.items():
        for length, r in info["lengths"].items():
            size = r.get("model_params") or r["params"]  # the whole model's, where recorded
            lines.append(f"{variant:<{width}} {length:>6} {_number(size):>7} "
                         f"{r['update_ms']:>7.2f} {r['lr']:>6g} {r['metric']:>13.4g} +- "
                         f"{r['std']:<8.2g} {r['baseline']:>9.4g} "
                         f"{r['solved']:>3}/{r['runs']:<3} {_steps_text(r):>17}"
                         + (f"  ({r['diverged']} diverged)" if r.get("diverged") else ""))
    lines.append("")
    lines.append("memory horizon (longest length most seeds solved, every shorter one too):")
    for variant, info in summary.items():
        lines.append(f"  {variant:<{width}} {horizon_text(info)}")
    params = {v: next(iter(info["lengths"].values()))["params"] for v, info in summary.items()}
    if params.get("rnn") and len(params) > 1:
        ratios = ", ".join(f"{v} {p / params['rnn']:.2f}x" for v, p in params.items()
                           if v != "rnn" and p)
        lines.append(f"parameters of the recurrent layer relative to rnn: {ratios}")
    lines.append("params: the whole model's (recurrent layer or Transformer, attention, head)")
    tried = {len(r["grid"]) for r in rows}
    lines.append(("lr: chosen per row on the validation set from the grid; " if max(tried) > 1
                  else "lr: fixed; ")
                 + "updates to solve: the first validation that counts as solved (median "
                   "over seeds)")
    return "\n".join(line.rstrip() for line in lines)


def _number(value) -> str:
    return "-" if value is None else str(value)


def _steps_text(row: dict) -> str:
    steps = [s["updates_to_solve"] for s in row["per_seed"]]
    if row["updates_to_solve"] is None:
        return f"> {row['budget']}"
    solved = sorted(s for s in steps if s is not None)
    if len(solved) == 1 or solved[0] == solved[-1]:
        return f"{row['updates_to_solve']:.0f}"
    return f"{row['updates_to_solve']:.0f} ({solved[0]}-{solved[-1]})"
