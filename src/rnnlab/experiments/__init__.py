"""Experiments: one run on a task, comparisons, the gradient-flow chart, plots, the demo,
and the run store (SQLite) they write to."""

from rnnlab.experiments.compare import compare, format_table, summarize
from rnnlab.experiments.models import build_model
from rnnlab.experiments.records import new_study_id
from rnnlab.experiments.runner import RunConfig, run_task
from rnnlab.experiments.runs_table import format_runs
from rnnlab.experiments.store import RunStore, Recording, epoch_callback

__all__ = ["RunStore", "Recording", "epoch_callback", "format_runs", "new_study_id",
           "RunConfig", "build_model", "run_task", "compare", "format_table", "summarize"]
