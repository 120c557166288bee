"""Five UCR/UEA sets: rnnlab's RNNClassifier against a PyTorch LSTM trained the same way,
aeon's ROCKET and aeon's 1-nearest-neighbour DTW.

The sets are the ones aeon ships (read by :func:`rnnlab.datasets.load_ucr_uea`), with their
published train/test splits:

    set               T        C   train  test  classes
    ItalyPowerDemand  24       1      67  1029        2
    GunPoint          150      1      50   150        2
    ArrowHead         251      1      36   175        3
    BasicMotions      100      6      40    40        4
    JapaneseVowels    7 to 29  12    270   370        9

Neural models. One LSTM layer of H units, the last valid step's output (or the mean over the
valid steps, ``pooling="mean"``) into a linear layer; cross-entropy, Adam, batches of 32
shuffled each epoch, the global gradient norm clipped to 1, float32, a fixed number of epochs
(200 for the four sets of at most 67 training sequences, 100 for JapaneseVowels), no early
stopping: the model after the last epoch is the one tested. Features are standardized with the
mean and standard deviation of every training step (RNNClassifier's own standardization; the
PyTorch model gets the same numbers). The PyTorch model is ``torch.nn.LSTM`` (batch_first)
and ``torch.nn.Linear`` with PyTorch's default initialization (the same distribution as
rnnlab's, U(-1/sqrt(H), 1/sqrt(H)), not the same draws), seeded with ``torch.manual_seed``;
batches of sequences of different lengths go through ``pack_padded_sequence``.

Protocol: the test split is read only after every choice is made. The learning rate (1e-3,
3e-3, 1e-2) and H (32, 64) are chosen per set with rnnlab alone, on a stratified 25% of the
training split held out for validation (one split per seed, drawn from the seed), by the mean
validation accuracy over the seeds (ties: the smaller H, then the lower lr). Both neural
models are then refitted on the whole training split with that choice, once per seed, and
tested. For the long univariate sets (GunPoint, ArrowHead) four more settings are measured on
top of the chosen (lr, H), for both models, each with its validation accuracy beside its test
accuracy: pooling="mean"; a third of the chosen lr; chrono initialization (Tallec & Ollivier
2018) for T_max = the longest training sequence (rnnlab's ``chrono="auto"``; in PyTorch the
same biases: log(u), u ~ U(1, T_max - 1), on the forget gate's bias_ih, minus that on the
input gate's, zero on their bias_hh); and all three together. The setting with the best
validation accuracy is marked with a ``*``; every row is reported.

Baselines (aeon, on the raw values as (N, C, T) arrays; the UCR univariate sets are already
z-normalized per series): ``RocketClassifier`` (Dempster et al. 2020) with 10,000 kernels
(aeon's default; it z-normalizes each series and channel before the kernels), seeded,
``n_jobs=1``; ``KNeighborsTimeSeriesClassifier(distance="dtw", n_neighbors=1)``, full warping
window (aeon's default), deterministic. ROCKET needs equal lengths: JapaneseVowels is padded
to the longest series of either split (only the lengths of the test series are used, never
their values or labels) by aeon's ``Padder``, twice, each reported: with each channel's last
value (``fill_value="last"``) and with 0 (the Padder's default; the padded zeros also tell
ROCKET each series' length). 1-NN DTW takes the unequal-length series as a list of (C, T_i)
arrays.

Measured: test accuracy, mean and standard deviation (ddof=1) over the seeds; the wall time
of ``fit`` alone (for PyTorch: standardization, model building and the training loop) and of
predicting the test split, in seconds, on one thread: ``OPENBLAS_NUM_THREADS=1`` and
``NUMBA_NUM_THREADS=1`` set before NumPy and numba load (unless already set),
``torch.set_num_threads(1)``. numba compiles aeon's functions the first time they run; an
untimed warm-up fit on a few sequences comes before each aeon method's timed runs.

    python benchmarks/ucr.py                                   # all five sets, seeds 0 1 2
    python benchmarks/ucr.py --sets GunPoint ArrowHead --json ucr.json
    python benchmarks/ucr.py --quick --sets ItalyPowerDemand JapaneseVowels   # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy is imported
os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before aeon imports numba

import numpy as np  # noqa: E402

from rnnlab.data import pad_sequences, train_val_split  # noqa: E402
from rnnlab.datasets import load_ucr_uea  # noqa: E402
from rnnlab.estimators import RNNClassifier  # noqa: E402

SETS = {  # name: epochs (fixed before looking at the test split)
    "ItalyPowerDemand": 200,
    "GunPoint": 200,
    "ArrowHead": 200,
    "BasicMotions": 200,
    "JapaneseVowels": 100,
}
LONG_SETS = ("GunPoint", "ArrowHead")  # where the extra settings are measured
LRS = (1e-3, 3e-3, 1e-2)  # the learning-rate grid
HIDDEN_SIZES = (32, 64)  # the grid of H
BATCH_SIZE = 32
CLIP_NORM = 1.0
VAL_FRACTION = 0.25  # of the training split, stratified, held out to choose (lr, H)
ROCKET_KERNELS = 10_000  # aeon's default
PREDICT_BATCH = 256
PADDINGS = ("last", 0)  # ROCKET on unequal lengths: pad with the last value, and with 0
VARIANTS = {  # the extra settings of the long sets: changes to the chosen recipe
    "mean": {"pooling": "mean"},
    "lr/3": {"lr_factor": 1 / 3},
    "chrono": {"chrono": "auto"},
    "mean+chrono+lr/3": {"pooling": "mean", "chrono": "auto", "lr_factor": 1 / 3},
}
QUICK = {"epochs": 3, "lrs": (3e-3, 1e-2), "hidden_sizes": (32,), "rocket_kernels": 500}


# -- data ------------------------------------------------------------------------------------
def load(name: str, split: str) -> tuple:
    """(list of (T_i, C) float64 arrays, (N,) str labels)."""
    return load_ucr_uea(name, split)


def to_aeon(X: list, length: int | None = None, fill="last"):
    """aeon's layout: an (N, C, T) array, or with unequal lengths a list of (C, T_i) arrays;
    with ``length``, every series padded to it by aeon's ``Padder(fill_value=fill)``: "last",
    each channel's last value, or a number (aeon's default is 0)."""
    series = [np.ascontiguousarray(x.T) for x in X]
    if length is not None:
        from aeon.transformations.collection.unequal_length import Padder
        return Padder(padded_length=length, fill_value=fill).fit_transform(series)
    if len({s.shape[1] for s in series}) == 1:
        return np.stack(series)
    return series


def standardization(X: list) -> tuple:
    """(mean, scale) per feature over every training step, as RNNClassifier computes them."""
    steps = np.concatenate(X)
    scale = steps.std(axis=0)
    return steps.mean(axis=0), np.where(scale > 0, scale, 1.0)


def mean_std(values) -> tuple:
    """(mean, standard deviation with ddof=1; 0.0 for a single value)."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


# -- rnnlab ----------------------------------------------------------------------------------
def recipe(setting: dict, epochs: int) -> dict:
    """RNNClassifier's arguments for a setting {lr, hidden_size, [pooling, chrono,
    lr_factor]}."""
    return {"cell": "lstm", "hidden_size": setting["hidden_size"], "epochs": epochs,
            "batch_size": BATCH_SIZE, "lr": setting["lr"] * setting.get("lr_factor", 1.0),
            "optimizer": "adam", "clip_norm": CLIP_NORM,
            "pooling": setting.get("pooling", "last"), "chrono": setting.get("chrono")}


def fit_rnnlab(X, y, params: dict, seed: int) -> tuple:
    """(fitted RNNClassifier, fit seconds)."""
    clf = RNNClassifier(**params, random_state=seed)
    began = time.perf_counter()
    clf.fit(X, y)
    return clf, time.perf_counter() - began


def validate(X, y, setting: dict, epochs: int, seeds: list) -> list:
    """rnnlab's validation accuracy for each seed: trained on 75% of the training split,
    scored on the stratified 25% held out (the split drawn from the seed)."""
    codes = np.unique(y, return_inverse=True)[1]
    scores = []
    for seed in seeds:
        train, val = train_val_split(len(y), VAL_FRACTION, seed, stratify=codes)
        clf, _ = fit_rnnlab([X[k] for k in train], y[train], recipe(setting, epochs), seed)
        scores.append(clf.score([X[k] for k in val], y[val]))
    return scores


def choose(X, y, epochs: int, seeds: list, lrs, hidden_sizes) -> tuple:
    """The (lr, H) of the grid with the best mean validation accuracy, and the grid."""
    grid = []
    for hidden_size in hidden_sizes:  # grid order breaks ties: smaller H, then lower lr
        for lr in lrs:
            setting = {"lr": lr, "hidden_size": hidden_size}
            scores = validate(X, y, setting, epochs, seeds)
            grid.append({**setting, "val_accuracy": scores, "val_mean": mean_std(scores)[0]})
            print(f"    grid H {hidden_size:>3} lr {lr:<6g} validation accuracy "
                  f"{grid[-1]['val_mean']:.4f}", flush=True)
    best = max(grid, key=lambda row: row["val_mean"])  # max keeps the first of ties
    return {"lr": best["lr"], "hidden_size": best["hidden_size"]}, grid


# -- PyTorch ---------------------------------------------------------------------------------
def torch_model(torch, features: int, classes: int, params: dict, t_max: int):
    """torch.nn.LSTM and Linear, PyTorch's default initialization (chrono's biases where
    asked), with rnnlab's heads: the last valid step's output, or the mean over valid steps."""
    nn = torch.nn

    class LSTMClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(features, params["hidden_size"], batch_first=True)
            self.linear = nn.Linear(params["hidden_size"], classes)

        def forward(self, x, lengths):
            if int(lengths.min()) == x.shape[1]:  # equal lengths: no packing needed
                out, (h_n, _) = self.lstm(x)
            else:
                packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                           enforce_sorted=False)
                out, (h_n, _) = self.lstm(packed)
                out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                          total_length=x.shape[1])  # zeros
            if params["pooling"] == "mean":
                pooled = out.sum(dim=1) / lengths[:, None].to(out.dtype)  # (B, H)
            else:
                pooled = h_n[-1]  # (B, H): the last valid step
            return self.linear(pooled)

    model = LSTMClassifier()
    if params["chrono"] is not None:
        chrono_biases(torch, model.lstm, max(2, t_max))
    return model


def chrono_biases(torch, lstm, t_max: int) -> None:
    """Chrono initialization (Tallec & Ollivier 2018) of a one-layer torch.nn.LSTM, as rnnlab
    sets it: b_f = log(u), b_i = -log(u), u ~ U(1, T_max - 1), in bias_ih; zero in bias_hh
    (PyTorch's gate order i, f, g, o)."""
    h = lstm.hidden_size
    log_u = torch.log(torch.empty(h).uniform_(1.0, t_max - 1.0))
    with torch.no_grad():
        lstm.bias_ih_l0[h:2 * h] = log_u  # f
        lstm.bias_ih_l0[:h] = -log_u  # i
        lstm.bias_hh_l0[:2 * h] = 0.0


def fit_torch(torch, X, codes, classes: int, params: dict, seed: int) -> tuple:
    """(model, (mean, scale), fit seconds): the same recipe in PyTorch."""
    began = time.perf_counter()
    torch.manual_seed(seed)
    mean, scale = standardization(X)
    x, lengths = pad_sequences([(s - mean) / scale for s in X], np.float32)
    t_max = int(lengths.max())
    model = torch_model(torch, x.shape[2], classes, params, t_max)
    optimizer = torch.optim.Adam(model.parameters(), lr=params["lr"])
    x, lengths, codes = torch.from_numpy(x), torch.from_numpy(lengths), torch.from_numpy(codes)
    for epoch in range(params["epochs"]):
        order = np.random.default_rng([seed, epoch]).permutation(len(codes))
        for start in range(0, len(order), params["batch_size"]):
            index = torch.from_numpy(order[start:start + params["batch_size"]])
            steps = int(lengths[index].max())  # each batch trimmed to its longest sequence
            logits = model(x[index, :steps], lengths[index])
            loss = torch.nn.functional.cross_entropy(logits, codes[index])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), params["clip_norm"])
            optimizer.step()
    return model, (mean, scale), time.perf_counter() - began


def predict_torch(torch, model, standard: tuple, X) -> np.ndarray:
    """(N,) class codes."""
    mean, scale = standard
    x, lengths = pad_sequences([(s - mean) / scale for s in X], np.float32)
    model.eval()
    codes = []
    with torch.no_grad():
        for k in range(0, len(x), PREDICT_BATCH):
            lb = torch.from_numpy(lengths[k:k + PREDICT_BATCH])
            xb = torch.from_numpy(x[k:k + PREDICT_BATCH, :int(lb.max())])
            codes.append(model(xb, lb).argmax(dim=1).numpy())
    return np.concatenate(codes)


# -- one set ---------------------------------------------------------------------------------
def neural_rows(torch, train, test, setting: dict, epochs: int, seeds: list,
                methods: list) -> list:
    """Refit on the whole training split for each seed and test: one row per library."""
    (X, y), (X_test, y_test) = train, test
    classes, codes = np.unique(y, return_inverse=True)
    params = recipe(setting, epochs)
    rows = []
    if "rnnlab" in methods:
        runs = []
        for seed in seeds:
            clf, seconds = fit_rnnlab(X, y, params, seed)
            began = time.perf_counter()
            accuracy = clf.score(X_test, y_test)
            runs.append((accuracy, seconds, time.perf_counter() - began))
        rows.append(summary("rnnlab", runs, seeds))
    if "torch" in methods:
        runs = []
        for seed in seeds:
            model, standard, seconds = fit_torch(torch, X, codes.astype(np.int64),
                                                 len(classes), params, seed)
            began = time.perf_counter()
            predicted = classes[predict_torch(torch, model, standard, X_test)]
            runs.append((float(np.mean(predicted == y_test)), seconds,
                         time.perf_counter() - began))
        rows.append(summary("torch", runs, seeds))
    return rows


def summary(method: str, runs: list, seeds: list) -> dict:
    """A table row from per-seed (accuracy, fit seconds, predict seconds)."""
    accuracy, fit_seconds, predict_seconds = (list(column) for column in zip(*runs))
    mean, std = mean_std(accuracy)
    return {"method": method, "seeds": list(seeds), "test_accuracy": accuracy,
            "test_mean": mean, "test_std": std, "fit_seconds": fit_seconds,
            "fit_seconds_mean": float(np.mean(fit_seconds)),
            "predict_seconds_mean": float(np.mean(predict_seconds))}


def aeon_rows(train, test, seeds: list, methods: list, rocket_kernels: int) -> list:
    """ROCKET (one run per seed) and 1-NN DTW (deterministic: one run)."""
    (X, y), (X_test, y_test) = train, test
    lengths = {len(s) for s in X + X_test}
    padded = max(lengths) if len(lengths) > 1 else None  # ROCKET needs one length
    rows = []
    if "rocket" in methods:
        from aeon.classification.convolution_based import RocketClassifier
        few = warm_up_cases(y)
        for fill in PADDINGS if padded else (None,):  # unequal lengths: each padding a row
            x, x_test = to_aeon(X, padded, fill), to_aeon(X_test, padded, fill)
            RocketClassifier(n_kernels=100, random_state=0).fit(x[few], y[few]).predict(x[few])
            runs = []
            for seed in seeds:
                clf = RocketClassifier(n_kernels=rocket_kernels, random_state=seed, n_jobs=1)
                runs.append(timed(clf, x, y, x_test, y_test))
            row = summary("rocket", runs, seeds)
            row["setting"] = {"n_kernels": rocket_kernels, "fill_value": fill,
                              "padding": None if padded is None else
                              f"Padder(padded_length={padded}, fill_value={fill!r})"}
            rows.append(row)
    if "dtw" in methods:
        from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier
        x, x_test = to_aeon(X), to_aeon(X_test)
        few = warm_up_cases(y)
        x_few = [x[k] for k in few] if isinstance(x, list) else x[few]
        KNeighborsTimeSeriesClassifier().fit(x_few, y[few]).predict(x_few)  # numba compiles
        clf = KNeighborsTimeSeriesClassifier(distance="dtw", n_neighbors=1, n_jobs=1)
        row = summary("1nn-dtw", [timed(clf, x, y, x_test, y_test)], [None])
        row["setting"] = {"distance": "dtw", "window": "full", "n_neighbors": 1,
                          "input": "list of (C, T_i)" if isinstance(x, list) else "(N, C, T)"}
        rows.append(row)
    return rows


def warm_up_cases(y) -> np.ndarray:
    """Indices of two sequences of each of two classes: an untimed fit that makes numba
    compile before the timed ones."""
    classes = np.unique(y)[:2]
    return np.concatenate([np.flatnonzero(y == c)[:2] for c in classes])


def timed(clf, x, y, x_test, y_test) -> tuple:
    """(test accuracy, fit seconds, predict seconds) of an aeon classifier."""
    began = time.perf_counter()
    clf.fit(x, y)
    fitted = time.perf_counter()
    predicted = clf.predict(x_test)
    return float(np.mean(predicted == y_test)), fitted - began, time.perf_counter() - fitted


def run_set(torch, name: str, args) -> dict:
    """Choose on validation, then test every method on one set."""
    epochs = args.epochs or SETS[name]
    train = load(name, "train")
    X, y = train
    lengths = [len(s) for s in X]
    info = {"set": name, "T": [min(lengths), max(lengths)], "C": int(X[0].shape[1]),
            "train": len(X), "classes": len(np.unique(y)), "epochs": epochs}
    print(f"{name}: T {info['T']}, C {info['C']}, train {info['train']}, "
          f"classes {info['classes']}, {epochs} epochs", flush=True)
    neural = [m for m in args.methods if m in ("rnnlab", "torch")]
    chosen, grid, settings = None, [], {}
    if neural:
        chosen, grid = choose(X, y, epochs, args.seeds, args.lrs, args.hidden_sizes)
        best = max(grid, key=lambda row: row["val_mean"])
        settings["last"] = (chosen, best["val_mean"], best["val_accuracy"])
        if name in LONG_SETS and not args.no_variants:
            for label, change in VARIANTS.items():
                setting = {**chosen, **change}
                scores = validate(X, y, setting, epochs, args.seeds)
                settings[label] = (setting, float(np.mean(scores)), scores)
                print(f"    {label:<17} validation accuracy {settings[label][1]:.4f}",
                      flush=True)
    selected = max(settings, key=lambda label: settings[label][1]) if len(settings) > 1 else None

    test = load(name, "test")  # only now: every choice is made
    info["test"] = len(test[0])
    test_lengths = [len(s) for s in test[0]]
    info["T_test"] = [min(test_lengths), max(test_lengths)]
    rows = []
    for label, (setting, val_mean, val_scores) in settings.items():
        for row in neural_rows(torch, train, test, setting, epochs, args.seeds, neural):
            row.update({"setting_name": label, "setting": recipe(setting, epochs),
                        "val_accuracy": val_scores, "val_mean": val_mean,
                        "selected_on_validation": label == selected})
            rows.append(row)
            print_row(info, row)
    for row in aeon_rows(train, test, args.seeds, args.methods, args.rocket_kernels):
        rows.append(row)
        print_row(info, row)
    return {**info, "chosen": chosen, "grid": grid, "rows": rows}


# -- output ----------------------------------------------------------------------------------
HEADER = (f"{'set':<17} {'T':>7} {'C':>3} {'train/test':>10}  {'method':<8} {'setting':<30} "
          f"{'val acc':>7} {'test acc':>16} {'fit s':>7} {'pred s':>7}")


def print_row(info: dict, row: dict) -> None:
    """One line of the table."""
    low, high = info["T"][0], max(info["T"][1], info.get("T_test", info["T"])[1])
    steps = f"{low}" if low == high else f"{low}-{high}"
    if row["method"] in ("rnnlab", "torch"):
        s = row["setting"]
        setting = f"H{s['hidden_size']} lr{s['lr']:.2g} {row['setting_name']}"
        setting += "*" if row["selected_on_validation"] else ""
        val = f"{row['val_mean']:.4f}" if row["method"] == "rnnlab" else ""
    elif row["method"] == "rocket":
        setting = f"{row['setting']['n_kernels']} kernels"
        if row["setting"]["padding"]:
            setting += f", pad {row['setting']['fill_value']}"
        val = ""
    else:
        setting, val = "full window", ""
    accuracy = f"{row['test_mean']:.4f}"
    accuracy += f" ± {row['test_std']:.4f}" if len(row["test_accuracy"]) > 1 else " " * 9
    print(f"{info['set']:<17} {steps:>7} {info['C']:>3} "
          f"{str(info['train']) + '/' + str(info['test']):>10}  {row['method']:<8} "
          f"{setting:<30} {val:>7} {accuracy:>16} {row['fit_seconds_mean']:>7.2f} "
          f"{row['predict_seconds_mean']:>7.2f}", flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="seeds of the neural models (weights, batch order, validation "
                             "split) and of ROCKET's kernels")
    parser.add_argument("--methods", nargs="+", choices=["rnnlab", "torch", "rocket", "dtw"],
                        default=["rnnlab", "torch", "rocket", "dtw"])
    parser.add_argument("--epochs", type=int, default=None,
                        help="the same number of epochs for every set (default: per set, "
                             "200, or 100 for JapaneseVowels)")
    parser.add_argument("--lrs", type=float, nargs="+", default=list(LRS),
                        help="the learning-rate grid")
    parser.add_argument("--hidden-sizes", type=int, nargs="+", default=list(HIDDEN_SIZES),
                        help="the grid of H")
    parser.add_argument("--rocket-kernels", type=int, default=ROCKET_KERNELS)
    parser.add_argument("--no-variants", action="store_true",
                        help="skip the extra settings of GunPoint and ArrowHead")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke test: {QUICK['epochs']} epochs, lr grid "
                             f"{QUICK['lrs']}, H {QUICK['hidden_sizes']}, "
                             f"{QUICK['rocket_kernels']} ROCKET kernels")
    parser.add_argument("--json", metavar="PATH", help="write every number to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = args.epochs or QUICK["epochs"]
        args.lrs, args.hidden_sizes = list(QUICK["lrs"]), list(QUICK["hidden_sizes"])
        args.rocket_kernels = QUICK["rocket_kernels"]
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    if min(args.lrs) <= 0 or min(args.hidden_sizes) < 1 or args.rocket_kernels < 1:
        parser.error("--lrs must be > 0, --hidden-sizes and --rocket-kernels >= 1")
    return args


def main(argv=None) -> dict:
    """Run every set; print the table; return (and with --json write) the results."""
    args = parse_args(argv)
    torch = None
    if "torch" in args.methods:
        import torch
        torch.set_num_threads(1)
        warm_up = [np.zeros((3, 1)), np.zeros((2, 1))]  # PyTorch's one-off start-up, untimed
        fit_torch(torch, warm_up, np.array([0, 1]), 2, recipe({"lr": 1e-3, "hidden_size": 4},
                                                              1), 0)
    began = time.perf_counter()
    print(f"LSTM: Adam, batch {BATCH_SIZE}, clip_norm {CLIP_NORM}, float32; (lr, H) chosen on "
          f"{VAL_FRACTION:.0%} of train (rnnlab, mean over seeds {args.seeds}) from lr "
          f"{args.lrs} x H {args.hidden_sizes}", flush=True)
    sets = [run_set(torch, name, args) for name in args.sets]
    seconds = time.perf_counter() - began
    print(f"\n{HEADER}\n{'-' * len(HEADER)}")
    for result in sets:
        for row in result["rows"]:
            print_row(result, row)
    print("test acc: mean ± std over the random seeds (1-NN DTW: one deterministic run); * the "
          "setting with the best validation accuracy; pad last / pad 0: every series padded to "
          "the longest of either split with its last value / with 0 (aeon's Padder)")
    print(f"wall time {seconds:.0f} s; threads: OPENBLAS {os.environ.get('OPENBLAS_NUM_THREADS')}"
          f", NUMBA {os.environ.get('NUMBA_NUM_THREADS')}"
          + (f", torch {torch.get_num_threads()}" if torch else ""))
    results = {"config": {"batch_size": BATCH_SIZE, "clip_norm": CLIP_NORM, "optimizer": "adam",
                          "cell": "lstm", "num_layers": 1, "dtype": "float32",
                          "lrs": args.lrs, "hidden_sizes": args.hidden_sizes,
                          "val_fraction": VAL_FRACTION, "seeds": args.seeds,
                          "epochs": {name: args.epochs or SETS[name] for name in args.sets},
                          "variants": VARIANTS, "rocket_kernels": args.rocket_kernels,
                          "quick": args.quick, "selection": "mean validation accuracy over "
                          "seeds after the last epoch, rnnlab only; ties: smaller H, lower lr"},
               "versions": versions(torch), "sets": sets, "seconds": seconds}
    if args.json:  # whole or not at all: write beside, then rename over
        with open(f"{args.json}.tmp", "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
        os.replace(f"{args.json}.tmp", args.json)
    return results


def versions(torch) -> dict:
    """The versions of the libraries measured."""
    from importlib.metadata import version
    found = {name: version(name) for name in ("rnnlab", "numpy", "aeon")}
    if torch is not None:
        found["torch"] = torch.__version__
    return found


if __name__ == "__main__":
    main()
