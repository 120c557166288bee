"""Gate activity over time: how open the LSTM's i, f, o and the GRU's r, z gates are.

Shapes: B batch, T steps, H hidden units.

Notes
-----
A sigmoid gate is saturated when it sits near 0 or 1, where sigmoid' = s (1 - s) is near 0:
a saturated forget gate near 1 keeps c_{t-1} (the LSTM's memory), near 0 erases it, and in
either state little gradient reaches the gate's own weights. The saturation rate is the
fraction of gate values (over sequences, units and valid steps) within ``margin`` of 0 or 1.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnlab._checks import finite_number
from rnnlab.data import lengths_to_mask
from rnnlab.diagnostics.gradflow import model_inputs, recurrent_layers

SIGMOID_GATES = {"lstm": ("i", "f", "o"), "gru": ("r", "z")}


class GateActivity(NamedTuple):
    """One sigmoid gate of one layer and direction."""

    module: int  # which recurrent module of the model
    layer: int
    direction: int
    gate: str  # "i", "f", "o" (LSTM) or "r", "z" (GRU)
    mean: np.ndarray  # (T,) mean gate value at each step over sequences and units
    saturated: np.ndarray  # (T,) fraction within margin of 0 or 1 at each step
    mean_overall: float  # over every valid step
    saturated_overall: float
    low: float  # fraction within margin of 0 (closed)
    high: float  # fraction within margin of 1 (open)


def gate_activity(model, x, lengths=None, margin: float = 0.05) -> list:
    """Run forward once and summarize every sigmoid gate of every gated layer.

    Parameters
    ----------
    model : Module
        A recurrent layer or a Sequential holding some; vanilla RNN layers have no gates.
    x : (B, T, F)
    lengths : (B,) int, optional
    margin : float
        A gate value s is saturated when s < margin or s > 1 - margin.

    Returns
    -------
    list of GateActivity
    """
    if not 0.0 < finite_number(margin, "margin") < 0.5:
        raise ValueError(f"margin must be in (0, 0.5), got {margin!r}")
    layers = recurrent_layers(model)
    x, lengths = model_inputs(x, lengths)
    steps = x.shape[1]
    valid = lengths_to_mask(lengths, steps)[..., None]  # (B, T, 1)
    model.forward(x, lengths=lengths)
    per_t = valid.sum(axis=(0, 2)) * 1.0  # (T,) valid (sequence) count at each step
    out = []
    for k, layer in enumerate(layers):
        names = SIGMOID_GATES.get(type(layer).__name__.lower(), ())
        for index in range(layer.num_layers * layer.num_directions):
            gates = layer.gates(index // layer.num_directions, index % layer.num_directions)
            for name in names:
                s = gates[name]  # (B, T, H)
                units = s.shape[-1]
                low = (s < margin) & valid
                high = (s > 1.0 - margin) & valid
                total = valid.sum() * units
                with np.errstate(invalid="ignore", divide="ignore"):
                    mean_t = np.where(valid, s, 0.0).sum(axis=(0, 2)) / (per_t * units)
                    sat_t = (low | high).sum(axis=(0, 2)) / (per_t * units)
                out.append(GateActivity(
                    k, index // layer.num_directions, index % layer.num_directions, name,
                    mean_t, sat_t, float(np.where(valid, s, 0.0).sum() / total),
                    float((low | high).sum() / total), float(low.sum() / total),
                    float(high.sum() / total)))
    return out
