"""The layer-normalized GRU (Ba, Kiros & Hinton 2016), forward and Backpropagation Through
Time, as a specification.

The input and the recurrent projections are normalized separately, each over its whole 3H
(gates stacked r, z, n, as PyTorch's ``nn.GRU``), so that the recurrent candidate term h_n
is normalized before the reset gate multiplies it. Forward, for t = 1..T:

    (1) [x_r, x_z, x_n] = LN_ih(W_ih x_t) + b_ih
    (2) [h_r, h_z, h_n] = LN_hh(W_hh h_{t-1}) + b_hh
    (3) r = sigmoid(x_r + h_r),  z = sigmoid(x_z + h_z)
    (4) n = tanh(x_n + r * h_n)
    (5) h_t = (1 - z) * n + z * h_{t-1}
    (6) h_t = h_{t-1}       at a padded step (m_t = 0)
    (7) y_t = m_t h_t

LN (:mod:`rnnlab.reference.layernorm`) has its gain and bias: ``ln_ih_weight``,
``ln_ih_bias``, ``ln_hh_weight``, ``ln_hh_bias`` (3H,); gains start at 1 and biases at 0.

Backward, for t = T..1, carrying dh_next = dL/dh_t from the future:

    (7) dh = m_t dy_t + dh_next
    (5) dn = m_t dh (1 - z),  dz = m_t dh (h_{t-1} - n)
    (4) da_n = dn (1 - n^2),  dh_n = da_n r,  dr = da_n h_n
    (3) da_r = dr r (1 - r),  da_z = dz z (1 - z)
    (1) d_in = [da_r, da_z, da_n]:  db_ih += sum d_in,  dz_ih = LN_ih'(d_in),
        dW_ih += dz_ih^T x_t,  dx_t = dz_ih W_ih
    (2) d_rec = [da_r, da_z, dh_n]:  db_hh += sum d_rec,  dz_hh = LN_hh'(d_rec),
        dW_hh += dz_hh^T h_{t-1}
    (2) dh_next = dz_hh W_hh + (5) m_t dh z + (6) (1 - m_t) dh

where LN'(d) is the layer norm's backward (:func:`rnnlab.reference.layernorm.backward`),
which also accumulates its gain's and bias's gradients.

Shapes: B batch, T steps, I inputs, H hidden units.
"""

from __future__ import annotations

import numpy as np

from rnnlab.reference import layernorm
from rnnlab.reference.activations import sigmoid
from rnnlab.reference.rnn import _bias, _masks

LN_NAMES = ("ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias")


def forward(params: dict, x, h0, mask=None, eps: float = 1e-5):
    """(y (B, T, H), h_T (B, H), cache) for x (B, T, I) from h0 (B, H)."""
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    b_ih, b_hh = _bias(params, "bias_ih"), _bias(params, "bias_hh")
    batch, steps, _ = x.shape
    m = _masks(mask, batch, steps, x.dtype)
    hs, kept, ys = [h0], [], []
    for t in range(steps):
        z_ih, ln_ih = layernorm.forward(x[:, t] @ w_ih.T, params["ln_ih_weight"],
                                        params["ln_ih_bias"], eps)
        z_hh, ln_hh = layernorm.forward(hs[-1] @ w_hh.T, params["ln_hh_weight"],
                                        params["ln_hh_bias"], eps)
        x_r, x_z, x_n = np.split(z_ih + b_ih, 3, axis=1)  # (1)
        h_r, h_z, h_n = np.split(z_hh + b_hh, 3, axis=1)  # (2)
        r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)  # (3)
        n = np.tanh(x_n + r * h_n)  # (4)
        h_new = (1 - z) * n + z * hs[-1]  # (5)
        kept.append((r, z, n, h_n, ln_ih, ln_hh))
        hs.append(m[t] * h_new + (1 - m[t]) * hs[-1])  # (6)
        ys.append(m[t] * hs[-1])  # (7)
    cache = (x, hs, kept, m)
    return np.stack(ys, axis=1), hs[-1], cache


def backward(params: dict, cache, dy, d_state_T=None) -> dict:
    """dL/d(every parameter, x, h0) from dy = dL/dy (B, T, H) and dL/dh_T; with them
    ``"d_states"``, dL/dh_t (B, T, H) for t = 1..T."""
    x, hs, kept, m = cache
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    grads = {name: np.zeros_like(params[name]) for name in ("weight_ih", "weight_hh")
             + LN_NAMES}
    grads["bias_ih"] = np.zeros(len(w_hh), x.dtype)
    grads["bias_hh"] = np.zeros(len(w_hh), x.dtype)
    grads["x"] = np.zeros_like(x)
    dh_next = np.zeros_like(hs[0]) if d_state_T is None else d_state_T
    dhs = [None] * x.shape[1]  # dL/dh_t, from the output and from the future
    for t in reversed(range(x.shape[1])):
        r, z, n, h_n, ln_ih, ln_hh = kept[t]
        dh = dhs[t] = m[t] * dy[:, t] + dh_next  # (7)
        dn, dz = m[t] * dh * (1 - z), m[t] * dh * (hs[t] - n)  # (5) hs[t] is h_{t-1}
        da_n = dn * (1 - n ** 2)  # (4)
        dh_n, dr = da_n * r, da_n * h_n  # (4)
        da_r, da_z = dr * r * (1 - r), dz * z * (1 - z)  # (3)
        d_in = np.concatenate([da_r, da_z, da_n], axis=1)  # (1)
        d_rec = np.concatenate([da_r, da_z, dh_n], axis=1)  # (2)
        dz_ih, dg_ih, db_ih = layernorm.backward(ln_ih, d_in)  # (1) through LN_ih
        dz_hh, dg_hh, db_hh = layernorm.backward(ln_hh, d_rec)  # (2) through LN_hh
        grads["weight_ih"] += dz_ih.T @ x[:, t]  # (1)
        grads["bias_ih"] += d_in.sum(axis=0)  # (1)
        grads["weight_hh"] += dz_hh.T @ hs[t]  # (2)
        grads["bias_hh"] += d_rec.sum(axis=0)  # (2)
        for name, d in zip(LN_NAMES, (dg_ih, db_ih, dg_hh, db_hh)):
            grads[name] += d
        grads["x"][:, t] = dz_ih @ w_ih  # (1)
        dh_next = dz_hh @ w_hh + m[t] * dh * z + (1 - m[t]) * dh  # (2), (5), (6)
    grads["state0"], grads["d_states"] = dh_next, np.stack(dhs, axis=1)
    for name in ("bias_ih", "bias_hh"):
        if params.get(name) is None:
            del grads[name]
    return grads
