"""Long-run stability: 10,000 SGD updates of vanilla RNNs whose gradients explode, with and
without gradient clipping (docs/reliability.md, "Long runs").

    python benchmarks/long_run.py            # about 20 s on 2 cores

Adding task, T = 20, batches of 16 fresh sequences, 16 hidden units, SGD with lr 0.1; W_hh
rescaled to a largest singular value of 3 (tanh) or 1.5 (ReLU) at init (Pascanu et al.
2013: above 1 (tanh) the gradients can explode).
"""

from __future__ import annotations

import time

import numpy as np

from rnnlab import RNN, LastStep, Linear, Sequential, TrainConfig, Trainer, TrainingDiverged
from rnnlab.losses import mse_loss
from rnnlab.optim import SGD
from rnnlab.tasks import make_task

UPDATES = 10_000


def exploding_rnn(nonlinearity: str, lambda1: float, hidden: int = 16, seed: int = 0):
    rnn = RNN(2, hidden, nonlinearity=nonlinearity, seed=seed)
    w = rnn.parameters()["weight_hh_l0"]
    w *= lambda1 / np.linalg.svd(w, compute_uv=False)[0]
    return Sequential(rnn, LastStep(), Linear(hidden, 1, seed=seed))


def run(nonlinearity: str, lambda1: float, clip: float | None) -> str:
    model = exploding_rnn(nonlinearity, lambda1)
    trainer = Trainer(model, mse_loss, SGD(model, lr=0.1),
                      TrainConfig(updates=UPDATES, eval_every=1_000, batch_size=16,
                                  clip_norm=clip))
    began = time.perf_counter()
    try:
        history = trainer.fit(make_task("adding", 20).stream(0))
    except TrainingDiverged as err:
        return f"diverged: {str(err).split('. The weights')[0]}"
    finite = all(np.isfinite(p).all() for p in model.parameters().values())
    return (f"{trainer.updates} updates, weights finite: {finite}, last loss "
            f"{history[-1]['train_loss']:.4f}, largest mean gradient norm "
            f"{max(r['grad_norm'] for r in history):.2f} ({time.perf_counter() - began:.1f} s)")


def main() -> None:
    for nonlinearity, lambda1 in (("tanh", 3.0), ("relu", 1.5)):
        for clip in (1.0, None):
            print(f"{nonlinearity:4s} lambda_1 = {lambda1:3.1f}  clip {clip!s:4s}  "
                  f"{run(nonlinearity, lambda1, clip)}")


if __name__ == "__main__":
    main()
