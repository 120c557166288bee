"""Experiments: the run store (SQLite), and the studies that write to it."""

from rnnlab.experiments.store import (
    RunStore, Recording, epoch_callback, format_runs, new_study_id,
)

__all__ = ["RunStore", "Recording", "epoch_callback", "format_runs", "new_study_id"]
