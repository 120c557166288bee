"""rnnlab's own worker threads, for loops whose rows never meet: the time loops.

Shapes: B batch; a block is a range of rows lo..hi-1.

In a recurrence each row of the batch is a sequence of its own: from the first step to the
last, row b's state depends on row b's inputs only. So the batch can be cut into one block
of rows per core, and each block run through the whole time loop on its own thread, with
no synchronization between steps (the compiled loops release the GIL). This is how the
inference forward and the training loops (:mod:`rnnlab.cells.parallel`, which says when)
use both cores; docs/performance.md measures it.

How many threads: the cores this process may run on (``os.sched_getaffinity``), or
``RNNLAB_NUM_THREADS`` from the environment, and never so many that a block has fewer than
``MIN_ROWS`` rows. The calling thread runs the first block itself; the others go to a pool
started on first use and kept for the process (a child process made by ``fork`` starts
its own).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

MIN_ROWS = 4  # fewer rows than this are not worth a thread
_pool = None  # the worker threads, and how many
_workers = 0
_pool_lock = threading.Lock()  # callers on several threads of their own start one pool


def _forget_pool() -> None:
    """In a child made by fork, the parent's worker threads do not exist: start anew."""
    global _pool, _workers
    _pool, _workers = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def available_threads() -> int:
    """The threads rnnlab's row-parallel loops may use: ``RNNLAB_NUM_THREADS`` if set (a
    positive integer), else the cores this process may run on."""
    setting = os.environ.get("RNNLAB_NUM_THREADS")
    if setting is not None:
        try:
            count = int(setting)
        except ValueError:
            count = 0
        if count < 1:
            raise ValueError(f"RNNLAB_NUM_THREADS must be a positive integer, got {setting!r}")
        return count
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def row_blocks(batch: int, threads: int | None = None) -> list:
    """[(lo, hi), ...]: the batch cut into at most ``threads`` blocks of nearly equal size,
    each of at least ``MIN_ROWS`` rows (one block when the batch is smaller)."""
    threads = available_threads() if threads is None else threads
    count = max(1, min(threads, batch // MIN_ROWS))
    edges = [batch * k // count for k in range(count + 1)]
    return [(edges[k], edges[k + 1]) for k in range(count)]


def run_blocks(fn, blocks: list, *args) -> None:
    """``fn(lo, hi, *args)`` for every block, the first on this thread and the rest on the
    pool, all at once; returns when all are done, raising the first error. Callers on
    several threads of their own share the pool: their blocks wait their turn."""
    global _pool, _workers
    if len(blocks) == 1:
        fn(*blocks[0], *args)
        return
    with _pool_lock:
        if _workers < len(blocks) - 1:
            _pool, _workers = ThreadPoolExecutor(len(blocks) - 1, "rnnlab"), len(blocks) - 1
        pool = _pool
    pending = [pool.submit(fn, lo, hi, *args) for lo, hi in blocks[1:]]
    error = None
    try:
        fn(*blocks[0], *args)
    except BaseException as exc:  # noqa: BLE001 - raised below, once the others are done
        error = exc
    for future in pending:
        exc = future.exception()
        error = error or exc
    if error is not None:
        raise error
