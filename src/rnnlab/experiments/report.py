"""A study's report: one self-contained HTML page and its pictures, rebuilt from the run store.

A study is every run recorded under one study id: the runs of ``rnnlab compare`` (kind
"compare", and a "selection" per cell and length holding its learning-rate grid), or the
points of a sweep. The report reads only what every run row holds (its config, status,
metrics, error and per-evaluation epochs), so it serves any kind of study:

- the config fields whose values differ across the study's runs are what the study varies;
  the seed gives the dots, "length" (or else the numeric field with the most values) the
  horizontal axis, and the others name the series (e.g. the cell);
- where selection runs are recorded, the learning rate is the one chosen on validation data
  per series and length, and the results are that learning rate's runs;
- runs that failed (a diverged run is recorded as failed) are listed with their errors.

Pictures (PNG, Matplotlib's Agg backend): the final metric against the length per series
(line: mean, a dot per seed), the updates to solve (a dot per seed; open triangles at the
budget for runs that never solved, crosses for failed ones), the validation metric along
training, and the learning-rate grid. The page embeds them as ``data:`` URIs, and holds no
script and nothing from the network. Every file is written whole (temporary file, rename).

Examples
--------
>>> with RunStore("runs.db") as store:
...     paths = write_report(store, "20250131T120000.123Z-3fa9c1", "rnnlab-out")
>>> paths["html"]
'rnnlab-out/report-20250131T120000.123Z-3fa9c1.html'
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tempfile
import types

import numpy as np

from rnnlab.experiments.compare import variant_of
from rnnlab.experiments.runner import RunConfig
from rnnlab.experiments.report_plots import (_budget, _canonical, _float, _has_updates, _short,
                                             _sort_key, plot_curves, plot_lr_grid, plot_metric,
                                             plot_updates)

BOOKKEEPING = ("seed", "checkpoint_dir", "resumed_from")  # config keys that vary, not studied
X_FIELDS = ("length",)  # the horizontal axis, where one of these varies
RUN_FIELDS = {f.name: f.default for f in dataclasses.fields(RunConfig)}  # and their defaults


# -- reading a study -----------------------------------------------------------------------
def load_study(store, study: str) -> dict:
    """Every run of ``study`` in ``store``, sorted into what the report shows.

    Parameters
    ----------
    store : RunStore
    study : str
        The study's id (as ``rnnlab runs`` lists it).

    Returns
    -------
    dict
        study; runs (every run, oldest first, each with its "epochs" and, for the points,
        "series", "label", "x", "lr" and "chosen"); points (the runs that are not
        selections); selections; varying (field -> its values); fixed (the config fields
        every point shares); x_field (None: a single x); series_fields; lr_chosen (whether
        selections chose the learning rate); rows (one per series and x: see
        :func:`summary_rows`); metric_name.

    Raises
    ------
    ValueError
        When the store holds no run of ``study``.
    """
    if not isinstance(study, str) or not study:
        raise TypeError(f"study must be a non-empty str, got {study!r}")
    runs = list(reversed(store.runs(study=study)))  # oldest first
    if not runs:
        raise ValueError(f"study must name a study of the run store {store.path!r}, got "
                         f"{study!r} (no run has it; rnnlab runs lists the studies)")
    for run in runs:
        run["epochs"] = store.epochs(run["id"])
        run["metrics"] = run["metrics"] or {}
    selections = [r for r in runs if r["kind"] == "selection"]
    points = [r for r in runs if r["kind"] != "selection"]
    ended = [r for r in points if r["status"] in ("finished", "failed")]  # whole configs
    varying, fixed = _varying([r["config"] for r in ended or points])
    x_field = _x_field(varying)
    lr_chosen = bool(selections)
    series_fields = [f for f in varying if f != x_field and not (lr_chosen and f == "lr")]
    for run in points:
        config = run["config"]
        run["x"] = config.get(x_field) if x_field else None
        run["lr"] = _float(config.get("lr"))
        run["series"] = tuple(_canonical(config.get(f)) for f in series_fields)
    _name_series(points, series_fields)
    _choose(points, selections)
    info = {"study": study, "runs": runs, "points": points, "selections": selections,
            "varying": varying, "fixed": fixed, "x_field": x_field,
            "series_fields": series_fields, "lr_chosen": lr_chosen,
            "metric_name": _metric_name(points)}
    info["rows"] = summary_rows(info)
    return info


def _varying(configs: list) -> tuple:
    """(field -> the sorted distinct values, for the fields that differ across ``configs``;
    field -> value, for those every config shares), bookkeeping fields aside."""
    keys = list(dict.fromkeys(k for config in configs for k in config))
    varying, fixed = {}, {}
    for key in keys:
        if key in BOOKKEEPING:
            continue
        values = {_canonical(config.get(key)): config.get(key) for config in configs}
        if len(values) > 1:
            varying[key] = [values[k] for k in sorted(values, key=_sort_key)]
        else:
            fixed[key] = next(iter(values.values()))
    return varying, fixed


def _x_field(varying: dict):
    """"length" where it varies; else the numeric field with the most values; else None."""
    for name in X_FIELDS:
        if name in varying:
            return name
    numeric = [f for f, values in varying.items() if f != "lr" and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)]
    return max(numeric, key=lambda f: len(varying[f]), default=None)


def _name_series(points: list, fields: list) -> None:
    """Give each point its series' label: the compare variant (rnn, lstm-chrono, ...) where
    the runs are RunConfigs and the variants tell the series apart, else the values."""
    keys = list(dict.fromkeys(p["series"] for p in sorted(points, key=lambda p: p["series"])))
    generic = {key: _generic_label(fields, key) for key in keys}
    variants: dict = {}
    for point in points:
        variants.setdefault(point["series"], set()).add(_variant(point["config"]))
    names = [next(iter(v)) for v in variants.values() if len(v) == 1]
    usable = None not in names and len(names) == len(set(names)) == len(variants)
    for point in points:
        point["label"] = (next(iter(variants[point["series"]])) if usable
                          else generic[point["series"]])


def _variant(config: dict):
    """The compare variant of a RunConfig's fields (None for a config of another kind); read
    from the fields alone, without building the RunConfig (which would make its task)."""
    if "cell" not in config or not set(config) <= set(RUN_FIELDS) | set(BOOKKEEPING):
        return None
    return variant_of(types.SimpleNamespace(**{**RUN_FIELDS, **config}))


def _generic_label(fields: list, key: tuple) -> str:
    """``lstm hidden_size=32``: a cell's name bare, every other field as name=value."""
    parts = []
    for field, text in zip(fields, key):
        value = json.loads(text)
        parts.append(str(value) if field == "cell" else f"{field}={_short(value)}")
    return " ".join(parts) or "runs"


def _choose(points: list, selections: list) -> None:
    """Mark the points that the results use: where a selection chose the learning rate of
    their series and x, its winner's runs; everywhere else, every run."""
    winners = {}
    for selection in selections:
        group = _selection_group(selection, points)
        winner = _float((selection["metrics"] or {}).get("winner"))
        selection["group"] = group
        if group is not None and math.isfinite(winner):
            winners[group] = winner
    for point in points:
        winner = winners.get((point["series"], point["x"]))
        point["selected"] = winner is not None  # a selection chose among its group's rates
        point["chosen"] = winner is None or math.isclose(point["lr"], winner)


def _selection_group(selection: dict, points: list):
    """The (series, x) whose learning rate ``selection`` chose: that of the runs its grid
    names, or (when all of them failed, and are not named) that of the points whose label
    and length are the selection's variant and length."""
    ids = {i for entry in (selection["metrics"] or {}).get("grid", [])
           for i in entry.get("run_ids", []) if i is not None}
    named = [p for p in points if p["id"] in ids]
    if not named:
        config = selection["config"]
        named = [p for p in points if p["label"] == config.get("variant")
                 and p["config"].get("length") == config.get("length")]
    groups = {(p["series"], p["x"]) for p in named}
    return groups.pop() if len(groups) == 1 else None


def _metric_name(points: list) -> str:
    names = [p["metrics"].get("metric_name") for p in points if p["metrics"].get("metric_name")]
    return names[0] if names else "metric"


# -- the results ---------------------------------------------------------------------------
def summary_rows(info: dict) -> list:
    """One row per series and x, from the chosen runs: label, x, lrs (the chosen one, or the
    runs' own), selected (whether a selection chose it), runs, finished, failed, other
    (running, interrupted), metric (mean over the finished runs), std, solved,
    updates_to_solve (the median over runs, None unless most solved), baseline, budget and
    the runs themselves ("members")."""
    order = {key: k for k, key in enumerate(dict.fromkeys(p["series"] for p in info["points"]))}
    groups: dict = {}
    for point in info["points"]:
        if point["chosen"]:
            key = (order[point["series"]], _x_key(point["x"]))
            groups.setdefault(key, []).append(point)
    rows = []
    for _, members in sorted(groups.items()):
        finished = [m for m in members if m["status"] == "finished"]
        metrics = np.array([_float(m["metrics"].get("metric")) for m in finished])
        metrics = metrics[np.isfinite(metrics)]
        steps = [_float(m["metrics"].get("updates_to_solve")) for m in members]
        steps = [s if math.isfinite(s) else math.inf for s in steps]
        median = float(np.median(steps)) if steps else math.inf
        lrs = sorted({m["lr"] for m in members if math.isfinite(m["lr"])})
        rows.append({
            "label": members[0]["label"], "x": members[0]["x"], "lrs": lrs,
            "selected": members[0]["selected"],
            "runs": len(members), "finished": len(finished),
            "failed": sum(m["status"] == "failed" for m in members),
            "other": sum(m["status"] in ("running", "interrupted") for m in members),
            "metric": float(np.mean(metrics)) if metrics.size else math.nan,
            "std": float(np.std(metrics)) if metrics.size > 1 else math.nan,
            "solved": sum(bool(m["metrics"].get("solved")) for m in finished),
            "updates_to_solve": median if math.isfinite(median) else None,
            "baseline": _first_number(m["metrics"].get("baseline") for m in finished),
            "budget": max((_budget(m) for m in members), default=math.nan),
            "members": members})
    return rows


def _x_key(x):
    """x as a sort key (numbers in order; None first)."""
    return _sort_key(_canonical(x))


def _first_number(values) -> float:
    for value in values:
        if math.isfinite(_float(value)):
            return _float(value)
    return math.nan


# -- the pictures --------------------------------------------------------------------------


# -- writing -------------------------------------------------------------------------------
def file_stem(study: str) -> str:
    """``report-STUDY``, with every character outside letters, digits, ``.``, ``_`` and
    ``-`` replaced by ``_`` (a study's name may hold any text)."""
    return "report-" + re.sub(r"[^A-Za-z0-9._-]", "_", study)


def write_report(store, study: str, out) -> dict:
    """Write ``study``'s report into the folder ``out``: the HTML page (its pictures
    embedded) and the pictures as PNG files beside it, each written whole.

    Returns
    -------
    dict
        html (the page's path), pictures (the PNGs' paths), runs, failed.
    """
    from rnnlab.experiments.report_html import render

    info = load_study(store, study)
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, file_stem(study))
    pictures = {}
    if info["rows"]:
        pictures["metric"] = plot_metric(info, f"{stem}-metric.png")
        if _has_updates(info):
            pictures["updates"] = plot_updates(info, f"{stem}-updates.png")
        if any(m["epochs"] for r in info["rows"] for m in r["members"]):
            pictures["curves"] = plot_curves(info, f"{stem}-curves.png")
    if any(s.get("group") is not None for s in info["selections"]):
        pictures["lr_grid"] = plot_lr_grid(info, f"{stem}-lr-grid.png")
    embedded = {}
    for name, path in pictures.items():
        os.chmod(path, _file_mode())  # a temporary file's 0600 made the usual mode
        with open(path, "rb") as file:
            embedded[name] = file.read()
    html = _write_text(f"{stem}.html", render(info, embedded))
    return {"html": html, "pictures": list(pictures.values()), "runs": len(info["runs"]),
            "failed": sum(r["status"] == "failed" for r in info["runs"])}


def _write_text(path: str, text: str) -> str:
    """Write ``text`` (UTF-8) to ``path`` whole: a temporary file beside it, renamed."""
    handle, tmp = tempfile.mkstemp(suffix=".html", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _file_mode() -> int:
    """The mode a new file gets here (0666 less the umask)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask
