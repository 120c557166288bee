"""For every copy-task run in the store: the updates after which the validation
cross-entropy first fell below 90% of the memoryless baseline 10 log 8 / (T + 20)."""
import collections, json, sys
import numpy as np
from rnnlab.experiments import RunStore
from rnnlab.tasks import make_task
out = collections.defaultdict(list)
with RunStore(sys.argv[1]) as store:
    for run in store.runs(task="copy", kind="compare", status="finished"):
        cfg = run["config"]
        base = make_task("copy", cfg["length"]).baseline
        left = next((e["updates"] for e in store.epochs(run["id"])
                     if e["val_metric"] < 0.9 * base), None)
        name = cfg["cell"] + ("-chrono" if cfg["chrono"] else "")
        out[name, cfg["length"], cfg["lr"]].append((left, run["metrics"]["metric"] / base))
for (name, length, lr), v in sorted(out.items()):
    print(f"{name:<12} T={length:<4} lr={lr:<6g} left the baseline after: "
          f"{[x for x, _ in v]}  final test CE / baseline: {[round(r, 3) for _, r in v]}")
