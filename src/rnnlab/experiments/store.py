"""The run store: every training run and its epochs, in one SQLite file.

A study's workers (several processes) write to the same file at once: the database runs in
WAL mode (readers never block the writer) with a busy timeout (writers wait their turn), and
every write is its own transaction, committed at once, so a study that is killed half way
keeps every run and epoch it had written. The few "database is locked" answers that SQLite
gives without waiting (while another process opens the file, switches it to WAL or recovers
its log) are retried until the timeout, so no write is lost to a busy moment.

Tables
------
runs
    id, study (groups the runs of one ``compare``; may be NULL), kind ("train", "compare",
    ...), task, cell, seed, config (JSON), code_version, status ("running", "finished",
    "failed", "interrupted"), started and ended (UTC ISO-8601), metrics (JSON: the final
    metrics), error (text), config_hash and worker (a sweep's points: see
    :mod:`rnnlab.experiments.study_store`).
epochs
    run_id, epoch, metrics (JSON), time (UTC ISO-8601); one row per (run_id, epoch).
studies
    name, spec (JSON), created, code_version: the sweeps (``study_store``).

A store of an older schema version is brought up to this one when it is opened, in one
transaction (:data:`rnnlab.experiments.study_store.MIGRATIONS`), its runs kept as they were.

The values (strict JSON, with NaN and infinities kept as strings; UTC times; the code
version) are :mod:`rnnlab.experiments.records`'; ``rnnlab runs`` prints them with
:mod:`rnnlab.experiments.runs_table`.

Examples
--------
>>> with RunStore("runs.db") as store:
...     with store.record(config, task="adding", cell="lstm", seed=0) as run:
...         trainer = Trainer(model, loss, optimizer, callbacks=[run.callback])
...         history = trainer.fit(train, val)
...         run.finish({"val_loss": history[-1]["val_loss"]})
...     store.runs(status="finished", task="adding")
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import time

from rnnlab._checks import integer, one_of, optional_text
from rnnlab.experiments.records import code_version, from_json, new_study_id, to_json, utc_now
from rnnlab.experiments.study_store import MIGRATIONS, STUDY_SCHEMA, Studies

DEFAULT_PATH = "rnnlab-runs.db"
SCHEMA_VERSION = 2  # PRAGMA user_version of the files this code writes
APPLICATION_ID = 0x726E6E6C  # PRAGMA application_id: "rnnl", marks a file as an rnnlab store
BUSY_TIMEOUT = 30.0  # seconds a writer waits for another process's transaction to end
RETRY_DELAY = (0.001, 0.05)  # first and longest sleep between retries of a busy statement
STATUSES = ("running", "finished", "failed", "interrupted")
END_STATUSES = ("finished", "failed", "interrupted")
RUN_COLUMNS = ("id", "study", "kind", "task", "cell", "seed", "status", "started", "ended",
               "code_version", "config", "metrics", "error", "config_hash", "worker")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    study TEXT,
    kind TEXT NOT NULL,
    task TEXT,
    cell TEXT,
    seed INTEGER,
    config TEXT NOT NULL,
    code_version TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),
    started TEXT NOT NULL,
    ended TEXT,
    metrics TEXT,
    error TEXT,
    config_hash TEXT,
    worker TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_study ON runs (study);
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    time TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;
""" + STUDY_SCHEMA


def _store_path(path) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike naming a SQLite file, "
                        f"got {type(path).__name__} {path!r}")
    path = os.fspath(path)
    if isinstance(path, bytes):
        raise TypeError(f"path must be a str or os.PathLike of str, got bytes {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"path must name an rnnlab run store (a SQLite file), "
                         f"got the directory {path!r}")
    return path


# -- the store -----------------------------------------------------------------------------
class RunStore(Studies):
    """The runs of rnnlab experiments and their epochs, in one SQLite file.

    Parameters
    ----------
    path : str or os.PathLike
        The database file, relative to the current directory unless absolute; created with
        its schema when missing. A directory, or a file that is not an rnnlab store, is
        refused with ``ValueError``.
    timeout : float
        Seconds a write waits for another process's transaction before it gives up.

    Notes
    -----
    Open one store per process (and per thread): SQLite connections are not shared. Every
    method that writes commits before it returns.
    """

    def __init__(self, path=DEFAULT_PATH, timeout: float = BUSY_TIMEOUT):
        self.path = _store_path(path)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        self.timeout = float(timeout)
        self._conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            self._retry(self._open)
        except BaseException:
            self._conn.close()
            raise

    # -- retries -----------------------------------------------------------------------
    def _retry(self, action, *args):
        """``action(*args)``, retried while SQLite answers "locked" or "busy", up to ``timeout``.

        SQLite's busy timeout already waits for most locks; this covers the moments it does
        not (another process opening, switching to WAL or recovering the log). A statement
        that failed so did nothing, so trying it again is safe.
        """
        deadline = time.monotonic() + self.timeout
        delay = RETRY_DELAY[0]
        while True:
            try:
                return action(*args)
            except sqlite3.OperationalError as err:
                text = str(err)
                if "locked" not in text and "busy" not in text:
                    raise
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError(
                        f"{text}: the run store {self.path!r} stayed busy for "
                        f"{self.timeout:g} s (another process holds it)") from err
            time.sleep(delay * (1 + random.random()))  # jitter: writers do not retry in step
            delay = min(2 * delay, RETRY_DELAY[1])

    def _execute(self, sql: str, params=()):
        """Run one statement (its own transaction), retried while the file is busy."""
        return self._retry(self._conn.execute, sql, params)

    def _rows(self, sql: str, params=()) -> list:
        """Every row a query returns, retried while the file is busy."""
        return self._retry(lambda: self._conn.execute(sql, params).fetchall())

    # -- opening -----------------------------------------------------------------------
    def _open(self) -> None:
        """Check the file is an rnnlab store (or empty), switch to WAL, create the schema
        (or bring an older one up to date)."""
        current = self._check_identity() == "store" and self._version() == SCHEMA_VERSION
        self._use_wal()
        self._conn.execute("PRAGMA foreign_keys = ON")
        if not current:
            self._create_schema()

    def _version(self) -> int:
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def _create_schema(self) -> None:
        """Create the tables, or migrate those of an older version, unless another process
        has just done so (checked under lock)."""
        self._conn.execute("BEGIN IMMEDIATE")  # one process creates the schema, others wait
        try:
            if self._check_identity() == "empty":
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            else:
                for version in range(self._version() + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[version]:
                        self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA user_version = {version}")
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def _check_identity(self) -> str:
        """"store" for an rnnlab store, "empty" for an empty database; raise otherwise."""
        try:  # one statement, one snapshot: never a creation half seen by another process
            app_id, version, tables = self._conn.execute(
                "SELECT (SELECT application_id FROM pragma_application_id), "
                "(SELECT user_version FROM pragma_user_version), "
                "(SELECT count(*) FROM sqlite_master)").fetchone()
        except sqlite3.OperationalError:  # e.g. locked: not a verdict on the file
            raise
        except sqlite3.DatabaseError as err:
            what = ("a damaged SQLite database" if "malformed" in str(err)
                    else "not a SQLite database")
            raise ValueError(f"path must name an rnnlab run store (a SQLite file), got "
                             f"{self.path!r}, which is {what} ({err})") from None
        if app_id == APPLICATION_ID:
            if version > SCHEMA_VERSION:
                raise ValueError(f"path {self.path!r} is an rnnlab run store of schema version "
                                 f"{version}, newer than this rnnlab's {SCHEMA_VERSION}: "
                                 f"upgrade rnnlab to read it")
            return "store"
        if app_id == 0 and tables == 0:
            return "empty"
        raise ValueError(f"path must name an rnnlab run store, got {self.path!r}, a SQLite "
                         f"database of another application (application_id {app_id}, "
                         f"{tables} schema objects)")

    def _use_wal(self) -> None:
        """Switch the file to WAL journal mode (persistent), waiting out other processes.

        Changing the journal mode does not always wait on SQLite's busy handler, so a
        "database is locked" is retried here until ``timeout``.
        """
        if self._conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            return
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
                continue
            if mode.lower() != "wal":
                raise ValueError(f"path {self.path!r} cannot use WAL journal mode "
                                 f"(SQLite kept {mode!r}); is it on a network file system?")
            return

    def close(self) -> None:
        """Close the connection; everything written is already committed."""
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self) -> str:
        return f"RunStore({self.path!r})"

    new_study_id = staticmethod(new_study_id)

    # -- writing -----------------------------------------------------------------------
    def start_run(self, config: dict, *, seed=None, study=None, kind: str = "train",
                  task=None, cell=None) -> int:
        """Record a new run, status "running"; return its id.

        Parameters
        ----------
        config : dict
            Everything that defines the run (stored as JSON).
        seed : int, optional
        study : str, optional
            Groups the runs of one study (``new_study_id()``).
        kind : str
            What the run is: "train", "compare", ...
        task, cell : str, optional
            The task's and the recurrent cell's names, for filtering.
        """
        config_json = to_json(config, "config")
        seed = None if seed is None else integer(seed, "seed")
        if not isinstance(kind, str) or not kind:
            raise TypeError(f"kind must be a non-empty str, got {type(kind).__name__} {kind!r}")
        for name, value in (("study", study), ("task", task), ("cell", cell)):
            optional_text(value, name)
        cursor = self._execute(
            "INSERT INTO runs (study, kind, task, cell, seed, config, code_version, status,"
            " started) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?)",
            (study, kind, task, cell, seed, config_json, code_version(), utc_now()))
        return int(cursor.lastrowid)

    def log_epoch(self, run_id: int, epoch: int, metrics: dict) -> None:
        """Record the metrics of one epoch; logging an epoch again replaces it.

        Parameters
        ----------
        run_id : int
        epoch : int
            >= 0 (the Trainer counts from 1; 0 may hold a measurement before training).
        metrics : dict
            May hold an "epoch" entry, if it equals ``epoch`` (a Trainer record does).
        """
        run_id = self._known_run(run_id)
        epoch = integer(epoch, "epoch", minimum=0)
        if isinstance(metrics, dict) and "epoch" in metrics:
            if metrics["epoch"] != epoch:
                raise ValueError(f"metrics['epoch'] must equal epoch = {epoch}, "
                                 f"got {metrics['epoch']!r}")
            metrics = {k: v for k, v in metrics.items() if k != "epoch"}
        metrics_json = to_json(metrics, "metrics")
        self._execute(
            "INSERT OR REPLACE INTO epochs (run_id, epoch, metrics, time) VALUES (?, ?, ?, ?)",
            (run_id, epoch, metrics_json, utc_now()))

    def finish_run(self, run_id: int, metrics: dict | None, status: str = "finished",
                   error: str | None = None) -> None:
        """End a running run: its final metrics, its end status and time, and any error.

        Parameters
        ----------
        run_id : int
            A run whose status is still "running".
        metrics : dict or None
            The final metrics (None: none, e.g. for a run that failed).
        status : {"finished", "failed", "interrupted"}
        error : str, optional
            What went wrong.
        """
        run_id = self._known_run(run_id)
        metrics_json = None if metrics is None else to_json(metrics, "metrics")
        one_of(status, "status", END_STATUSES)
        optional_text(error, "error")
        cursor = self._execute(
            "UPDATE runs SET status = ?, ended = ?, metrics = ?, error = ?"
            " WHERE id = ? AND status = 'running'",
            (status, utc_now(), metrics_json, error, run_id))
        if cursor.rowcount == 0:
            current = self._rows("SELECT status FROM runs WHERE id = ?", (run_id,))[0][0]
            raise ValueError(f"run_id must name a running run, got {run_id}, "
                             f"which is already {current!r}")

    @contextlib.contextmanager
    def record(self, config: dict, **fields):
        """Record a run around a block of code.

        Starts a run (``fields`` as for ``start_run``) and yields a ``Recording``. Leaving
        the block normally finishes the run, with the metrics given to ``.finish()`` (or
        none). An exception marks it "failed" with the error text, a KeyboardInterrupt (or
        SystemExit) "interrupted", and propagates; a run already finished stays so.

        Examples
        --------
        >>> with store.record(config, task="copy", cell="gru", seed=3) as run:
        ...     run.log_epoch(1, {"loss": 0.7})
        ...     run.finish({"accuracy": 0.98})
        """
        recording = Recording(self, self.start_run(config, **fields))
        try:
            yield recording
        except (KeyboardInterrupt, SystemExit) as err:
            if not recording.finished:
                self.finish_run(recording.id, None, "interrupted", _describe(err))
            raise
        except BaseException as err:
            if not recording.finished:
                self.finish_run(recording.id, None, "failed", _describe(err))
            raise
        if not recording.finished:
            recording.finish(None)

    # -- reading -----------------------------------------------------------------------
    def runs(self, *, status=None, study=None, task=None, cell=None, kind=None,
             limit=None) -> list:
        """The runs that match every filter given, newest first.

        Parameters
        ----------
        status : {"running", "finished", "failed", "interrupted"}, optional
        study, task, cell, kind : str, optional
        limit : int, optional
            At most this many runs (the newest).

        Returns
        -------
        list of dict
            Each with id, study, kind, task, cell, seed, status, started, ended,
            code_version, config (a dict), metrics (a dict or None), error, and
            config_hash (a sweep's points) and worker (runs trained on Dask), else None.
        """
        if status is not None:
            one_of(status, "status", STATUSES)
        filters = {"status": status, "study": study, "task": task, "cell": cell, "kind": kind}
        for name in ("study", "task", "cell", "kind"):
            optional_text(filters[name], name)
        where = [(f"{name} = ?", value) for name, value in filters.items() if value is not None]
        sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(clause for clause, _ in where)
        sql += " ORDER BY started DESC, id DESC"
        params = [value for _, value in where]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(integer(limit, "limit", minimum=1))
        return [_run_dict(row) for row in self._rows(sql, params)]

    def get(self, run_id: int) -> dict:
        """One run, as ``runs()`` returns it."""
        rows = self._rows(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE id = ?",
                          (integer(run_id, "run_id"),))
        if not rows:
            raise ValueError(self._unknown(run_id))
        return _run_dict(rows[0])

    def epochs(self, run_id: int) -> list:
        """The epochs of a run in order, each ``{"epoch": e, **metrics}``."""
        run_id = self._known_run(run_id)
        rows = self._rows("SELECT epoch, metrics FROM epochs WHERE run_id = ? ORDER BY epoch",
                          (run_id,))
        return [{"epoch": epoch, **json.loads(metrics)} for epoch, metrics in rows]

    def _known_run(self, run_id) -> int:
        run_id = integer(run_id, "run_id")
        if not self._rows("SELECT 1 FROM runs WHERE id = ?", (run_id,)):
            raise ValueError(self._unknown(run_id))
        return run_id

    def _unknown(self, run_id) -> str:
        return f"run_id must name a run of the store {self.path!r}, got {run_id} (no such run)"


class Recording:
    """A run being recorded (see ``RunStore.record``).

    Attributes
    ----------
    id : int
        The run's id.
    finished : bool
        Whether ``finish`` was called.
    callback : callable
        A Trainer callback that logs every epoch of this run (``epoch_callback``).
    """

    def __init__(self, store: RunStore, run_id: int):
        self.store, self.id, self.finished = store, run_id, False
        self.callback = epoch_callback(store, run_id)

    def log_epoch(self, epoch: int, metrics: dict) -> None:
        """Record one epoch's metrics (``RunStore.log_epoch``)."""
        self.store.log_epoch(self.id, epoch, metrics)

    def finish(self, metrics: dict | None) -> None:
        """End the run as "finished" with its final metrics."""
        self.store.finish_run(self.id, metrics)
        self.finished = True


def epoch_callback(store: RunStore, run_id: int):
    """A Trainer callback that logs each epoch's record into ``store`` under ``run_id``.

    Returns
    -------
    callable
        ``callback(trainer, record)``: stores ``record`` (a Trainer epoch record, with its
        "epoch") as that epoch's metrics.
    """
    if not isinstance(store, RunStore):
        raise TypeError(f"store must be a RunStore, got {type(store).__name__}")
    run_id = store._known_run(run_id)

    def callback(trainer, record: dict) -> None:
        store.log_epoch(run_id, record["epoch"], record)

    return callback


def _run_dict(row) -> dict:
    run = dict(zip(RUN_COLUMNS, row))
    run["config"] = from_json(run["config"])
    run["metrics"] = from_json(run["metrics"])
    return run


def _describe(err: BaseException) -> str:
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
