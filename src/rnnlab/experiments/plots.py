"""Pictures as PNG files, through Matplotlib's Agg backend (never a window).

Every file is written whole: drawn into a temporary file next to its target and renamed.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from rnnlab.tasks import TASKS

COLORS = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}
VARIANT_COLORS = {**COLORS, "irnn": "tab:orange", "lstm-chrono": "tab:purple",
                  "gru-chrono": "tab:olive"}


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError('plots need matplotlib: pip install "rnnlab[plot]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path) -> str:
    """Write ``fig`` to ``path`` atomically; close it; return the path."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp = tempfile.mkstemp(suffix=".png", dir=folder)
    os.close(handle)
    try:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
        fig.clf()
        _pyplot().close(fig)
    return path


def plot_gradient_flow(results: list, path, title: str = "") -> str:
    """||dL/dh_t|| / ||dL/dh_T|| against t (log scale) for each cell; LSTM's dc dashed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in results:
        color = r.get("color") or COLORS.get(r["cell"])
        ax.semilogy(r["t"], np.maximum(r["dh"], 1e-300), color=color,
                    label=f"{r['label']}: ||dL/dh_t||")
        if r["dc"] is not None:
            ax.semilogy(r["t"], np.maximum(r["dc"], 1e-300), color=color, linestyle="--",
                        label=f"{r['label']}: ||dL/dc_t||")
    ax.set_xlabel("time step t (loss at the last step T)")
    ax.set_ylabel("gradient norm / norm at t = T")
    ax.set_ylim(bottom=max(1e-30, ax.get_ylim()[0]))
    ax.set_title(title or "Gradient magnitude across time steps (measured)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_jacobians(results: list, path, title: str = "") -> str:
    """||dh_T/dh_t|| against the gap T - t, with the Pascanu bound where one applies."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in results:
        color = r.get("color") or COLORS.get(r["cell"])
        ax.semilogy(r["gaps"], np.maximum(r["jacobian"], 1e-300), color=color,
                    label=f"{r['label']}: ||dh_T/dh_t||")
        if r["bound"] is not None:
            bound = r["bound"]
            ax.semilogy(r["gaps"], np.maximum(bound.bound(r["gaps"]), 1e-300), color=color,
                        linestyle=":", label=f"bound ({bound.gamma:g} x {bound.lambda_1:.2f})"
                                             f"^(T-t)")
    ax.set_xlabel("gap T - t")
    ax.set_ylabel("spectral norm of dh_T/dh_t")
    low = min(float(np.min(np.maximum(r["jacobian"], 1e-300))) for r in results)
    high = max(float(np.max(r["jacobian"])) for r in results)
    ax.set_ylim(low / 10, high * 10)  # the measured curves whole; a bound may leave the top
    ax.set_title(title or "How far back h_T depends on h_t (measured)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_compare(rows: list, path, title: str = "") -> str:
    """Two panels from :func:`rnnlab.experiments.compare` rows: the test metric against the
    length (mean of the chosen learning rate's seeds, a dot per seed, the memoryless
    baseline), and the updates to solve against the length (log scale, a dot per seed; an
    open triangle at the budget for a seed that never solved)."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    lengths = sorted({r["length"] for r in rows})
    for k, variant in enumerate(variants):
        mine = sorted((r for r in rows if r["variant"] == variant), key=lambda r: r["length"])
        color = _variant_color(variant, k)
        style = "--" if variant.endswith("-chrono") else "-"
        left.plot([r["length"] for r in mine], [r["metric"] for r in mine], marker="o",
                  color=color, linestyle=style, label=variant)
        seeds = [(r["length"], s) for r in mine for s in r["per_seed"]]
        left.scatter([n for n, _ in seeds], [s["metric"] for _, s in seeds], color=color,
                     alpha=0.35, s=12)
        solved = [(n, s["updates_to_solve"]) for n, s in seeds
                  if s["updates_to_solve"] is not None]
        never = [(r["length"], r["budget"]) for r in mine for s in r["per_seed"]
                 if s["updates_to_solve"] is None]
        jitter = 1.0 + 0.04 * (k - (len(variants) - 1) / 2)  # side by side on a log axis
        if solved:
            right.scatter([n * jitter for n, _ in solved], [u for _, u in solved],
                          color=color, s=18, label=variant)
            medians = [(r["length"], r["updates_to_solve"]) for r in mine
                       if r["updates_to_solve"] is not None]
            right.plot([n * jitter for n, _ in medians], [u for _, u in medians],
                       color=color, linestyle=style, alpha=0.7)
        if never:
            right.scatter([n * jitter for n, _ in never], [u for _, u in never],
                          marker="^", facecolors="none", edgecolors=color, s=30,
                          label=None if solved else f"{variant} (never solved)")
    baselines = [next(r["baseline"] for r in rows if r["length"] == n) for n in lengths]
    task_class = TASKS.get((rows[0].get("task") or {}).get("name"))
    baseline_name = task_class.baseline_name if task_class is not None else "baseline"
    left.plot(lengths, baselines, color="gray", linestyle=":", label=baseline_name)
    budget = max(r["budget"] for r in rows)
    right.axhline(budget, color="gray", linestyle=":", linewidth=1)
    right.text(lengths[0], budget, " budget (open triangles: never solved)", fontsize=7,
               va="bottom", color="gray")
    right.set_yscale("log")
    log_axes = [right.yaxis]
    if rows[0]["metric_name"] != "accuracy":  # losses: the solved ones are orders lower
        left.set_yscale("log")
        log_axes.append(left.yaxis)
    from matplotlib import ticker
    for axis in log_axes:  # labels at 1, 2, 5 x 10^k, also within a single decade
        axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        axis.set_minor_formatter(ticker.NullFormatter())
    for ax in (left, right):
        ax.set_xscale("symlog" if lengths[0] == 0 else "log")
        if lengths[0] > 0:  # room around the outer lengths, however few there are
            ax.set_xlim(lengths[0] / 1.3, lengths[-1] * 1.3)
        ax.set_xticks(lengths, [str(n) for n in lengths])
        ax.minorticks_off()
        ax.set_xlabel("length (the task's difficulty: gap, steps or string length)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    left.set_ylabel(f"test {rows[0]['metric_name']}")
    left.set_title("Test metric against length (line: mean, dots: seeds)", fontsize=10)
    right.set_ylabel("updates to solve (validation)")
    right.set_title("Updates to solve against length (dot per seed)", fontsize=10)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _variant_color(variant: str, k: int) -> str:
    """A color per cell variant (the cell's own for its plain variant), or one of the cycle."""
    return VARIANT_COLORS.get(variant) or f"C{k % 10}"


def plot_context(points: list, path, full: float | None = None, unigram: float | None = None,
                 title: str = "") -> str:
    """Bits per character of the next character given only the last k characters, against
    k (log scale), from :func:`rnnlab.text.context_bits`; the full stream's figure and the
    unigram entropy as horizontal lines where given."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ks, bits, errors = (np.array(v) for v in zip(*points))
    ax.semilogx(ks, bits, "o-", color="tab:blue", label="the last k characters only")
    ax.fill_between(ks, bits - errors, bits + errors, color="tab:blue", alpha=0.2,
                    label="± one standard error")
    if full is not None:
        ax.axhline(full, color="tab:green", linestyle="--",
                   label=f"the whole stream, state carried ({full:.3f})")
    if unigram is not None:
        ax.axhline(unigram, color="grey", linestyle=":",
                   label=f"no context: unigram entropy ({unigram:.3f})")
    ax.set_xlabel("k, characters of context")
    ax.set_ylabel("bits per character")
    ax.set_title(title or "How much of the text before a character the model uses")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
