"""``rnnlab sweep SPEC.toml``: a grid of training runs, each point a task on a Dask cluster.

A spec's keys are the options of ``rnnlab train`` (dashes as underscores), and each point
is turned into its RunConfig by ``rnnlab train``'s own parser and checks (its option types,
:data:`~rnnlab.cli.checks.FIELD_OPTIONS` and :func:`~rnnlab.cli.checks.run_config`), so a
point means what the same options mean to ``rnnlab train``. Every point is checked before
any work; an error names the key (``grid.hidden``) and, for a combination, the point.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import socket
import sqlite3

from rnnlab.cli.arguments import positive_int
from rnnlab.cli.checks import (UsageError, check_cell_options, check_data, check_data_options,
                               check_file_target, check_lengths, check_training_options,
                               described, fill_defaults, open_store, refuse, run_config, say)
from rnnlab.experiments.store import DEFAULT_PATH, RunStore
from rnnlab.experiments.sweep import SpecError, points, read_spec

# the options of `rnnlab train` that are not a point's: where its outputs go, how it prints
NOT_SPEC_KEYS = ("save", "checkpoint_dir", "resume", "plot_attention", "db", "json", "help")
ADDRESS = re.compile(r"^(?:(tcp|tls)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.\-]*):"
                     r"(\d{1,5})$")


def scheduler_address(text: str) -> str:
    """argparse type: a Dask scheduler's address, ``tcp://HOST:PORT`` (tcp:// if omitted)."""
    found = ADDRESS.match(text)
    if not found or not 0 < int(found.group(3)) < 65536:
        raise argparse.ArgumentTypeError(f"expected a scheduler's address tcp://HOST:PORT "
                                         f"(PORT 1-65535), got {text!r}")
    return text if found.group(1) else f"tcp://{text}"


def add_parser(sub) -> None:
    """``rnnlab sweep`` and its options."""
    p = sub.add_parser("sweep", help="a grid of training runs from a TOML spec, on Dask",
                       description=sweep.__doc__)
    p.add_argument("spec", metavar="SPEC.toml",
                   help="the study: name = \"...\", [fixed] and [grid] tables whose keys are "
                        "options of rnnlab train, dashes as underscores (see docs/sweeps.md)")
    p.add_argument("--db", default=DEFAULT_PATH, help=f"the run store (default {DEFAULT_PATH})")
    p.add_argument("--workers", type=positive_int, metavar="N",
                   help="worker processes of the local Dask cluster, one thread each "
                        "(default: one per core)")
    p.add_argument("--scheduler", type=scheduler_address, metavar="ADDRESS",
                   help="run on a running Dask cluster: its scheduler's tcp://HOST:PORT "
                        "(dask scheduler; dask worker ADDRESS on each machine)")
    p.add_argument("--resume", action="store_true",
                   help="continue the study of this name: skip its points already done "
                        "(finished, or diverged: the same config diverges again), identified "
                        "by a hash of their config; run the others")
    p.add_argument("--json", action="store_true",
                   help='print {"study", "points", "ran", "failed", "skipped"} and nothing else')
    p.set_defaults(run=sweep)


def sweep(args) -> int:
    """Train every point of a TOML spec's grid on a Dask cluster (a local one by default),
    recording each in the run store as it returns; a point that fails is recorded as
    failed and the sweep goes on."""
    if args.workers is not None and args.scheduler is not None:
        raise refuse(args, "--workers", "excludes --scheduler (the cluster has its workers)")
    for module, extra in (("distributed", "sweep"), ("tqdm", "train")):
        if importlib.util.find_spec(module) is None:
            raise UsageError(f'rnnlab sweep: a sweep needs {module}: pip install '
                             f'"rnnlab[{extra}]"')
    if args.scheduler is not None:
        _check_scheduler(args)
    check_file_target(args, "--db", args.db)
    _study_there(args, None)  # an existing --db is a store
    spec, configs = _spec_configs(args, _train_parser())
    if not args.resume and _study_there(args, spec.name):
        raise refuse(args, "--resume", f"the study {spec.name!r} is already in {args.db}: "
                                       f"pass --resume to continue it, or rename it in "
                                       f"{args.spec}")
    from rnnlab.experiments.engine import SchedulerUnreachable, run_sweep

    where = args.scheduler or f"a local cluster of {args.workers or os.cpu_count()} workers"
    with open_store(args) as store:
        say(args, f"Study {spec.name}: {len(configs)} points on {where}, each recorded in "
                  f"{args.db} as it returns.")
        try:
            summary = run_sweep(spec.name, spec.to_json(), configs, store,
                                workers=args.workers, scheduler=args.scheduler,
                                resume=args.resume, progress=True)
        except SchedulerUnreachable as err:
            raise refuse(args, "--scheduler", err) from None
        except KeyboardInterrupt:
            say(args, f"\nInterrupted: the points that came back are recorded in {args.db}; "
                      f"the others are marked interrupted. To continue: rnnlab sweep "
                      f"{args.spec} --db {args.db} --resume")
            return 130
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"Study {summary['study']}: {summary['points']} points, {summary['ran']} ran "
              f"({summary['failed']} failed), {summary['skipped']} skipped (done before).")
    say(args, f"Runs: rnnlab runs --db {args.db} --study {spec.name}")
    return 0


def _check_scheduler(args) -> None:
    """Something listens at --scheduler's host and port (Dask's own handshake comes later)."""
    host, port = ADDRESS.match(args.scheduler.split("://", 1)[1]).group(2, 3)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5.0).close()
    except OSError as err:
        raise refuse(args, "--scheduler", f"nothing answers at {args.scheduler} "
                                          f"({err.strerror or err})") from None


def _study_there(args, name) -> bool:
    """Whether the store at --db (if there) holds the study ``name``; refuse a --db that is
    not a run store."""
    if not os.path.exists(args.db):
        return False
    try:
        with RunStore(args.db) as store:
            return name is not None and store.study(name) is not None
    except (ValueError, TypeError, OSError, sqlite3.Error) as err:
        raise refuse(args, "--db", described(err)) from None


def _train_parser():
    """``rnnlab train``'s parser (imported here: the parser imports this module)."""
    from rnnlab.cli.parser import build_parser

    parser = build_parser()
    return next(a for a in parser._actions if a.dest == "command").choices["train"]


def spec_keys(train) -> dict:
    """The keys a spec may use: each option of ``rnnlab train`` that shapes a run, with
    underscores, mapped to its action."""
    keys = {}
    for action in train._actions:
        for option in action.option_strings:
            key = option.lstrip("-").replace("-", "_")
            if option.startswith("--") and key not in NOT_SPEC_KEYS:
                keys[key] = action
    return keys


def _spec_configs(args, train) -> tuple:
    """The spec, checked, and the RunConfig of each of its points."""
    keys = spec_keys(train)
    try:
        spec = read_spec(args.spec, known=keys)
    except SpecError as err:  # the file's errors name it, the others a key
        raise UsageError(f"rnnlab sweep: {'' if err.key is None else args.spec + ': '}"
                         f"{err}") from None
    for key, value in spec.fixed.items():  # each value alone: the option's type
        _parse(args, train, keys, {key: value}, f"fixed.{key}")
    for key, values in spec.grid.items():
        for value in values:
            _parse(args, train, keys, {key: value}, f"grid.{key}")
    configs = []
    for point in points(spec):
        varying = ", ".join(f"{k} = {json.dumps(point[k])}" for k in spec.grid)
        configs.append(_point_config(args, _parse(args, train, keys, point,
                                                  f"the point {{{varying}}}")))
    return spec, configs


def _parse(args, train, keys: dict, point: dict, where: str):
    """``rnnlab train``'s options for ``point``, parsed by its parser; the refusal names
    ``where`` and the keys."""
    argv = []
    for key, value in point.items():
        option = "--" + key.replace("_", "-")
        if keys[key].nargs == 0:  # a flag: no_clip, keep_going
            if not isinstance(value, bool):
                raise UsageError(f"rnnlab sweep: {args.spec}: {where}: must be true or "
                                 f"false, got {value!r}")
            argv += [option] if value else []
        else:
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            argv.append(f"{option}={text}")
    try:
        parsed = train.parse_args(argv)
    except UsageError as err:
        raise _in_spec(args, where, err) from None
    parsed.command, parsed.where = "train", where
    return parsed


def _point_config(args, point):
    """A point's RunConfig, by the checks of ``rnnlab train`` (but its outputs')."""
    try:
        check_data_options(point)
        check_training_options(point)
        check_cell_options(point, (point.cell,))
        fill_defaults(point, "adding", 50)
        if point.data is None:
            check_lengths(point, point.task, (point.length,), "--length")
        else:
            check_data(point)
            point.task = "file"
        return run_config(point, cell=point.cell, length=point.length, seed=point.seed,
                          data=point.data, test_data=point.test_data, chrono=point.chrono,
                          norm=point.norm, chunk=point.chunk, attention=point.attention)
    except UsageError as err:
        raise _in_spec(args, point.where, err) from None


def _in_spec(args, where: str, err: UsageError) -> UsageError:
    """``rnnlab train``'s refusal, said of the spec: its options named as keys."""
    text = re.sub(r"^rnnlab train: (argument )?", "", err.message)
    text = re.sub(r" \(see rnnlab train -h\)$", "", text)
    text = re.sub(r"--([a-z0-9][a-z0-9-]*)", lambda m: m.group(1).replace("-", "_"), text)
    return UsageError(f"rnnlab sweep: {args.spec}: {where}: {text}")
