"""A run's checkpoint folder: the lock held while a run trains in it, ``run.json`` (the
config and run its checkpoints belong to), and the checks before a run starts in it or
resumes from it (``rnnlab train --checkpoint-dir DIR --resume``)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os

from rnnlab import io
from rnnlab.training.run_state import (CheckpointError, checkpoints_in, config_changes,
                                      newest_that_loads)

try:
    import fcntl  # POSIX: a checkpoint folder is locked by the run that uses it
except ImportError:  # Windows: no lock
    fcntl = None

RUN_FILE = "run.json"  # beside the checkpoints: the RunConfig and run they belong to
LOCK_FILE = ".lock"  # held (flock) by the process that trains into the folder
BUDGET_FIELDS = ("updates", "epochs")  # what a resumed run may change: how long it trains


def check_checkpoints(config, checkpoint_dir, resume: bool = False) -> dict | None:
    """Check that a run of ``config`` can use ``checkpoint_dir``; return what it would
    resume from.

    Starting afresh (``resume=False``) needs a folder without checkpoints (or none yet);
    resuming needs a ``run.json`` whose config equals ``config`` but for the budget, and a
    checkpoint that loads (the newest that does: an unreadable one, which a crash does not
    leave, is skipped and named). Reads, never writes.

    Returns
    -------
    dict or None
        None when the run starts from the beginning; otherwise ``path`` (the checkpoint
        folder), ``checkpoint`` (its name), ``updates`` and ``epoch`` (done there),
        ``run_id`` and ``db`` (the run that wrote ``run.json``, or None) and ``skipped``
        (``[(path, reason)]`` of newer checkpoints that did not load).

    Raises
    ------
    CheckpointError
    """
    directory = os.fspath(checkpoint_dir)
    found = checkpoints_in(directory, resume)
    if not found:
        return None
    info = read_run_file(directory)
    # a field that an older rnnlab did not write had its default value there
    defaults = {f.name: f.default for f in dataclasses.fields(config)
                if f.default is not dataclasses.MISSING}
    changed = config_changes({**defaults, **info["config"]}, config.to_json(), BUDGET_FIELDS)
    if changed:
        raise CheckpointError(f"checkpoint_dir {directory!r} holds a run whose config differs "
                              f"in {changed}: resuming would not continue the same run")

    def done(path) -> tuple:
        meta = io.read_checkpoint(path)[2]
        return int(meta["updates"]), int(meta["epoch"])

    path, (updates, epoch), skipped = newest_that_loads(directory, found, done)
    return {"path": path, "checkpoint": os.path.basename(path), "updates": updates,
            "epoch": epoch, "run_id": info.get("run_id"), "db": info.get("db"),
            "skipped": skipped}


def load_checkpoint(trainer, config, directory, resume: bool) -> dict | None:
    """``check_checkpoints``, then load the checkpoint into ``trainer``."""
    resumed = check_checkpoints(config, directory, resume)
    if resumed is not None:
        try:
            trainer.load_checkpoint(resumed["path"])
        except (ValueError, KeyError, TypeError, OSError) as err:
            raise CheckpointError(f"checkpoint {resumed['path']!r} does not fit this run: "
                                  f"{err}") from None
    return resumed


def read_run_file(directory: str) -> dict:
    path = os.path.join(directory, RUN_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
        if info.get("format") != "rnnlab-run" or not isinstance(info.get("config"), dict):
            raise ValueError("not an rnnlab run file")
    except (OSError, ValueError, AttributeError) as err:
        raise CheckpointError(f"checkpoint_dir {directory!r} holds checkpoints but no "
                              f"readable {RUN_FILE} saying which run they belong to ({err}); "
                              f"they cannot be resumed safely") from None
    return info


def write_run_file(directory: str, config, run, store) -> None:
    """Write ``run.json`` (the config, and the run recording it) atomically."""
    info = {"format": "rnnlab-run", "version": 1, "config": config.to_json(),
            "run_id": None if run is None else run.id,
            "db": None if store is None else os.path.abspath(store.path)}
    io.write_json(os.path.join(directory, RUN_FILE), info, "the run file")


def close_abandoned_runs(store, folder: str, run_id: int, resumed: dict | None) -> None:
    """Mark "interrupted" the runs that the store still has running in ``folder``: they
    ended without a word (killed), since this run holds the folder's lock."""
    took_over = f"run {run_id} took over its checkpoint folder" + (
        f", resuming from {resumed['checkpoint']}" if resumed is not None else "")
    for other in store.runs(status="running"):
        if other["id"] != run_id and (other["config"] or {}).get("checkpoint_dir") == folder:
            store.finish_run(other["id"], None, "interrupted",
                             f"ended without recording why (killed?); {took_over}")


@contextlib.contextmanager
def locked(directory):
    """Create ``directory`` and hold its lock file while the block runs."""
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    fd = os.open(os.path.join(directory, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CheckpointError(f"checkpoint_dir {directory!r} is in use by another "
                                      f"run (its lock is held)") from None
        yield
    finally:
        os.close(fd)  # releases the lock
