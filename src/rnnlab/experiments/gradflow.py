"""The classic "gradient magnitude across time steps" chart, measured.

For each cell, one model on a task's data: ||dL/dh_t|| at every step from the real backward
pass (the loss at the last step only, so everything that reaches step t has come back
T - t steps), ||dh_T/dh_t|| against the gap, the Pascanu bound for vanilla RNNs, and gate
saturation. In float64, so that what vanishes is measured rather than flushed to zero.
"""

from __future__ import annotations

import math

import numpy as np

from rnnlab import diagnostics
from rnnlab.experiments.runner import GATED, build_model
from rnnlab.layers import Sequential
from rnnlab.losses import cross_entropy
from rnnlab.tasks import make_task

BAR_WIDTH = 24
FLOOR = 1e-12  # the shortest bar: gradients below this fraction of the last step's


def gradient_flow(cells, length: int = 100, hidden_size: int = 64, batch: int = 32,
                  seed: int = 0, task: str = "adding", nonlinearity: str = "tanh",
                  lambda_1: float | None = None, weights: dict | None = None,
                  forget_bias: float = 1.0, chrono=None) -> list:
    """Measure gradient flow for each cell on ``batch`` sequences of ``task`` at ``length``.

    Parameters
    ----------
    cells : sequence of str
        rnn, lstm, gru.
    weights : dict, optional
        {cell: state dict} of trained models to measure instead of freshly initialized ones
        (copied into a float64 twin of the same architecture).
    lambda_1 : float, optional
        For rnn: rescale W_hh to this largest singular value first.
    chrono : int, "auto" or None
        For lstm and gru: chrono initialization with this T_max ("auto": the task's T);
        the LSTM then has no forget bias added.

    Returns
    -------
    list of dict
        Per cell: cell, label, t (1..T), dh (||dL/dh_t|| / ||dL/dh_T||), dc (LSTM, the same
        scale), gaps, jacobian (||dh_T/dh_t||), jacobian_c (LSTM), bound (PascanuBound or
        None), gates ({gate: saturation rate}).
    """
    the_task = make_task(task, length)
    data = the_task.generate(batch, np.random.default_rng([seed, 7]))
    out = []
    t_max = the_task.steps if chrono == "auto" else chrono
    for cell in cells:
        gated_chrono = t_max if cell in GATED else None
        model = build_model(the_task, cell, hidden_size, nonlinearity=nonlinearity,
                            forget_bias=forget_bias, seed=seed, dtype="float64",
                            chrono=gated_chrono)
        if weights is not None and cell in weights:
            model.load_state_dict(weights[cell])
        layer = model[0]
        if lambda_1 is not None and cell == "rnn":
            diagnostics.scale_recurrent_weights(layer, lambda_1)
        (flow,) = diagnostics.state_gradients(model, data.x, data.y, the_task.loss, data.lengths)
        jac = diagnostics.jacobian_norms(layer, data.x[:8])
        scale = flow.h[-1]
        bound = diagnostics.pascanu_bounds(layer)[0]
        gates = {g.gate: g.saturated_overall
                 for g in diagnostics.gate_activity(model, data.x, data.lengths)}
        label = f"rnn ({nonlinearity})" if cell == "rnn" else cell
        if gated_chrono is not None:
            label += f" (chrono {gated_chrono})"
        out.append({
            "cell": cell, "label": label, "t": np.arange(1, flow.h.size + 1),
            "dh": flow.h / scale, "dc": None if flow.c is None else flow.c / scale,
            "gaps": jac.gaps, "jacobian": jac.h, "jacobian_c": jac.c,
            "bound": bound if bound.gamma is not None else None, "gates": gates,
            "lambda_1": bound.lambda_1})
    return out


LAYER_COLORS = ("tab:blue", "tab:orange", "tab:green")  # a character model's layers 1-3


def text_gradient_flow(model, config, ids, length: int = 200, batch: int = 32,
                       warmup: int = 100, seed: int = 0) -> list:
    """Measure gradient flow through a trained character model on windows of real text.

    ``batch`` windows of ``length`` characters are drawn at random from ``ids``; each starts
    from the state the model reached reading the ``warmup`` characters before it (not from
    zeros, which no position of a text sees), and the loss is the cross-entropy of the
    window's last prediction alone, so what reaches step t has come back T - t steps.
    Measured in float64 on a twin of ``model`` (the :class:`rnnlab.text.CharLM` that
    ``config``, a :class:`rnnlab.text.training.TextConfig`, describes), in evaluation mode.

    Returns
    -------
    list of dict
        One per layer of the recurrent stack, as :func:`gradient_flow` gives per cell (the
        Jacobian on the first ``max(1, 256 // H)`` windows: it runs H copies of each).
    """
    ids = np.asarray(ids)
    need = warmup + length + 1
    if len(ids) < need:
        raise ValueError(f"the text is too short: windows of {length} characters after "
                         f"{warmup} of warm-up need {need}, got {len(ids)}")
    twin = config.make_model(model[-1].out_features, dtype="float64")
    twin.load_state_dict(model.state_dict())
    twin.eval()
    embedding, recurrent, head = twin
    starts = np.random.default_rng([seed, 11]).integers(0, len(ids) - need + 1, size=batch)
    rows = starts[:, None] + np.arange(need)
    before, x, y = (ids[rows[:, :warmup]], ids[rows[:, warmup:warmup + length]],
                    ids[rows[:, warmup + 1:]])
    _, state = recurrent.forward(embedding.forward(before)) if warmup else (None, None)
    inputs = embedding.forward(x)  # (B, T, E): the measurement starts at the recurrent stack
    top = Sequential(recurrent, head)
    flows = diagnostics.state_gradients(top, inputs, y, _last_step_loss,
                                        state=None if state is None else [state])
    gates = diagnostics.gate_activity(top, inputs)
    bounds = diagnostics.pascanu_bounds(recurrent)
    few = max(1, 256 // recurrent.hidden_size)
    out = []
    for flow in flows:
        first = None if state is None else (
            state[:, :few] if recurrent.state_names == ("h",)
            else tuple(s[:, :few] for s in state))
        jac = diagnostics.jacobian_norms(recurrent, inputs[:few], flow.layer, state=first)
        bound = bounds[flow.layer]
        scale = flow.h[-1]
        out.append({
            "cell": config.cell, "label": f"{config.cell} layer {flow.layer + 1}",
            "color": LAYER_COLORS[flow.layer % len(LAYER_COLORS)],
            "t": np.arange(1, flow.h.size + 1), "dh": flow.h / scale,
            "dc": None if flow.c is None else flow.c / scale,
            "gaps": jac.gaps, "jacobian": jac.h, "jacobian_c": jac.c,
            "bound": bound if bound.gamma is not None else None,
            "gates": {g.gate: g.saturated_overall for g in gates if g.layer == flow.layer},
            "lambda_1": bound.lambda_1})
    return out


def _last_step_loss(logits, y, mask=None) -> tuple:
    """The cross-entropy of the last step's prediction only, and its gradient (B, T, V)."""
    loss, d_last = cross_entropy(logits[:, -1], y[:, -1])
    d_logits = np.zeros_like(logits)
    d_logits[:, -1] = d_last
    return loss, d_logits


def reach(result: dict, tol: float = 1e-3) -> int:
    """How many steps back ||dL/dh_t|| stays at or above ``tol`` times its value at T."""
    return diagnostics.gradient_horizon(np.arange(result["dh"].size), result["dh"][::-1], tol)


def _bar(value: float) -> str:
    """A bar whose length is log-scaled: full at 1, empty at FLOOR and below."""
    if not value > FLOOR:
        return ""
    frac = min(1.0, 1.0 - math.log10(value) / math.log10(FLOOR))
    return "\u2588" * max(1, round(frac * BAR_WIDTH))


def bar_chart(results: list, every: int = 10) -> str:
    """The terminal chart: one column per cell, rows t = T, T - every, ..., 1."""
    steps = results[0]["dh"].size
    rows = sorted(set(range(steps, 0, -every)) | {1}, reverse=True)
    width = BAR_WIDTH + 10
    lines = ["".join(["t".ljust(7)] + [r["label"].ljust(width) for r in results])]
    for t in rows:
        cells = []
        for r in results:
            value = r["dh"][t - 1]
            cells.append(f"{_bar(value):<{BAR_WIDTH}} {value:<8.1e}".ljust(width))
        lines.append(f"t={t:<5}" + "".join(cells))
    return "\n".join(line.rstrip() for line in lines)


def chart_and_summary(results: list, every: int = 10) -> str:
    """What ``rnnlab gradflow`` prints under its heading: the legend, the chart of every
    ``every``-th step, and the summary lines."""
    return "\n".join(["Bars: ||dL/dh_t|| / ||dL/dh_T||, log scale (a full bar is 1, none is "
                      "< 1e-12).", "", bar_chart(results, every), "", *summary_lines(results)])


def summary_lines(results: list) -> list:
    """Per cell: the gradient left at t = 1, ||dh_T/dh_0||, the Pascanu verdict, gates."""
    lines = []
    for r in results:
        line = (f"{r['label']:<12} dL/dh_1 / dL/dh_T = {r['dh'][0]:.1e}   "
                f"||dh_T/dh_0|| = {r['jacobian'][-1]:.1e}   lambda_1(W_hh) = {r['lambda_1']:.3f}")
        bound = r["bound"]
        if bound is not None:
            verdict = ("vanishing guaranteed" if bound.vanishing_guaranteed
                       else "exploding possible" if bound.exploding_possible else "on the line")
            worst = float(np.max(r["jacobian"][1:] / bound.bound(r["gaps"][1:])))  # gap >= 1
            line += (f"  (gamma {bound.gamma:g}: {verdict}; bound {bound.rate:.3f}^(T-t), "
                     f"measured/bound at most {worst:.2g} for T-t >= 1)")
        if r["gates"]:
            line += "   saturated gates: " + ", ".join(
                f"{g} {v:.0%}" for g, v in r["gates"].items())
        lines.append(line)
    return lines


def gradflow_json(result: dict) -> dict:
    """One cell's measurements as plain JSON values."""
    bound = result["bound"]
    return {
        "cell": result["cell"], "label": result["label"],
        "dh": result["dh"].tolist(), "dc": None if result["dc"] is None else result["dc"].tolist(),
        "gaps": result["gaps"].tolist(), "jacobian": result["jacobian"].tolist(),
        "jacobian_c": None if result["jacobian_c"] is None else result["jacobian_c"].tolist(),
        "lambda_1": result["lambda_1"], "gates": result["gates"],
        "bound": None if bound is None else {"gamma": bound.gamma, "rate": bound.rate,
                                             "vanishing_guaranteed": bound.vanishing_guaranteed,
                                             "exploding_possible": bound.exploding_possible}}
