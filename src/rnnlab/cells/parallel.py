"""Threads for the time loops: each core runs the whole recurrence over its own rows.

The rows of a batch never meet inside a recurrence: row b of h_t depends on row b of h_{t-1}
and on the shared weights only, and the same holds backward. So a compiled time loop
(``rnnlab.cells.kernels.*_loop``) can run on every core at once, each thread over its own
block of rows, from the first step to the last, without a word between them; the threads
meet once, when the loop ends. Nothing any row computes depends on how the rows are split
(the bias gradients are summed per row, then over the rows), so the results are the same,
bit for bit, on one core or many.

The kernels release the GIL (``nogil``), so these are plain Python threads; the first block
runs on the calling thread, the others on a small pool made on first use (again after a
fork, whose child has no threads).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

BLOCK = 8  # the fewest rows worth a thread: two row blocks of the packed kernel's tiles
ALIGN = 4  # blocks start at multiples of the kernel's tile height

_pool = None
_pool_pid = None
_lock = threading.Lock()


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def row_blocks(rows: int, parts: int | None = None) -> tuple:
    """``rows`` cut into at most ``parts`` (default: the cores) blocks of at least ``BLOCK``
    rows, as even as multiples of ``ALIGN`` allow: ((0, m1), (m1, m2), ..., (mk, rows))."""
    parts = max(1, min(cores() if parts is None else parts, rows // BLOCK))
    bounds = [round(rows * k / parts / ALIGN) * ALIGN for k in range(parts)] + [rows]
    return tuple(zip(bounds[:-1], bounds[1:]))


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid() or _pool._max_workers < workers:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rnnlab")
            _pool_pid = os.getpid()
        return _pool


def run_blocks(loop, blocks: tuple, *args):
    """``loop(*args, start, stop)`` for every (start, stop) in ``blocks``, all at once; returns
    when every block is done, raising the first error any of them raised."""
    if len(blocks) == 1:
        loop(*args, *blocks[0])
        return
    pool = _executor(len(blocks) - 1)
    futures = [pool.submit(loop, *args, start, stop) for start, stop in blocks[1:]]
    try:
        loop(*args, *blocks[0])
    finally:
        wait(futures)  # never leave a thread writing into arrays the caller gets back
    for future in futures:
        future.result()
