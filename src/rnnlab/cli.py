"""The ``rnnlab`` command. Thin: the work is done by the library."""

from __future__ import annotations

import argparse
import json
import math
import os
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
from rnnlab.experiments.runner import CELLS, RunConfig, run_task
from rnnlab.experiments.store import DEFAULT_PATH, STATUSES, RunStore, format_runs, new_study_id
from rnnlab.explain import ACTIVATION_NAMES, format_trace, to_json, trace
from rnnlab.gradcheck import check_gradients
from rnnlab.io import load_weights, save_weights
from rnnlab.layers import GRU, LSTM, RNN
from rnnlab.optim import OPTIMIZERS
from rnnlab.tasks import TASKS
from rnnlab.training import TrainingDiverged

KINDS = {"rnn": (RNN, ("tanh", "relu", "sigmoid")), "lstm": (LSTM, ("tanh",)),
         "gru": (GRU, ("tanh",))}
TOLERANCE = 1e-6
DEFAULT_UPDATES = RunConfig.updates  # the budget of train and compare
DATA_EPOCHS = 10  # the budget of train --data, unless --updates or --epochs says otherwise
JSON_EXTRA = ("diverged", "metric_name", "task", "seconds", "budget", "chrono", "grid",
              "per_seed")  # + ROW_KEYS


def _gradcheck(args) -> int:
    """Check every backward against central finite differences and print a table."""
    rng = np.random.default_rng(args.seed)
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    for c in cells:
        if c not in KINDS:
            raise SystemExit(f"rnnlab gradcheck: --cells must name rnn, lstm or gru, got {c!r}")
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
        raise SystemExit(f"rnnlab explain: --y must hold one target per --x value "
                         f"({len(args.x)}) or a single one for the last step, got {len(args.y)}")
    try:
        result = trace(args.wx, args.wh, args.wy, xs=args.x, ys=args.y, h0=args.h0, lr=args.lr,
                       activation=args.activation)
    except ValueError as err:
        raise SystemExit(f"rnnlab explain: {err}") from None
    print(json.dumps(to_json(result)) if args.json else format_trace(result))
    return 0


def _runs(args) -> int:
    """List the runs recorded in a run store (SQLite), newest first."""
    if args.limit is not None and args.limit < 1:
        raise SystemExit(f"rnnlab runs: --limit must be >= 1, got {args.limit}")
    runs = []
    if os.path.exists(args.db):  # reading never creates the file
        filters = {name: getattr(args, name) for name in ("status", "study", "task", "cell",
                                                           "kind", "limit")}
        try:
            with RunStore(args.db) as store:
                runs = store.runs(**filters)
        except ValueError as err:
            raise SystemExit(f"rnnlab runs: --db: {err}") from None
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


def _int_list(text: str) -> tuple:
    """argparse type: comma-separated ints >= 0, e.g. ``10,20,50``."""
    try:
        values = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints such as 10,20,50, "
                                         f"got {text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected ints >= 0, got {text!r}")
    return values


def _names_among(known):
    """argparse type: comma-separated names, each one of ``known``."""
    def parse(text: str) -> tuple:
        names = tuple(p.strip() for p in text.split(",") if p.strip())
        if not names or any(n not in known for n in names):
            raise argparse.ArgumentTypeError(f"expected cells among {', '.join(known)}, "
                                             f"got {text!r}")
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
    """argparse type: comma-separated learning rates > 0."""
    return tuple(_positive_float(p.strip()) for p in text.split(","))


def _tbptt(text: str) -> tuple:
    """argparse type: ``k1,k2`` for truncated BPTT."""
    values = _int_list(text)
    if len(values) != 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected k1,k2 (ints >= 1), got {text!r}")
    return values


def _add_training_options(p, task="adding", lr=3e-3) -> None:
    """The options every training command shares (see RunConfig for their meaning)."""
    p.add_argument("--task", choices=sorted(TASKS), default=task)
    p.add_argument("--hidden", type=_positive_int, default=64, help="hidden units (default 64)")
    p.add_argument("--layers", type=_positive_int, default=1, help="stacked layers (default 1)")
    p.add_argument("--nonlinearity", choices=("tanh", "relu", "sigmoid"), default="tanh",
                   help="the vanilla RNN's f (default tanh)")
    p.add_argument("--forget-bias", type=_finite_float, default=1.0,
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
        p.add_argument("--lr-grid", type=_lr_list, default=LR_GRID,
                       help="learning rates tried per cell and length (default "
                            f"{','.join(f'{v:g}' for v in LR_GRID)})")
    else:
        p.add_argument("--lr", type=_positive_float, default=lr,
                       help=f"learning rate (default {lr:g})")
    p.add_argument("--updates", type=_positive_int,
                   help=f"the budget: updates of one batch each, the same for every run "
                        f"(default {DEFAULT_UPDATES}; with --data, 10 epochs); fewer once two "
                        f"validations in a row count as solved")
    p.add_argument("--eval-every", type=_positive_int, default=100,
                   help="validate every this many updates (default 100)")
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--n-train", type=_positive_int,
                   help="train on a fixed set of this many sequences (default: fresh "
                        "sequences for every batch, a stream)")
    p.add_argument("--epochs", type=_positive_int,
                   help="with --n-train or --data: the budget in passes over the training "
                        "set instead of --updates")
    p.add_argument("--clip", type=_positive_float, default=1.0,
                   help="clip the gradient norm to this (default 1)")
    p.add_argument("--no-clip", action="store_true", help="no gradient clipping")
    p.add_argument("--tbptt", type=_tbptt, help="truncated BPTT: k1,k2 (default: full BPTT)")
    p.add_argument("--keep-going", action="store_true",
                   help="spend the whole budget, even once the task is solved")
    p.add_argument("--db", default=DEFAULT_PATH, help=f"the run store (default {DEFAULT_PATH})")
    p.add_argument("--json", action="store_true", help="print JSON and nothing else")


def _run_config(args, **fields) -> RunConfig:
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
        raise SystemExit(f"rnnlab {args.command}: {err}") from None


def _say(args, text: str = "") -> None:
    """Print for people; with --json, to stderr so that stdout holds the JSON alone."""
    print(text, file=sys.stderr if getattr(args, "json", False) else sys.stdout, flush=True)


def _gradflow(args) -> int:
    """Measure gradient flow through time for each cell and chart it (the classic
    vanishing-gradient chart)."""
    weights = None
    if args.weights is not None:
        if len(args.cell) != 1:
            raise SystemExit("rnnlab gradflow: --weights needs exactly one --cell, "
                             f"got {','.join(args.cell)}")
        weights = {args.cell[0]: load_weights(args.weights)}
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


def _train(args) -> int:
    """Train one model on a task or a data file, record the run and save its weights."""
    if args.test_data is not None and args.data is None:
        raise SystemExit("rnnlab train: --test-data needs --data")
    if args.data is not None:
        args.task = "file"
        if args.epochs is None and args.updates is None:
            args.epochs = DATA_EPOCHS
    config = _run_config(args, cell=args.cell, length=args.length, seed=args.seed,
                         data=args.data, test_data=args.test_data, chrono=args.chrono)
    with RunStore(args.db) as store:
        try:
            result = run_task(config, store=store, kind="train", progress=not args.json,
                              checkpoint_dir=args.checkpoint_dir)
        except TrainingDiverged as err:
            _say(args, f"rnnlab train: diverged: {err}")
            _say(args, f"The run is recorded as failed in {args.db}.")
            return 1
    save_weights(args.save, result["model"].state_dict(), {"config": json.dumps(
        config.to_json())})
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
    base = _run_config(args)
    lrs = (args.lr,) if args.lr is not None else args.lr_grid
    try:
        runs = plan(base, args.cells, args.lengths, range(args.seeds), lrs, args.chrono)
    except (TypeError, ValueError) as err:
        raise SystemExit(f"rnnlab compare: {err}") from None
    with RunStore(args.db) as store:
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


def _shapes(text: str) -> tuple:
    """argparse type: B,I,H,T separated by ``;``, e.g. ``16,8,32,100;1,32,64,1000``."""
    shapes = []
    for part in text.split(";"):
        values = _int_list(part) if part.strip() else ()
        if len(values) != 4 or min(values) < 1:
            raise argparse.ArgumentTypeError(f"expected B,I,H,T (ints >= 1) separated by ';', "
                                             f"got {part!r}")
        shapes.append(values)
    return tuple(shapes)


def _bench(args) -> int:
    """Time rnnlab's layers against PyTorch's on a grid of shapes (float32, the same run)."""
    try:
        result = run_bench(args.cells, args.grid, args.repeats, torch_too=not args.no_torch,
                           progress=not args.json)
    except ImportError as err:
        raise SystemExit(f"rnnlab bench: {err}") from None
    if args.json:
        print(json.dumps(result))
    else:
        print(format_bench(result))
    return 0


def _demo(args) -> int:
    """The worked example, gradient flow RNN vs LSTM, and a small compare (a few minutes)."""
    run_demo(out=args.out, db=args.db, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnlab",
        description="Recurrent networks with explicit, hand-written Backpropagation Through Time.")
    parser.add_argument("--version", action="version", version=f"rnnlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("gradcheck", help="check every backward pass against finite differences",
                       description=_gradcheck.__doc__)
    g.add_argument("--cells", default="rnn,lstm,gru", help="comma-separated: rnn, lstm, gru")
    g.add_argument("--layers", type=int, default=2, help="stacked layers (default 2)")
    g.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=True,
                   help="check both directions (default on)")
    g.add_argument("--no-bias", action="store_true", help="layers without biases")
    g.add_argument("--batch", type=int, default=3)
    g.add_argument("--steps", type=int, default=6)
    g.add_argument("--input", type=int, default=3)
    g.add_argument("--hidden", type=int, default=4)
    g.add_argument("--seed", type=int, default=0)
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
    r.add_argument("--limit", type=int, help="at most this many, the newest")
    r.add_argument("--json", action="store_true",
                   help="print one JSON list of the runs and nothing else")
    r.set_defaults(run=_runs)
    f = sub.add_parser("gradflow", help="measure gradient flow through time, step by step",
                       description=_gradflow.__doc__)
    f.add_argument("--cell", type=_cells, default=("rnn", "lstm", "gru"),
                   help="comma-separated: rnn, lstm, gru (default all)")
    f.add_argument("--length", type=_positive_int, default=100, help="T (default 100)")
    f.add_argument("--task", choices=sorted(TASKS), default="adding",
                   help="whose inputs and loss (default adding)")
    f.add_argument("--hidden", type=_positive_int, default=64)
    f.add_argument("--batch", type=_positive_int, default=32)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--nonlinearity", choices=("tanh", "relu", "sigmoid"), default="tanh")
    f.add_argument("--lambda1", type=_positive_float,
                   help="rescale the RNN's W_hh to this largest singular value")
    f.add_argument("--forget-bias", type=_finite_float, default=1.0,
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
    t.add_argument("--length", type=_positive_int, default=50, help="the task's length")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--data", metavar="FILE",
                   help="train on a .ts or .npz file instead of --task (split by --seed; "
                        "--length and --n-train then do nothing)")
    t.add_argument("--test-data", metavar="FILE", help="with --data: a separate test file")
    _add_training_options(t)
    t.add_argument("--save", default="rnnlab-model.safetensors", help="where the weights go")
    t.add_argument("--checkpoint-dir", help="write a checkpoint after every epoch")
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
    b.add_argument("--cells", type=_cells, default=("rnn", "lstm", "gru"))
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
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(run=_demo)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("layers", "batch", "steps", "input", "hidden"):
        if getattr(args, name, 1) < 1:
            raise SystemExit(f"rnnlab {args.command}: --{name} must be >= 1, "
                             f"got {getattr(args, name)}")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
