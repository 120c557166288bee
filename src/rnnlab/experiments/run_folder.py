"""A run's checkpoint folder: the lock held while a run trains in it, ``run.json`` (the
config and run its checkpoints belong to), and the checks before a run starts in it or
resumes from it (``rnnlab train --checkpoint-dir DIR --resume``)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os

from rnnlab import io

try:
    import fcntl  # POSIX: a checkpoint folder is locked by the run that uses it
except ImportError:  # Windows: no lock
    fcntl = None

RUN_FILE = "run.json"  # beside the checkpoints: the RunConfig and run they belong to
LOCK_FILE = ".lock"  # held (flock) by the process that trains into the folder
BUDGET_FIELDS = ("updates", "epochs")  # what a resumed run may change: how long it trains


class CheckpointError(ValueError):
    """A checkpoint folder that a run cannot start in, or resume from."""


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
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise CheckpointError(f"checkpoint_dir must be a folder, got the file {directory!r}")
    found = io.list_checkpoints(directory)
    if not found:
        return None
    if not resume:
        raise CheckpointError(f"checkpoint_dir {directory!r} already holds the checkpoints "
                              f"of a run (newest {os.path.basename(found[-1])}): resume it, "
                              f"or choose another folder")
    info = read_run_file(directory)
    # a field that an older rnnlab did not write had its default value there
    defaults = {f.name: f.default for f in dataclasses.fields(config)
                if f.default is not dataclasses.MISSING}
    saved, current = {**defaults, **info["config"]}, config.to_json()
    changed = sorted(k for k in set(saved) | set(current)
                     if k not in BUDGET_FIELDS and saved.get(k) != current.get(k))
    if changed:
        raise CheckpointError(
            f"checkpoint_dir {directory!r} holds a run whose config differs in "
            + ", ".join(f"{k} ({saved.get(k)!r} there, {current.get(k)!r} here)"
                        for k in changed)
            + ": resuming would not continue the same run")
    skipped = []
    for path in reversed(found):
        try:
            _, _, meta = io.read_checkpoint(path)
            updates, epoch = int(meta["updates"]), int(meta["epoch"])
        except Exception as err:  # noqa: BLE001 - any unreadable file: try the one before
            skipped.append((path, f"{type(err).__name__}: {err}"))
            continue
        return {"path": path, "checkpoint": os.path.basename(path), "updates": updates,
                "epoch": epoch, "run_id": info.get("run_id"), "db": info.get("db"),
                "skipped": skipped}
    raise CheckpointError(f"checkpoint_dir {directory!r}: no checkpoint loads ("
                          + "; ".join(f"{os.path.basename(p)}: {why}" for p, why in skipped)
                          + ")")


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
