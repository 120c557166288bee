"""The pictures of a study's report (:mod:`rnnlab.experiments.report`), as PNG files through
Matplotlib's Agg backend: the final metric against the horizontal axis per series (line: the
mean, a dot per seed), the updates to solve, the validation metric along training, and the
learning-rate grid; and the small conversions the report's tables share with them.

``info`` is what :func:`rnnlab.experiments.report.load_study` returns, with its rows.
"""

from __future__ import annotations

import json
import math

from rnnlab.experiments.plots import _pyplot, _save, _variant_color

MAX_CURVE_PANELS = 8  # panels of the learning-curve picture, one per x value
MAX_LR_TICKS = 6  # up to this many learning rates tried, each is labelled on the grid's axis


def _canonical(value) -> str:
    """A config value as sortable, comparable text."""
    return json.dumps(value, sort_keys=True)


def _sort_key(text: str):
    """Numbers in numeric order, before everything else in text order."""
    value = json.loads(text)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, text)


def _short(value) -> str:
    """A config value in few characters."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _float(value) -> float:
    """A stored number as a float: None is NaN, and the strings "NaN" and "Infinity" too."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _budget(run: dict) -> float:
    """The updates a run may take: its config's ``updates``, or (an epoch budget) those it
    took."""
    config = run["config"]
    if config.get("epochs") is None and config.get("updates") is not None:
        return _float(config["updates"])
    return _float(run["metrics"].get("updates"))


def _series_colors(info: dict) -> dict:
    labels = list(dict.fromkeys(r["label"] for r in info["rows"]))
    return {label: _variant_color(label, k) for k, label in enumerate(labels)}


def _x_values(info: dict) -> list:
    """The distinct x values of the results, in order ([None] where nothing is on x)."""
    xs = sorted({_canonical(r["x"]) for r in info["rows"]}, key=_sort_key)
    return [json.loads(x) for x in xs]


def _layout(info: dict) -> tuple:
    """Where each row of the results is drawn: (place(row) -> horizontal position, tick
    positions, tick texts, numeric). Numeric x values stand where they are; other values
    take the places 0, 1, ...; with nothing on x, the series do."""
    if info["x_field"] is None:
        labels = list(dict.fromkeys(r["label"] for r in info["rows"]))
        spots = {label: k for k, label in enumerate(labels)}
        return (lambda row: spots[row["label"]]), list(spots.values()), labels, False
    values = _x_values(info)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    spots = {_canonical(v): (v if numeric else k) for k, v in enumerate(values)}
    return ((lambda row: spots[_canonical(row["x"])]), list(spots.values()),
            [_short(v) for v in values], numeric)


def plot_metric(info: dict, path) -> str:
    """The final metric against x per series: the mean of the finished runs (line) and a
    dot per run (seed); the memoryless baseline dotted, where the runs report one."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.4))
    place, ticks, texts, numeric = _layout(info)
    colors = _series_colors(info)
    for label, color in colors.items():
        mine = [r for r in info["rows"] if r["label"] == label]
        if not any(math.isfinite(r["metric"]) for r in mine):
            continue  # every run failed: shown in the updates picture and the tables
        ax.plot([place(r) for r in mine], [r["metric"] for r in mine], marker="o",
                color=color, label=label)
        dots = [(place(r), _float(m["metrics"].get("metric")))
                for r in mine for m in r["members"] if m["status"] == "finished"]
        ax.scatter([x for x, _ in dots], [y for _, y in dots], color=color, alpha=0.4, s=14)
    baselines = {place(r): r["baseline"] for r in info["rows"] if math.isfinite(r["baseline"])}
    if baselines:
        xs = sorted(baselines)
        ax.plot(xs, [baselines[x] for x in xs], color="gray", linestyle=":",
                label="memoryless baseline")
    finite = [v for v in (_float(m["metrics"].get("metric")) for r in info["rows"]
                          for m in r["members"]) if math.isfinite(v)]
    if info["metric_name"] != "accuracy" and finite and min(finite) > 0:
        _log_y(ax)  # losses: the solved ones are orders lower
    _finish_axes(ax, info, ticks, texts, numeric)
    ax.set_ylabel(f"test {info['metric_name']}")
    ax.set_title(f"Test {info['metric_name']} (line: mean, dots: seeds)", fontsize=10)
    return _save(fig, path)


def plot_updates(info: dict, path) -> str:
    """The updates each run took to solve (validation), against x per series: a dot per
    run; an open triangle at the budget for a run that never solved, a cross for one that
    failed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.4))
    place, ticks, texts, numeric = _layout(info)
    colors = _series_colors(info)
    for k, (label, color) in enumerate(colors.items()):
        # the series side by side at each x (unless the series are the x)
        side = k - (len(colors) - 1) / 2 if info["x_field"] is not None else 0.0
        solved, never, failed = [], [], []
        for row in (r for r in info["rows"] if r["label"] == label):
            x = place(row) * (1.0 + 0.04 * side) if numeric else place(row) + 0.08 * side
            for m in row["members"]:
                steps = _float(m["metrics"].get("updates_to_solve"))
                if m["status"] == "failed":
                    failed.append((x, _budget(m)))
                elif m["status"] == "finished" and math.isfinite(steps):
                    solved.append((x, steps))
                elif m["status"] == "finished":
                    never.append((x, _budget(m)))
        never = [(x, y) for x, y in never if math.isfinite(y)]  # no budget: not drawn
        failed = [(x, y) for x, y in failed if math.isfinite(y)]
        if solved:
            ax.scatter(*zip(*solved), color=color, s=20, label=label)
        if never:
            ax.scatter(*zip(*never), marker="^", facecolors="none", edgecolors=color, s=34,
                       label=f"{label}: never solved")
        if failed:
            ax.scatter(*zip(*failed), marker="x", color=color, s=34, label=f"{label}: failed")
    budgets = [r["budget"] for r in info["rows"] if math.isfinite(r["budget"])]
    if budgets:
        ax.axhline(max(budgets), color="gray", linestyle=":", linewidth=1, label="budget")
    _log_y(ax)
    _finish_axes(ax, info, ticks, texts, numeric)
    ax.set_ylabel("updates to solve (validation)")
    ax.set_title("Updates to solve (dot per seed; at the budget: never solved or failed)",
                 fontsize=10)
    return _save(fig, path)


def _log_y(ax) -> None:
    """A log vertical axis labelled at 1, 2, 5 x 10^k (also within a single decade)."""
    from matplotlib import ticker
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def _has_updates(info: dict) -> bool:
    """Whether any run of the results says how many updates it took to solve, or had."""
    return any(math.isfinite(_float(m["metrics"].get("updates_to_solve")))
               or math.isfinite(_budget(m)) for r in info["rows"] for m in r["members"])


def _finish_axes(ax, info: dict, ticks: list, texts: list, numeric: bool) -> None:
    """The horizontal axis (log-spaced for positive numbers), the grid and the legend."""
    if numeric and min(ticks) > 0 and len(ticks) > 1:
        ax.set_xscale("log")
        ax.set_xlim(min(ticks) / 1.3, max(ticks) * 1.3)
    elif not numeric:
        ax.set_xlim(-0.5, len(ticks) - 0.5)
    ax.set_xticks(ticks, texts)
    ax.minorticks_off()
    ax.set_xlabel(info["x_field"] or "series")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def plot_curves(info: dict, path) -> str:
    """The validation metric after each evaluation, against the updates, one panel per x
    (the first :data:`MAX_CURVE_PANELS`): a line per run of the results, dashed where the
    run failed."""
    plt = _pyplot()
    values = _x_values(info)[:MAX_CURVE_PANELS]
    cols = min(len(values), 4)
    rows = math.ceil(len(values) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols + 0.6, 3.0 * rows + 0.4),
                             squeeze=False, sharey=True)
    colors = _series_colors(info)
    positive = True
    for ax, x in zip(axes.flat, values):
        shown = set()
        for row in (r for r in info["rows"] if _canonical(r["x"]) == _canonical(x)):
            color = colors[row["label"]]
            for m in row["members"]:
                epochs = [e for e in m["epochs"] if math.isfinite(_float(e.get("val_metric")))]
                if not epochs:
                    continue
                ys = [_float(e["val_metric"]) for e in epochs]
                positive &= min(ys) > 0
                ax.plot([e.get("updates", e["epoch"]) for e in epochs], ys, color=color,
                        marker=".", alpha=0.7, linestyle="--" if m["status"] == "failed"
                        else "-", label=None if row["label"] in shown else row["label"])
                shown.add(row["label"])
        ax.set_title(f"{info['x_field']} = {_short(x)}" if info["x_field"] else "all runs",
                     fontsize=9)
        ax.set_xlabel("updates")
        ax.grid(True, alpha=0.3)
        if shown:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(values):]:
        ax.set_visible(False)
    if positive and info["metric_name"] != "accuracy":
        _log_y(axes[0, 0])
    for ax in axes[:, 0]:
        ax.set_ylabel(f"validation {info['metric_name']}")
    fig.suptitle("Validation along training (dashed: failed runs)", fontsize=10)
    return _save(fig, path)


def plot_lr_grid(info: dict, path) -> str:
    """Per x, the mean validation metric of each learning rate tried, a line per series;
    the chosen rate circled, and a cross at the top for a rate whose runs diverged."""
    plt = _pyplot()
    grids = [s for s in info["selections"] if s.get("group") is not None]
    xs = sorted({_canonical(s["group"][1]) for s in grids}, key=_sort_key)
    cols = min(len(xs), 4)
    fig, axes = plt.subplots(math.ceil(len(xs) / cols), cols, squeeze=False, sharey=True,
                             figsize=(3.4 * cols + 0.6, 3.0 * math.ceil(len(xs) / cols) + 0.4))
    colors = _series_colors(info)
    labels = {p["series"]: p["label"] for p in info["points"]}
    tried = [_float(g.get("lr")) for s in grids for g in s["metrics"].get("grid", [])]
    tried = [lr for lr in tried if math.isfinite(lr) and lr > 0]
    for ax, x in zip(axes.flat, xs):
        for selection in (s for s in grids if _canonical(s["group"][1]) == x):
            label = labels[selection["group"][0]]
            grid = selection["metrics"].get("grid", [])
            lrs = [_float(g.get("lr")) for g in grid]
            val = [_float(g.get("val_metric")) for g in grid]
            ax.plot(lrs, val, marker="o", color=colors.get(label), label=label)
            winner = _float(selection["metrics"].get("winner"))
            chosen = [v for lr, v in zip(lrs, val) if math.isclose(lr, winner)]
            if chosen and math.isfinite(chosen[0]):
                ax.scatter([winner], chosen, s=140, facecolors="none",
                           edgecolors=colors.get(label), linewidths=1.5)
            bad = [lr for lr, g in zip(lrs, grid) if g.get("diverged")]
            if bad:
                ax.scatter(bad, [0.97] * len(bad), marker="x", color=colors.get(label), s=40,
                           transform=ax.get_xaxis_transform())
        ax.set_xscale("log")
        if tried:  # every rate in view, those whose runs all diverged too
            ax.set_xlim(min(tried) / 2, max(tried) * 2)
        if 0 < len(set(tried)) <= MAX_LR_TICKS:  # each rate labelled
            ax.set_xticks(sorted(set(tried)), [f"{lr:g}" for lr in sorted(set(tried))])
            ax.minorticks_off()
        ax.set_title(f"{info['x_field']} = {_short(json.loads(x))}" if info["x_field"]
                     else "all runs", fontsize=9)
        ax.set_xlabel("learning rate")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(xs):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"mean validation {info['metric_name']}")
    fig.suptitle("Learning-rate grid (circled: chosen; x at the top: runs diverged)",
                 fontsize=10)
    return _save(fig, path)
