"""Seeded long-range tasks that measure how far back a recurrent model remembers.

Each task draws sequences from a seed, knows its loss and metric, the metric of the best
predictor without memory (its baseline), and when it counts as solved. ``length`` is the
difficulty knob: the gap the model must bridge. :class:`FileTask` trains on a data file
instead, with the same interface.

>>> task = make_task("copy", 50)
>>> data = task.generate(1000, seed=0)  # x (1000, 70, 10), y (1000, 70)
>>> task.baseline, task.solved(0.01)
(0.297..., True)
>>> make_task(**task.config()) == task
True
"""

from __future__ import annotations

import dataclasses

from rnnlab.tasks.adding import AddingTask
from rnnlab.tasks.base import Task
from rnnlab.tasks.copy import CopyTask
from rnnlab.tasks.file import FileTask
from rnnlab.tasks.language import LanguageTask
from rnnlab.tasks.seq2seq import ReverseTask, Seq2SeqTask, SeqCopyTask, SortTask

TASKS = {"adding": AddingTask, "copy": CopyTask, "language": LanguageTask,
         "reverse": ReverseTask, "sort": SortTask, "seq-copy": SeqCopyTask}


def make_task(name: str, length: int, **options) -> Task:
    """The task registered under ``name``, at ``length``, with its ``options``.

    Parameters
    ----------
    name : {"adding", "copy", "language", "reverse", "sort", "seq-copy"}
    length : int
        T for adding, the blank span T for copy, N filler words for language, the longest
        string N for the sequence-to-sequence tasks (reverse, sort, seq-copy).
    **options
        The task's own options (language: ``pairs``; the sequence-to-sequence tasks:
        ``digits``).

    Raises
    ------
    ValueError
        For an unknown name, or a length or option out of range.
    TypeError
        For an option the task does not have, or a value of the wrong type.
    """
    if not isinstance(name, str) or name not in TASKS:
        raise ValueError(f"name must be one of {sorted(TASKS)}, got {name!r}")
    task_class = TASKS[name]
    known = [f.name for f in dataclasses.fields(task_class) if f.name != "length"]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"options {unknown} are not options of the {name} task, "
                        f"which takes {known or 'none'}")
    return task_class(length, **options)


__all__ = ["Task", "AddingTask", "CopyTask", "LanguageTask", "FileTask", "Seq2SeqTask",
           "ReverseTask", "SortTask", "SeqCopyTask", "TASKS", "make_task"]
