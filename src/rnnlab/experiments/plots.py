"""Pictures as PNG files, through Matplotlib's Agg backend (never a window).

Every file is written whole: drawn into a temporary file next to its target and renamed.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

COLORS = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}


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
        color = COLORS.get(r["cell"])
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
        color = COLORS.get(r["cell"])
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
    """The metric against the length for each cell (mean and every seed), with the
    baseline and the solved threshold."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for cell in dict.fromkeys(r["cell"] for r in rows):
        mine = [r for r in rows if r["cell"] == cell]
        lengths = sorted({r["length"] for r in mine})
        means = [np.mean([r["metric"] for r in mine if r["length"] == n]) for n in lengths]
        color = COLORS.get(cell)
        ax.plot(lengths, means, marker="o", color=color, label=cell)
        ax.scatter([r["length"] for r in mine], [r["metric"] for r in mine], color=color,
                   alpha=0.35, s=12)
    lengths = sorted({r["length"] for r in rows})
    baselines = [next(r["baseline"] for r in rows if r["length"] == n) for n in lengths]
    ax.plot(lengths, baselines, color="gray", linestyle="--", label="memoryless baseline")
    ax.set_xscale("log")
    ax.set_xticks(lengths, [str(n) for n in lengths])
    ax.minorticks_off()
    ax.set_xlabel("length (gap)")
    ax.set_ylabel(rows[0]["metric_name"])
    ax.set_title(title or "Metric against sequence length")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
