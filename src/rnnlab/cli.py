"""The ``rnnlab`` command. Thin: the work is done by the library."""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from rnnlab import __version__
from rnnlab.explain import ACTIVATION_NAMES, format_trace, to_json, trace
from rnnlab.gradcheck import check_gradients
from rnnlab.layers import GRU, LSTM, RNN

KINDS = {"rnn": (RNN, ("tanh", "relu", "sigmoid")), "lstm": (LSTM, ("tanh",)),
         "gru": (GRU, ("tanh",))}
TOLERANCE = 1e-6


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
    """Trace one BPTT step of a scalar RNN, every chain-rule factor shown (the seeds' example)."""
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
