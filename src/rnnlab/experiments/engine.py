"""The sweep engine: every point of a study trained as one Dask task, recorded as it returns.

By default the points run on a Dask ``LocalCluster`` of worker processes started for the
sweep (one per core, one thread each, on the loopback interface); given the address of a
running scheduler (``tcp://HOST:PORT``: ``dask scheduler`` and ``dask worker`` started on
other machines), they run there instead. Each point is one task (:func:`run_point`): it
trains and returns its result, its evaluations, its worker and its times, and catches its
own failures (a run that diverges, an exception), which are results too. The results come
back through ``as_completed``, and this process alone writes the run store, as they arrive:
one writer, so no worker ever waits on the database.

A worker that dies takes with it only the work of its current point, which the scheduler
gives to another worker; a point whose workers die twice is recorded as failed
(``KilledWorker``). Ctrl-C (or any error here) marks the points still out as "interrupted";
``resume`` then skips every point whose outcome is recorded (see
:meth:`RunStore.done_points`).

Dask (``pip install "rnnlab[sweep]"``) is imported here only, and only when a sweep runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets

from rnnlab.experiments.records import utc_now
from rnnlab.experiments.runner import RunConfig, run_task
from rnnlab.experiments.sweep import config_hash

ALLOWED_FAILURES = 1  # a point is retried once on another worker when its worker dies
CONNECT_TIMEOUT = 10.0  # seconds to reach a running scheduler


class SchedulerUnreachable(OSError):
    """No Dask scheduler answered at the address given."""


def distributed():
    """The ``distributed`` module, or an ImportError naming the extra that brings it."""
    try:
        import distributed as dask_distributed
    except ImportError:
        raise ImportError('a sweep needs Dask: pip install "rnnlab[sweep]" (it brings '
                          'dask[distributed])') from None
    return dask_distributed


def run_point(fields: dict) -> dict:
    """Train one point (a Dask task, run on a worker); never raises for a failed run.

    Parameters
    ----------
    fields : dict
        The point's ``RunConfig.to_json()``.

    Returns
    -------
    dict
        status ("finished" or "failed"), metrics (``run_task``'s result, without the model
        and the history; None if failed), error (None, or the exception's type and text),
        epochs (the Trainer's records), worker (its address), started and ended (UTC).
    """
    started = utc_now()
    out = {"status": "finished", "metrics": None, "error": None, "epochs": [],
           "worker": _worker_address(), "started": started}
    try:
        fields = dict(fields)
        fields["tbptt"] = None if fields.get("tbptt") is None else tuple(fields["tbptt"])
        result = run_task(RunConfig(**fields), progress=False)
        out["epochs"] = result.pop("history")
        result.pop("model")
        out["metrics"] = result
    except Exception as err:  # noqa: BLE001 - a failed point is a result, recorded as such
        out.update(status="failed", error=_describe(err))
    out["ended"] = utc_now()
    return out


def _worker_address() -> str:
    try:
        return distributed().get_worker().address
    except (ImportError, ValueError):  # not on a Dask worker
        return f"pid {os.getpid()}"


def _describe(err: BaseException) -> str:
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


@contextlib.contextmanager
def cluster(workers: int | None = None, scheduler: str | None = None):
    """A Dask client: on a running cluster at ``scheduler``, or on a LocalCluster of
    ``workers`` processes (one thread each; default: one per core) started here.

    Raises
    ------
    SchedulerUnreachable
        When the scheduler cannot be reached within :data:`CONNECT_TIMEOUT` seconds.
    """
    dd = distributed()
    import dask

    if scheduler is not None:
        try:
            client = dd.Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as err:
            raise SchedulerUnreachable(f"scheduler {scheduler!r} cannot be reached within "
                                       f"{CONNECT_TIMEOUT:g} s: {err}") from None
        with client:
            yield client
        return
    workers = workers or os.cpu_count() or 1
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        with dd.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                             host="127.0.0.1", scheduler_port=0, dashboard_address=None,
                             scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # health
                             silence_logs=logging.CRITICAL) as local, dd.Client(local) as client:
            yield client


def run_sweep(study: str, spec: dict, configs: list, store, *, workers: int | None = None,
              scheduler: str | None = None, resume: bool = False,
              progress: bool = True) -> dict:
    """Train every config of ``study`` on a Dask cluster, recording each point in ``store``.

    Parameters
    ----------
    study : str
        The study's name in the store.
    spec : dict
        The study's spec, recorded with it.
    configs : list of RunConfig
        The points, each different.
    store : RunStore
        Written by this process alone: the study, then each point as "running" when it is
        submitted and with its outcome, evaluations, worker and times when it returns.
    workers : int, optional
        Worker processes of the LocalCluster (default: one per core).
    scheduler : str, optional
        The address of a running Dask scheduler, used instead of a LocalCluster.
    resume : bool
        Continue the study: skip its points already done (finished, or diverged); its
        points left "running" by a client that was killed are marked "interrupted" first.
    progress : bool
        A progress bar counting points (tqdm, on stderr).

    Returns
    -------
    dict
        study, points (in the spec), ran (trained now), failed (of those), skipped
        (done before).
    """
    if not isinstance(study, str) or not study.strip():
        raise TypeError(f"study must be a non-empty str, got {study!r}")
    if not isinstance(configs, list) or not configs \
            or not all(isinstance(c, RunConfig) for c in configs):
        raise TypeError("configs must be a non-empty list of RunConfig")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ValueError(f"workers must be an int >= 1 or None, got {workers!r}")
    if scheduler is not None and not isinstance(scheduler, str):
        raise TypeError(f"scheduler must be an address (str) or None, got {scheduler!r}")
    hashes = [config_hash(c) for c in configs]
    if len(set(hashes)) != len(hashes):
        raise ValueError("configs must all differ: two points of the spec make the same run")
    if store.study(study) is not None and not resume:
        store.start_study(study, spec)  # refused, naming the study
    done = store.done_points(study) if resume else set()
    todo = [(c, h) for c, h in zip(configs, hashes) if h not in done]
    summary = {"study": study, "points": len(configs), "ran": 0, "failed": 0,
               "skipped": len(configs) - len(todo)}
    if not todo:
        _begin(store, study, spec, resume)
        return summary
    with cluster(workers, scheduler) as client:  # reached before anything is recorded
        _begin(store, study, spec, resume)
        bar = _bar(len(configs), summary["skipped"]) if progress else None
        try:
            _run(client, study, todo, store, summary, bar)
        finally:
            if bar is not None:
                bar.close()
    return summary


def _begin(store, study: str, spec: dict, resume: bool) -> None:
    """Record the study (or continue it), its points left "running" by a client that was
    killed marked "interrupted"."""
    store.start_study(study, spec, resume=resume)
    if resume:
        store.interrupt_points(study, "the sweep's client ended before the point came back")


def _run(client, study: str, todo: list, store, summary: dict, bar) -> None:
    """Submit every point, then record each as it returns; on any exit before the end
    (Ctrl-C), cancel what is out and mark it "interrupted"."""
    dd = distributed()
    futures = {}
    token = secrets.token_hex(4)  # keys unique on a scheduler that other clients share
    try:
        for config, digest in todo:
            fields = config.to_json()
            run_id = store.start_point(study, fields, digest, seed=config.seed,
                                       task=config.task, cell=config.cell)
            key = f"rnnlab-point-{run_id}-{digest[:12]}-{token}"
            future = client.submit(run_point, fields, key=key, pure=False)
            futures[future] = run_id
        for future in dd.as_completed(list(futures)):
            run_id = futures.pop(future)
            outcome = _outcome(future)
            store.finish_point(run_id, outcome["status"], outcome["metrics"], outcome["error"],
                               outcome["worker"], outcome["started"], outcome["epochs"])
            summary["ran"] += 1
            summary["failed"] += outcome["status"] == "failed"
            if bar is not None:
                bar.update(1)
                bar.set_postfix(failed=summary["failed"])
    finally:
        if futures:
            client.cancel(list(futures))
            store.interrupt_points(study, "the sweep stopped before the point came back")


def run_points(configs: list, workers: int | None = None, scheduler: str | None = None):
    """Train ``configs`` on a Dask cluster (see :func:`cluster`); yield ``(index, outcome)``
    for each as it comes back (the outcome as :func:`run_point` returns it). Leaving the loop
    early cancels the points still out. The caller records them (``compare`` does)."""
    with cluster(workers, scheduler) as client:
        futures = {client.submit(run_point, config.to_json(), pure=False): index
                   for index, config in enumerate(configs)}
        try:
            for future in distributed().as_completed(list(futures)):
                yield futures.pop(future), _outcome(future)
        finally:
            if futures:
                client.cancel(list(futures))


def _outcome(future) -> dict:
    """What a finished task returned, or, for a task that erred (its workers died, or it
    could not run there), a failed outcome saying why."""
    if future.status == "finished":
        return future.result()
    try:
        error = _describe(future.exception())
    except Exception as err:  # noqa: BLE001 - cancelled, or lost with the scheduler
        error = _describe(err)
    return {"status": "failed", "metrics": None, "error": error, "epochs": [],
            "worker": None, "started": None}


def _bar(total: int, initial: int):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError('a progress bar needs tqdm: pip install "rnnlab[train]"') from None
    return tqdm(total=total, initial=initial, unit="point", dynamic_ncols=True, leave=False)
