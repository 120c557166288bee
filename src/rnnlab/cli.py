"""The ``rnnlab`` command. Thin: the work is done by the library."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from rnnlab import __version__
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
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("layers", "batch", "steps", "input", "hidden"):
        if getattr(args, name) < 1:
            raise SystemExit(f"rnnlab {args.command}: --{name} must be >= 1, "
                             f"got {getattr(args, name)}")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
