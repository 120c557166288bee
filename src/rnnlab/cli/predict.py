"""``rnnlab predict MODEL DATA``: apply a saved model to the sequences of a file."""

from __future__ import annotations

import json
import os

import numpy as np

from rnnlab.cli.checks import described, refuse, say
from rnnlab.data_files import INPUT_FILE_TYPES, read_input_file


def add_parser(sub) -> None:
    """``rnnlab predict`` and its options."""
    p = sub.add_parser("predict", help="apply a saved model to the sequences of a file",
                       description=predict.__doc__)
    p.add_argument("model", metavar="MODEL",
                   help="a saved model folder: what rnnlab train --save wrote, or an "
                        "estimator's save(path)")
    p.add_argument("data", metavar="DATA",
                   help=f"the sequences: a {', '.join(INPUT_FILE_TYPES)} file (.csv: one "
                        f"univariate sequence a row); targets in the file, if any, are "
                        f"used only to report the accuracy or error")
    p.add_argument("--proba", action="store_true",
                   help="print each class's probability beside the prediction (a model of "
                        "classes, one per sequence)")
    p.add_argument("--layout", choices=("NTF", "NCT"),
                   help="how a .npz file's 3-D x is laid out: (N, T, F), or aeon's and "
                        "sktime's (N, C, T); default NTF, refusing an x with fewer steps than "
                        "features until this says which")
    p.add_argument("--json", action="store_true", help="print JSON and nothing else")
    p.set_defaults(run=predict)


def predict(args) -> int:
    """Print the predictions of a saved model for each sequence of a data file (a class, or
    values; with --proba the probability of every class), and the accuracy or mean squared
    error when the file holds targets. Every file is checked before any work."""
    from rnnlab.serving import load_predictor  # imports the estimators: only when used

    try:
        predictor = load_predictor(args.model)
    except (ValueError, OSError) as err:
        raise refuse(args, "MODEL", described(err)) from None
    try:
        X, y = read_input_file(args.data, "DATA", args.layout)
    except (ValueError, OSError) as err:
        raise refuse(args, "DATA", described(err)) from None
    if args.proba and predictor.classes is None:
        raise refuse(args, "--proba", f"{args.model!r} predicts values, not classes")
    if args.proba and predictor.per_step:
        raise refuse(args, "--proba", f"{args.model!r} predicts a class per step")
    try:
        predicted = predictor.predict(X)
        proba = predictor.predict_proba(X) if args.proba else None
    except ValueError as err:  # the file's sequences do not fit the model
        raise refuse(args, "DATA", described(err)) from None
    row = {"model": args.model, "data": args.data, "n": len(X),
           "classes": None if predictor.classes is None else predictor.classes.tolist(),
           "predictions": _plain(predicted)}
    if proba is not None:
        row["probabilities"] = proba.tolist()
    row.update(_score(predictor, predicted, y))
    if args.json:
        print(json.dumps(row))
        return 0
    if proba is not None:
        print("prediction  " + "  ".join(f"p({c})" for c in row["classes"]))
    for k, value in enumerate(row["predictions"]):
        line = _text(value)
        if proba is not None:
            line = f"{line:<10}  " + "  ".join(f"{p:.4f}" for p in row["probabilities"][k])
        print(line)
    for name in ("accuracy", "mse"):
        if name in row:
            say(args, f"{name} on the {row['n']} sequences of {os.path.basename(args.data)}: "
                      f"{row[name]:.4g}")
    return 0


def _plain(values) -> list:
    """Predictions as JSON values: labels, numbers, or per-step lists of them."""
    if isinstance(values, list):
        return [np.asarray(v).tolist() for v in values]
    return np.asarray(values).tolist()


def _text(value) -> str:
    if isinstance(value, list):
        return " ".join(_text(v) for v in value)
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _score(predictor, predicted, y) -> dict:
    """The accuracy (classes) or mean squared error (values) against the file's targets,
    where it has targets of the kind the model predicts, one per sequence."""
    if y is None or predictor.per_step:
        return {}
    if predictor.classes is not None:
        if y.dtype.kind == "f" or y.ndim != 1:
            return {}
        # as text: a .ts file's labels are strings even where the model's classes are ints
        return {"accuracy": float(np.mean(np.asarray(predicted).astype(str) == y.astype(str)))}
    truth = np.asarray(y, dtype=np.float64).reshape(np.shape(predicted)) \
        if np.size(y) == np.size(predicted) and y.dtype.kind in "iuf" else None
    return {} if truth is None else {"mse": float(np.mean((np.asarray(predicted) - truth) ** 2))}
