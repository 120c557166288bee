"""The layer-normalized Elman RNN (Ba, Kiros & Hinton 2016), forward and Backpropagation
Through Time, as a specification.

The input and the recurrent pre-activations are normalized separately, each with its own
gain and bias. Forward, for t = 1..T:

    (1) a_t = LN_ih(W_ih x_t) + LN_hh(W_hh h_{t-1}) + b_ih + b_hh      (over the H units)
    (2) h_t = f(a_t)
    (3) h_t = h_{t-1}            at a padded step (m_t = 0): the state passes through
    (4) y_t = m_t h_t            outputs at padded steps are zero

where f is tanh, relu or sigmoid, and LN (:mod:`rnnlab.reference.layernorm`) has its gain
and bias: ``ln_ih_weight``, ``ln_ih_bias``, ``ln_hh_weight``, ``ln_hh_bias`` (H,); gains
start at 1 and biases at 0.

Backward, for t = T..1, carrying dh_next = dL/dh_t from the future (dL/dh_T given):

    (4) dh = m_t dy_t + dh_next
    (2) da = m_t dh f'(a_t)      f' from the output: tanh' = 1 - h_t^2
    (1) dz_ih = LN_ih'(da), dz_hh = LN_hh'(da):  dW_ih += dz_ih^T x_t,  dx_t = dz_ih W_ih,
        dW_hh += dz_hh^T h_{t-1},  db += sum da
    (1) dh_next = dz_hh W_hh  +  (3) (1 - m_t) dh

where LN'(d) is the layer norm's backward (:func:`rnnlab.reference.layernorm.backward`),
which also accumulates its gain's and bias's gradients.

Shapes: B batch, T steps, I inputs, H hidden units.
"""

from __future__ import annotations

import numpy as np

from rnnlab.reference import layernorm
from rnnlab.reference.activations import ACTIVATIONS
from rnnlab.reference.rnn import _bias, _masks, _split_bias

LN_NAMES = ("ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias")


def forward(params: dict, x, h0, mask=None, nonlinearity: str = "tanh", eps: float = 1e-5):
    """(y (B, T, H), h_T (B, H), cache) for x (B, T, I) from h0 (B, H)."""
    f = ACTIVATIONS[nonlinearity].f
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    b = _bias(params, "bias_ih") + _bias(params, "bias_hh")
    batch, steps, _ = x.shape
    m = _masks(mask, batch, steps, x.dtype)
    hs, kept, ys = [h0], [], []  # hs[t] = h_t
    for t in range(steps):
        z_ih, ln_ih = layernorm.forward(x[:, t] @ w_ih.T, params["ln_ih_weight"],
                                        params["ln_ih_bias"], eps)
        z_hh, ln_hh = layernorm.forward(hs[-1] @ w_hh.T, params["ln_hh_weight"],
                                        params["ln_hh_bias"], eps)
        a = z_ih + z_hh + b  # (1)
        h_new = f(a)  # (2)
        kept.append((h_new, ln_ih, ln_hh))
        hs.append(m[t] * h_new + (1 - m[t]) * hs[-1])  # (3)
        ys.append(m[t] * hs[-1])  # (4)
    cache = (x, hs, kept, m, nonlinearity)
    return np.stack(ys, axis=1), hs[-1], cache


def backward(params: dict, cache, dy, d_state_T=None) -> dict:
    """dL/d(every parameter, x, h0) from dy = dL/dy (B, T, H) and dL/dh_T; with them
    ``"d_states"``, dL/dh_t (B, T, H) for t = 1..T."""
    x, hs, kept, m, nonlinearity = cache
    df = ACTIVATIONS[nonlinearity].df_from_output
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    grads = {name: np.zeros_like(params[name]) for name in ("weight_ih", "weight_hh")
             + LN_NAMES}
    grads["bias"] = np.zeros(len(w_hh), x.dtype)
    grads["x"] = np.zeros_like(x)
    dh_next = np.zeros_like(hs[0]) if d_state_T is None else d_state_T
    dhs = [None] * x.shape[1]  # dL/dh_t, from the output and from the future
    for t in reversed(range(x.shape[1])):
        h_new, ln_ih, ln_hh = kept[t]
        dh = dhs[t] = m[t] * dy[:, t] + dh_next  # (4)
        da = m[t] * dh * df(h_new)  # (2)
        dz_ih, dg_ih, db_ih = layernorm.backward(ln_ih, da)  # (1) through LN_ih
        dz_hh, dg_hh, db_hh = layernorm.backward(ln_hh, da)  # (1) through LN_hh
        grads["weight_ih"] += dz_ih.T @ x[:, t]  # (1)
        grads["weight_hh"] += dz_hh.T @ hs[t]  # (1) hs[t] is h_{t-1}
        grads["bias"] += da.sum(axis=0)  # (1)
        for name, d in zip(LN_NAMES, (dg_ih, db_ih, dg_hh, db_hh)):
            grads[name] += d
        grads["x"][:, t] = dz_ih @ w_ih  # (1)
        dh_next = dz_hh @ w_hh + (1 - m[t]) * dh  # (1), (3)
    grads["state0"], grads["d_states"] = dh_next, np.stack(dhs, axis=1)
    return _split_bias(params, grads)
