"""rnnlab bench: the work counted, the summary's arithmetic, a configuration timed against
PyTorch on identical computations, and the command's JSON."""

import json
import math

import numpy as np
import pytest

from rnnlab.cli import main
from rnnlab.experiments.bench import (GRID, alternating_medians, bench_one, flops, format_bench,
                                     summarize)


def test_flops_count_the_recurrent_matrix_products():
    # LSTM at the issue's reference shape: 3 x 2 x 4H(I+H)BT
    assert flops("lstm", 64, 32, 256, 100, "forward+backward") == 3 * 2 * 4 * 256 * 288 * 64 * 100
    assert flops("gru", 2, 3, 5, 7, "forward") == 2 * 3 * 5 * 8 * 2 * 7
    assert flops("rnn", 2, 3, 5, 7, "forward") == 2 * 5 * 8 * 2 * 7


def test_the_default_grid_is_the_issues():
    assert GRID == ((1, 32, 64, 1000), (16, 8, 32, 100), (16, 32, 128, 200), (64, 32, 256, 100),
                    (256, 64, 512, 100))


def test_summary_is_the_geometric_mean_and_the_worst():
    rows = [{"cell": c, "B": 1, "I": 1, "H": 1, "T": t, "pass": "forward+backward", "ratio": r}
            for c, t, r in (("rnn", 1, 0.5), ("lstm", 2, 2.0), ("gru", 3, 1.0))]
    s = summarize(rows)["forward+backward"]
    assert s["geomean_ratio"] == pytest.approx(1.0)
    assert s["worst_ratio"] == 2.0 and s["worst"] == "lstm B=1 I=1 H=1 T=2"


def test_the_timed_functions_take_turns():
    calls = []
    medians = alternating_medians([lambda: calls.append("a"), lambda: calls.append("b")],
                                  repeats=3, settle=0.0)
    assert len(medians) == 2 and all(m >= 0 for m in medians)
    # warm-up a, b; then per round a pause, an untimed call and the timed ones, a before b
    rounds = "".join(calls[2:])
    assert rounds.count("a") == rounds.count("b") and rounds.index("a") < rounds.index("b")
    turns = [rounds[0]] + [y for x, y in zip(rounds, rounds[1:]) if x != y]
    assert turns == ["a", "b"] * 3


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_one_configuration_times_the_same_passes_on_both_sides(torch, cell, monkeypatch):
    """The functions bench_one times run what their names say: rnnlab's forward, rnnlab's
    forward and backward, PyTorch's forward and PyTorch's forward and backward, on the same
    weights and data."""
    import rnnlab.experiments.bench as bench

    timed = []

    def record(functions, repeats, settle):
        timed.append(functions)
        return [0.5 + k for k in range(len(functions))]

    monkeypatch.setattr(bench, "alternating_medians", record)
    result = bench_one(cell, 3, 2, 4, 5, repeats=2, settle=0.0)
    assert result == {"forward": (0.5, 1.5), "inference": (0.5, 1.5),
                      "forward+backward": (0.5, 1.5)}
    (ours_forward, theirs_forward), (ours_inference, theirs_again), (ours_both, theirs_both) = \
        timed
    assert theirs_again is theirs_forward  # PyTorch's inference path for both forwards
    layer = ours_forward.__closure__[0].cell_contents
    module = theirs_forward.__closure__[0].cell_contents
    ours_inference()
    assert layer._cache is not None and isinstance(layer._cache, str)  # kept nothing
    ours_forward()
    assert layer._cache is not None and not layer._cache_read
    ours_both()
    ours = layer.grad_dict()
    assert layer._cache_read and all(np.abs(g).sum() > 0 for g in ours.values())
    theirs_both()
    for name, p in module.named_parameters():  # the same gradients: the same computation
        np.testing.assert_allclose(p.grad.numpy(), ours[name], rtol=1e-4, atol=1e-5)


def test_one_configuration_refuses_to_time_different_computations(torch, monkeypatch):
    """If rnnlab's layer and PyTorch's disagree, the timing would mean nothing: it raises."""
    import rnnlab.experiments.bench as bench
    from rnnlab import GRU

    class Shifted(GRU):
        def forward(self, x, lengths=None, state=None):
            out, final = super().forward(x, lengths, state)
            return out + 1e-3, final

    Shifted.__name__ = "GRU"  # bench_one builds torch.nn.<name>
    monkeypatch.setitem(bench.CELLS, "gru", (Shifted,) + tuple(bench.CELLS["gru"][1:]))
    with pytest.raises(RuntimeError, match="outputs differ"):
        bench_one("gru", 3, 2, 4, 5, repeats=1, settle=0.0)


def test_cli_bench_json(torch, capsys):
    assert main(["bench", "--cells", "gru", "--grid", "2,3,4,5;1,2,3,4", "--repeats", "2",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [(r["B"], r["pass"]) for r in result["rows"]] == [
        (2, "forward"), (2, "inference"), (2, "forward+backward"), (1, "forward"),
        (1, "inference"), (1, "forward+backward")]
    for r in result["rows"]:
        assert r["ratio"] == pytest.approx(r["rnnlab_ms"] / r["torch_ms"])
        assert r["gflops"] == pytest.approx(
            flops("gru", r["B"], r["I"], r["H"], r["T"], r["pass"]) / r["rnnlab_ms"] / 1e6)
    assert result["gemm_gflops"]["numpy"] > 0
    assert math.isfinite(result["summary"]["forward"]["geomean_ratio"])
    assert "geometric-mean ratio" in format_bench(result)


def test_cli_bench_rejects_a_bad_grid():
    with pytest.raises(SystemExit):
        main(["bench", "--grid", "1,2,3"])


def test_denormals_benchmark_runs_and_leaves_no_denormal(torch):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "denormals.py"
    done = subprocess.run([sys.executable, str(script), "--cells", "lstm,gru", "--batch", "4",
                           "--hidden", "16", "--steps", "300", "--repeats", "1", "--json"],
                          capture_output=True, text=True, check=True)
    rows = json.loads(done.stdout)
    assert [r["cell"] for r in rows] == ["lstm", "gru"]
    for r in rows:
        assert r["denormal_dh"] == 0 and r["zero_dh_fraction"] > 0  # vanished, to zeros
        assert r["rnnlab_s"] > 0 and r["torch_s"] > 0


def _benchmark(name, *args):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / name
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          check=True, timeout=300)
    return json.loads(done.stdout)


@pytest.mark.parametrize("path", ["threads", "single"])
def test_the_phase_breakdown_accounts_for_every_phase(path):
    result = _benchmark("phases.py", "--shape", "12,5,16,30", "--repeats", "1", "--path",
                        path, "--json")
    names = [row["phase"] for row in result["phases"]]
    loops = 2 if path == "threads" else 4  # a loop per pass, or its products and gates apart
    assert len(names) == len(set(names)) == 4 + loops
    assert all(row["ms"] > 0 for row in result["phases"])
    assert result["sum_ms"] == pytest.approx(sum(row["ms"] for row in result["phases"]))
    assert sum(row["share"] for row in result["phases"]) == pytest.approx(1.0)


def test_the_inference_forward_holds_less_memory_than_the_training_forward():
    rows = _benchmark("inference_memory.py", "--shape", "16,8,32,40", "--json")
    for row in rows.values():
        training, inference = row["training forward"], row["no_grad"]
        assert inference["held_after_mib"] < training["held_after_mib"]
        assert inference["peak_mib"] < training["peak_mib"]
