"""``rnnlab demo``: the first thing a new user runs, a few minutes on 2 CPU cores.

1. the seeds' worked example, every number of one BPTT step;
2. gradient flow through time, RNN vs LSTM, measured on the adding problem (T = 100);
3. a small RNN vs LSTM vs GRU comparison on the seeds' long-gap language task
   ("I grew up in France . <N words> I speak fluent ___"), recorded in the run store.
Pictures go to ``out``; the runs to the store at ``db``.
"""

from __future__ import annotations

import os
import time

import numpy as np

from rnnlab.experiments.compare import compare, format_table
from rnnlab.experiments.gradflow import bar_chart, gradient_flow, summary_lines
from rnnlab.experiments.plots import plot_compare, plot_gradient_flow, plot_jacobians
from rnnlab.experiments.runner import RunConfig
from rnnlab.experiments.store import RunStore, new_study_id
from rnnlab.explain import format_trace, trace

# The comparison's budget: small enough for a few minutes on 2 cores, big enough that the
# cells separate. Every run gets all 15 epochs: stopping once the 300 validation sentences
# reached 0.9 once ended the LSTM at N = 5 after one epoch with 0.864 on the test set,
# unsolved, on a rounding-level change elsewhere; the same budget for every cell is also the
# fairer comparison (and the whole part takes about as long: ~25 s).
DEMO_COMPARE = RunConfig(task="language", length=20, hidden_size=32, epochs=15, n_train=2000,
                         n_val=300, n_test=1000, lr=1e-2, batch_size=32,
                         stop_when_solved=False)
DEMO_LENGTHS = (5, 10, 20, 40)
DEMO_CELLS = ("rnn", "lstm", "gru")


def run_demo(out: str = "rnnlab-out", db: str = "rnnlab-runs.db", seed: int = 0,
             say=print) -> dict:
    """Run the three parts, printing as it goes; return the paths of the pictures and the
    comparison's rows."""
    began = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    say("=" * 78)
    say("1. The seeds' worked example: one step of BPTT by hand, checked by the library")
    say("=" * 78)
    say(format_trace(trace()))

    say("")
    say("=" * 78)
    say("2. Gradient flow through time: how much of the loss's gradient reaches step t")
    say("=" * 78)
    say("Adding problem, T = 100, H = 64, loss at the last step, initial weights, float64.")
    flow = gradient_flow(("rnn", "lstm"), length=100, hidden_size=64, batch=32, seed=seed)
    say(bar_chart(flow))
    say("")
    for line in summary_lines(flow):
        say(line)
    pictures = [plot_gradient_flow(flow, os.path.join(out, "gradflow.png")),
                plot_jacobians(flow, os.path.join(out, "jacobian.png"))]

    say("")
    say("=" * 78)
    say("3. RNN vs LSTM vs GRU on the long-gap language task")
    say("=" * 78)
    task = DEMO_COMPARE.make_task()
    example = task.generate(1, np.random.default_rng(seed))
    say(f'Example (N = {task.length}): "{task.decode(example.x[0])} ___"  answer: '
        f'{task.languages[int(example.y[0])]}')
    say(f"Training {len(DEMO_CELLS) * len(DEMO_LENGTHS)} models, N = "
        f"{', '.join(map(str, DEMO_LENGTHS))} filler words, H = {DEMO_COMPARE.hidden_size}, "
        f"{DEMO_COMPARE.epochs} epochs of {DEMO_COMPARE.n_train} sentences each.")
    with RunStore(db) as store:
        study = new_study_id()
        rows = compare(DEMO_COMPARE, DEMO_CELLS, DEMO_LENGTHS, [seed], store=store,
                       study=study)
    say(format_table(rows, task.describe()))
    pictures.append(plot_compare(rows, os.path.join(out, "compare-language.png"),
                                 "Long-gap language task: accuracy against the gap"))
    say("")
    say(f"Pictures: {', '.join(pictures)}")
    say(f"Runs recorded in {db}: rnnlab runs --db {db} --study {study}")
    say(f"Done in {time.perf_counter() - began:.0f} s.")
    return {"pictures": pictures, "rows": rows, "study": study}
