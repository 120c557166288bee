"""Gradient flow through time, measured from the real backward pass.

Shapes: B batch, T steps, H hidden units, L layers, D directions.

Notes
-----
BPTT carries dL/dh_t back one step at a time; for the vanilla RNN h_t = f(a_t),
a_t = W_ih x_t + W_hh h_{t-1} + b,

    dh_t / dh_{t-1} = diag(f'(a_t)) W_hh,
    ||dh_T / dh_t|| <= prod_{s=t+1..T} ||diag(f'(a_s))|| ||W_hh|| <= (gamma lambda_1)^(T - t)

where lambda_1 is the largest singular value of W_hh and gamma bounds |f'| (1 for tanh and
relu, 1/4 for sigmoid). Pascanu, Mikolov & Bengio (2013): when lambda_1 < 1/gamma the
gradient from T back to t vanishes at least geometrically; lambda_1 > 1/gamma is necessary
for it to explode. The LSTM's cell path dc_{t-1} = f_t * dc_t has no W_hh and no squashing
derivative in it, so no such bound applies.

Every number here comes from the layers' own ``backward`` (``track_state_grads``), not from a
separate derivation: what is measured is what training sees.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnlab._checks import finite_number, float_array, lengths_array
from rnnlab.data import lengths_to_mask

# gamma = sup |f'(a)| of each recurrent nonlinearity (Pascanu et al. 2013, section 3.1).
GAMMA = {"tanh": 1.0, "relu": 1.0, "sigmoid": 0.25}


def recurrent_layers(model) -> list:
    """The recurrent layers of a model (a recurrent layer itself, or a Sequential's)."""
    modules = getattr(model, "modules", [model])
    layers = [m for m in modules if hasattr(m, "track_state_grads")]
    if not layers:
        raise TypeError(f"model must be or contain an RNN, LSTM or GRU layer, "
                        f"got {type(model).__name__}")
    return layers


class StateGradients(NamedTuple):
    """||dL/dh_t|| (and ||dL/dc_t||) of one layer and direction, for t = 1..T."""

    module: int  # which recurrent module of the model (0 for the first)
    layer: int
    direction: int  # 0 forward, 1 reverse
    h: np.ndarray  # (T,) mean over the batch of the L2 norm over H of dL/dh_t
    c: np.ndarray | None  # (T,) the same for dL/dc_t (LSTM), else None


def state_gradients(model, x, y, loss, lengths=None, state=None) -> list:
    """Run forward, the loss and backward once, and measure ||dL/dh_t|| at every step.

    Parameters
    ----------
    model : Module
        A recurrent layer or a Sequential holding some; its parameter gradients are left
        zeroed (the measurement does not train).
    x : (B, T, F)
    y : targets, as ``loss`` takes them
    loss : callable
        ``loss(prediction, y, mask) -> (value, d_prediction)``.
    lengths : (B,) int, optional
    state : optional
        The initial state, as ``model.forward`` takes it (e.g. one reached by reading text
        before x); zeros by default.

    Returns
    -------
    list of StateGradients
        One per recurrent module, layer and direction. Each norm at step t is averaged over
        the sequences still running at t (a padded step is not a step of that sequence).
    """
    layers = recurrent_layers(model)
    if not callable(loss):
        raise TypeError(f"loss must be callable as loss(prediction, y, mask), "
                        f"got {type(loss).__name__}")
    x, lengths = model_inputs(x, lengths)
    valid = lengths_to_mask(lengths, x.shape[1])  # (B, T)
    model.zero_grad()
    for layer in layers:
        layer.track_state_grads = True
    try:
        prediction = (model.forward(x, lengths=lengths) if state is None
                      else model.forward(x, lengths=lengths, state=state))
        mask = valid if prediction.ndim == 3 else None
        _, d_prediction = loss(prediction, y, mask)
        model.backward(d_prediction)
        out = []
        for k, layer in enumerate(layers):
            for index, trace in enumerate(layer.state_grads):
                norms = {name: _masked_mean(np.linalg.norm(g, axis=-1), valid)
                         for name, g in trace.items()}
                out.append(StateGradients(k, index // layer.num_directions,
                                          index % layer.num_directions, norms["h"],
                                          norms.get("c")))
    finally:
        for layer in layers:
            layer.track_state_grads = False
            layer.state_grads = None
        model.zero_grad()
    return out


def model_inputs(x, lengths) -> tuple:
    """``x`` as a finite float (B, T, F) array with B, T >= 1, and its lengths (all T by
    default), checked before a diagnostic runs anything."""
    x = float_array(x, "x", None, "(B, T, F)", ndim=3)
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"x must have B >= 1 and T >= 1, got shape {x.shape}")
    steps = x.shape[1]
    lengths = (np.full(x.shape[0], steps, dtype=np.int64) if lengths is None
               else lengths_array(lengths, x.shape[0], steps))
    return x, lengths


def _index(value, name: str, stop: int) -> int:
    """``value`` as an int if it is one in [0, stop), else raise naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int in [0, {stop}), "
                        f"got {type(value).__name__} {value!r}")
    if not 0 <= value < stop:
        raise ValueError(f"{name} must be an int in [0, {stop}), got {value}")
    return int(value)


def _masked_mean(values, valid):
    """(B, T) values -> (T,) means over the rows valid at each t (NaN where none is)."""
    counts = valid.sum(axis=0)
    sums = np.where(valid, values, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


class JacobianNorms(NamedTuple):
    """||dh_T / dh_t||_2 against the gap T - t, for one layer and direction."""

    gaps: np.ndarray  # (T+1,) 0..T
    h: np.ndarray  # (T+1,) spectral norm of dh_T/dh_{T-gap}, averaged over sequences
    c: np.ndarray | None  # (T+1,) of dh_T/dc_{T-gap} for LSTM, else None


def jacobian_norms(layer, x, layer_index: int = 0, direction: int = 0,
                   state=None) -> JacobianNorms:
    """Measure ||dh_T / dh_t||_2 for every t, by H backward passes run as one batch.

    Each sequence is copied H times; copy k back-propagates dL/dh_T = e_k (the k-th unit
    vector) and nothing else, so the k-th row of dh_T/dh_t is that copy's dL/dh_t. The
    spectral norm of each H x H Jacobian is then taken and averaged over the sequences.

    Parameters
    ----------
    layer : RNN, LSTM or GRU
        Its parameter gradients are left zeroed.
    x : (B, T, I)
        Full-length sequences (the gap is counted from their common end T).
    layer_index, direction : int
        Which layer and direction's own state; the Jacobian is that state's h_T with respect
        to its h_t (holding c_t fixed for LSTM; ``c`` holds dh_T/dc_t).
    state : optional
        The layer's initial state for the B sequences, as its ``forward`` takes it; zeros
        by default.

    Returns
    -------
    JacobianNorms
        gaps 0..T; gap 0 is dh_T/dh_T = I (norm 1), gap T is dh_T/dh_0.
    """
    _check_layer(layer)
    x = float_array(x, "x", layer.dtype, "(B, T, I)", ndim=3)
    batch, steps, features = x.shape
    if batch < 1 or steps < 1 or features != layer.input_size:
        raise ValueError(f"x must have shape (B, T, I) with B, T >= 1 and I = input_size = "
                         f"{layer.input_size}, got {x.shape}")
    hidden, directions = layer.hidden_size, layer.num_directions
    index = (_index(layer_index, "layer_index", layer.num_layers) * directions
             + _index(direction, "direction", directions))
    copies = np.repeat(x, hidden, axis=0)  # (B*H, T, I): copy k of sequence b is row b*H + k
    if state is not None:  # each sequence's state, for each of its copies: (L*D, B*H, H)
        state = (np.repeat(state, hidden, axis=1) if len(layer.state_names) == 1
                 else tuple(np.repeat(s, hidden, axis=1) for s in state))
    layer.zero_grad()
    layer.track_state_grads = True
    try:
        output, _ = layer.forward(copies, state=state)
        d_h = np.zeros((layer.num_layers * directions, batch * hidden, hidden), layer.dtype)
        d_h[index] = np.tile(np.eye(hidden, dtype=layer.dtype), (batch, 1))  # dL/dh_T = e_k
        d_state = d_h if len(layer.state_names) == 1 else (d_h, None)
        _, d_state0 = layer.backward(np.zeros_like(output), d_state)
        trace = layer.state_grads[index]
    finally:
        layer.track_state_grads = False
        layer.state_grads = None
        layer.zero_grad()
    starts = (d_state0,) if len(layer.state_names) == 1 else d_state0  # dh_T/d state_0
    out = {}
    for k, name in enumerate(layer.state_names):
        rows = trace[name]  # (B*H, T, H): d h_T[k] / d state_t, t = 1..T
        if direction == 1:
            rows = rows[:, ::-1]  # the reverse direction ends at step 1: count gaps from there
        first = starts[k][index][:, None, :]  # (B*H, 1, H): d h_T / d state_0
        rows = np.concatenate([first, rows], axis=1)  # (B*H, T+1, H), t = 0..T
        jac = rows.reshape(batch, hidden, steps + 1, hidden).transpose(0, 2, 1, 3)
        norms = np.linalg.norm(jac, ord=2, axis=(2, 3)).mean(axis=0)  # (T+1,), t = 0..T
        out[name] = norms[::-1].copy()  # gap T - t = 0..T
    return JacobianNorms(np.arange(steps + 1), out["h"], out.get("c"))


class PascanuBound(NamedTuple):
    """The largest singular value of W_hh and what Pascanu et al. (2013) conclude from it."""

    name: str  # the parameter, e.g. "weight_hh_l0"
    lambda_1: float  # largest singular value of W_hh (H x H; for gated cells, of each block)
    gamma: float | None  # sup |f'| of the nonlinearity; None for gated cells (no such bound)
    rate: float | None  # gamma * lambda_1: ||dh_T/dh_t|| <= rate^(T - t)
    vanishing_guaranteed: bool  # lambda_1 < 1 / gamma
    exploding_possible: bool  # lambda_1 > 1 / gamma (necessary, not sufficient)

    def bound(self, gaps):
        """(gamma lambda_1)^gap for each gap, the ceiling on ||dh_T/dh_{T-gap}||."""
        if self.rate is None:
            raise ValueError("the bound holds for vanilla RNNs only (this layer is gated)")
        return self.rate ** np.asarray(gaps, dtype=float)


def _check_layer(layer) -> None:
    if not hasattr(layer, "state_names"):
        raise TypeError(f"layer must be an RNN, LSTM or GRU layer, got {type(layer).__name__}")


def pascanu_bounds(layer) -> list:
    """lambda_1 of every recurrent matrix of a layer, with the vanishing/exploding verdict.

    For the vanilla RNN, ||dh_T/dh_t|| <= (gamma lambda_1)^(T - t). Gated cells (LSTM,
    GRU) have no such bound: their lambda_1 is reported per gate block, with gamma None.
    """
    _check_layer(layer)
    out = []
    hidden = layer.hidden_size
    for name, w in layer.state_dict().items():
        if not name.startswith("weight_hh"):
            continue
        blocks = [w[k * hidden:(k + 1) * hidden] for k in range(w.shape[0] // hidden)]
        lambda_1 = max(float(np.linalg.norm(b, ord=2)) for b in blocks)
        gamma = GAMMA.get(layer.nonlinearity) if layer.num_gates == 1 else None
        if gamma is None:
            out.append(PascanuBound(name, lambda_1, None, None, False, False))
        else:
            out.append(PascanuBound(name, lambda_1, gamma, gamma * lambda_1,
                                    lambda_1 < 1.0 / gamma, lambda_1 > 1.0 / gamma))
    return out


def scale_recurrent_weights(layer, lambda_1: float) -> None:
    """Rescale every W_hh of a vanilla RNN layer so its largest singular value is lambda_1.

    The way to put a network on either side of Pascanu et al.'s 1/gamma line on purpose.
    """
    if getattr(layer, "num_gates", None) != 1:
        raise TypeError(f"layer must be a vanilla RNN (gated cells have no single W_hh to "
                        f"scale), got {type(layer).__name__}")
    if finite_number(lambda_1, "lambda_1") <= 0:
        raise ValueError(f"lambda_1 must be a finite number > 0, got {lambda_1!r}")
    state = layer.state_dict()
    for name, w in state.items():
        if name.startswith("weight_hh"):
            state[name] = w * (lambda_1 / np.linalg.norm(w, ord=2))
    layer.load_state_dict(state)
