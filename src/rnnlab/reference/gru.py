"""The GRU, forward and Backpropagation Through Time, as a specification.

Forward, for t = 1..T (PyTorch's ``nn.GRU``, gates stacked r, z, n, the reset gate applied
after W_hn):

    (1) [x_r, x_z, x_n] = W_ih x_t + b_ih
    (2) [h_r, h_z, h_n] = W_hh h_{t-1} + b_hh
    (3) r = sigmoid(x_r + h_r),  z = sigmoid(x_z + h_z)
    (4) n = tanh(x_n + r * h_n)
    (5) h_t = (1 - z) * n + z * h_{t-1}
    (6) h_t = h_{t-1}       at a padded step (m_t = 0)
    (7) y_t = m_t h_t

Backward, for t = T..1, carrying dh_next = dL/dh_t from the future:

    (7) dh = m_t dy_t + dh_next
    (5) dn = m_t dh (1 - z),  dz = m_t dh (h_{t-1} - n)
    (4) da_n = dn (1 - n^2),  dh_n = da_n r,  dr = da_n h_n
    (3) da_r = dr r (1 - r),  da_z = dz z (1 - z)
    (1) dW_ih += [da_r, da_z, da_n]^T x_t,  db_ih += sum [da_r, da_z, da_n],  dx_t = ... W_ih
    (2) dW_hh += [da_r, da_z, dh_n]^T h_{t-1},  db_hh += sum [da_r, da_z, dh_n]
    (2) dh_next = [da_r, da_z, dh_n] W_hh + (5) m_t dh z + (6) (1 - m_t) dh

The input side (1) sees da_n and the recurrent side (2) dh_n = da_n r: the two differ in the
candidate block, so W_ih and W_hh (and b_ih and b_hh) get different gradients.
"""

from __future__ import annotations

import numpy as np

from rnnlab.reference.activations import sigmoid
from rnnlab.reference.rnn import _bias, _masks


def forward(params: dict, x, h0, mask=None):
    """(y (B, T, H), h_T (B, H), cache) for x (B, T, I) from h0 (B, H)."""
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    b_ih, b_hh = _bias(params, "bias_ih"), _bias(params, "bias_hh")
    batch, steps, _ = x.shape
    m = _masks(mask, batch, steps, x.dtype)
    hs, steps_kept, ys = [h0], [], []
    for t in range(steps):
        x_r, x_z, x_n = np.split(x[:, t] @ w_ih.T + b_ih, 3, axis=1)  # (1)
        h_r, h_z, h_n = np.split(hs[-1] @ w_hh.T + b_hh, 3, axis=1)  # (2)
        r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)  # (3)
        n = np.tanh(x_n + r * h_n)  # (4)
        h_new = (1 - z) * n + z * hs[-1]  # (5)
        steps_kept.append((r, z, n, h_n))
        hs.append(m[t] * h_new + (1 - m[t]) * hs[-1])  # (6)
        ys.append(m[t] * hs[-1])  # (7)
    cache = (x, hs, steps_kept, m)
    return np.stack(ys, axis=1), hs[-1], cache


def backward(params: dict, cache, dy, d_state_T=None) -> dict:
    """dL/d(weights, biases, x, h0) from dy = dL/dy (B, T, H) and dL/dh_T; with them
    ``"d_states"``, dL/dh_t (B, T, H) for t = 1..T."""
    x, hs, steps_kept, m = cache
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    grads = {"weight_ih": np.zeros_like(w_ih), "weight_hh": np.zeros_like(w_hh),
             "bias_ih": np.zeros(len(w_hh), x.dtype), "bias_hh": np.zeros(len(w_hh), x.dtype),
             "x": np.zeros_like(x)}
    dh_next = np.zeros_like(hs[0]) if d_state_T is None else d_state_T
    dhs = [None] * x.shape[1]  # dL/dh_t, from the output and from the future
    for t in reversed(range(x.shape[1])):
        r, z, n, h_n = steps_kept[t]
        dh = dhs[t] = m[t] * dy[:, t] + dh_next  # (7)
        dn, dz = m[t] * dh * (1 - z), m[t] * dh * (hs[t] - n)  # (5) hs[t] is h_{t-1}
        da_n = dn * (1 - n ** 2)  # (4)
        dh_n, dr = da_n * r, da_n * h_n  # (4)
        da_r, da_z = dr * r * (1 - r), dz * z * (1 - z)  # (3)
        d_in = np.concatenate([da_r, da_z, da_n], axis=1)  # (1)
        d_rec = np.concatenate([da_r, da_z, dh_n], axis=1)  # (2)
        grads["weight_ih"] += d_in.T @ x[:, t]  # (1)
        grads["bias_ih"] += d_in.sum(axis=0)  # (1)
        grads["weight_hh"] += d_rec.T @ hs[t]  # (2)
        grads["bias_hh"] += d_rec.sum(axis=0)  # (2)
        grads["x"][:, t] = d_in @ w_ih  # (1)
        dh_next = d_rec @ w_hh + m[t] * dh * z + (1 - m[t]) * dh  # (2), (5), (6)
    grads["state0"], grads["d_states"] = dh_next, np.stack(dhs, axis=1)
    for name in ("bias_ih", "bias_hh"):
        if params.get(name) is None:
            del grads[name]
    return grads
