"""The ``rnnlab`` command. Thin: the work is done by the library."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sqlite3
import sys
import time

import numpy as np

from rnnlab import __version__
from rnnlab.experiments.bench import GRID as BENCH_GRID
from rnnlab.experiments.bench import format_bench, run_bench
from rnnlab.experiments.demo import run_demo
from rnnlab.experiments.compare import LR_GRID, ROW_KEYS, VARIANTS, compare, format_table, plan
from rnnlab.experiments.gradflow import bar_chart, gradflow_json, gradient_flow, summary_lines
from rnnlab.experiments.plots import plot_compare, plot_gradient_flow, plot_jacobians
from rnnlab.experiments.runner import (CELLS, GATED, CheckpointError, RunConfig, build_model,
                                       check_checkpoints, run_task)
from rnnlab.experiments.store import DEFAULT_PATH, STATUSES, RunStore, format_runs, new_study_id
from rnnlab.explain import ACTIVATION_NAMES, format_trace, to_json, trace
from rnnlab.gradcheck import check_gradients
from rnnlab.io import load_weights
from rnnlab.layers import GRU, LSTM, RNN
from rnnlab.optim import OPTIMIZERS
from rnnlab.tasks import TASKS, FileTask, make_task
from rnnlab.training import TrainingDiverged

KINDS = {"rnn": (RNN, ("tanh", "relu", "sigmoid")), "lstm": (LSTM, ("tanh",)),
         "gru": (GRU, ("tanh",))}
TOLERANCE = 1e-6
DEFAULT_UPDATES = RunConfig.updates  # the budget of train and compare
DATA_EPOCHS = 10  # the budget of train --data, unless --updates or --epochs says otherwise
JSON_EXTRA = ("diverged", "metric_name", "task", "seconds", "budget", "chrono", "grid",
              "per_seed")  # + ROW_KEYS
MAX_SEED = 2**63 - 1  # seeds are stored as SQLite integers
# RunConfig fields -> the options that set them (a failed check names its fields)
FIELD_OPTIONS = {"task": "--task", "data": "--data", "test_data": "--test-data",
                 "cell": "--cell", "optimizer": "--optimizer", "hidden_size": "--hidden",
                 "num_layers": "--layers", "updates": "--updates", "eval_every": "--eval-every",
                 "batch_size": "--batch-size", "epochs": "--epochs", "n_train": "--n-train",
                 "lr": "--lr", "seed": "--seed", "lambda_1": "--lambda1", "chrono": "--chrono",
                 "length": "--length", "tbptt": "--tbptt", "nonlinearity": "--nonlinearity",
                 "forget_bias": "--forget-bias", "clip_norm": "--clip"}
COMPARE_OPTIONS = {**FIELD_OPTIONS, "cell": "--cells", "length": "--lengths", "seed": "--seeds",
                   "lr": "--lr-grid"}


class UsageError(SystemExit):
    """Bad input on the command line: exit code 2 and one line on stderr, printed by
    :func:`main`, before any work. ``str()`` is the line."""

    def __init__(self, message: str):
        super().__init__(2)
        self.message = " ".join(str(message).split())  # one line

    def __str__(self) -> str:
        return self.message


class _Parser(argparse.ArgumentParser):
    """argparse, whose errors are one line (no usage block): ``rnnlab CMD: argument ...``."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} -h)")

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)  # unknown options are named first
        if getattr(parsed, "command", "") is None:
            self.error("a command is needed")
        return parsed


def _refuse(args, option: str, message) -> UsageError:
    """The error for ``option``: ``rnnlab CMD: --option: message``."""
    return UsageError(f"rnnlab {args.command}: {option}: {message}")


def _described(err: BaseException) -> str:
    """An exception's text, with its type unless it is a ValueError, TypeError or OSError
    (whose messages say what was wrong)."""
    text = str(err) or type(err).__name__
    if isinstance(err, (ValueError, TypeError, OSError)):
        return text
    return f"{type(err).__name__}: {text}"


def _gradcheck(args) -> int:
    """Check every backward against central finite differences and print a table."""
    rng = np.random.default_rng(args.seed)
    cells = args.cells
    print(f"Finite-difference check, float64, B={args.batch} T={args.steps} I={args.input} "
          f"H={args.hidden}, layers={args.layers}, bidirectional={args.bidirectional}, "
          f"bias={not args.no_bias}, lengths varying from 1 to T")
    print("Every parameter, x and the initial state are perturbed element by element;")
    print(f"the error is max|analytic - numerical| / max|analytic|, and must be <= {TOLERANCE:g}.")
    print()
    header = f"{'cell':<6}{'f':<9}{'checked':>9}  {'worst array':<22}{'rel. error':>11}  result"
    print(header)
    print("-" * len(header))
    failed = False
    for cell in cells:
        cls, nonlinearities = KINDS[cell]
        for f in nonlinearities:
            kwargs = {"nonlinearity": f} if cell == "rnn" else {}
            layer = cls(args.input, args.hidden, args.layers, bias=not args.no_bias,
                        bidirectional=args.bidirectional, dtype=np.float64,
                        seed=int(rng.integers(2**31)), **kwargs)
            x = rng.standard_normal((args.batch, args.steps, args.input))
            lengths = rng.integers(1, args.steps + 1, size=args.batch)
            lengths[0] = args.steps
            states = [rng.standard_normal((args.layers * layer.num_directions, args.batch,
                                           args.hidden)) for _ in layer.state_names]
            state = tuple(states) if len(states) > 1 else states[0]
            start = time.perf_counter()
            checks = check_gradients(layer, x, lengths, state, seed=args.seed)
            worst = max(checks, key=lambda c: c.relative_error)
            n = sum(int(np.size(v)) for v in layer.parameters().values()) + x.size + sum(
                s.size for s in states)
            ok = worst.relative_error <= TOLERANCE
            failed |= not ok
            print(f"{cell:<6}{f:<9}{n:>9}  {worst.name:<22}{worst.relative_error:>11.1e}  "
                  f"{'ok' if ok else 'FAIL'}  ({time.perf_counter() - start:.1f} s)", flush=True)
    print()
    print("All gradients match." if not failed else "Some gradients do NOT match.")
    return 1 if failed else 0


def _finite_float(text: str) -> float:
    """argparse type: a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _float_list(text: str) -> tuple:
    """argparse type: comma-separated finite numbers, e.g. ``1,-0.5,0.3``."""
    parts = [p.strip() for p in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 1,-0.5,0.3, "
                                         f"got {text!r}")
    return tuple(_finite_float(p) for p in parts)


def _explain(args) -> int:
    """Trace one BPTT step of a scalar RNN, every chain-rule factor shown (a tutorial's
    worked example)."""
    if len(args.y) not in (1, len(args.x)):
        raise _refuse(args, "--y", f"must hold one target per --x value ({len(args.x)}) or a "
                                   f"single one for the last step, got {len(args.y)}")
    try:
        result = trace(args.wx, args.wh, args.wy, xs=args.x, ys=args.y, h0=args.h0, lr=args.lr,
                       activation=args.activation)
    except ValueError as err:  # e.g. values whose loss overflows
        raise _refuse(args, "--wx, --wh, --wy, --x, --y, --h0", err) from None
    print(json.dumps(to_json(result)) if args.json else format_trace(result))
    return 0


def _runs(args) -> int:
    """List the runs recorded in a run store (SQLite), newest first."""
    runs = []
    if os.path.exists(args.db):  # reading never creates the file
        filters = {name: getattr(args, name) for name in ("status", "study", "task", "cell",
                                                           "kind", "limit")}
        try:
            with RunStore(args.db) as store:
                runs = store.runs(**filters)
        except (ValueError, TypeError, OSError, sqlite3.Error) as err:
            raise _refuse(args, "--db", _described(err)) from None
    if args.json:
        print(json.dumps(runs))
    elif not os.path.exists(args.db):
        print(f"No runs yet: {args.db} does not exist.")
    elif not runs:
        print(f"No runs in {args.db} match.")
    else:
        print(format_runs(runs))
        print(f"\n{len(runs)} run(s) in {args.db}, newest first.")
    return 0


def _positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {text!r}")
    return value


def _seed(text: str) -> int:
    """argparse type: an int in [0, 2**63)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an int in [0, 2**63), got {text!r}")
    return value


def _int_list(text: str) -> tuple:
    """argparse type: comma-separated ints >= 0, each once, e.g. ``10,20,50``."""
    try:
        values = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints such as 10,20,50, "
                                         f"got {text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected ints >= 0, got {text!r}")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected each value once, got {text!r}")
    return values


def _names_among(known):
    """argparse type: comma-separated names, each one of ``known``, each once."""
    def parse(text: str) -> tuple:
        names = tuple(p.strip() for p in text.split(","))
        if not all(names) or any(n not in known for n in names):
            raise argparse.ArgumentTypeError(f"expected comma-separated names among "
                                             f"{', '.join(known)}, got {text!r}")
        if len(set(names)) != len(names):
            raise argparse.ArgumentTypeError(f"expected each name once, got {text!r}")
        return names
    return parse


_cells = _names_among(CELLS)  # rnn, lstm, gru
_variants = _names_among(VARIANTS)  # rnn, irnn, lstm, lstm-chrono, gru, gru-chrono


def _chrono(text: str):
    """argparse type: ``auto``, ``off`` or T_max (an int >= 2)."""
    if text in ("auto", "off"):
        return None if text == "off" else "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto, off or an int >= 2, "
                                         f"got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected auto, off or an int >= 2, got {text!r}")
    return value


def _lr_list(text: str) -> tuple:
    """argparse type: comma-separated learning rates > 0, each once."""
    values = tuple(_positive_float(p.strip()) for p in text.split(","))
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected each rate once, got {text!r}")
    return values


def _tbptt(text: str) -> tuple:
    """argparse type: ``k1,k2`` for truncated BPTT (1 <= k1 <= k2)."""
    try:
        values = tuple(int(p) for p in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 2 or min(values) < 1 or values[1] < values[0]:
        raise argparse.ArgumentTypeError(f"expected k1,k2, ints with 1 <= k1 <= k2, "
                                         f"got {text!r}")
    return values


def _shapes(text: str) -> tuple:
    """argparse type: B,I,H,T separated by ``;``, e.g. ``16,8,32,100;1,32,64,1000``."""
    shapes = []
    for part in text.split(";"):
        try:
            values = tuple(int(p) for p in part.split(","))
        except ValueError:
            values = ()
        if len(values) != 4 or min(values) < 1:
            raise argparse.ArgumentTypeError(f"expected B,I,H,T (ints >= 1) separated by ';', "
                                             f"got {part!r}")
        shapes.append(values)
    return tuple(shapes)


# -- checks before any work ----------------------------------------------------------------
def _check_folder(args, option: str, path: str, what: str = "folder") -> None:
    """``path`` is a folder, or can be made one: no file in the way, and its nearest
    existing ancestor is a folder this process may write in."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise _refuse(args, option, f"must be a {what}, got the file {path!r}")
    ancestor = os.path.abspath(path)
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise _refuse(args, option, f"cannot make the {what} {path!r}: {ancestor!r} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise _refuse(args, option, f"cannot write in {ancestor!r} (permission denied)")


def _check_file_target(args, option: str, path: str) -> None:
    """``path`` can be written: not a folder, in an existing folder we may write in."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise _refuse(args, option, f"must name a file, got the folder {path!r}")
    if not os.path.isdir(folder):
        raise _refuse(args, option, f"the folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _refuse(args, option, f"cannot write in {folder!r} (permission denied)")


def _check_pictures(args) -> None:
    """--out can take the PNGs, and Matplotlib is there to draw them (unless --no-plot)."""
    if getattr(args, "no_plot", False):
        return
    _check_folder(args, "--out", args.out)
    if importlib.util.find_spec("matplotlib") is None:
        raise _refuse(args, "--no-plot", 'the pictures need matplotlib: pass --no-plot, or '
                                         'pip install "rnnlab[plot]"')


def _open_store(args) -> RunStore:
    """The run store at --db, opened (created if missing), or a one-line error."""
    _check_file_target(args, "--db", args.db)
    try:
        return RunStore(args.db)
    except (ValueError, TypeError, OSError, sqlite3.Error) as err:
        raise _refuse(args, "--db", _described(err)) from None


def _applies(args, option: str, given: bool, cells, among, what: str) -> None:
    """Refuse ``option`` when it is given but none of ``cells`` is among ``among``."""
    if given and not any(c in among for c in cells):
        raise _refuse(args, option, f"applies to {what} only, and --cell"
                                    f"{'s' if args.command == 'compare' else ''} "
                                    f"has none (got {','.join(cells)})")


def _check_cell_options(args, cells) -> None:
    """Options that only some cells use, given for none of ``cells``."""
    rnn = ("rnn",)
    _applies(args, "--nonlinearity", args.nonlinearity is not None, cells, rnn, "the rnn cell")
    _applies(args, "--lambda1", args.lambda1 is not None, cells, rnn + ("irnn",),
             "the rnn cell")
    _applies(args, "--chrono", args.chrono is not None, cells, GATED + ("lstm-chrono",
                                                                      "gru-chrono"),
             "the gated cells (lstm, gru)")
    if args.forget_bias is not None and args.chrono is not None:
        raise _refuse(args, "--forget-bias", "excludes --chrono, which sets the LSTM's forget "
                                             "gate bias itself")
    _applies(args, "--forget-bias", args.forget_bias is not None, cells, ("lstm",),
             "the lstm cell")


def _check_lengths(args, task: str, lengths, option: str) -> None:
    for length in lengths:
        try:
            make_task(task, length)
        except (TypeError, ValueError) as err:
            raise _refuse(args, option, f"for the {task} task: {err}") from None


def _check_data(args) -> None:
    """--data (and --test-data) read as data files (the reads are cached for the run)."""
    for option, test_path in (("--data", None), ("--test-data", args.test_data)):
        if option == "--test-data" and test_path is None:
            continue
        try:
            FileTask(path=args.data, test_path=test_path)
        except Exception as err:  # noqa: BLE001 - any failure to read a user's file
            raise _refuse(args, option, _described(err)) from None


def _check_training_options(args) -> None:
    """The exclusions among the options train and compare share."""
    if args.clip is not None and args.no_clip:
        raise _refuse(args, "--no-clip", "excludes --clip")
    if args.epochs is not None and args.updates is not None:
        raise _refuse(args, "--epochs", "excludes --updates: the budget is one or the other")
    if args.epochs is not None and args.eval_every is not None:
        raise _refuse(args, "--eval-every", "counts updates, and the budget is in epochs "
                                            "(--epochs, or --data without --updates): "
                                            "validation comes after every epoch")


def _fill_defaults(args, task: str, length: int | None) -> None:
    """The defaults of options whose default is None so that giving them can be told."""
    defaults = {"task": task, "length": length, "clip": 1.0, "eval_every": 100,
                "nonlinearity": "tanh", "forget_bias": 1.0}
    for name, value in defaults.items():
        if hasattr(args, name) and getattr(args, name) is None:
            setattr(args, name, value)


def _run_config(args, options: dict = FIELD_OPTIONS, **fields) -> RunConfig:
    try:
        return RunConfig(task=args.task, hidden_size=args.hidden, num_layers=args.layers,
                         nonlinearity=args.nonlinearity, forget_bias=args.forget_bias,
                         lambda_1=args.lambda1, optimizer=args.optimizer,
                         lr=args.lr if args.lr is not None else LR_GRID[0],
                         updates=args.updates or DEFAULT_UPDATES, eval_every=args.eval_every,
                         epochs=args.epochs,
                         batch_size=args.batch_size, n_train=args.n_train,
                         clip_norm=None if args.no_clip else args.clip, tbptt=args.tbptt,
                         stop_when_solved=not args.keep_going, **fields)
    except (TypeError, ValueError, OSError) as err:
        raise _config_error(args, err, options) from None


def _config_error(args, err: BaseException, options: dict) -> UsageError:
    """A RunConfig check that failed, naming the options of the fields it is about."""
    named = [options[f] for f in getattr(err, "fields", ()) if f in options]
    return _refuse(args, ", ".join(dict.fromkeys(named)) or "options", _described(err))


def _say(args, text: str = "") -> None:
    """Print for people; with --json, to stderr so that stdout holds the JSON alone."""
    print(text, file=sys.stderr if getattr(args, "json", False) else sys.stdout, flush=True)


# -- the commands --------------------------------------------------------------------------
def _gradflow(args) -> int:
    """Measure gradient flow through time for each cell and chart it (the classic
    vanishing-gradient chart)."""
    _check_cell_options(args, args.cell)
    _fill_defaults(args, "adding", 100)
    _check_lengths(args, args.task, (args.length,), "--length")
    _check_pictures(args)
    weights = None
    if args.weights is not None:
        if len(args.cell) != 1:
            raise _refuse(args, "--weights", f"needs exactly one --cell, "
                                              f"got {','.join(args.cell)}")
        try:
            weights = {args.cell[0]: load_weights(args.weights)}
            model = build_model(make_task(args.task, args.length), args.cell[0], args.hidden,
                                nonlinearity=args.nonlinearity, dtype="float64")
            model.load_state_dict(weights[args.cell[0]])  # the shapes fit
        except Exception as err:  # noqa: BLE001 - any failure to read a user's file
            raise _refuse(args, "--weights", f"{args.weights!r}: {_described(err)}") from None
    results = gradient_flow(args.cell, args.length, args.hidden, args.batch, args.seed,
                            args.task, args.nonlinearity, args.lambda1, weights=weights,
                            forget_bias=args.forget_bias, chrono=args.chrono)
    if args.json:
        print(json.dumps([gradflow_json(r) for r in results]))
    else:
        print(f"Gradient flow through time, measured by the hand-written backward (float64): "
              f"{args.task} task, T = {results[0]['t'].size}, loss at the last step only, "
              f"H = {args.hidden}, {args.batch} sequences, initial weights (seed {args.seed}).")
        print("Bars: ||dL/dh_t|| / ||dL/dh_T||, log scale (a full bar is 1, none is < 1e-12).")
        print()
        print(bar_chart(results, args.every))
        print()
        for line in summary_lines(results):
            print(line)
    if not args.no_plot:
        paths = [plot_gradient_flow(results, os.path.join(args.out, "gradflow.png")),
                 plot_jacobians(results, os.path.join(args.out, "jacobian.png"))]
        _say(args, "\nPictures: " + ", ".join(paths))
    return 0


def _check_train(args) -> tuple:
    """Every check of ``rnnlab train``, before any work; return the run's config and what
    it resumes from (see ``check_checkpoints``)."""
    if args.test_data is not None and args.data is None:
        raise UsageError("rnnlab train: --test-data needs --data")
    if args.data is not None:
        for option, given in (("--task", args.task), ("--length", args.length),
                              ("--n-train", args.n_train)):
            if given is not None:
                raise _refuse(args, option, "excludes --data (the file is the task)")
        if args.epochs is None and args.updates is None:
            args.epochs = DATA_EPOCHS
    if args.resume and args.checkpoint_dir is None:
        raise _refuse(args, "--resume", "needs --checkpoint-dir, the folder to resume from")
    _check_training_options(args)
    _check_cell_options(args, (args.cell,))
    _fill_defaults(args, "adding", 50)
    if args.data is None:
        _check_lengths(args, args.task, (args.length,), "--length")
    _check_file_target(args, "--save", args.save)
    if importlib.util.find_spec("safetensors") is None:
        raise _refuse(args, "--save", 'writing weights needs safetensors: '
                                      'pip install "rnnlab[train]"')
    if args.checkpoint_dir is not None:
        _check_folder(args, "--checkpoint-dir", args.checkpoint_dir)
    if args.data is not None:
        _check_data(args)
        args.task = "file"
    config = _run_config(args, cell=args.cell, length=args.length, seed=args.seed,
                         data=args.data, test_data=args.test_data, chrono=args.chrono)
    resumed = None
    if args.checkpoint_dir is not None:
        try:
            resumed = check_checkpoints(config, args.checkpoint_dir, args.resume)
        except CheckpointError as err:
            raise _refuse(args, "--resume" if args.resume else "--checkpoint-dir",
                          err) from None
    return config, resumed


def _train(args) -> int:
    """Train one model on a task or a data file, record the run and save its weights."""
    config, resumed = _check_train(args)
    store = _open_store(args)  # the last check: it creates the file
    if args.resume and resumed is None:
        _say(args, f"No checkpoint in {args.checkpoint_dir} yet: starting from the beginning.")
    elif resumed is not None:
        for path, why in resumed["skipped"]:
            _say(args, f"Skipping {path}, which does not load ({why}).")
        _say(args, f"Resuming from {resumed['path']} ({resumed['updates']} updates, "
                   f"{resumed['epoch']} rounds done).")
    with store:
        try:
            result = run_task(config, store=store, kind="train", progress=not args.json,
                              checkpoint_dir=args.checkpoint_dir, resume=args.resume,
                              save=args.save)
        except CheckpointError as err:  # the folder changed since the check
            raise _refuse(args, "--resume" if args.resume else "--checkpoint-dir",
                          err) from None
        except TrainingDiverged as err:
            run_id = getattr(err, "run_id", None)
            where = f" as run {run_id}" if run_id is not None else ""
            _say(args, f"rnnlab train: diverged: {err}")
            _say(args, f"The run is recorded as failed{where} in {args.db}.")
            if args.json:
                print(json.dumps({"status": "diverged", "error": str(err), "run_id": run_id,
                                  "db": args.db}))
            return 1
    row = {k: v for k, v in result.items() if k not in ("model",)}
    if args.json:
        print(json.dumps(row))
        return 0
    task = config.make_task()
    unit = "epoch" if config.epochs is not None else "updates"
    for r in result["history"]:
        print(f"{unit} {r['epoch' if config.epochs else 'updates']:>5}  train loss "
              f"{r['train_loss']:.4g}  val loss {r['val_loss']:.4g}  val {task.metric_name} "
              f"{r['val_metric']:.4g}  ({r['seconds']:.1f} s)")
    print(f"\n{task.describe()}")
    verdict = "" if math.isnan(task.threshold) else \
        (": solved" if result["solved"] else ": not solved")
    print(f"{config.cell}, H = {config.hidden_size}, {result['params']} parameters: test "
          f"{result['metric_name']} {result['metric']:.4g} ({task.baseline_name} "
          f"{result['baseline']:.4g}){verdict}")
    print(f"Weights: {args.save}; run {result['run_id']} recorded in {args.db}.")
    return 0


def _compare(args) -> int:
    """Train every cell variant at every length with several seeds, the learning rate chosen
    per cell and length on validation data; print the RNN-vs-LSTM table."""
    if args.lr is not None and args.lr_grid is not None:
        raise _refuse(args, "--lr-grid", "excludes --lr (a fixed rate)")
    _check_training_options(args)
    _check_cell_options(args, args.cells)
    _fill_defaults(args, "language", None)
    _check_lengths(args, args.task, args.lengths, "--lengths")
    _check_pictures(args)
    base = _run_config(args, COMPARE_OPTIONS)
    lrs = (args.lr,) if args.lr is not None else (args.lr_grid or LR_GRID)
    try:
        runs = plan(base, args.cells, args.lengths, range(args.seeds), lrs, args.chrono)
    except (TypeError, ValueError) as err:
        if getattr(err, "fields", None):
            raise _config_error(args, err, COMPARE_OPTIONS) from None
        raise _refuse(args, "--cells", err) from None
    with _open_store(args) as store:
        study = new_study_id()
        _say(args, f"Study {study}: {len(runs)} runs ({len(args.cells)} cells x "
                   f"{len(args.lengths)} lengths x {len(lrs)} learning rates x {args.seeds} "
                   f"seeds), each recorded in {args.db} as it finishes.")
        rows = compare(base, args.cells, args.lengths, range(args.seeds), lrs, args.chrono,
                       store=store, study=study, progress=True)
    if args.json:
        print(json.dumps([{k: r[k] for k in ROW_KEYS + JSON_EXTRA} for r in rows]))
    else:
        budget = (f"{base.epochs} epochs of {base.n_train} sequences" if base.epochs else
                  f"{base.updates} updates of {base.batch_size} "
                  + ("fresh sequences" if base.n_train is None
                     else f"sequences from a fixed set of {base.n_train}"))
        lengths = ", ".join(str(n) for n in args.lengths)
        print(format_table(rows, f"{base.make_task().name} task at lengths {lengths}, "
                                 f"{args.seeds} seed(s), H = {base.hidden_size}, at most "
                                 f"{budget}, lr from {', '.join(f'{v:g}' for v in lrs)}"))
    if not args.no_plot:
        path = plot_compare(rows, os.path.join(args.out, f"compare-{args.task}.png"))
        _say(args, f"\nPicture: {path}")
    _say(args, f"Runs: rnnlab runs --db {args.db} --study {study}")
    return 0


def _bench(args) -> int:
    """Time rnnlab's layers against PyTorch's on a grid of shapes (float32, the same run)."""
    if not args.no_torch and importlib.util.find_spec("torch") is None:
        raise _refuse(args, "--no-torch", "PyTorch is not installed: pass --no-torch to time "
                                          "rnnlab alone, or pip install torch")
    try:
        result = run_bench(args.cells, args.grid, args.repeats, torch_too=not args.no_torch,
                           progress=not args.json)
    except ImportError as err:
        raise _refuse(args, "--no-torch", err) from None
    if args.json:
        print(json.dumps(result))
    else:
        print(format_bench(result))
    return 0


def _demo(args) -> int:
    """The worked example, gradient flow RNN vs LSTM, and a small compare (a few minutes)."""
    _check_pictures(args)
    _open_store(args).close()
    run_demo(out=args.out, db=args.db, seed=args.seed)
    return 0


# -- the parser ----------------------------------------------------------------------------
def _add_training_options(p, task="adding", lr=3e-3) -> None:
    """The options every training command shares (see RunConfig for their meaning)."""
    p.add_argument("--task", choices=sorted(TASKS), help=f"the task (default {task})")
    p.add_argument("--hidden", type=_positive_int, default=64, help="hidden units (default 64)")
    p.add_argument("--layers", type=_positive_int, default=1, help="stacked layers (default 1)")
    p.add_argument("--nonlinearity", choices=("tanh", "relu", "sigmoid"),
                   help="the vanilla RNN's f (default tanh)")
    p.add_argument("--forget-bias", type=_finite_float,
                   help="LSTM without chrono: added to the forget gate's bias at init "
                        "(default 1, as Keras)")
    p.add_argument("--chrono", type=_chrono, default=None, metavar="auto|N|off",
                   help="chrono initialization of the LSTM's and GRU's gate biases (Tallec & "
                        "Ollivier 2018) for memories up to N steps; auto: N = the task's "
                        "sequence length (default off)")
    p.add_argument("--lambda1", type=_positive_float,
                   help="rnn: rescale W_hh to this largest singular value at init")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam")
    if lr is None:
        p.add_argument("--lr", type=_positive_float,
                       help="fix the learning rate (default: choose per cell and length on "
                            "the validation set from --lr-grid)")
        p.add_argument("--lr-grid", type=_lr_list,
                       help="learning rates tried per cell and length (default "
                            f"{','.join(f'{v:g}' for v in LR_GRID)})")
    else:
        p.add_argument("--lr", type=_positive_float, default=lr,
                       help=f"learning rate (default {lr:g})")
    p.add_argument("--updates", type=_positive_int,
                   help=f"the budget: updates of one batch each, the same for every run "
                        f"(default {DEFAULT_UPDATES}; with --data, 10 epochs); fewer once two "
                        f"validations in a row count as solved")
    p.add_argument("--eval-every", type=_positive_int,
                   help="validate every this many updates (default 100)")
    p.add_argument("--batch-size", type=_positive_int, default=32,
                   help="sequences per batch (default 32)")
    p.add_argument("--n-train", type=_positive_int,
                   help="train on a fixed set of this many sequences (default: fresh "
                        "sequences for every batch, a stream)")
    p.add_argument("--epochs", type=_positive_int,
                   help="with --n-train or --data: the budget in passes over the training "
                        "set instead of --updates")
    p.add_argument("--clip", type=_positive_float,
                   help="clip the gradient norm to this (default 1)")
    p.add_argument("--no-clip", action="store_true", help="no gradient clipping")
    p.add_argument("--tbptt", type=_tbptt,
                   help="truncated BPTT: k1,k2 with k1 <= k2, for a task with a target at "
                        "every step (copy; default: full BPTT)")
    p.add_argument("--keep-going", action="store_true",
                   help="spend the whole budget, even once the task is solved")
    p.add_argument("--db", default=DEFAULT_PATH, help=f"the run store (default {DEFAULT_PATH})")
    p.add_argument("--json", action="store_true", help="print JSON and nothing else")


RESUME_HELP = (
    "continue the run whose checkpoints are in --checkpoint-dir from the newest one that "
    "loads (from the beginning if there is none yet); the result is bitwise that of a run "
    "never interrupted. The options that shape the run must be the same (only --updates or "
    "--epochs may change; --db, --save and --json are free). The resumed run is recorded in "
    "--db as a new run whose config says resumed_from (the checkpoint and the earlier run) "
    "and whose epochs include the restored ones; runs of the folder left 'running' (killed) "
    "are marked interrupted")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rnnlab",
        description="Recurrent networks with explicit, hand-written Backpropagation Through Time.")
    parser.add_argument("--version", action="version", version=f"rnnlab {__version__}")
    sub = parser.add_subparsers(dest="command")  # required: checked after unknown options
    g = sub.add_parser("gradcheck", help="check every backward pass against finite differences",
                       description=_gradcheck.__doc__)
    g.add_argument("--cells", type=_cells, default=("rnn", "lstm", "gru"),
                   help="comma-separated: rnn, lstm, gru (default all)")
    g.add_argument("--layers", type=_positive_int, default=2, help="stacked layers (default 2)")
    g.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=True,
                   help="check both directions (default on)")
    g.add_argument("--no-bias", action="store_true", help="layers without biases")
    g.add_argument("--batch", type=_positive_int, default=3, help="B (default 3)")
    g.add_argument("--steps", type=_positive_int, default=6, help="T (default 6)")
    g.add_argument("--input", type=_positive_int, default=3, help="I (default 3)")
    g.add_argument("--hidden", type=_positive_int, default=4, help="H (default 4)")
    g.add_argument("--seed", type=_seed, default=0, help="(default 0)")
    g.set_defaults(run=_gradcheck)
    e = sub.add_parser("explain", help="one BPTT step of a scalar RNN, every number shown",
                       description=_explain.__doc__ + " Negative lists need '=': --x=-1,0.5.")
    e.add_argument("--wx", type=_finite_float, default=0.5, help="W_x (default 0.5)")
    e.add_argument("--wh", type=_finite_float, default=0.8, help="W_h (default 0.8)")
    e.add_argument("--wy", type=_finite_float, default=0.3, help="W_y (default 0.3)")
    e.add_argument("--h0", type=_finite_float, default=0.0, help="h_0 (default 0)")
    e.add_argument("--lr", type=_positive_float, default=0.1, help="eta (default 0.1)")
    e.add_argument("--activation", choices=ACTIVATION_NAMES, default="tanh")
    e.add_argument("--x", type=_float_list, default=(1.0,),
                   help="inputs x_1..x_T, comma-separated (default 1)")
    e.add_argument("--y", type=_float_list, default=(0.6,),
                   help="targets: one per step, or one for the last step (default 0.6)")
    e.add_argument("--json", action="store_true",
                   help="print one JSON object, full precision, and nothing else")
    e.set_defaults(run=_explain)
    r = sub.add_parser("runs", help="list the recorded runs (the SQLite run store)",
                       description=_runs.__doc__)
    r.add_argument("--db", default=DEFAULT_PATH, help=f"the store (default {DEFAULT_PATH})")
    r.add_argument("--status", choices=STATUSES)
    r.add_argument("--study", help="only the runs of this study id")
    r.add_argument("--task", help="only the runs of this task")
    r.add_argument("--cell", help="only the runs of this cell (rnn, lstm, gru)")
    r.add_argument("--kind", help="only the runs of this kind (train, compare, ...)")
    r.add_argument("--limit", type=_positive_int, help="at most this many, the newest")
    r.add_argument("--json", action="store_true",
                   help="print one JSON list of the runs and nothing else")
    r.set_defaults(run=_runs)
    f = sub.add_parser("gradflow", help="measure gradient flow through time, step by step",
                       description=_gradflow.__doc__)
    f.add_argument("--cell", type=_cells, default=("rnn", "lstm", "gru"),
                   help="comma-separated: rnn, lstm, gru (default all)")
    f.add_argument("--length", type=_positive_int, help="T (default 100)")
    f.add_argument("--task", choices=sorted(TASKS),
                   help="whose inputs and loss (default adding)")
    f.add_argument("--hidden", type=_positive_int, default=64, help="H (default 64)")
    f.add_argument("--batch", type=_positive_int, default=32, help="sequences (default 32)")
    f.add_argument("--seed", type=_seed, default=0, help="(default 0)")
    f.add_argument("--nonlinearity", choices=("tanh", "relu", "sigmoid"),
                   help="the vanilla RNN's f (default tanh)")
    f.add_argument("--lambda1", type=_positive_float,
                   help="rescale the RNN's W_hh to this largest singular value")
    f.add_argument("--forget-bias", type=_finite_float,
                   help="LSTM: added to the forget gate's bias at init (default 1)")
    f.add_argument("--chrono", type=_chrono, default=None, metavar="auto|N|off",
                   help="LSTM, GRU: chrono initialization for memories up to N steps (auto: "
                        "the task's length; default off)")
    f.add_argument("--weights", help="measure a trained model (rnnlab train --save) of one "
                                     "cell, with the same --task and --hidden")
    f.add_argument("--every", type=_positive_int, default=10, help="chart every k-th step")
    f.add_argument("--out", default="rnnlab-out", help="folder for the PNGs")
    f.add_argument("--no-plot", action="store_true", help="no PNG files")
    f.add_argument("--json", action="store_true", help="print JSON and nothing else")
    f.set_defaults(run=_gradflow)
    t = sub.add_parser("train", help="train one model on a task and record the run",
                       description=_train.__doc__)
    t.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    t.add_argument("--length", type=_positive_int, help="the task's length (default 50)")
    t.add_argument("--seed", type=_seed, default=0, help="(default 0)")
    t.add_argument("--data", metavar="FILE",
                   help="train on a .ts or .npz file instead of --task (split by --seed; "
                        "excludes --task, --length and --n-train)")
    t.add_argument("--test-data", metavar="FILE", help="with --data: a separate test file")
    _add_training_options(t)
    t.add_argument("--save", default="rnnlab-model.safetensors",
                   help="where the weights go, before the run is recorded as finished "
                        "(default rnnlab-model.safetensors)")
    t.add_argument("--checkpoint-dir", metavar="DIR",
                   help="write a checkpoint after every round of --eval-every updates (or "
                        "every epoch), keeping the last two; a folder that holds checkpoints "
                        "already needs --resume")
    t.add_argument("--resume", action="store_true", help=RESUME_HELP)
    t.set_defaults(run=_train)
    c = sub.add_parser("compare", help="RNN vs LSTM vs GRU over lengths and seeds, measured",
                       description=_compare.__doc__)
    c.add_argument("--cells", type=_variants, default=("rnn", "lstm", "gru"),
                   help="comma-separated among rnn (tanh), irnn (ReLU, W_hh = I: Le et al. "
                        "2015), lstm (forget bias 1), lstm-chrono, gru, gru-chrono (chrono "
                        "init with T_max the task's length: Tallec & Ollivier 2018); "
                        "default rnn,lstm,gru")
    c.add_argument("--lengths", type=_int_list, default=(10, 20, 50, 100, 200),
                   help="the task's lengths: T, or N filler words (default 10,20,50,100,200)")
    c.add_argument("--seeds", type=_positive_int, default=3, help="seeds 0..N-1 (default 3)")
    c.add_argument("--out", default="rnnlab-out", help="folder for the PNG")
    c.add_argument("--no-plot", action="store_true", help="no PNG file")
    _add_training_options(c, task="language", lr=None)
    c.set_defaults(run=_compare)
    b = sub.add_parser("bench", help="speed against PyTorch on a grid of shapes",
                       description=_bench.__doc__)
    b.add_argument("--cells", type=_cells, default=("rnn", "lstm", "gru"),
                   help="comma-separated: rnn, lstm, gru (default all)")
    b.add_argument("--grid", type=_shapes, default=BENCH_GRID,
                   help="B,I,H,T;B,I,H,T;... (default: the five shapes of docs/performance.md)")
    b.add_argument("--repeats", type=_positive_int, default=5,
                   help="rounds per configuration, rnnlab and PyTorch taking turns (median; "
                        "default 5)")
    b.add_argument("--no-torch", action="store_true", help="time rnnlab alone")
    b.add_argument("--json", action="store_true", help="print JSON and nothing else")
    b.set_defaults(run=_bench)
    d = sub.add_parser("demo", help="the tour: worked example, gradient flow, RNN vs LSTM",
                       description=_demo.__doc__)
    d.add_argument("--out", default="rnnlab-out", help="folder for the PNGs (rnnlab-out)")
    d.add_argument("--db", default=DEFAULT_PATH, help=f"the run store (default {DEFAULT_PATH})")
    d.add_argument("--seed", type=_seed, default=0, help="(default 0)")
    d.set_defaults(run=_demo)
    return parser


def main(argv=None) -> int:
    """Run the ``rnnlab`` command; bad input exits with code 2 and one line on stderr."""
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except UsageError as err:
        print(err.message, file=sys.stderr, flush=True)
        raise


if __name__ == "__main__":
    sys.exit(main())
