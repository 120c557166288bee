"""`rnnlab explain`: the seeds' worked example, traced, and any small T > 1 case.

The numbers are checked against the seeds' rounded figures, against the closed form to
1e-12, and, for T > 1, against central finite differences of a loss computed here, apart
from the library, in float64.
"""

import json
import math
import pathlib

import numpy as np
import pytest

from rnnlab import explain
from rnnlab.explain import tracer
from rnnlab.explain import text as explain_text
from rnnlab.cli import main

W_X, W_H, W_Y, X1, Y, LR = 0.5, 0.8, 0.3, 1.0, 0.6, 0.1
KEYS = ("h", "y_pred", "loss", "grads", "updated", "per_step")
NAMES = ("W_x", "W_h", "W_y")
F = {"tanh": math.tanh, "sigmoid": lambda a: 1.0 / (1.0 + math.exp(-a)),
     "relu": lambda a: max(a, 0.0)}


def run_json(capsys, *args) -> dict:
    """``rnnlab explain --json ...`` through the CLI: the one JSON object it prints."""
    assert main(["explain", "--json", *args]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # exactly one object, one line, nothing else
    return json.loads(out)


def loss_of(w, xs, ys, h0, activation) -> float:
    """The loss, written out here apart from rnnlab: every step's, or only the last."""
    w_x, w_h, w_y = w
    h, total = h0, 0.0
    for t, x in enumerate(xs):
        h = F[activation](w_x * x + w_h * h)
        if len(ys) == len(xs) or t == len(xs) - 1:
            y = ys[t] if len(ys) == len(xs) else ys[0]
            total += 0.5 * (y - w_y * h) ** 2
    return total


def numerical_grads(w, xs, ys, h0, activation, eps=1e-6) -> list:
    grads = []
    for k in range(3):
        plus, minus = list(w), list(w)
        plus[k] += eps
        minus[k] -= eps
        grads.append((loss_of(plus, xs, ys, h0, activation)
                      - loss_of(minus, xs, ys, h0, activation)) / (2 * eps))
    return grads


# (1) the seeds' example ------------------------------------------------------------------
def test_default_json_reproduces_the_seeds_worked_example(capsys):
    out = run_json(capsys)
    h1 = math.tanh(W_X * X1 + W_H * 0.0)
    pred = W_Y * h1
    d_pred = pred - Y
    exact = {"W_x": d_pred * W_Y * (1 - h1 ** 2) * X1, "W_h": 0.0, "W_y": d_pred * h1}

    assert out["h"] == pytest.approx([h1], abs=1e-12)
    assert out["y_pred"] == pytest.approx([pred], abs=1e-12)
    assert out["loss"] == pytest.approx(0.5 * (Y - pred) ** 2, abs=1e-12)
    for name in NAMES:
        assert out["grads"][name] == pytest.approx(exact[name], abs=1e-12)
        w = {"W_x": W_X, "W_h": W_H, "W_y": W_Y}[name]
        assert out["updated"][name] == pytest.approx(w - LR * exact[name], abs=1e-12)
    assert out["per_step"] == [{"t": 1, **out["grads"]}]

    # The seeds' rounded figures.
    assert round(out["h"][0], 4) == 0.4621 and round(out["y_pred"][0], 4) == 0.1386
    assert round(out["loss"], 4) == 0.1064
    assert round(out["grads"]["W_y"], 4) == -0.2132
    assert round(out["grads"]["W_x"], 4) == -0.1089
    assert out["grads"]["W_h"] == 0.0
    assert round(out["updated"]["W_x"], 4) == 0.5109
    assert out["updated"]["W_h"] == 0.8
    assert round(out["updated"]["W_y"], 4) == 0.3213


def test_chain_rule_factors_of_the_seeds_example():
    step = explain.trace().steps[0]
    h1 = math.tanh(0.5)
    assert step.a == 0.5 and step.h_prev == 0.0
    assert step.d_y_pred == pytest.approx(W_Y * h1 - Y, abs=1e-15)
    assert step.dy_pred_dh == W_Y
    assert step.df == pytest.approx(1 - h1 ** 2, abs=1e-15)
    assert step.dh_dh_prev == pytest.approx((1 - h1 ** 2) * W_H, abs=1e-15)
    assert step.dh_from_future == 0.0
    assert step.dh == pytest.approx((W_Y * h1 - Y) * W_Y, abs=1e-15)
    assert step.da == pytest.approx(step.dh * step.df, abs=1e-15)


# (2) T > 1 against finite differences ----------------------------------------------------
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("many_to_one", [False, True])
def test_per_step_contributions_sum_to_finite_difference_gradients(activation, many_to_one):
    rng = np.random.default_rng(["tanh", "sigmoid", "relu"].index(activation) + 10 * many_to_one)
    steps = 5
    w = [float(v) for v in rng.uniform(0.3, 0.9, size=3) * rng.choice([-1, 1], size=3)]
    if activation == "relu":
        w[:2] = [abs(v) for v in w[:2]]  # keep the units alive so that W_h matters
    xs = [float(v) for v in rng.uniform(0.2, 1.0, size=steps) * rng.choice([-1, 1], size=steps)]
    if activation == "relu":
        xs = [abs(x) for x in xs]
    ys = [float(v) for v in rng.standard_normal(1 if many_to_one else steps)]
    h0 = float(rng.standard_normal())

    result = explain.trace(*w, xs=xs, ys=ys, h0=h0, lr=0.05, activation=activation)
    out = explain.to_json(result)
    assert [p["t"] for p in out["per_step"]] == list(range(1, steps + 1))
    assert out["loss"] == pytest.approx(loss_of(w, xs, ys, h0, activation), rel=1e-12)
    numerical = numerical_grads(w, xs, ys, h0, activation)
    for k, name in enumerate(NAMES):
        summed = math.fsum(p[name] for p in out["per_step"])
        assert summed == pytest.approx(out["grads"][name], rel=1e-12, abs=1e-15)
        assert abs(summed - numerical[k]) < 1e-8
        assert out["updated"][name] == pytest.approx(w[k] - 0.05 * out["grads"][name],
                                                     abs=1e-15)
    assert abs(out["grads"]["W_h"]) > 1e-4
    if many_to_one:  # only the last step has a target, so only it feeds W_y
        assert [p["W_y"] for p in out["per_step"][:-1]] == [0.0] * (steps - 1)
        assert result.many_to_one and out["config"]["targets"] == "last step"


def test_backward_carries_the_future_through_dh_dh_prev():
    result = explain.trace(xs=(1.0, -0.5, 0.3), ys=(0.6, 0.2, -0.1))
    steps = result.steps
    for now, after in zip(steps[:-1], steps[1:]):
        assert now.dh_from_future == pytest.approx(after.dh * after.dh_dh_prev, rel=1e-14)
        assert now.dh == pytest.approx(now.d_y_pred * W_Y + now.dh_from_future, rel=1e-14)
        assert after.h_prev == now.h
    assert result.d_h0 == pytest.approx(steps[0].da * W_H, rel=1e-15)


def test_a_disagreement_with_the_library_is_an_error(monkeypatch):
    real = tracer._library_results

    def off_by_a_little(*args):
        loss, grads = real(*args)
        return loss, grads._replace(W_x=grads.W_x * (1 + 1e-9))

    monkeypatch.setattr(tracer, "_library_results", off_by_a_little)
    with pytest.raises(RuntimeError, match="dL/dW_x"):
        explain.trace()


# (3) the text ----------------------------------------------------------------------------
def test_text_output_shows_the_seeds_steps(capsys):
    assert main(["explain"]) == 0
    text = capsys.readouterr().out
    for line in ("h_1 = tanh(0.5*1 + 0.8*0) = tanh(0.5) = 0.4621",
                 "y_pred_1 = 0.3*0.4621 = 0.1386",
                 "1/2 (0.6 - 0.1386)^2 = 1/2 (0.4614)^2 = 0.1064",
                 "dL/dy_pred_1 = y_pred_1 - y_1 = 0.1386 - 0.6 = -0.4614",
                 "dy_pred_1/dh_1 = W_y = 0.3",
                 "f'(a_1) = 1 - h_1^2 = 1 - 0.4621^2 = 0.7864",
                 "dL/da_1 = dL/dh_1 f'(a_1) = (-0.1384)*0.7864 = -0.1089",
                 "dL/dW_x = -0.1089", "dL/dW_y = -0.2132",
                 "dL/dW_h = 0   (because h_0 = 0",
                 "W_x = 0.5 - 0.1*(-0.1089) = 0.5 + 0.01089 = 0.5109",
                 "W_h = 0.8 - 0.1*0 = 0.8",
                 "W_y = 0.3 - 0.1*(-0.2132) = 0.3 + 0.02132 = 0.3213"):
        assert line in text, line
    assert "Per-step contributions" not in text  # T = 1: no table


def test_text_output_for_several_steps_has_the_per_step_table(capsys):
    assert main(["explain", "--x", "1,-0.5,0.3", "--y", "0.6,0.2,-0.1"]) == 0
    text = capsys.readouterr().out
    assert "Per-step contributions" in text
    assert "h_2 = tanh(0.5*(-0.5) + 0.8*0.4621) = tanh(0.1197) = 0.1191" in text
    result = explain.trace(xs=(1.0, -0.5, 0.3), ys=(0.6, 0.2, -0.1))
    sum_row = next(line for line in text.splitlines() if line.strip().startswith("sum"))
    assert sum_row.split()[1:] == [explain_text._fmt(g) for g in result.grads]
    assert f"dL/dW_h = {explain_text._fmt(result.grads.W_h)}\n" in text  # no "because": not zero


def test_numbers_keep_four_significant_digits():
    assert explain_text._fmt(0.46211715726) == "0.4621"
    assert explain_text._fmt(0.5) == "0.5" and explain_text._fmt(0.0) == "0"
    assert explain_text._fmt(-0.035714) == "-0.03571"
    assert explain_text._fmt(1.2914e-5) == "1.291e-05"


# (4) bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, name", [
    ({"w_x": float("nan")}, ValueError, "w_x"),
    ({"w_h": "0.8"}, TypeError, "w_h"),
    ({"w_y": True}, TypeError, "w_y"),
    ({"h0": float("inf")}, ValueError, "h0"),
    ({"xs": ()}, ValueError, "xs"),
    ({"xs": (1.0, float("nan"))}, ValueError, r"xs\[1\]"),
    ({"xs": [[1.0]]}, ValueError, "xs"),
    ({"xs": (1.0, 2.0, 3.0), "ys": (0.1, 0.2)}, ValueError, "ys"),
    ({"lr": 0.0}, ValueError, "lr"),
    ({"lr": -0.1}, ValueError, "lr"),
    ({"activation": "softplus"}, ValueError, "activation"),
    ({"w_x": 1e200, "w_y": 1e200, "activation": "relu"}, ValueError, "overflows"),
])
def test_bad_arguments_name_themselves(kwargs, error, name):
    with pytest.raises(error, match=name):
        explain.trace(**kwargs)


@pytest.mark.parametrize("args, option", [
    (["--wx", "nan"], "--wx"), (["--wh", "abc"], "--wh"), (["--lr", "0"], "--lr"),
    (["--h0", "inf"], "--h0"), (["--x", "1,,2"], "--x"), (["--activation", "gelu"],
                                                          "--activation"),
])
def test_cli_refuses_bad_options_naming_them(capsys, args, option):
    with pytest.raises(SystemExit) as info:
        main(["explain", *args])
    assert info.value.code == 2
    assert f"argument {option}" in capsys.readouterr().err


def test_cli_refuses_mismatched_targets():
    with pytest.raises(SystemExit, match="--y"):
        main(["explain", "--x", "1,2", "--y", "0.1,0.2,0.3"])


# (5) the JSON ----------------------------------------------------------------------------
def test_cli_json_parses_and_has_every_key(capsys):
    out = run_json(capsys, "--x=-1,0.5,0.25,2", "--y", "0.3", "--activation", "sigmoid",
                   "--wx", "0.7", "--wh", "-1.1", "--wy", "2", "--h0", "0.2", "--lr", "0.5")
    for key in KEYS:
        assert key in out
    assert len(out["h"]) == len(out["y_pred"]) == len(out["per_step"]) == 4
    assert set(out["grads"]) == set(out["updated"]) == set(NAMES)
    assert all(set(p) == {"t", *NAMES} for p in out["per_step"])
    assert out["config"]["activation"] == "sigmoid" and out["config"]["xs"][0] == -1.0
    result = explain.trace(0.7, -1.1, 2.0, xs=(-1, 0.5, 0.25, 2), ys=(0.3,), h0=0.2, lr=0.5,
                           activation="sigmoid")
    assert out == json.loads(json.dumps(explain.to_json(result)))
    assert out["loss"] == pytest.approx(
        loss_of((0.7, -1.1, 2.0), (-1, 0.5, 0.25, 2), (0.3,), 0.2, "sigmoid"), rel=1e-12)


def test_docs_show_the_output_as_printed(capsys):
    docs = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "explain.md").read_text()
    for args in ([], ["--x", "1,-0.5,0.3", "--y", "0.6,0.2,-0.1"]):
        assert main(["explain", *args]) == 0
        assert capsys.readouterr().out.rstrip("\n") in docs
