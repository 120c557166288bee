"""The runs of a run store as a text table, one line each (``rnnlab runs``)."""

from __future__ import annotations

import datetime

TABLE_COLUMNS = ("id", "study", "kind", "task", "cell", "seed", "status", "started (UTC)",
                 "duration", "final metrics")
RIGHT_ALIGNED = ("id", "seed", "duration")
SHOWN_METRICS = 3  # final metrics shown per run
MAIN_METRICS = ("metric", "val_metric", "val_loss", "test_loss", "loss", "train_loss", "solved")


def format_runs(runs: list) -> str:
    """``runs`` (as ``RunStore.runs`` returns them) as a text table, one line each.

    The last column shows up to ``SHOWN_METRICS`` final metrics as ``name=value`` (4
    significant digits): first those named in ``MAIN_METRICS``, in that order ("metric" under
    the run's "metric_name" when it has one), then the other numbers in recorded order.
    """
    rows = [_table_row(run) for run in runs]
    widths = [max([len(title)] + [len(row[i]) for row in rows])
              for i, title in enumerate(TABLE_COLUMNS)]

    def line(cells) -> str:
        parts = [cell.rjust(width) if title in RIGHT_ALIGNED else cell.ljust(width)
                 for cell, width, title in zip(cells, widths, TABLE_COLUMNS)]
        return "  ".join(parts).rstrip()

    header = line(TABLE_COLUMNS)
    return "\n".join([header, "-" * len(header)] + [line(row) for row in rows])


def _table_row(run: dict) -> list:
    started = run["started"][:19].replace("T", " ")
    return [str(run["id"]), _text(run["study"]), run["kind"], _text(run["task"]),
            _text(run["cell"]), _text(run["seed"]), run["status"], started,
            _duration(run["started"], run["ended"]), _metrics_text(run["metrics"])]


def _text(value) -> str:
    return "-" if value is None else str(value)


def _duration(started: str, ended) -> str:
    """``ended - started`` as 12.3s, 4m05s or 2h07m; "-" while running."""
    if ended is None:
        return "-"
    seconds = (datetime.datetime.fromisoformat(ended)
               - datetime.datetime.fromisoformat(started)).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m{int(seconds % 60):02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _metrics_text(metrics) -> str:
    if not metrics:
        return "-"
    numbers = [k for k, v in metrics.items() if isinstance(v, (int, float))
               and k not in TABLE_COLUMNS]  # not the seed again
    keys = [k for k in MAIN_METRICS if k in metrics] + [k for k in numbers
                                                        if k not in MAIN_METRICS]
    parts = []
    for key in keys[:SHOWN_METRICS]:
        value = metrics[key]
        name = metrics.get("metric_name", key) if key == "metric" else key
        parts.append(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}")
    return " ".join(parts) if parts else "-"
