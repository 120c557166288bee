"""The worked example as text, the tutorial's way (:func:`format_trace`), and as plain JSON
data (:func:`to_json`)."""

from __future__ import annotations

import math

from rnnlab.explain.tracer import REL_TOL, Step, Trace

DECIMALS = 4  # decimals shown by format_trace, as the tutorial; to_json keeps full precision
DIGITS = 4  # and at least this many significant digits, so that small gradients still show


def to_json(result: Trace) -> dict:
    """The trace as plain JSON data, full precision.

    Returns
    -------
    dict
        ``h``, ``y_pred`` (lists over t), ``loss``, ``grads`` and ``updated``
        ({"W_x", "W_h", "W_y"}), ``per_step`` (a list over t of {"t", "W_x", "W_h", "W_y"}:
        each step's contribution to each gradient), ``d_h0`` (dL/dh_0), ``factors`` (a list
        over t of every chain-rule factor) and ``config`` (the inputs).
    """
    _check_trace(result)
    steps = result.steps
    return {
        "h": [s.h for s in steps],
        "y_pred": [s.y_pred for s in steps],
        "loss": result.loss,
        "grads": result.grads._asdict(),
        "updated": result.updated._asdict(),
        "per_step": [{"t": s.t, **s.contribution._asdict()} for s in steps],
        "d_h0": result.d_h0,
        "factors": [_factors(s) for s in steps],
        "config": {
            **result.weights._asdict(), "h0": result.h0, "lr": result.lr,
            "activation": result.activation, "xs": [s.x for s in steps],
            "ys": [s.y for s in steps if s.y is not None],
            "targets": "last step" if result.many_to_one else "every step",
        },
    }


def _check_trace(result) -> None:
    if not isinstance(result, Trace):
        raise TypeError(f"result must be a Trace, what trace() returns, "
                        f"got {type(result).__name__}")


def _factors(step: Step) -> dict:
    """One step's values and chain-rule factors, under readable names."""
    return {"t": step.t, "x": step.x, "y": step.y, "h_prev": step.h_prev, "a": step.a,
            "h": step.h, "y_pred": step.y_pred, "loss": step.loss,
            "dL/dy_pred": step.d_y_pred, "dy_pred/dh": step.dy_pred_dh, "f'(a)": step.df,
            "dh/dh_prev": step.dh_dh_prev, "dL/dh from output": step.dh_from_output,
            "dL/dh from future": step.dh_from_future, "dL/dh": step.dh, "dL/da": step.da}


def _fmt(value: float) -> str:
    """A number as the tutorial writes it: 0.5, 0.4621, -0.1089, 0.03571, 1.291e-05.

    At least ``DECIMALS`` decimals and ``DIGITS`` significant digits, trailing zeros dropped;
    below 1e-3 or from 1e6 on (a vanishing or an exploding gradient), scientific notation.
    """
    if value == 0:
        return "0"
    if not 1e-3 <= abs(value) < 1e6:
        return f"{value:.{DIGITS - 1}e}"
    decimals = max(DECIMALS, DIGITS - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".")


def _p(value: float) -> str:
    """:func:`_fmt`, in parentheses when negative, for use inside a product or difference."""
    text = _fmt(value)
    return f"({text})" if text.startswith("-") else text


def _header(result: Trace) -> list:
    steps = result.steps
    w = result.weights
    xs = ", ".join(_fmt(s.x) for s in steps)
    ys = ", ".join(_fmt(s.y) for s in steps if s.y is not None)
    where = "the last step only (many-to-one)" if result.many_to_one else "every step"
    return [f"One step of BPTT for a scalar RNN (T = {len(steps)}, f = {result.activation}, "
            "no biases)",
            f"  W_x = {_fmt(w.W_x)}, W_h = {_fmt(w.W_h)}, W_y = {_fmt(w.W_y)}, "
            f"h_0 = {_fmt(result.h0)}, eta = {_fmt(result.lr)}",
            f"  x = ({xs}), y = ({ys}): a target at {where}",
            f"  (values rounded to {DECIMALS} decimals or {DIGITS} digits; --json gives full "
            "precision)"]


def _forward_lines(result: Trace) -> list:
    f = result.activation
    w = result.weights
    lines = [f"1. Forward: a_t = W_x x_t + W_h h_(t-1), h_t = {f}(a_t), y_pred_t = W_y h_t"]
    for s in result.steps:
        lines.append(f"  h_{s.t} = {f}({_p(w.W_x)}*{_p(s.x)} + {_p(w.W_h)}*{_p(s.h_prev)}) "
                     f"= {f}({_fmt(s.a)}) = {_fmt(s.h)}")
        lines.append(f"  y_pred_{s.t} = {_p(w.W_y)}*{_p(s.h)} = {_fmt(s.y_pred)}")
    return lines


def _loss_lines(result: Trace) -> list:
    scored = [s for s in result.steps if s.y is not None]
    lines = ["2. Loss: L = " + (" + ".join(f"1/2 (y_{s.t} - y_pred_{s.t})^2" for s in scored))]
    for s in scored:
        lines.append(f"  1/2 ({_fmt(s.y)} - {_p(s.y_pred)})^2 = 1/2 ({_fmt(s.y - s.y_pred)})^2 "
                     f"= {_fmt(s.loss)}")
    if len(scored) > 1:
        lines.append(f"  L = {' + '.join(_p(s.loss) for s in scored)} = {_fmt(result.loss)}")
    else:
        lines.append(f"  L = {_fmt(result.loss)}")
    return lines


def _derivative_text(activation: str, step: Step) -> str:
    """f'(a_t) written from the output, with the numbers substituted."""
    t, h = step.t, _p(step.h)
    if activation == "tanh":
        return f"f'(a_{t}) = 1 - h_{t}^2 = 1 - {h}^2 = {_fmt(step.df)}"
    if activation == "sigmoid":
        return f"f'(a_{t}) = h_{t} (1 - h_{t}) = {h}*(1 - {h}) = {_fmt(step.df)}"
    return f"f'(a_{t}) = [a_{t} > 0] = [{_fmt(step.a)} > 0] = {_fmt(step.df)}"


def _dh_text(s: Step, after: Step | None) -> str:
    """dL/dh_t = from the output + from the future, with the numbers substituted."""
    t = s.t
    own = f"dL/dy_pred_{t} W_y"
    own_value = f"{_p(s.d_y_pred)}*{_p(s.dy_pred_dh)}"
    if after is None:
        return f"dL/dh_{t} = {own} = {own_value} = {_fmt(s.dh)}   (t = T: nothing from the future)"
    return (f"dL/dh_{t} = {own} + dL/dh_{t + 1} dh_{t + 1}/dh_{t} = {own_value} + "
            f"{_p(after.dh)}*{_p(after.dh_dh_prev)} = {_fmt(s.dh_from_output)} + "
            f"{_p(s.dh_from_future)} = {_fmt(s.dh)}")


def _step_lines(result: Trace, s: Step) -> list:
    """Every chain-rule factor of step t, with its value."""
    t = s.t
    after = result.steps[t] if t < len(result.steps) else None
    if s.y is None:
        d_pred = f"dL/dy_pred_{t} = 0   (no target at t = {t})"
    else:
        d_pred = (f"dL/dy_pred_{t} = y_pred_{t} - y_{t} = {_p(s.y_pred)} - {_p(s.y)} "
                  f"= {_fmt(s.d_y_pred)}")
    return [f"  t = {t}:",
            f"    {d_pred}",
            f"    dy_pred_{t}/dh_{t} = W_y = {_fmt(s.dy_pred_dh)}",
            f"    {_derivative_text(result.activation, s)}",
            f"    dh_{t}/dh_{t - 1} = f'(a_{t}) W_h = {_p(s.df)}*{_p(result.weights.W_h)} "
            f"= {_fmt(s.dh_dh_prev)}",
            f"    {_dh_text(s, after)}",
            f"    dL/da_{t} = dL/dh_{t} f'(a_{t}) = {_p(s.dh)}*{_p(s.df)} = {_fmt(s.da)}",
            f"    contributions: dL/dW_x^({t}) = dL/da_{t} x_{t} = {_p(s.da)}*{_p(s.x)} "
            f"= {_fmt(s.contribution.W_x)}",
            f"                   dL/dW_h^({t}) = dL/da_{t} h_{t - 1} = {_p(s.da)}*{_p(s.h_prev)} "
            f"= {_fmt(s.contribution.W_h)}",
            f"                   dL/dW_y^({t}) = dL/dy_pred_{t} h_{t} = {_p(s.d_y_pred)}*"
            f"{_p(s.h)} = {_fmt(s.contribution.W_y)}"]


def _table_lines(result: Trace) -> list:
    """Each step's contribution to each gradient, and the sums (the tutorial's step 4)."""
    width, t_width = 11, 4  # a column fits "-1.234e-05" and a space
    names = ("x_t", "h_(t-1)", "h_t", "dL/dh_t", "dL/da_t", "W_x", "W_h", "W_y")
    lines = ["  Per-step contributions (W_x: dL/da_t x_t, W_h: dL/da_t h_(t-1), "
             "W_y: dL/dy_pred_t h_t):",
             "  " + f"{'t':>{t_width}}" + "".join(f"{n:>{width}}" for n in names)]
    for s in result.steps:
        values = (s.x, s.h_prev, s.h, s.dh, s.da) + tuple(s.contribution)
        lines.append("  " + f"{s.t:>{t_width}}" + "".join(f"{_fmt(v):>{width}}" for v in values))
    sums = "".join(f"{_fmt(g):>{width}}" for g in result.grads)
    lines.append("  " + f"{'sum':>{t_width}}" + " " * (5 * width) + sums)
    return lines


def _backward_lines(result: Trace) -> list:
    T = len(result.steps)
    lines = [f"3. Backward (BPTT), t = {T}..1, carrying dL/dh_t from the future"]
    for s in reversed(result.steps):
        lines += _step_lines(result, s)
    if T > 1:
        lines += _table_lines(result)
    lines.append(f"  dL/dh_0 = dL/da_1 W_h = {_fmt(result.d_h0)}")
    return lines


def _why_w_h_is_zero(result: Trace) -> str:
    """Why dL/dW_h = sum_t dL/da_t h_(t-1) came out zero (the tutorial's remark on h_0 = 0)."""
    steps = result.steps
    if any(s.contribution.W_h != 0 for s in steps):
        return "the per-step contributions cancel"
    if len(steps) == 1 and steps[0].h_prev == 0:
        return "h_0 = 0: its only contribution, dL/da_1 h_0, is zero"
    if all(s.h_prev == 0 for s in steps):
        return f"h_0 = ... = h_{len(steps) - 1} = 0: every contribution dL/da_t h_(t-1) is zero"
    if all(s.da == 0 for s in steps):
        return "every dL/da_t = 0: no error reaches the pre-activations"
    return "at every step h_(t-1) = 0 or dL/da_t = 0"


def _gradient_lines(result: Trace) -> list:
    suffix = " (the sum over t of the contributions)" if len(result.steps) > 1 else ""
    lines = [f"4. Gradients{suffix}"]
    for name, value in result.grads._asdict().items():
        line = f"  dL/d{name} = {_fmt(value)}"
        if name == "W_h" and value == 0:
            line += f"   (because {_why_w_h_is_zero(result)})"
        lines.append(line)
    return lines


def _update_lines(result: Trace) -> list:
    lines = [f"5. Update: W <- W - eta dL/dW, eta = {_fmt(result.lr)}"]
    for name, old in result.weights._asdict().items():
        grad, new = getattr(result.grads, name), getattr(result.updated, name)
        line = f"  {name} = {_fmt(old)} - {_fmt(result.lr)}*{_p(grad)}"
        if grad == 0:
            lines.append(f"{line} = {_fmt(new)}")
            continue
        change = -result.lr * grad
        # Enough decimals for the new value to show the change's first DIGITS - 1 digits.
        decimals = min(15, max(DECIMALS, DIGITS - 2 - math.floor(math.log10(abs(change)))))
        shown = f"{new:.{decimals}f}".rstrip("0").rstrip(".") if abs(new) < 1e6 else _fmt(new)
        lines.append(f"{line} = {_fmt(old)} {'+' if change > 0 else '-'} {_fmt(abs(change))} "
                     f"= {shown}")
    return lines


def format_trace(result: Trace) -> str:
    """The trace as the tutorial writes it: forward, loss, backward, gradients, update.

    Numbers are shown to ``DECIMALS`` decimals and at least ``DIGITS`` significant digits
    (see :func:`_fmt`); use :func:`to_json` for full precision.
    """
    _check_trace(result)
    sections = [_header(result), _forward_lines(result), _loss_lines(result),
                _backward_lines(result), _gradient_lines(result), _update_lines(result),
                [f"Checked against rnnlab.RNN + Linear + mse_loss (float64): the gradients "
                 f"agree to {REL_TOL:g} relative."]]
    return "\n\n".join("\n".join(lines) for lines in sections)
