"""``rnnlab report``: a study's HTML page and pictures, from the run store."""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3

from rnnlab.cli.checks import check_folder, described, refuse, say
from rnnlab.experiments.report import write_report
from rnnlab.experiments.store import DEFAULT_PATH, RunStore

SHOWN_STUDIES = 5  # the newest studies an unknown study's error names


def add_parser(sub) -> None:
    """``rnnlab report`` and its options."""
    p = sub.add_parser("report", help="a study's results as one HTML page and PNG pictures",
                       description=report.__doc__)
    p.add_argument("study", metavar="STUDY",
                   help="the study: the id that rnnlab compare prints, or a sweep's name "
                        "(rnnlab runs lists each run's study)")
    p.add_argument("--db", default=DEFAULT_PATH,
                   help=f"the run store to read (default {DEFAULT_PATH})")
    p.add_argument("--out", default="rnnlab-out",
                   help="folder for the page (report-STUDY.html) and its pictures "
                        "(report-STUDY-*.png); default rnnlab-out")
    p.add_argument("--json", action="store_true",
                   help="print the paths written, as JSON, and nothing else")
    p.set_defaults(run=report)


def report(args) -> int:
    """Write a study's report: one self-contained HTML page (the results per cell and
    length, the learning-rate grid, the failures with their errors, every run; the pictures
    embedded, no script, nothing fetched) and the pictures as PNG files beside it."""
    if not os.path.exists(args.db):  # reading never creates the file
        raise refuse(args, "--db", f"no run store at {args.db!r} (the file does not exist)")
    check_folder(args, "--out", args.out)
    if importlib.util.find_spec("matplotlib") is None:
        raise refuse(args, "--out", 'the pictures need matplotlib: pip install "rnnlab[plot]"')
    try:
        store = RunStore(args.db)
    except (ValueError, TypeError, OSError, sqlite3.Error) as err:
        raise refuse(args, "--db", described(err)) from None
    with store:
        if not store.runs(study=args.study, limit=1):
            raise refuse(args, "STUDY", _unknown(store, args.study, args.db))
        written = write_report(store, args.study, args.out)
    if args.json:
        print(json.dumps(written))
    else:
        say(args, f"Report of study {args.study} ({written['runs']} runs, {written['failed']} "
                  f"failed): {written['html']}")
        say(args, "Pictures: " + ", ".join(written["pictures"]))
    return 0


def _unknown(store: RunStore, study: str, db: str) -> str:
    """Why ``study`` cannot be reported: the store holds no run of it; the newest studies
    it does hold."""
    studies = list(dict.fromkeys(r["study"] for r in store.runs() if r["study"] is not None))
    if not studies:
        return f"no study {study!r} in {db!r}, which holds no study"
    shown = ", ".join(studies[:SHOWN_STUDIES]) + (", ..." if len(studies) > SHOWN_STUDIES
                                                   else "")
    return f"no study {study!r} in {db!r} (its newest: {shown}; rnnlab runs lists them)"
