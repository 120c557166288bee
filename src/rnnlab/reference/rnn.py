"""The vanilla (Elman) RNN, forward and Backpropagation Through Time, as a specification.

Forward, for t = 1..T (PyTorch's ``nn.RNN``; a tutorial's h_t = f(W_h h_{t-1} + W_x x_t + b)):

    (1) a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    (2) h_t = f(a_t)
    (3) h_t = h_{t-1}            at a padded step (m_t = 0): the state passes through
    (4) y_t = m_t h_t            outputs at padded steps are zero

Backward, for t = T..1, carrying dh_next = dL/dh_t from the future (dL/dh_T given):

    (4) dh = m_t dy_t + dh_next
    (2) da = m_t dh f'(a_t)      f' from the output: tanh' = 1 - h_t^2
    (1) dW_ih += da^T x_t,  dW_hh += da^T h_{t-1},  db += sum da,  dx_t = da W_ih
    (1) dh_next = da W_hh  +  (3) (1 - m_t) dh

Shapes: B batch, T steps, I inputs, H hidden units; params as ``torch.nn.RNN``'s.
"""

from __future__ import annotations

import numpy as np

from rnnlab.reference.activations import ACTIVATIONS


def _bias(params, name):
    """The bias ``name``, or zeros for a layer without biases."""
    b = params.get(name)
    return np.zeros_like(params["weight_hh"][:, 0]) if b is None else b


def _masks(mask, batch, steps, dtype):
    """m (T, B, 1): 1 at valid steps, 0 at padded ones."""
    m = np.ones((batch, steps)) if mask is None else np.asarray(mask, dtype=float)
    return m.T[:, :, None].astype(dtype)


def forward(params: dict, x, h0, mask=None, nonlinearity: str = "tanh"):
    """(y (B, T, H), h_T (B, H), cache) for x (B, T, I) from h0 (B, H)."""
    f = ACTIVATIONS[nonlinearity].f
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    b = _bias(params, "bias_ih") + _bias(params, "bias_hh")
    batch, steps, _ = x.shape
    m = _masks(mask, batch, steps, x.dtype)
    hs, hts, ys = [h0], [], []  # hs[t] = h_t; hts[t - 1] = f(a_t) before masking
    for t in range(steps):
        a = x[:, t] @ w_ih.T + hs[-1] @ w_hh.T + b  # (1)
        h_new = f(a)  # (2)
        hts.append(h_new)
        hs.append(m[t] * h_new + (1 - m[t]) * hs[-1])  # (3)
        ys.append(m[t] * hs[-1])  # (4)
    cache = (x, hs, hts, m, nonlinearity)
    return np.stack(ys, axis=1), hs[-1], cache


def backward(params: dict, cache, dy, d_state_T=None) -> dict:
    """dL/d(weights, biases, x, h0) from dy = dL/dy (B, T, H) and dL/dh_T; with them
    ``"d_states"``, dL/dh_t (B, T, H) for t = 1..T."""
    x, hs, hts, m, nonlinearity = cache
    df = ACTIVATIONS[nonlinearity].df_from_output
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    grads = {"weight_ih": np.zeros_like(w_ih), "weight_hh": np.zeros_like(w_hh),
             "bias": np.zeros(len(w_hh), x.dtype), "x": np.zeros_like(x)}
    dh_next = np.zeros_like(hs[0]) if d_state_T is None else d_state_T
    dhs = [None] * x.shape[1]  # dL/dh_t, from the output and from the future
    for t in reversed(range(x.shape[1])):
        dh = dhs[t] = m[t] * dy[:, t] + dh_next  # (4)
        da = m[t] * dh * df(hts[t])  # (2)
        grads["weight_ih"] += da.T @ x[:, t]  # (1)
        grads["weight_hh"] += da.T @ hs[t]  # (1) hs[t] is h_{t-1}
        grads["bias"] += da.sum(axis=0)  # (1)
        grads["x"][:, t] = da @ w_ih  # (1)
        dh_next = da @ w_hh + (1 - m[t]) * dh  # (1), (3)
    grads["state0"], grads["d_states"] = dh_next, np.stack(dhs, axis=1)
    return _split_bias(params, grads)


def _split_bias(params, grads):
    """b_ih and b_hh enter as a sum: each gets the same gradient (or none, without bias)."""
    bias = grads.pop("bias")
    for name in ("bias_ih", "bias_hh"):
        if params.get(name) is not None:
            grads[name] = bias.copy()
    return grads
