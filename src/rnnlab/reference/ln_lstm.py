"""The layer-normalized LSTM (Ba, Kiros & Hinton 2016, supplementary equations), forward
and Backpropagation Through Time, as a specification.

The input and the recurrent pre-activations are normalized separately, each with its own
gain and bias, and the cell state before its tanh. Forward, for t = 1..T:

    (1) a = LN_ih(W_ih x_t) + LN_hh(W_hh h_{t-1}) + b_ih + b_hh      (over the 4H gates)
    (2) i = sigmoid(a_i), f = sigmoid(a_f), g = tanh(a_g), o = sigmoid(a_o)
    (3) c_t = f * c_{t-1} + i * g
    (4) h_t = o * tanh(LN_c(c_t))
    (5) (h_t, c_t) = (h_{t-1}, c_{t-1})     at a padded step (m_t = 0)
    (6) y_t = m_t h_t

LN (:mod:`rnnlab.reference.layernorm`) has its gain and bias: ``ln_ih_weight``, ``ln_ih_bias``
(4H,), ``ln_hh_weight``, ``ln_hh_bias`` (4H,), ``ln_c_weight``, ``ln_c_bias`` (H,); gains
start at 1 and biases at 0.

Backward, for t = T..1, carrying dh_next and dc_next from the future:

    (6) dh = m_t dy_t + dh_next
    (4) do = m_t dh tanh(n_t), n_t = LN_c(c_t);
        dc = m_t dc_next + LN_c'(m_t dh o (1 - tanh(n_t)^2))
    (3) di = dc g,  dg = dc i,  df = dc c_{t-1}
    (2) da = [di i (1 - i), df f (1 - f), dg (1 - g^2), do o (1 - o)]
    (1) dz_ih = LN_ih'(da), dz_hh = LN_hh'(da):  dW_ih += dz_ih^T x_t,  dx_t = dz_ih W_ih,
        dW_hh += dz_hh^T h_{t-1},  db += sum da,  dh_next = dz_hh W_hh + (5) (1 - m_t) dh
    (3) dc_next = dc f + (5) (1 - m_t) dc_next

where LN'(d) is the layer norm's backward (:func:`rnnlab.reference.layernorm.backward`),
which also accumulates its gain's and bias's gradients.
"""

from __future__ import annotations

import numpy as np

from rnnlab.reference import layernorm
from rnnlab.reference.activations import sigmoid
from rnnlab.reference.rnn import _bias, _masks

LN_NAMES = ("ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias", "ln_c_weight",
            "ln_c_bias")


def forward(params: dict, x, state0, mask=None, eps: float = 1e-5):
    """(y (B, T, H), (h_T, c_T), cache) for x (B, T, I) from state0 = (h_0, c_0)."""
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    b = _bias(params, "bias_ih") + _bias(params, "bias_hh")
    batch, steps, _ = x.shape
    m = _masks(mask, batch, steps, x.dtype)
    hs, cs, kept, ys = [state0[0]], [state0[1]], [], []
    for t in range(steps):
        z_ih, ln_ih = layernorm.forward(x[:, t] @ w_ih.T, params["ln_ih_weight"],
                                        params["ln_ih_bias"], eps)
        z_hh, ln_hh = layernorm.forward(hs[-1] @ w_hh.T, params["ln_hh_weight"],
                                        params["ln_hh_bias"], eps)
        a = z_ih + z_hh + b  # (1)
        a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
        i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)  # (2)
        c_new = f * cs[-1] + i * g  # (3)
        n, ln_c = layernorm.forward(c_new, params["ln_c_weight"], params["ln_c_bias"], eps)
        h_new = o * np.tanh(n)  # (4)
        kept.append((i, f, g, o, np.tanh(n), ln_ih, ln_hh, ln_c))
        cs.append(m[t] * c_new + (1 - m[t]) * cs[-1])  # (5)
        hs.append(m[t] * h_new + (1 - m[t]) * hs[-1])  # (5)
        ys.append(m[t] * hs[-1])  # (6)
    cache = (x, hs, cs, kept, m)
    return np.stack(ys, axis=1), (hs[-1], cs[-1]), cache


def backward(params: dict, cache, dy, d_state_T=None) -> dict:
    """dL/d(every parameter, x, (h_0, c_0)) from dy (B, T, H) and (dL/dh_T, dL/dc_T)."""
    x, hs, cs, kept, m = cache
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    grads = {name: np.zeros_like(params[name]) for name in ("weight_ih", "weight_hh")
             + LN_NAMES}
    grads["bias"] = np.zeros(len(w_hh), x.dtype)
    grads["x"] = np.zeros_like(x)
    dh_next, dc_next = np.zeros_like(hs[0]), np.zeros_like(cs[0])
    if d_state_T is not None:
        dh_next = dh_next if d_state_T[0] is None else d_state_T[0]
        dc_next = dc_next if d_state_T[1] is None else d_state_T[1]
    for t in reversed(range(x.shape[1])):
        i, f, g, o, tanh_n, ln_ih, ln_hh, ln_c = kept[t]
        dh = m[t] * dy[:, t] + dh_next  # (6)
        do = m[t] * dh * tanh_n  # (4)
        dn = m[t] * dh * o * (1 - tanh_n ** 2)  # (4)
        dc_ln, dg_c, db_c = layernorm.backward(ln_c, dn)  # (4) through LN_c
        dc = m[t] * dc_next + dc_ln  # (4)
        di, dg, df = dc * g, dc * i, dc * cs[t]  # (3) cs[t] is c_{t-1}
        da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2),
                             do * o * (1 - o)], axis=1)  # (2)
        dz_ih, dg_ih, db_ih = layernorm.backward(ln_ih, da)  # (1) through LN_ih
        dz_hh, dg_hh, db_hh = layernorm.backward(ln_hh, da)  # (1) through LN_hh
        grads["weight_ih"] += dz_ih.T @ x[:, t]  # (1)
        grads["weight_hh"] += dz_hh.T @ hs[t]  # (1) hs[t] is h_{t-1}
        grads["bias"] += da.sum(axis=0)  # (1)
        for name, d in zip(LN_NAMES, (dg_ih, db_ih, dg_hh, db_hh, dg_c, db_c)):
            grads[name] += d
        grads["x"][:, t] = dz_ih @ w_ih  # (1)
        dh_next = dz_hh @ w_hh + (1 - m[t]) * dh  # (1), (5)
        dc_next = dc * f + (1 - m[t]) * dc_next  # (3), (5)
    grads["state0"] = (dh_next, dc_next)
    bias = grads.pop("bias")
    for name in ("bias_ih", "bias_hh"):
        if params.get(name) is not None:
            grads[name] = bias.copy()
    return grads
