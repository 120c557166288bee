"""The command line's checks, run before any work: one line on stderr and exit code 2
(:class:`UsageError`) naming the option, for every option and combination that cannot run."""

from __future__ import annotations

import importlib.util
import os
import sys

import sqlite3

from rnnlab.experiments.compare import LR_GRID, VARIANTS
from rnnlab.experiments.models import DEFAULT_HEADS
from rnnlab.experiments.runner import GATED, RunConfig
from rnnlab.experiments.store import RunStore
from rnnlab.tasks import FileTask, make_task


DEFAULT_UPDATES = RunConfig.updates  # the budget of train and compare


DATA_EPOCHS = 10  # the budget of train --data, unless --updates or --epochs says otherwise


DEFAULT_OUT = "rnnlab-out"  # the pictures' folder (--out) of gradflow and compare


# The command line adds 1 to the LSTM's forget-gate bias at init (Jozefowicz et al. 2015),
# as RunConfig does; the rnnlab.LSTM layer, like torch.nn.LSTM, adds nothing unless asked.
FORGET_BIAS_HELP = ("LSTM without chrono: added to the forget gate's bias at init; default 1 "
                    "on the command line (Gers et al. 2000; Jozefowicz et al. 2015), while "
                    "the rnnlab.LSTM layer, like torch.nn.LSTM, adds 0 unless given "
                    "forget_bias=")


# RunConfig fields -> the options that set them (a failed check names its fields)
FIELD_OPTIONS = {"task": "--task", "data": "--data", "test_data": "--test-data",
                 "layout": "--layout",
                 "cell": "--cell", "optimizer": "--optimizer", "hidden_size": "--hidden",
                 "num_layers": "--layers", "updates": "--updates", "eval_every": "--eval-every",
                 "batch_size": "--batch-size", "epochs": "--epochs", "n_train": "--n-train",
                 "lr": "--lr", "seed": "--seed", "lambda_1": "--lambda1", "chrono": "--chrono",
                 "length": "--length", "tbptt": "--tbptt", "nonlinearity": "--nonlinearity",
                 "forget_bias": "--forget-bias", "clip_norm": "--clip", "norm": "--norm",
                 "chunk": "--chunk", "dropout": "--dropout",
                 "recurrent_dropout": "--recurrent-dropout", "attention": "--attention",
                 "heads": "--heads", "patience": "--patience"}


COMPARE_OPTIONS = {**FIELD_OPTIONS, "cell": "--cells", "length": "--lengths", "seed": "--seeds",
                   "lr": "--lr-grid", "norm": "--cells", "chunk": "--cells",
                   "attention": "--cells"}


def _variants_of(cells) -> tuple:
    """The compare variants whose cell is among ``cells``, and ``cells`` themselves."""
    return tuple(cells) + tuple(v for v, fields in VARIANTS.items() if fields["cell"] in cells)


class UsageError(SystemExit):
    """Bad input on the command line: exit code 2 and one line on stderr, printed by
    :func:`main`, before any work. ``str()`` is the line."""

    def __init__(self, message: str):
        super().__init__(2)
        self.message = " ".join(str(message).split())  # one line

    def __str__(self) -> str:
        return self.message


def refuse(args, option: str, message) -> UsageError:
    """The error for ``option``: ``rnnlab CMD: --option: message``."""
    return UsageError(f"rnnlab {args.command}: {option}: {message}")


def described(err: BaseException) -> str:
    """An exception's text, with its type unless it is a ValueError, TypeError or OSError
    (whose messages say what was wrong)."""
    text = str(err) or type(err).__name__
    if isinstance(err, (ValueError, TypeError, OSError)):
        return text
    return f"{type(err).__name__}: {text}"


def _nearest_existing(path: str) -> str:
    """``path`` made absolute, or its nearest ancestor that exists."""
    ancestor = os.path.abspath(path)
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    return ancestor


def check_folder(args, option: str, path: str, what: str = "folder") -> None:
    """``path`` is a folder, or can be made one: no file in the way, and its nearest
    existing ancestor is a folder this process may write in."""
    if not path:
        raise refuse(args, option, f"must name a {what}, got ''")
    if os.path.exists(path) and not os.path.isdir(path):
        raise refuse(args, option, f"must be a {what}, got the file {path!r}")
    ancestor = _nearest_existing(path)
    if not os.path.isdir(ancestor):
        raise refuse(args, option, f"cannot make the {what} {path!r}: {ancestor!r} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise refuse(args, option, f"cannot write in {ancestor!r} (permission denied)")


def check_file_target(args, option: str, path: str) -> None:
    """``path`` can be written as a file: a file's name (not empty, not a folder, not ending
    in a separator), in an existing folder this process may write in."""
    if not path or path.endswith(("/", os.sep)) or os.path.isdir(path):
        got = f"the folder {path!r}" if path and os.path.isdir(path) else repr(path)
        raise refuse(args, option, f"must name a file, got {got}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        ancestor = _nearest_existing(folder)
        if not os.path.isdir(ancestor):
            raise refuse(args, option, f"cannot write {path!r}: {ancestor!r} is a file, "
                                        f"not a folder")
        raise refuse(args, option, f"the folder {folder!r} does not exist (make it first)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise refuse(args, option, f"cannot write in {folder!r} (permission denied)")


def check_distinct_files(args, targets) -> None:
    """No two of ``targets``, ``(option, path)`` pairs that will each be written as a file,
    name the same file (``--save`` onto ``--db`` would replace the run store)."""
    seen = {}
    for option, path in targets:
        if path is None:
            continue
        real = os.path.realpath(path)
        if real in seen:
            raise refuse(args, option, f"names the same file as {seen[real]} ({path!r}); "
                                        f"one would overwrite the other")
        seen[real] = option


def check_data_options(args) -> None:
    """--test-data needs --data; --data excludes --task, --length and --n-train (the file is
    the task) and sets the budget to DATA_EPOCHS epochs unless --updates or --epochs does."""
    if args.test_data is not None and args.data is None:
        raise refuse(args, "--test-data", "needs --data")
    if getattr(args, "layout", None) is not None and args.data is None:
        raise refuse(args, "--layout", "says how a --data file is laid out: needs --data")
    if args.data is not None:
        for option, given in (("--task", args.task), ("--length", args.length),
                              ("--n-train", args.n_train)):
            if given is not None:
                raise refuse(args, option, "excludes --data (the file is the task)")
        if args.epochs is None and args.updates is None:
            args.epochs = DATA_EPOCHS


def check_pictures(args) -> None:
    """--out can take the PNGs, and Matplotlib is there to draw them (unless --no-plot,
    which excludes --out); --out is filled with its default."""
    if getattr(args, "no_plot", False):
        if args.out is not None:
            raise refuse(args, "--out", "excludes --no-plot (no picture is drawn)")
        return
    if args.out is None:
        args.out = DEFAULT_OUT
    check_folder(args, "--out", args.out)
    if importlib.util.find_spec("matplotlib") is None:
        raise refuse(args, "--no-plot", 'the pictures need matplotlib: pass --no-plot, or '
                                         'pip install "rnnlab[plot]"')


def open_store(args) -> RunStore:
    """The run store at --db, opened (created if missing), or a one-line error."""
    check_file_target(args, "--db", args.db)
    try:
        return RunStore(args.db)
    except (ValueError, TypeError, OSError, sqlite3.Error) as err:
        raise refuse(args, "--db", described(err)) from None


def applies(args, option: str, given: bool, cells, among, what: str) -> None:
    """Refuse ``option`` when it is given but none of ``cells`` is among ``among``."""
    if given and not any(c in among for c in cells):
        raise refuse(args, option, f"applies to {what} only, and --cell"
                                    f"{'s' if args.command == 'compare' else ''} "
                                    f"has none (got {','.join(cells)})")


def check_cell_options(args, cells) -> None:
    """Options that only some cells use, given for none of ``cells``."""
    rnn = ("rnn",)
    applies(args, "--nonlinearity", args.nonlinearity is not None, cells, rnn, "the rnn cell")
    applies(args, "--lambda1", args.lambda1 is not None, cells, rnn + ("irnn",),
             "the rnn cell")
    applies(args, "--chrono", args.chrono is not None, cells, _variants_of(GATED),
             "the gated cells (lstm, gru)")
    if args.forget_bias is not None and args.chrono is not None:
        raise refuse(args, "--forget-bias", "excludes --chrono, which sets the LSTM's forget "
                                             "gate bias itself")
    applies(args, "--forget-bias", args.forget_bias is not None, cells,
             tuple(v for v in _variants_of(("lstm",)) if not v.endswith("-chrono")),
             "the lstm cell")
    applies(args, "--heads", getattr(args, "heads", None) is not None, cells,
             ("transformer",), "the transformer")
    if getattr(args, "dropout", 0) and args.layers == 1 and "transformer" not in cells:
        raise refuse(args, "--dropout", "acts between stacked layers, and --layers is 1: "
                                         "pass --layers 2 or more (--recurrent-dropout acts "
                                         "within a layer)")


def check_lengths(args, task: str, lengths, option: str) -> None:
    for length in lengths:
        try:
            make_task(task, length)
        except (TypeError, ValueError) as err:
            raise refuse(args, option, f"for the {task} task: {err}") from None


def check_data(args) -> None:
    """--data (and --test-data) read as data files (the reads are cached for the run)."""
    for option, test_path in (("--data", None), ("--test-data", args.test_data)):
        if option == "--test-data" and test_path is None:
            continue
        try:
            FileTask(path=args.data, test_path=test_path, layout=args.layout)
        except Exception as err:  # noqa: BLE001 - any failure to read a user's file
            raise refuse(args, option, described(err)) from None


def check_training_options(args) -> None:
    """The exclusions among the options train and compare share."""
    if args.clip is not None and args.no_clip:
        raise refuse(args, "--no-clip", "excludes --clip")
    if args.epochs is not None and args.updates is not None:
        raise refuse(args, "--epochs", "excludes --updates: the budget is one or the other")
    if args.epochs is not None and args.eval_every is not None:
        raise refuse(args, "--eval-every", "counts updates, and the budget is in epochs "
                                            "(--epochs, or --data without --updates): "
                                            "validation comes after every epoch")


def fill_defaults(args, task: str, length: int | None) -> None:
    """The defaults of options whose default is None so that giving them can be told."""
    defaults = {"task": task, "length": length, "clip": 1.0, "eval_every": 100,
                "nonlinearity": "tanh", "forget_bias": RunConfig.forget_bias,
                "heads": DEFAULT_HEADS}
    for name, value in defaults.items():
        if hasattr(args, name) and getattr(args, name) is None:
            setattr(args, name, value)


def run_config(args, options: dict = FIELD_OPTIONS, **fields) -> RunConfig:
    try:
        return RunConfig(task=args.task, hidden_size=args.hidden, num_layers=args.layers,
                         nonlinearity=args.nonlinearity, forget_bias=args.forget_bias,
                         lambda_1=args.lambda1, optimizer=args.optimizer,
                         lr=args.lr if args.lr is not None else LR_GRID[0],
                         updates=args.updates or DEFAULT_UPDATES, eval_every=args.eval_every,
                         epochs=args.epochs,
                         batch_size=args.batch_size, n_train=args.n_train,
                         clip_norm=None if args.no_clip else args.clip, tbptt=args.tbptt,
                         stop_when_solved=not args.keep_going, dropout=args.dropout,
                         recurrent_dropout=args.recurrent_dropout, heads=args.heads,
                         patience=args.patience, **fields)
    except (TypeError, ValueError, OSError) as err:
        raise config_error(args, err, options) from None


def config_error(args, err: BaseException, options: dict) -> UsageError:
    """A RunConfig check that failed, naming the options of the fields it is about."""
    named = [options[f] for f in getattr(err, "fields", ()) if f in options]
    return refuse(args, ", ".join(dict.fromkeys(named)) or "options", described(err))


def say(args, text: str = "") -> None:
    """Print for people; with --json, to stderr so that stdout holds the JSON alone."""
    print(text, file=sys.stderr if getattr(args, "json", False) else sys.stdout, flush=True)
