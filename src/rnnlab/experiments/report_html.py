"""The HTML of a study's report (see :mod:`rnnlab.experiments.report`): one page that
stands alone, its pictures embedded as ``data:`` URIs, its style inline, no script, nothing
fetched (its Content-Security-Policy forbids it), every text from the store escaped."""

from __future__ import annotations

import base64
import html
import json
import math

import rnnlab

CAPTIONS = {
    "metric": "The test metric of each run at its end, against {x}: the line joins the means "
              "of the finished runs, a dot per seed.",
    "updates": "The updates each run took until its validation counted as solved: a dot per "
               "seed; open triangles at the budget for runs that never solved, crosses for "
               "runs that failed.",
    "curves": "The validation metric at each evaluation along training, a line per run "
              "(dashed: the run failed afterwards).",
    "lr_grid": "Each learning rate tried: the mean validation metric of its seeds; the rate "
               "chosen on validation data circled; a cross at the top where runs diverged.",
}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em;
       padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { background: #fff1f0; } tr.other td { background: #fffbe6; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 1em 0; flex: 1 1 32em; max-width: min(100%, 50em); }
img { width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
pre { white-space: pre-wrap; margin: 0; font-size: 0.85em; max-width: 60em; }
code { font-size: 0.9em; } .muted { color: #666; }
"""
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def render(info: dict, pictures: dict) -> str:
    """The page of a study from :func:`rnnlab.experiments.report.load_study`'s ``info``;
    ``pictures`` maps a picture's name (metric, updates, curves, lr_grid) to its PNG bytes."""
    title = f"rnnlab study {info['study']}"
    parts = [f"<h1>{_e(title)}</h1>", _overview(info), _varies(info),
             "<h2>Results</h2>", _results(info), _figures(info, pictures)]
    if info["selections"]:
        parts += ["<h2>Learning-rate grid</h2>", _grid(info)]
    parts += ["<h2>Failures</h2>", _failures(info), "<h2>Every run</h2>", _every_run(info),
              f'<p class="muted">Written by rnnlab {_e(rnnlab.__version__)} '
              f'(<code>rnnlab report {_e(info["study"])}</code>).</p>']
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',  # no request for /favicon.ico
        f"<title>{_e(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
        *parts, "</body>", "</html>", ""])


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _number(value, digits: int = 4) -> str:
    """A number in ``digits`` significant digits; a dash for none (None, NaN)."""
    if isinstance(value, str):  # the store keeps NaN and infinities as strings
        try:
            value = float(value)
        except ValueError:
            return _e(value)
    if value is None:
        return "&ndash;"
    if isinstance(value, float) and not math.isfinite(value):
        return "&ndash;" if math.isnan(value) else _e(value)
    return _e(f"{value:.{digits}g}") if isinstance(value, float) else _e(value)


def _value(value) -> str:
    """A config value as text."""
    if isinstance(value, (dict, list)):
        return _e(json.dumps(value, separators=(", ", ": ")))
    if value is None:
        return "None"
    return _e(f"{value:g}" if isinstance(value, float) else value)


def _table(header: list, rows: list, classes=None) -> str:
    """A table (``header`` None: none); ``rows`` hold cells already as HTML, numbers marked
    by ``("n", html)``; ``classes`` a CSS class per row."""
    lines = ["<table>"]
    if header is not None:
        lines.append("<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header)
                     + "</tr></thead>")
    lines.append("<tbody>")
    for k, row in enumerate(rows):
        css = f' class="{classes[k]}"' if classes and classes[k] else ""
        cells = "".join(f'<td class="n">{c[1]}</td>' if isinstance(c, tuple) else f"<td>{c}</td>"
                        for c in row)
        lines.append(f"<tr{css}>{cells}</tr>")
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines)


def _overview(info: dict) -> str:
    runs = info["runs"]
    counts = {}
    for run in runs:
        counts[run["status"]] = counts.get(run["status"], 0) + 1
    kinds = {}
    for run in runs:
        kinds[run["kind"]] = kinds.get(run["kind"], 0) + 1
    started = min(r["started"] for r in runs)
    ended = max((r["ended"] for r in runs if r["ended"]), default="(still running)")
    versions = sorted({r["code_version"] for r in runs})
    tasks = sorted({str(r["task"]) for r in info["points"] if r["task"]})
    rows = [["study", _e(info["study"])],
            ["runs", _e(", ".join(f"{n} {k}" for k, n in kinds.items()))],
            ["status", _e(", ".join(f"{n} {s}" for s, n in counts.items()))],
            ["task", _e(", ".join(tasks) or "-")],
            ["metric", _e(info["metric_name"])],
            ["recorded", _e(f"{started} to {ended} (UTC)")],
            ["code version", _e(", ".join(versions))]]
    return _table(None, rows)


def _varies(info: dict) -> str:
    parts = ["<h2>What the study varies</h2>"]
    if info["varying"]:
        rows = []
        for field, values in info["varying"].items():
            if field == info["x_field"]:
                role = "horizontal axis"
            elif field == "lr" and info["lr_chosen"]:
                role = f"chosen per series and {info['x_field'] or 'x'} on validation data"
            else:
                role = "series"
            rows.append([f"<code>{_e(field)}</code>", ", ".join(_value(v) for v in values),
                         _e(role)])
        parts.append(_table(["config field", "values", "in this report"], rows))
    else:
        parts.append("<p>Every run has the same config, seeds aside.</p>")
    seeds = sorted({r["seed"] for r in info["points"] if r["seed"] is not None})
    parts.append(f"<p>Seeds: {_e(', '.join(map(str, seeds)) or 'none recorded')}.</p>")
    fixed = [[f"<code>{_e(k)}</code>", _value(v)] for k, v in info["fixed"].items()]
    parts.append("<details><summary>The settings every run shares</summary>"
                 + _table(["config field", "value"], fixed) + "</details>")
    return "\n".join(parts)


def _results(info: dict) -> str:
    if not info["rows"]:
        return "<p>No run of this study has results yet.</p>"
    x = info["x_field"] or "x"
    name = info["metric_name"]
    header = ["series", x, "lr", f"test {name} (mean)", "sd", "baseline", "solved",
              "updates to solve (median)", "finished", "failed", "running or interrupted"]
    rows = []
    for r in info["rows"]:
        steps = (_number(r["updates_to_solve"]) if r["updates_to_solve"] is not None
                 else f"&gt; {_number(r['budget'])}" if math.isfinite(r["budget"])
                 else "&ndash;")
        lrs = ", ".join(_number(v) for v in r["lrs"]) or "&ndash;"
        if info["lr_chosen"] and not r["selected"]:
            lrs += " (none chosen yet)"
        rows.append([_e(r["label"]), ("n", _value(r["x"])), ("n", lrs),
                     ("n", _number(r["metric"])), ("n", _number(r["std"], 2)),
                     ("n", _number(r["baseline"])), ("n", f"{r['solved']}/{r['runs']}"),
                     ("n", steps), ("n", _e(r["finished"])), ("n", _e(r["failed"])),
                     ("n", _e(r["other"]))])
    classes = ["failed" if r["failed"] else "other" if r["other"] else "" for r in info["rows"]]
    note = ("<p>The lr of each row was chosen on the validation set alone; the row's numbers "
            "are that rate's runs. " if info["lr_chosen"] else "<p>")
    note += (f"The mean and spread are over the finished runs; solved counts the runs whose "
             f"test {_e(name)} reached the task's threshold.</p>")
    return _table(header, rows, classes) + "\n" + note


def _figures(info: dict, pictures: dict) -> str:
    parts = []
    for name in ("metric", "updates", "curves", "lr_grid"):
        if name not in pictures:
            continue
        data = base64.b64encode(pictures[name]).decode("ascii")
        caption = CAPTIONS[name].format(x=info["x_field"] or "the runs")
        parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
                     f"<figcaption>{_e(caption)}</figcaption></figure>")
    return '<div class="figures">\n' + "\n".join(parts) + "\n</div>" if parts else ""


def _grid(info: dict) -> str:
    labels = {p["series"]: p["label"] for p in info["points"]}
    x = info["x_field"] or "x"
    rows, classes = [], []
    for selection in info["selections"]:
        group = selection.get("group")
        label = labels[group[0]] if group else selection["config"].get("variant", "?")
        where = group[1] if group else selection["config"].get("length")
        metrics = selection["metrics"] or {}
        winner = metrics.get("winner")
        for entry in metrics.get("grid", []):
            steps = ", ".join("never" if s is None else str(s)
                              for s in entry.get("updates_to_solve", []))
            chosen = winner is not None and entry.get("lr") == winner
            rows.append([_e(label), ("n", _value(where)), ("n", _number(entry.get("lr"))),
                         ("n", _number(entry.get("val_metric"))),
                         ("n", _e(entry.get("val_solved", "-"))), _e(steps),
                         ("n", _e(entry.get("diverged", "-"))), "chosen" if chosen else ""])
            classes.append("failed" if entry.get("diverged") else "")
    header = ["series", x, "lr", f"mean validation {info['metric_name']}", "solved",
              "updates to solve (each seed)", "diverged", ""]
    rule = info["selections"][0]["config"].get("rule")
    note = f"<p>The rule: {_e(rule)}.</p>" if rule else ""
    return _table(header, rows, classes) + "\n" + note


def _failures(info: dict) -> str:
    failed = [r for r in info["points"] if r["status"] in ("failed", "interrupted")]
    if not failed:
        return "<p>No run failed.</p>"
    rows = []
    for run in failed:
        last = run["epochs"][-1] if run["epochs"] else None
        seen = ("&ndash;" if last is None else
                _e(", ".join(f"{k} {_plain(v)}" for k, v in last.items()
                             if k in ("updates", "train_loss", "val_metric"))))
        rows.append([("n", _e(run["id"])), _e(run["label"]), ("n", _value(run["x"])),
                     ("n", _e(run["seed"])), ("n", _number(run["lr"])), _e(run["status"]),
                     f"<pre>{_e(run['error'] or '')}</pre>", seen])
    return _table(["run", "series", info["x_field"] or "x", "seed", "lr", "status", "error",
                   "last evaluation"], rows, ["failed"] * len(rows))


def _plain(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _every_run(info: dict) -> str:
    rows, classes = [], []
    for run in info["points"]:
        m = run["metrics"]
        steps = m.get("updates_to_solve")
        solved = ("yes" if m.get("solved") else "no") if run["status"] == "finished" else "-"
        rows.append([("n", _e(run["id"])), _e(run["kind"]), _e(run["label"]),
                     ("n", _value(run["x"])), ("n", _e(run["seed"])),
                     ("n", _number(run["lr"])), _e(run["status"]),
                     ("n", _number(m.get("metric"))), _e(solved),
                     ("n", "&ndash;" if steps is None else _e(steps)),
                     ("n", _number(m.get("seconds"), 3)),
                     "yes" if run["chosen"] else "no"])
        classes.append("failed" if run["status"] == "failed" else
                       "other" if run["status"] != "finished" else "")
    header = ["run", "kind", "series", info["x_field"] or "x", "seed", "lr", "status",
              f"test {info['metric_name']}", "solved", "updates to solve", "seconds",
              "in the results"]
    return _table(header, rows, classes)
