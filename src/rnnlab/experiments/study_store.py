"""The run store's studies: a sweep recorded as one study row and one run row per point.

A sweep (:mod:`rnnlab.experiments.engine`) records its study once (its name, its spec as
JSON, when it was created and by which code version), and each of its points as a run of
kind "sweep" whose ``study`` is the study's name and whose ``config_hash`` identifies the
point (:func:`rnnlab.experiments.sweep.config_hash`): a resumed sweep skips the points whose
hash it finds done. A point's row and its evaluations (the ``epochs`` table) are written in
one transaction when the point comes back, so a point is never half recorded.

Tables added by schema version 2
--------------------------------
studies
    name (primary key), spec (JSON), created (UTC ISO-8601), code_version.
runs (new columns)
    config_hash (a point's identity; NULL for the runs of train and compare), worker (the
    address of the Dask worker that trained the run: a sweep's points, the runs of
    ``compare --workers``; NULL elsewhere).

A store of version 1 gains them when it is opened (:data:`MIGRATIONS`); its runs stay as
they were, with NULL in the new columns.
"""

from __future__ import annotations

from rnnlab.experiments.records import code_version, from_json, to_json, utc_now

STUDY_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    created TEXT NOT NULL,
    code_version TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_config_hash ON runs (study, config_hash);
"""
# schema version -> the statements that bring a store of the version before it to it
MIGRATIONS = {
    2: ["ALTER TABLE runs ADD COLUMN config_hash TEXT",
        "ALTER TABLE runs ADD COLUMN worker TEXT",
        *[s for s in STUDY_SCHEMA.split(";") if s.strip()]],
}
SWEEP_KIND = "sweep"  # the kind of a point's run row
DIVERGED = "TrainingDiverged"  # how the error of a point that diverged begins


def _name(value, name: str = "study") -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"{name} must be a non-empty str, got {type(value).__name__} "
                        f"{value!r}")
    return value


class Studies:
    """The study methods of :class:`rnnlab.experiments.RunStore` (a mixin: it uses the
    store's connection and its retries, ``_execute``, ``_rows`` and ``_retry``)."""

    def start_study(self, name: str, spec: dict, resume: bool = False) -> dict:
        """Record the study ``name`` with its ``spec``, or, with ``resume``, continue it.

        Parameters
        ----------
        name : str
        spec : dict
            The study's spec (stored as JSON); a resumed study keeps the spec it was last
            started with.
        resume : bool
            Whether a study of this name may already be there. Without it, one that is
            there is refused with ``ValueError`` (a new study needs a new name).

        Returns
        -------
        dict
            The study, as :meth:`study` returns it.
        """
        name = _name(name, "name")
        spec_json = to_json(spec, "spec")
        if self.study(name) is not None:
            if not resume:
                raise ValueError(f"name {name!r} is already a study in the run store "
                                 f"{self.path!r}: resume it, or give the new study a new name")
            self._execute("UPDATE studies SET spec = ? WHERE name = ?", (spec_json, name))
        else:
            self._execute("INSERT INTO studies (name, spec, created, code_version)"
                          " VALUES (?, ?, ?, ?)", (name, spec_json, utc_now(), code_version()))
        return self.study(name)

    def study(self, name: str) -> dict | None:
        """The study ``name`` (name, spec as a dict, created, code_version), or None."""
        rows = self._rows("SELECT name, spec, created, code_version FROM studies"
                          " WHERE name = ?", (_name(name),))
        return _study_dict(rows[0]) if rows else None

    def studies(self) -> list:
        """Every study, oldest first, as :meth:`study` returns them."""
        rows = self._rows("SELECT name, spec, created, code_version FROM studies"
                          " ORDER BY created, name")
        return [_study_dict(row) for row in rows]

    def start_point(self, study: str, config: dict, config_hash: str, *, seed=None,
                    task=None, cell=None) -> int:
        """Record a point of ``study`` as running (kind "sweep"); return its run id."""
        for value, name in ((study, "study"), (config_hash, "config_hash")):
            _name(value, name)
        cursor = self._execute(
            "INSERT INTO runs (study, kind, task, cell, seed, config, config_hash, code_version,"
            " status, started) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)",
            (study, SWEEP_KIND, task, cell, seed, to_json(config, "config"), config_hash,
             code_version(), utc_now()))
        return int(cursor.lastrowid)

    def finish_point(self, run_id: int, status: str, metrics: dict | None = None,
                     error: str | None = None, worker: str | None = None,
                     started: str | None = None, epochs=()) -> None:
        """End a running point: its status, metrics, error, worker, times and evaluations,
        all in one transaction.

        Parameters
        ----------
        run_id : int
            A point started by :meth:`start_point` and still running.
        status : {"finished", "failed", "interrupted"}
        metrics : dict, optional
        error : str, optional
        worker : str, optional
            The address of the worker that trained it.
        started : str, optional
            When it began on its worker (UTC ISO-8601); the time it was submitted if None.
        epochs : sequence of dict
            Its evaluations, each a Trainer record with its "epoch".
        """
        if status not in ("finished", "failed", "interrupted"):
            raise ValueError(f"status must be 'finished', 'failed' or 'interrupted', "
                             f"got {status!r}")
        metrics_json = None if metrics is None else to_json(metrics, "metrics")
        rows = [(run_id, int(e["epoch"]), to_json({k: v for k, v in e.items() if k != "epoch"},
                                                  "epochs"), utc_now()) for e in epochs]

        def write():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany("INSERT OR REPLACE INTO epochs (run_id, epoch, metrics,"
                                       " time) VALUES (?, ?, ?, ?)", rows)
                done = self._conn.execute(
                    "UPDATE runs SET status = ?, ended = ?, metrics = ?, error = ?,"
                    " worker = ?, started = coalesce(?, started)"
                    " WHERE id = ? AND status = 'running'",
                    (status, utc_now(), metrics_json, error, worker, started, run_id))
                if done.rowcount != 1:
                    raise ValueError(f"run_id must name a running point, got {run_id}")
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

        self._retry(write)

    def done_points(self, study: str) -> set:
        """The config hashes of the points of ``study`` whose outcome is recorded: finished,
        or failed by diverging (training is decided by the config: it would diverge again).
        """
        rows = self._rows("SELECT config_hash FROM runs WHERE study = ? AND kind = ? AND"
                          " (status = 'finished' OR (status = 'failed' AND error LIKE ?))",
                          (_name(study), SWEEP_KIND, DIVERGED + "%"))
        return {row[0] for row in rows}

    def interrupt_points(self, study: str, why: str) -> int:
        """Mark the points of ``study`` still "running" as "interrupted" with ``why``;
        return how many (a client that was killed left them so)."""
        cursor = self._execute("UPDATE runs SET status = 'interrupted', ended = ?, error = ?"
                               " WHERE study = ? AND kind = ? AND status = 'running'",
                               (utc_now(), why, _name(study), SWEEP_KIND))
        return cursor.rowcount


def _study_dict(row) -> dict:
    name, spec, created, version = row
    return {"name": name, "spec": from_json(spec), "created": created, "code_version": version}
