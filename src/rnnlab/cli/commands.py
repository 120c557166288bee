"""What each ``rnnlab`` command does, once its options have passed their checks: thin
calls into the library, and the printing."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sqlite3
import time

import numpy as np

from rnnlab.cli.checks import (COMPARE_OPTIONS, check_cell_options, check_data, check_data_options,
                               check_distinct_files, check_file_target, check_folder,
                               check_lengths, check_pictures,
                               check_training_options, config_error, described, fill_defaults,
                               open_store, refuse, run_config, say)
from rnnlab.cli.text import text_gradflow
from rnnlab.experiments.attention_plots import plot_attention
from rnnlab.experiments.bench import format_bench, run_bench
from rnnlab.experiments.compare import HIERARCHICAL, LR_GRID, ROW_KEYS, format_table, plan
from rnnlab.experiments.compare import compare as compare_cells
from rnnlab.experiments.demo import run_demo
from rnnlab.experiments.gradflow import chart_and_summary, gradflow_json, gradient_flow
from rnnlab.experiments.plots import plot_compare, plot_gradient_flow, plot_jacobians
from rnnlab.experiments.run_folder import CheckpointError, check_checkpoints
from rnnlab.experiments.runner import build_model, run_model, run_task
from rnnlab.experiments.trained_model import savable
from rnnlab.experiments.records import new_study_id
from rnnlab.experiments.runs_table import format_runs
from rnnlab.experiments.store import RunStore
from rnnlab.explain import format_trace, to_json, trace
from rnnlab.gradcheck import check_gradients, fixed_masks
from rnnlab.io import DiskWriteError, load_weights
from rnnlab.saved_model import check_replaceable, load_model
from rnnlab.layers import GRU, LSTM, RNN, HierarchicalRNN
from rnnlab.tasks import make_task
from rnnlab.training import TrainingDiverged


HIER_CHUNK = 4  # K of gradcheck's hierarchical layer: T = 6 makes a full and a short chunk


def _hierarchical(cell: str):
    """A constructor with the recurrent layers' (input_size, hidden_size, num_layers, ...)
    that builds a HierarchicalRNN of ``cell`` over chunks of HIER_CHUNK steps."""
    def make(input_size, hidden_size, num_layers, **kwargs):
        return HierarchicalRNN(input_size, hidden_size, HIER_CHUNK, cell,
                               num_layers=num_layers, **kwargs)
    return make


# gradcheck's cells: (layer, nonlinearities, keywords); with dropout, in train mode with
# fixed masks (rnnlab.gradcheck.fixed_masks)
LAYER_NORM = {"norm": "layer"}
DROPOUT = {"dropout": 0.3, "recurrent_dropout": 0.3}
KINDS = {"rnn": (RNN, ("tanh", "relu", "sigmoid"), {}), "lstm": (LSTM, ("tanh",), {}),
         "gru": (GRU, ("tanh",), {}),
         "ln-rnn": (RNN, ("tanh", "relu", "sigmoid"), LAYER_NORM),
         "ln-lstm": (LSTM, ("tanh",), LAYER_NORM), "ln-gru": (GRU, ("tanh",), LAYER_NORM),
         "hier-lstm": (_hierarchical("lstm"), ("tanh",), {}),
         "rnn-drop": (RNN, ("tanh",), DROPOUT), "lstm-drop": (LSTM, ("tanh",), DROPOUT),
         "gru-drop": (GRU, ("tanh",), DROPOUT)}
CELL_WIDTH = max(8, 1 + max(len(kind) for kind in KINDS))  # gradcheck's first column
NAME_WIDTH = 28  # its worst array: up to "upper.weight_hh_l1_reverse"


TOLERANCE = 1e-6


JSON_EXTRA = ("diverged", "metric_name", "task", "seconds", "budget", "chrono", "grid",
              "per_seed", "model_params")  # + ROW_KEYS


def gradcheck(args) -> int:
    """Check every backward against central finite differences and print a table."""
    rng = np.random.default_rng(args.seed)
    cells = args.cells
    print(f"Finite-difference check, float64, B={args.batch} T={args.steps} I={args.input} "
          f"H={args.hidden}, layers={args.layers}, bidirectional={args.bidirectional}, "
          f"bias={not args.no_bias}, lengths varying from 1 to T")
    print("Every parameter, x and the initial state are perturbed element by element;")
    print(f"the error is max|analytic - numerical| / max|analytic|, and must be <= {TOLERANCE:g}.")
    print()
    header = (f"{'cell':<{CELL_WIDTH}}{'f':<9}{'checked':>9}  {'worst array':<{NAME_WIDTH}}"
              f"{'rel. error':>11}  result")
    print(header)
    print("-" * len(header))
    failed = False
    for cell in cells:
        cls, nonlinearities, keywords = KINDS[cell]
        for f in nonlinearities:
            kwargs = {"nonlinearity": f, **keywords} if cls is RNN else keywords
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
            with fixed_masks(layer, seed=args.seed):  # dropout's masks, where it has them
                checks = check_gradients(layer, x, lengths, state, seed=args.seed,
                                         training=keywords is DROPOUT)
            worst = max(checks, key=lambda c: c.relative_error)
            n = sum(int(np.size(v)) for v in layer.parameters().values()) + x.size + sum(
                s.size for s in states)
            ok = worst.relative_error <= TOLERANCE
            failed |= not ok
            print(f"{cell:<{CELL_WIDTH}}{f:<9}{n:>9}  {worst.name:<{NAME_WIDTH}}"
                  f"{worst.relative_error:>11.1e}  {'ok' if ok else 'FAIL'}  "
                  f"({time.perf_counter() - start:.1f} s)", flush=True)
    print()
    print("All gradients match." if not failed else "Some gradients do NOT match.")
    return 1 if failed else 0


def explain(args) -> int:
    """Trace one BPTT step of a scalar RNN, every chain-rule factor shown (a tutorial's
    worked example)."""
    if len(args.y) not in (1, len(args.x)):
        raise refuse(args, "--y", f"must hold one target per --x value ({len(args.x)}) or a "
                                   f"single one for the last step, got {len(args.y)}")
    try:
        result = trace(args.wx, args.wh, args.wy, xs=args.x, ys=args.y, h0=args.h0, lr=args.lr,
                       activation=args.activation)
    except ValueError as err:  # e.g. values whose loss overflows
        raise refuse(args, "--wx, --wh, --wy, --x, --y, --h0", err) from None
    print(json.dumps(to_json(result)) if args.json else format_trace(result))
    return 0


def runs(args) -> int:
    """List the runs recorded in a run store (SQLite), newest first."""
    found = []
    if os.path.exists(args.db):  # reading never creates the file
        filters = {name: getattr(args, name) for name in ("status", "study", "task", "cell",
                                                           "kind", "limit")}
        try:
            with RunStore(args.db) as store:
                found = store.runs(**filters)
        except (ValueError, TypeError, OSError, sqlite3.Error) as err:
            raise refuse(args, "--db", described(err)) from None
    if args.json:
        print(json.dumps(found))
    elif not os.path.exists(args.db):
        print(f"No runs yet: {args.db} does not exist.")
    elif not found:
        print(f"No runs in {args.db} match.")
    else:
        print(format_runs(found))
        print(f"\n{len(found)} run(s) in {args.db}, newest first.")
    return 0


def gradflow(args) -> int:
    """Measure gradient flow through time for each cell and chart it (the classic
    vanishing-gradient chart); or through a trained character model on real text."""
    if args.text_model is not None:
        return text_gradflow(args)
    for option, value in (("--text", args.text), ("--warmup", args.warmup)):
        if value is not None:
            raise refuse(args, option, "applies with --text-model only")
    if args.weights is not None:
        for option, value in (("--forget-bias", args.forget_bias), ("--chrono", args.chrono)):
            if value is not None:
                raise refuse(args, option, "sets the initialization, and --weights replace it "
                                           "(a trained model is measured as it is)")
    args.cell = args.cell or ("rnn", "lstm", "gru")
    args.hidden = args.hidden or 64
    check_cell_options(args, args.cell)
    fill_defaults(args, "adding", 100)
    check_lengths(args, args.task, (args.length,), "--length")
    check_pictures(args)
    weights = None
    if args.weights is not None:
        if len(args.cell) != 1:
            raise refuse(args, "--weights", f"needs exactly one --cell, "
                                              f"got {','.join(args.cell)}")
        try:
            weights = {args.cell[0]: (load_model(args.weights)[0].state_dict()
                                      if os.path.isdir(args.weights)
                                      else load_weights(args.weights))}
            model = build_model(make_task(args.task, args.length), args.cell[0], args.hidden,
                                nonlinearity=args.nonlinearity, dtype="float64")
            model.load_state_dict(weights[args.cell[0]])  # the shapes fit
        except Exception as err:  # noqa: BLE001 - any failure to read a user's file
            raise refuse(args, "--weights", f"{args.weights!r}: {described(err)}") from None
    results = gradient_flow(args.cell, args.length, args.hidden, args.batch, args.seed,
                            args.task, args.nonlinearity, args.lambda1, weights=weights,
                            forget_bias=args.forget_bias, chrono=args.chrono)
    if args.json:
        print(json.dumps([gradflow_json(r) for r in results]))
    else:
        print(f"Gradient flow through time, measured by the hand-written backward (float64): "
              f"{args.task} task, T = {results[0]['t'].size}, loss at the last step only, "
              f"H = {args.hidden}, {args.batch} sequences, initial weights (seed {args.seed}).")
        print(chart_and_summary(results, args.every))
    if not args.no_plot:
        paths = [plot_gradient_flow(results, os.path.join(args.out, "gradflow.png")),
                 plot_jacobians(results, os.path.join(args.out, "jacobian.png"))]
        say(args, "\nPictures: " + ", ".join(paths))
    return 0


DEFAULT_SAVE = "rnnlab-model"  # rnnlab train's --save


def check_train(args) -> tuple:
    """Every check of ``rnnlab train``, before any work; return the run's config and what
    it resumes from (see ``check_checkpoints``)."""
    check_data_options(args)
    if args.resume and args.checkpoint_dir is None:
        raise refuse(args, "--resume", "needs --checkpoint-dir, the folder to resume from")
    check_training_options(args)
    check_cell_options(args, (args.cell,))
    fill_defaults(args, "adding", 50)
    if args.data is None:
        check_lengths(args, args.task, (args.length,), "--length")
    explicit_save = args.save is not None
    args.save = args.save if explicit_save else DEFAULT_SAVE
    check_folder(args, "--save", args.save, "model folder")
    try:
        check_replaceable(args.save)
    except ValueError as err:
        raise refuse(args, "--save", err) from None
    check_file_target(args, "--db", args.db)
    check_distinct_files(args, (("--db", args.db), ("--save", args.save)))
    if importlib.util.find_spec("safetensors") is None:
        raise refuse(args, "--save", 'writing the model needs safetensors: '
                                      'pip install "rnnlab[train]"')
    if args.checkpoint_dir is not None:
        check_folder(args, "--checkpoint-dir", args.checkpoint_dir)
    if args.data is not None:
        check_data(args)
        args.task = "file"
    config = run_config(args, cell=args.cell, length=args.length, seed=args.seed,
                         data=args.data, test_data=args.test_data, layout=args.layout,
                         chrono=args.chrono, norm=args.norm, chunk=args.chunk,
                         attention=args.attention)
    if args.plot_attention is not None:
        if config.attention is None:
            raise refuse(args, "--plot-attention", "needs a model with attention: pass "
                                                   "--attention additive (or dot)")
        if args.data is not None:
            raise refuse(args, "--plot-attention", "draws fresh sequences of a task; it does "
                                                   "not apply with --data")
        check_folder(args, "--plot-attention", args.plot_attention)
        if importlib.util.find_spec("matplotlib") is None:
            raise refuse(args, "--plot-attention", 'the picture needs matplotlib: pip install '
                                                   '"rnnlab[plot]"')
    why = savable(run_model(config, config.make_task()))
    if why is not None and explicit_save:
        raise refuse(args, "--save", f"this model cannot be saved as a model folder yet: {why}")
    if why is not None:  # the default: train, and say the model is not kept
        args.save = None
        say(args, f"Note: this model is not saved (it cannot be saved as a model folder yet: "
                  f"{why.split(', got ')[-1]}).")
    resumed = None
    if args.checkpoint_dir is not None:
        try:
            resumed = check_checkpoints(config, args.checkpoint_dir, args.resume)
        except CheckpointError as err:
            raise refuse(args, "--resume" if args.resume else "--checkpoint-dir",
                          err) from None
    return config, resumed


def train(args) -> int:
    """Train one model on a task or a data file, record the run and save its weights."""
    config, resumed = check_train(args)
    store = open_store(args)  # the last check: it creates the file
    if args.resume and resumed is None:
        say(args, f"No checkpoint in {args.checkpoint_dir} yet: starting from the beginning.")
    elif resumed is not None:
        for path, why in resumed["skipped"]:
            say(args, f"Skipping {path}, which does not load ({why}).")
        say(args, f"Resuming from {resumed['path']} ({resumed['updates']} updates, "
                   f"{resumed['epoch']} rounds done).")
    with store:
        try:
            result = run_task(config, store=store, kind="train", progress=not args.json,
                              checkpoint_dir=args.checkpoint_dir, resume=args.resume,
                              save=args.save)
        except CheckpointError as err:  # the folder changed since the check
            raise refuse(args, "--resume" if args.resume else "--checkpoint-dir",
                          err) from None
        except (TrainingDiverged, DiskWriteError) as err:  # the run is recorded as failed
            return _failed(args, err)
    row = {k: v for k, v in result.items() if k not in ("model",)}
    if args.plot_attention is not None:
        row["attention_picture"] = plot_attention(
            result["model"], config.make_task(),
            os.path.join(args.plot_attention, f"attention-{config.task}.png"), config.seed)
    if args.json:
        print(json.dumps(row))
        return 0
    task = config.make_task()
    unit = "epoch" if config.epochs is not None else "updates"
    for r in result["history"]:
        print(f"{unit} {r['epoch' if config.epochs else 'updates']:>5}  train loss "
              f"{r['train_loss']:.4g}  val loss {r['val_loss']:.4g}  val {task.metric_name} "
              f"{r['val_metric']:.4g}  ({r['seconds']:.1f} s)")
    if config.patience is not None:
        print(f"\n{'Stopped early' if result['stopped_early'] else 'Budget spent'}: the "
              f"weights of {unit} {_round(config, result['history'], result['best_epoch'])} "
              f"(the best validation loss, {result['val_loss']:.4g}) restored.")
    print(f"\n{task.describe()}")
    verdict = "" if math.isnan(task.threshold) else \
        (": solved" if result["solved"] else ": not solved")
    print(f"{_model_name(config)}, H = {config.hidden_size}, {result['model_params']} parameters: "
          f"test {result['metric_name']} {result['metric']:.4g} ({task.baseline_name} "
          f"{result['baseline']:.4g}){verdict}")
    if args.plot_attention is not None:
        print(f"Attention: {row['attention_picture']}")
    saved = (f"Model: {args.save}/ (rnnlab predict {args.save} DATA)" if args.save
             else "Model: not saved")
    print(f"{saved}; run {result['run_id']} recorded in {args.db}.")
    return 0


def _round(config, history, epoch: int) -> int:
    """How ``train`` names the validation after round ``epoch``: the epoch, or the updates
    done by then."""
    record = next(r for r in history if r["epoch"] == epoch)
    return record["epoch"] if config.epochs else record["updates"]


def _failed(args, err) -> int:
    """A run that diverged, or whose weights could not be written (the disk filled, the
    folder went away), is recorded as failed: say so, exit code 1."""
    run_id = getattr(err, "run_id", None)
    status = "diverged" if isinstance(err, TrainingDiverged) else "not saved"
    where = f" as run {run_id}" if run_id is not None else ""
    say(args, f"rnnlab train: {status}: {err}")
    say(args, f"The run is recorded as failed{where} in {args.db}.")
    if args.json:
        print(json.dumps({"status": status.replace(" ", "-"), "error": str(err),
                          "run_id": run_id, "db": args.db}))
    return 1


def _model_name(config) -> str:
    """The cell, with its normalization, hierarchy and dropout: "lstm", "layer-normalized
    lstm", "hierarchical gru (chunks of 10 steps)", "lstm, recurrent dropout 0.25"."""
    name = config.cell if config.norm is None else f"{config.norm}-normalized {config.cell}"
    if config.chunk is not None:
        name = f"hierarchical {name} (chunks of {config.chunk} steps)"
    if config.cell == "transformer":
        name += f" ({config.heads} heads)"
    if config.attention is not None:
        name += f", {config.attention} attention"
    if config.dropout:
        name += f", dropout {config.dropout:g}"
    if config.recurrent_dropout:
        name += f", recurrent dropout {config.recurrent_dropout:g}"
    return name


def compare(args) -> int:
    """Train every cell variant at every length with several seeds, the learning rate chosen
    per cell and length on validation data; print the RNN-vs-LSTM table."""
    if args.lr is not None and args.lr_grid is not None:
        raise refuse(args, "--lr-grid", "excludes --lr (a fixed rate)")
    check_training_options(args)
    check_cell_options(args, args.cells)
    if args.chunk is not None and not set(args.cells) & set(HIERARCHICAL):
        raise refuse(args, "--chunk", f"applies to the hierarchical variants "
                                       f"({', '.join(HIERARCHICAL)}) only, and --cells has "
                                       f"none (got {','.join(args.cells)})")
    fill_defaults(args, "language", None)
    check_lengths(args, args.task, args.lengths, "--lengths")
    check_pictures(args)
    if (args.workers or 1) > 1 and importlib.util.find_spec("distributed") is None:
        raise refuse(args, "--workers", 'parallel runs need Dask: pip install "rnnlab[sweep]"')
    base = run_config(args, COMPARE_OPTIONS)
    lrs = (args.lr,) if args.lr is not None else (args.lr_grid or LR_GRID)
    try:
        planned = plan(base, args.cells, args.lengths, range(args.seeds), lrs, args.chrono,
                       args.chunk)
    except (TypeError, ValueError) as err:
        if getattr(err, "fields", None):
            raise config_error(args, err, COMPARE_OPTIONS) from None
        raise refuse(args, "--cells", err) from None
    with open_store(args) as store:
        study = new_study_id()
        say(args, f"Study {study}: {len(planned)} runs ({len(args.cells)} cells x "
                   f"{len(args.lengths)} lengths x {len(lrs)} learning rates x {args.seeds} "
                   f"seeds), each recorded in {args.db} as it finishes.")
        rows = compare_cells(base, args.cells, args.lengths, range(args.seeds), lrs, args.chrono,
                             store=store, study=study, progress=True, chunk=args.chunk,
                             workers=args.workers)
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
        say(args, f"\nPicture: {path}")
    say(args, f"Runs: rnnlab runs --db {args.db} --study {study}")
    return 0


def bench(args) -> int:
    """Time rnnlab's layers against PyTorch's on a grid of shapes (float32 or float64, the
    same run): the training forward, the inference forward (rnnlab.no_grad) and
    forward+backward."""
    if not args.no_torch and importlib.util.find_spec("torch") is None:
        raise refuse(args, "--no-torch", "PyTorch is not installed: pass --no-torch to time "
                                          "rnnlab alone, or pip install torch")
    try:
        result = run_bench(args.cells, args.grid, args.repeats, torch_too=not args.no_torch,
                           progress=not args.json, dtype=args.dtype)
    except ImportError as err:
        raise refuse(args, "--no-torch", err) from None
    if args.json:
        print(json.dumps(result))
    else:
        print(format_bench(result))
    return 0


def demo(args) -> int:
    """The worked example, gradient flow RNN vs LSTM, and a small compare (a few minutes)."""
    check_pictures(args)
    open_store(args).close()
    run_demo(out=args.out, db=args.db, seed=args.seed)
    return 0
