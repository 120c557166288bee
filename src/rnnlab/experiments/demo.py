"""``rnnlab demo``: the first thing a new user runs, a few minutes on 2 CPU cores.

1. a tutorial's worked example of BPTT (a scalar RNN, one step), every number;
2. gradient flow through time, RNN vs LSTM, measured on the adding problem (T = 100);
3. tanh RNN, LSTM (forget bias 1), LSTM with chrono initialization and GRU compared on a
   long-gap language task ("I grew up in France . <N words> I speak fluent ___") up to
   N = 300, the same budget of fresh sentences for each, recorded in the run store.
Pictures go to ``out``; the runs to the store at ``db``.
"""

from __future__ import annotations

import os
import time

import numpy as np

from rnnlab.experiments.compare import compare, format_table, summarize
from rnnlab.experiments.gradflow import bar_chart, gradient_flow, summary_lines
from rnnlab.experiments.plots import plot_compare, plot_gradient_flow, plot_jacobians
from rnnlab.experiments.runner import RunConfig
from rnnlab.experiments.store import RunStore, new_study_id
from rnnlab.explain import format_trace, trace

# The comparison's budget: the same for every cell, small enough for the demo's time on 2
# cores. One learning rate (Adam, 1e-2, the best of rnnlab compare's grid for these cells
# at H = 32); `rnnlab compare` chooses it per cell on validation data and runs 3 seeds.
DEMO_COMPARE = RunConfig(task="language", length=10, hidden_size=32, updates=600,
                         eval_every=50, batch_size=32, n_val=200, n_test=500, lr=1e-2)
DEMO_LENGTHS = (10, 30, 100, 300)
DEMO_CELLS = ("rnn", "lstm", "lstm-chrono", "gru")


def run_demo(out: str = "rnnlab-out", db: str = "rnnlab-runs.db", seed: int = 0,
             say=print) -> dict:
    """Run the three parts, printing as it goes; return the paths of the pictures and the
    comparison's rows."""
    began = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    say("=" * 78)
    say("1. A worked example: one step of BPTT by hand, every number, checked by the library")
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
    budget = (f"{DEMO_COMPARE.updates} updates of {DEMO_COMPARE.batch_size} fresh sentences, "
              f"Adam lr {DEMO_COMPARE.lr:g}")
    say(f"Training {len(DEMO_CELLS) * len(DEMO_LENGTHS)} models ({', '.join(DEMO_CELLS)}), "
        f"N = {', '.join(map(str, DEMO_LENGTHS))} filler words, H = "
        f"{DEMO_COMPARE.hidden_size}, each {budget}, stopped once solved.")
    with RunStore(db) as store:
        study = new_study_id()
        rows = compare(DEMO_COMPARE, DEMO_CELLS, DEMO_LENGTHS, [seed], store=store,
                       study=study)
    say(format_table(rows, task.describe()))
    say("")
    say(verdict(rows, budget))
    pictures.append(plot_compare(rows, os.path.join(out, "compare-language.png"),
                                 "Long-gap language task: accuracy and updates to solve "
                                 "against the gap"))
    say("")
    say(f"Pictures: {', '.join(pictures)}")
    say(f"Runs recorded in {db}: rnnlab runs --db {db} --study {study}")
    say(f"Done in {time.perf_counter() - began:.0f} s.")
    return {"pictures": pictures, "rows": rows, "study": study}


def verdict(rows: list, budget: str) -> str:
    """One sentence saying what the comparison's table shows, from its horizons."""
    horizons = {v: info["horizon"] for v, info in summarize(rows).items()}
    reach = ", ".join(f"{v} {h if h is not None else 'none'}" for v, h in horizons.items())
    line = f"With the same budget for every cell ({budget}), the memory horizons are: {reach}."
    chrono, plain = horizons.get("lstm-chrono"), horizons.get("lstm")
    if chrono is not None and (plain is None or chrono > plain):
        line += (" The same LSTM reaches further with chrono initialization: how far an "
                 "LSTM remembers is set by its forget gates' time constants at "
                 "initialization (Tallec & Ollivier 2018): a forget bias of 1 gives every "
                 "unit 1 + e, under 4 steps; chrono spreads them up to the sequence's "
                 "length.")
    return line
