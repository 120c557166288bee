"""The cost of one step of inference: ``LSTM.step`` at B = 1 against PyTorch's ``nn.LSTM``
called on a sequence of one step with its state, in the same run (float32, one thread each,
the two taking turns), for H = 64, 256 and 1024 and 1 or 2 layers.

    OPENBLAS_NUM_THREADS=1 python benchmarks/step.py
    python benchmarks/step.py --repeats 5 --json
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy is imported

import numpy as np  # noqa: E402

from rnnlab import LSTM  # noqa: E402
from rnnlab.experiments.bench import alternating_medians  # noqa: E402

SHAPES = ((1, 64, 64, 1), (1, 64, 256, 1), (1, 64, 256, 2), (1, 64, 1024, 1))  # B, I, H, L
STEPS = 100  # steps per timed call, each fed the last one's state


def calls(torch, batch, n_in, hidden, layers):
    """(rnnlab's, PyTorch's) STEPS steps of inference, as calls without arguments."""
    ours = LSTM(n_in, hidden, layers, seed=0)
    theirs = torch.nn.LSTM(n_in, hidden, layers, batch_first=True)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    theirs.eval()
    xs = np.random.default_rng(0).standard_normal((STEPS, batch, n_in)).astype(np.float32)
    xt = torch.tensor(xs).unsqueeze(2)  # (STEPS, B, 1, I)

    def rnnlab_steps():
        state = None
        for x in xs:
            _, state = ours.step(x, state)

    def torch_steps():
        state = None
        with torch.inference_mode():
            for x in xt:
                _, state = theirs(x, state)

    return rnnlab_steps, torch_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    rows = []
    for shape in SHAPES:
        ours, theirs = calls(torch, *shape)
        t_ours, t_theirs = alternating_medians([ours, theirs], args.repeats)
        row = dict(zip(("B", "I", "H", "L"), shape), rnnlab_us=1e6 * t_ours / STEPS,
                   torch_us=1e6 * t_theirs / STEPS, ratio=t_ours / t_theirs)
        rows.append(row)
        if not args.json:
            print(f"B={shape[0]} I={shape[1]:<3} H={shape[2]:<5} L={shape[3]}  rnnlab "
                  f"{row['rnnlab_us']:7.1f} us/step  torch {row['torch_us']:7.1f} us/step  "
                  f"ratio {row['ratio']:.2f}x", flush=True)
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
