"""The ``rnnlab`` command's parser: every command, every option, its help."""

from __future__ import annotations

import argparse

from rnnlab import __version__
from rnnlab.cli import commands
from rnnlab.cli.arguments import (chrono, finite_float, float_list, int_list, lr_list,
                                  names_among, non_negative_int, positive_float, positive_int,
                                  probability, seed, shapes, tbptt)
from rnnlab.cli.checks import DEFAULT_OUT, DEFAULT_UPDATES, FORGET_BIAS_HELP, UsageError
from rnnlab.cli.predict import add_parser as add_predict
from rnnlab.cli.report import add_parser as add_report
from rnnlab.cli.sweep import add_parser as add_sweep
from rnnlab.cli.text import add_parser as add_text
from rnnlab.experiments.bench import GRID as BENCH_GRID
from rnnlab.experiments.compare import DEFAULT_CHUNK, LR_GRID, VARIANTS
from rnnlab.experiments.models import ATTENTIONS, CELLS, DEFAULT_HEADS, MODELS, NORMS, norm_cells
from rnnlab.experiments.store import DEFAULT_PATH, STATUSES
from rnnlab.explain import ACTIVATION_NAMES
from rnnlab.optim import OPTIMIZERS
from rnnlab.tasks import TASKS


class Parser(argparse.ArgumentParser):
    """argparse, whose errors are one line (no usage block): ``rnnlab CMD: argument ...``."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} -h)")

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)  # unknown options are named first
        if getattr(parsed, "command", "") is None:
            self.error("a command is needed")
        return parsed


cells = names_among(CELLS)  # rnn, lstm, gru


variants = names_among(VARIANTS)  # rnn, irnn, lstm, lstm-chrono, gru, gru-chrono, ln-lstm, ...


def add_training_options(p, task="adding", lr=3e-3) -> None:
    """The options every training command shares (see RunConfig for their meaning)."""
    p.add_argument("--task", choices=sorted(TASKS), help=f"the task (default {task})")
    p.add_argument("--hidden", type=positive_int, default=64, help="hidden units (default 64)")
    p.add_argument("--layers", type=positive_int, default=1, help="stacked layers (default 1)")
    p.add_argument("--nonlinearity", choices=("tanh", "relu", "sigmoid"),
                   help="the vanilla RNN's f (default tanh)")
    p.add_argument("--forget-bias", type=finite_float, help=FORGET_BIAS_HELP)
    p.add_argument("--chrono", type=chrono, default=None, metavar="auto|N|off",
                   help="chrono initialization of the LSTM's and GRU's gate biases (Tallec & "
                        "Ollivier 2018) for memories up to N steps; auto: N = the task's "
                        "sequence length (default off)")
    p.add_argument("--lambda1", type=positive_float,
                   help="rnn: rescale W_hh to this largest singular value at init")
    p.add_argument("--dropout", type=probability, default=0.0, metavar="P",
                   help="dropout between stacked layers, as torch.nn.LSTM's (needs --layers "
                        "> 1, but for the transformer, whose own dropout it is; default 0)")
    p.add_argument("--recurrent-dropout", type=probability, default=0.0, metavar="P",
                   help="variational recurrent dropout: one mask per sequence on h_{t-1} "
                        "into the recurrent product (Gal & Ghahramani 2016; default 0)")
    p.add_argument("--heads", type=positive_int,
                   help=f"transformer: attention heads, dividing --hidden (default "
                        f"{DEFAULT_HEADS})")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam")
    if lr is None:
        p.add_argument("--lr", type=positive_float,
                       help="fix the learning rate (default: choose per cell and length on "
                            "the validation set from --lr-grid)")
        p.add_argument("--lr-grid", type=lr_list,
                       help="learning rates tried per cell and length (default "
                            f"{','.join(f'{v:g}' for v in LR_GRID)})")
    else:
        p.add_argument("--lr", type=positive_float, default=lr,
                       help=f"learning rate (default {lr:g})")
    p.add_argument("--updates", type=positive_int,
                   help=f"the budget: updates of one batch each, the same for every run "
                        f"(default {DEFAULT_UPDATES}; with --data, 10 epochs); fewer once two "
                        f"validations in a row count as solved")
    p.add_argument("--eval-every", type=positive_int,
                   help="validate every this many updates (default 100)")
    p.add_argument("--batch-size", type=positive_int, default=32,
                   help="sequences per batch (default 32)")
    p.add_argument("--n-train", type=positive_int,
                   help="train on a fixed set of this many sequences (default: fresh "
                        "sequences for every batch, a stream)")
    p.add_argument("--epochs", type=positive_int,
                   help="with --n-train or --data: the budget in passes over the training "
                        "set instead of --updates")
    p.add_argument("--clip", type=positive_float,
                   help="clip the gradient norm to this (default 1)")
    p.add_argument("--no-clip", action="store_true", help="no gradient clipping")
    p.add_argument("--tbptt", type=tbptt,
                   help="truncated BPTT: k1,k2 with k1 <= k2, for a task with a target at "
                        "every step (copy; default: full BPTT)")
    p.add_argument("--keep-going", action="store_true",
                   help="spend the whole budget, even once the task is solved (--patience "
                        "still stops a run)")
    p.add_argument("--patience", type=positive_int, metavar="N",
                   help="early stopping: end the run after N validations in a row without a "
                        "lower validation loss (a validation every --eval-every updates, or "
                        "after every epoch with --epochs or --data), and end it on the "
                        "weights of its best validation, which the test metric measures and "
                        "--save writes (default: off, the whole budget and the last weights)")
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
    """The ``rnnlab`` command's parser, every command and option."""
    parser = Parser(
        prog="rnnlab",
        description="Recurrent networks with explicit, hand-written Backpropagation Through Time.")
    parser.add_argument("--version", action="version", version=f"rnnlab {__version__}")
    sub = parser.add_subparsers(dest="command")  # required: checked after unknown options
    _add_gradcheck(sub)
    _add_explain(sub)
    _add_runs(sub)
    _add_gradflow(sub)
    _add_train(sub)
    _add_compare(sub)
    add_report(sub)
    add_sweep(sub)
    add_text(sub)
    add_predict(sub)
    _add_bench(sub)
    _add_demo(sub)
    return parser


def _add_gradcheck(sub) -> None:
    """``rnnlab gradcheck`` and its options."""
    p = sub.add_parser("gradcheck", help="check every backward pass against finite differences",
                       description=commands.gradcheck.__doc__)
    p.add_argument("--cells", type=names_among(commands.KINDS), default=tuple(commands.KINDS),
                   help="comma-separated: rnn, lstm, gru, ln-rnn, ln-lstm, ln-gru (with "
                        "norm='layer'), "
                        f"hier-lstm (HierarchicalRNN of LSTMs, chunks of "
                        f"{commands.HIER_CHUNK} steps), rnn-drop, lstm-drop, gru-drop "
                        f"(dropout=0.3 and recurrent_dropout=0.3, in train mode with fixed "
                        f"masks); default all")
    p.add_argument("--layers", type=positive_int, default=2, help="stacked layers (default 2)")
    p.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=True,
                   help="check both directions (default on)")
    p.add_argument("--no-bias", action="store_true", help="layers without biases")
    p.add_argument("--batch", type=positive_int, default=3, help="B (default 3)")
    p.add_argument("--steps", type=positive_int, default=6, help="T (default 6)")
    p.add_argument("--input", type=positive_int, default=3, help="I (default 3)")
    p.add_argument("--hidden", type=positive_int, default=4, help="H (default 4)")
    p.add_argument("--seed", type=seed, default=0, help="(default 0)")
    p.set_defaults(run=commands.gradcheck)


def _add_explain(sub) -> None:
    """``rnnlab explain`` and its options."""
    p = sub.add_parser("explain", help="one BPTT step of a scalar RNN, every number shown",
                       description=commands.explain.__doc__
                       + " Negative lists need '=': --x=-1,0.5.")
    p.add_argument("--wx", type=finite_float, default=0.5, help="W_x (default 0.5)")
    p.add_argument("--wh", type=finite_float, default=0.8, help="W_h (default 0.8)")
    p.add_argument("--wy", type=finite_float, default=0.3, help="W_y (default 0.3)")
    p.add_argument("--h0", type=finite_float, default=0.0, help="h_0 (default 0)")
    p.add_argument("--lr", type=positive_float, default=0.1, help="eta (default 0.1)")
    p.add_argument("--activation", choices=ACTIVATION_NAMES, default="tanh")
    p.add_argument("--x", type=float_list, default=(1.0,),
                   help="inputs x_1..x_T, comma-separated (default 1)")
    p.add_argument("--y", type=float_list, default=(0.6,),
                   help="targets: one per step, or one for the last step (default 0.6)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object, full precision, and nothing else")
    p.set_defaults(run=commands.explain)


def _add_runs(sub) -> None:
    """``rnnlab runs`` and its options."""
    p = sub.add_parser("runs", help="list the recorded runs (the SQLite run store)",
                       description=commands.runs.__doc__)
    p.add_argument("--db", default=DEFAULT_PATH, help=f"the store (default {DEFAULT_PATH})")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--study", help="only the runs of this study id")
    p.add_argument("--task", help="only the runs of this task")
    p.add_argument("--cell", help="only the runs of this cell (rnn, lstm, gru)")
    p.add_argument("--kind", help="only the runs of this kind (train, compare, ...)")
    p.add_argument("--limit", type=positive_int, help="at most this many, the newest")
    p.add_argument("--json", action="store_true",
                   help="print one JSON list of the runs and nothing else")
    p.set_defaults(run=commands.runs)


def _add_gradflow(sub) -> None:
    """``rnnlab gradflow`` and its options."""
    p = sub.add_parser("gradflow", help="measure gradient flow through time, step by step",
                       description=commands.gradflow.__doc__)
    p.add_argument("--cell", type=cells,
                   help="comma-separated: rnn, lstm, gru (default all)")
    p.add_argument("--length", type=positive_int,
                   help="T (default 100; 200 with --text-model)")
    p.add_argument("--task", choices=sorted(TASKS),
                   help="whose inputs and loss (default adding)")
    p.add_argument("--hidden", type=positive_int, help="H (default 64)")
    p.add_argument("--batch", type=positive_int, default=32, help="sequences (default 32)")
    p.add_argument("--seed", type=seed, default=0, help="(default 0)")
    p.add_argument("--nonlinearity", choices=("tanh", "relu", "sigmoid"),
                   help="the vanilla RNN's f (default tanh)")
    p.add_argument("--lambda1", type=positive_float,
                   help="rescale the RNN's W_hh to this largest singular value")
    p.add_argument("--forget-bias", type=finite_float,
                   help=FORGET_BIAS_HELP + "; not with --weights, which replace the "
                                           "initialization")
    p.add_argument("--chrono", type=chrono, default=None, metavar="auto|N|off",
                   help="LSTM, GRU: chrono initialization for memories up to N steps (auto: "
                        "the task's length; default off)")
    p.add_argument("--weights", help="measure a trained model (the folder rnnlab train --save "
                                     "wrote, or a safetensors weights file) of one cell, with "
                                     "the same --task and --hidden")
    p.add_argument("--text-model", metavar="DIR",
                   help="measure a character model (what rnnlab text train saved) on windows "
                        "of --text instead: how far back the gradient reaches in real text")
    p.add_argument("--text", metavar="FILE",
                   help="with --text-model: the text its windows are drawn from, in its "
                        "held-out tail (the training file: its last 5%%)")
    p.add_argument("--warmup", type=non_negative_int,
                   help="with --text-model: characters read before each window, whose state "
                        "it starts from (default 100)")
    p.add_argument("--every", type=positive_int, default=10, help="chart every k-th step")
    p.add_argument("--out", help=f"folder for the PNGs (default {DEFAULT_OUT})")
    p.add_argument("--no-plot", action="store_true", help="no PNG files (excludes --out)")
    p.add_argument("--json", action="store_true", help="print JSON and nothing else")
    p.set_defaults(run=commands.gradflow)


def _add_train(sub) -> None:
    """``rnnlab train`` and its options."""
    p = sub.add_parser("train", help="train one model on a task and record the run",
                       description=commands.train.__doc__)
    p.add_argument("--cell", choices=MODELS, default="lstm",
                   help="a recurrent cell, or transformer (a pre-norm Transformer encoder of "
                        "width --hidden, --heads heads and --layers layers, causal on tasks "
                        "with a target at every step; default lstm)")
    p.add_argument("--attention", choices=ATTENTIONS,
                   help="additive (Bahdanau et al. 2015) or dot (Luong et al. 2015): on a "
                        "task with one target per sequence, attention pooling over the "
                        "cell's outputs; on reverse, sort and seq-copy, an encoder-decoder "
                        "with that attention; default none")
    p.add_argument("--length", type=positive_int, help="the task's length (default 50)")
    p.add_argument("--seed", type=seed, default=0, help="(default 0)")
    p.add_argument("--data", metavar="FILE",
                   help="train on a .ts or .npz file instead of --task (split by --seed; "
                        "excludes --task, --length and --n-train)")
    p.add_argument("--test-data", metavar="FILE", help="with --data: a separate test file")
    p.add_argument("--layout", choices=("NTF", "NCT"),
                   help="with --data: how a .npz file's 3-D x is laid out, (N, T, F) or "
                        "aeon's and sktime's (N, C, T); default NTF, refusing an x with fewer "
                        "steps than features until this says which")
    p.add_argument("--norm", choices=NORMS,
                   help="layer: layer-normalized recurrence (Ba, Kiros & Hinton 2016), for "
                        f"the cells whose layer has it ({', '.join(norm_cells())}); default "
                        f"none")
    p.add_argument("--chunk", type=positive_int, metavar="K",
                   help="a hierarchical model: a lower layer reads each chunk of K steps, an "
                        "upper one the chunk summaries (El Hihi & Bengio 1995; Yang et al. "
                        "2016); for tasks with one target per sequence (adding, language, "
                        "--data); default: one flat layer")
    add_training_options(p)
    p.add_argument("--save", metavar="DIR",
                   help="the folder the trained model goes to, before the run is recorded as "
                        "finished: architecture, weights (safetensors, PyTorch's names), the "
                        "data file's standardization and classes, the config and versions, "
                        "for rnnlab predict (default rnnlab-model; by default, a model that "
                        "cannot be saved yet, an encoder-decoder, is not, with a note)")
    p.add_argument("--checkpoint-dir", metavar="DIR",
                   help="write a checkpoint after every round of --eval-every updates (or "
                        "every epoch), keeping the last two; a folder that holds checkpoints "
                        "already needs --resume")
    p.add_argument("--resume", action="store_true", help=RESUME_HELP)
    p.add_argument("--plot-attention", metavar="DIR",
                   help="with --attention: draw the trained model's attention weights on "
                        "test sequences into DIR/attention-TASK.png")
    p.set_defaults(run=commands.train)


def _add_compare(sub) -> None:
    """``rnnlab compare`` and its options."""
    p = sub.add_parser("compare", help="RNN vs LSTM vs GRU over lengths and seeds, measured",
                       description=commands.compare.__doc__)
    p.add_argument("--cells", type=variants, default=("rnn", "lstm", "gru"),
                   help="comma-separated among rnn (tanh), irnn (ReLU, W_hh = I: Le et al. "
                        "2015), lstm (forget bias 1, see --forget-bias), lstm-chrono, gru, "
                        "gru-chrono (chrono init with T_max the task's length: Tallec & "
                        "Ollivier 2018), ln-lstm (layer-normalized LSTM: Ba, Kiros & Hinton "
                        "2016), hier-lstm, "
                        "hier-gru (two levels: a lower layer over chunks of --chunk steps, an "
                        "upper one over the chunks; tasks with one target per sequence), "
                        "lstm-attn, gru-attn (additive attention: pooling on tasks with one "
                        "target, an encoder-decoder on reverse, sort and seq-copy), "
                        "transformer (pre-norm, --heads heads); default rnn,lstm,gru")
    p.add_argument("--chunk", type=positive_int, metavar="K",
                   help=f"the steps per chunk of hier-lstm and hier-gru (default "
                        f"{DEFAULT_CHUNK})")
    p.add_argument("--lengths", type=int_list, default=(10, 20, 50, 100, 200),
                   help="the task's lengths: T, or N filler words (default 10,20,50,100,200)")
    p.add_argument("--seeds", type=positive_int, default=3, help="seeds 0..N-1 (default 3)")
    p.add_argument("--workers", type=positive_int,
                   help="train the runs in parallel on this many Dask worker processes (a "
                        "local cluster, as rnnlab sweep; needs rnnlab[sweep]); default: one "
                        "after another in this process")
    p.add_argument("--out", help=f"folder for the PNG (default {DEFAULT_OUT})")
    p.add_argument("--no-plot", action="store_true", help="no PNG file (excludes --out)")
    add_training_options(p, task="language", lr=None)
    p.set_defaults(run=commands.compare)


def _add_bench(sub) -> None:
    """``rnnlab bench`` and its options."""
    p = sub.add_parser("bench", help="speed against PyTorch on a grid of shapes",
                       description=commands.bench.__doc__)
    p.add_argument("--cells", type=cells, default=("rnn", "lstm", "gru"),
                   help="comma-separated: rnn, lstm, gru (default all)")
    p.add_argument("--grid", type=shapes, default=BENCH_GRID,
                   help="B,I,H,T;B,I,H,T;... (default: the five shapes of docs/performance.md)")
    p.add_argument("--repeats", type=positive_int, default=5,
                   help="rounds per configuration, rnnlab and PyTorch taking turns (median; "
                        "default 5)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="both libraries' layers, inputs and the GEMM rate (default float32)")
    p.add_argument("--no-torch", action="store_true", help="time rnnlab alone")
    p.add_argument("--json", action="store_true", help="print JSON and nothing else")
    p.set_defaults(run=commands.bench)


def _add_demo(sub) -> None:
    """``rnnlab demo`` and its options."""
    p = sub.add_parser("demo", help="the tour: worked example, gradient flow, RNN vs LSTM",
                       description=commands.demo.__doc__)
    p.add_argument("--out", default="rnnlab-out", help="folder for the PNGs (rnnlab-out)")
    p.add_argument("--db", default=DEFAULT_PATH, help=f"the run store (default {DEFAULT_PATH})")
    p.add_argument("--seed", type=seed, default=0, help="(default 0)")
    p.set_defaults(run=commands.demo)
