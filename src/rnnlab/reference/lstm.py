"""The LSTM, forward and Backpropagation Through Time, as a specification.

Forward, for t = 1..T (PyTorch's ``nn.LSTM``, gates stacked i, f, g, o):

    (1) [a_i, a_f, a_g, a_o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    (2) i = sigmoid(a_i), f = sigmoid(a_f), g = tanh(a_g), o = sigmoid(a_o)
    (3) c_t = f * c_{t-1} + i * g
    (4) h_t = o * tanh(c_t)
    (5) (h_t, c_t) = (h_{t-1}, c_{t-1})     at a padded step (m_t = 0)
    (6) y_t = m_t h_t

Backward, for t = T..1, carrying dh_next = dL/dh_t and dc_next = dL/dc_t from the future:

    (6) dh = m_t dy_t + dh_next
    (4) do = m_t dh tanh(c_t),  dc = m_t (dc_next + dh o (1 - tanh(c_t)^2))
    (3) di = dc g,  dg = dc i,  df = dc c_{t-1}
    (2) da = [di i (1 - i), df f (1 - f), dg (1 - g^2), do o (1 - o)]
    (1) dW_ih += da^T x_t,  dW_hh += da^T h_{t-1},  db += sum da,  dx_t = da W_ih
    (1) dh_next = da W_hh + (5) (1 - m_t) dh
    (3) dc_next = dc f + (5) (1 - m_t) dc_next

The additive path (3), dc_{t-1} = dc_t f, is why the gradient can survive many steps
(Hochreiter & Schmidhuber 1997): it is scaled by the forget gate, not by a weight matrix and
a squashing derivative.
"""

from __future__ import annotations

import numpy as np

from rnnlab.reference.activations import sigmoid
from rnnlab.reference.rnn import _bias, _masks, _split_bias


def forward(params: dict, x, state0, mask=None):
    """(y (B, T, H), (h_T, c_T), cache) for x (B, T, I) from state0 = (h_0, c_0)."""
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    b = _bias(params, "bias_ih") + _bias(params, "bias_hh")
    batch, steps, _ = x.shape
    m = _masks(mask, batch, steps, x.dtype)
    hs, cs, steps_kept, ys = [state0[0]], [state0[1]], [], []
    for t in range(steps):
        a = x[:, t] @ w_ih.T + hs[-1] @ w_hh.T + b  # (1)
        a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
        i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)  # (2)
        c_new = f * cs[-1] + i * g  # (3)
        h_new = o * np.tanh(c_new)  # (4)
        steps_kept.append((i, f, g, o, np.tanh(c_new)))
        cs.append(m[t] * c_new + (1 - m[t]) * cs[-1])  # (5)
        hs.append(m[t] * h_new + (1 - m[t]) * hs[-1])  # (5)
        ys.append(m[t] * hs[-1])  # (6)
    cache = (x, hs, cs, steps_kept, m)
    return np.stack(ys, axis=1), (hs[-1], cs[-1]), cache


def backward(params: dict, cache, dy, d_state_T=None) -> dict:
    """dL/d(weights, biases, x, (h_0, c_0)) from dy (B, T, H) and (dL/dh_T, dL/dc_T); with
    them ``"d_states"``, (dL/dh_t, dL/dc_t), each (B, T, H) for t = 1..T."""
    x, hs, cs, steps_kept, m = cache
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    grads = {"weight_ih": np.zeros_like(w_ih), "weight_hh": np.zeros_like(w_hh),
             "bias": np.zeros(len(w_hh), x.dtype), "x": np.zeros_like(x)}
    dh_next, dc_next = (np.zeros_like(hs[0]), np.zeros_like(cs[0]))
    if d_state_T is not None:
        dh_next = dh_next if d_state_T[0] is None else d_state_T[0]
        dc_next = dc_next if d_state_T[1] is None else d_state_T[1]
    dhs, dcs = [None] * x.shape[1], [None] * x.shape[1]  # dL/dh_t, dL/dc_t
    for t in reversed(range(x.shape[1])):
        i, f, g, o, tanh_c = steps_kept[t]
        dh = dhs[t] = m[t] * dy[:, t] + dh_next  # (6)
        do = m[t] * dh * tanh_c  # (4)
        dcs[t] = dc_next + m[t] * dh * o * (1 - tanh_c ** 2)  # (4)
        dc = m[t] * dcs[t]
        di, dg, df = dc * g, dc * i, dc * cs[t]  # (3) cs[t] is c_{t-1}
        da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2),
                             do * o * (1 - o)], axis=1)  # (2)
        grads["weight_ih"] += da.T @ x[:, t]  # (1)
        grads["weight_hh"] += da.T @ hs[t]  # (1) hs[t] is h_{t-1}
        grads["bias"] += da.sum(axis=0)  # (1)
        grads["x"][:, t] = da @ w_ih  # (1)
        dh_next = da @ w_hh + (1 - m[t]) * dh  # (1), (5)
        dc_next = dc * f + (1 - m[t]) * dc_next  # (3), (5)
    grads["state0"] = (dh_next, dc_next)
    grads["d_states"] = (np.stack(dhs, axis=1), np.stack(dcs, axis=1))
    return _split_bias(params, grads)
