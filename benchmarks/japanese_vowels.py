"""JapaneseVowels with an LSTM: rnnlab's RNNClassifier against PyTorch, same recipe.

Both start from the same initial weights (rnnlab's, copied into ``torch.nn.LSTM``), see the
same standardized data in the same batches, and train with Adam (lr 1e-2), gradient clipping
at norm 1 and cross-entropy on the last valid step, for 60 epochs of batches of 32. Prints
test accuracy and seconds for each seed and a summary.

    python benchmarks/japanese_vowels.py --seeds 0 1 2 3 4    # needs rnnlab[data], torch
    python benchmarks/japanese_vowels.py --no-torch           # rnnlab alone
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rnnlab.data import SequenceData, pad_sequences
from rnnlab.datasets import load_ucr_uea
from rnnlab.estimators import RNNClassifier

RECIPE = dict(cell="lstm", hidden_size=64, epochs=60, lr=1e-2)


def run_rnnlab(data, seed: int) -> tuple:
    X_train, y_train, X_test, y_test = data
    began = time.perf_counter()
    clf = RNNClassifier(**RECIPE, random_state=seed).fit(X_train, y_train)
    seconds = time.perf_counter() - began
    return clf.score(X_test, y_test), seconds, clf


def run_torch(data, clf, seed: int) -> tuple:
    """The same recipe in PyTorch, from ``clf``'s initial weights and batch order."""
    import torch

    from rnnlab.training import TrainConfig

    X_train, y_train, X_test, y_test = data
    torch.manual_seed(seed)
    model = torch.nn.LSTM(clf.n_features_in_, RECIPE["hidden_size"], batch_first=True)
    head = torch.nn.Linear(RECIPE["hidden_size"], len(clf.classes_))
    model_seed, data_seed = clf._seeds()
    steps = max(len(x) for x in X_train)  # used by chrono="auto" only
    init = clf._build_model(len(clf.classes_), model_seed, steps).state_dict()  # clf's start
    model.load_state_dict({k[2:]: torch.tensor(v) for k, v in init.items() if k[0] == "0"})
    head.load_state_dict({k[2:]: torch.tensor(v) for k, v in init.items() if k[0] == "2"})
    params = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(params, lr=RECIPE["lr"])

    def logits(x, lengths):
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            torch.tensor(x), torch.tensor(lengths), batch_first=True, enforce_sorted=False)
        _, (h_n, _) = model(packed)
        return head(h_n[-1])

    x, lengths = pad_sequences(clf._standardize(X_train), np.float32)
    codes = np.searchsorted(clf.classes_, y_train)
    began = time.perf_counter()
    config = TrainConfig(epochs=RECIPE["epochs"])
    train = SequenceData(x, codes, lengths)
    for epoch in range(config.epochs):
        rng = np.random.default_rng([data_seed, epoch])
        for xb, yb, lb in train.batches(config.batch_size, True, rng):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(logits(xb, lb), torch.tensor(yb))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.clip_norm)
            optimizer.step()
    seconds = time.perf_counter() - began
    xt, lt = pad_sequences(clf._standardize(X_test), np.float32)
    with torch.no_grad():
        predicted = clf.classes_[logits(xt, lt).argmax(dim=1).numpy()]
    return float(np.mean(predicted == y_test)), seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-torch", action="store_true", help="run rnnlab only")
    args = parser.parse_args(argv)
    X_train, y_train = load_ucr_uea("JapaneseVowels", "train")
    X_test, y_test = load_ucr_uea("JapaneseVowels", "test")
    data = (X_train, y_train, X_test, y_test)
    print(f"JapaneseVowels: train {len(X_train)}, test {len(X_test)}; recipe {RECIPE}, "
          f"batch 32, Adam, clip_norm 1.0")
    print(f"{'seed':>4}  {'rnnlab acc':>10}  {'seconds':>7}  {'torch acc':>9}  {'seconds':>7}")
    ours, theirs = [], []
    for seed in args.seeds:
        accuracy, seconds, clf = run_rnnlab(data, seed)
        ours.append((accuracy, seconds))
        line = f"{seed:>4}  {accuracy:>10.4f}  {seconds:>7.1f}"
        if not args.no_torch:
            accuracy, seconds = run_torch(data, clf, seed)
            theirs.append((accuracy, seconds))
            line += f"  {accuracy:>9.4f}  {seconds:>7.1f}"
        print(line, flush=True)
    for name, results in (("rnnlab", ours), ("torch", theirs)):
        if results:
            acc, sec = np.array(results).T
            print(f"{name}: accuracy mean {acc.mean():.4f} (min {acc.min():.4f}, max "
                  f"{acc.max():.4f}) over {len(acc)} seeds; {sec.mean():.1f} s per fit")


if __name__ == "__main__":
    main()
