"""Train a many-to-one LSTM classifier by hand-written BPTT and plain gradient descent.

The task: noisy sine waves of 10 to 40 steps, random phase and amplitude, each labelled by
its frequency (one of three). The model reads each sequence to its own last step (padding
never counts) and names the frequency there.

    python examples/quickstart.py            # about 20 s on 2 cores
"""

from __future__ import annotations

import argparse

import numpy as np

import rnnlab


FREQUENCIES = (0.05, 0.1, 0.2)  # cycles per step


def make_data(n: int, rng: np.random.Generator):
    """x (n, 40, 1) padded, lengths (n,) in [10, 40], labels y (n,) in {0, 1, 2}."""
    lengths = rng.integers(10, 41, size=n)
    y = rng.integers(0, len(FREQUENCIES), size=n)
    t = np.arange(40)[None, :]
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    amplitude = rng.uniform(0.5, 2.0, size=(n, 1))
    wave = amplitude * np.sin(2 * np.pi * np.take(FREQUENCIES, y)[:, None] * t + phase)
    x = wave + 0.2 * rng.standard_normal(wave.shape)
    x[t >= lengths[:, None]] = 0.0  # padding
    return x[..., None].astype(np.float32), lengths, y


def main(epochs: int = 30, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    x_train, len_train, y_train = make_data(1024, rng)
    x_test, len_test, y_test = make_data(512, rng)
    model = rnnlab.Sequential(rnnlab.LSTM(1, 32, seed=seed), rnnlab.LastStep(),
                              rnnlab.Linear(32, len(FREQUENCIES), seed=seed))
    print(model)
    print(f"{model.num_parameters()} parameters")
    lr, batch = 0.5, 64
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        total = 0.0
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            model.zero_grad()
            logits = model.forward(x_train[idx], lengths=len_train[idx])
            loss, d_logits = rnnlab.cross_entropy(logits, y_train[idx])
            model.backward(d_logits)  # BPTT through every step of every sequence
            params, grads = model.parameters(), model.gradients()
            for name in params:
                params[name] -= lr * grads[name]  # W <- W - eta dL/dW
            total += loss * len(idx)
        if epoch % 5 == 0 or epoch == 1:
            accuracy = np.mean(model.forward(x_test, lengths=len_test).argmax(-1) == y_test)
            print(f"epoch {epoch:3d}  train loss {total / len(order):.4f}  "
                  f"test accuracy {accuracy:.3f}")
    return float(np.mean(model.forward(x_test, lengths=len_test).argmax(-1) == y_test))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.epochs, args.seed)
