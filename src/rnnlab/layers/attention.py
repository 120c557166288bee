"""Multi-head scaled dot-product attention, like ``torch.nn.MultiheadAttention`` with
``batch_first=True`` (Vaswani et al. 2017, "Attention is all you need").

Shapes: B batch, L target (query) length, S source (key and value) length, E embed_dim,
h num_heads, D = E / h the size of one head.

Notes
-----
Forward:  (1) Q = x_q W_q^T + b_q,  K = x_k W_k^T + b_k,  V = x_v W_v^T + b_v,
              each split into h heads: Q (B, h, L, D), K and V (B, h, S, D)
          (2) Z = Q K^T / sqrt(D) + M
          (3) P = softmax(Z), over S
          (4) A = P * R
          (5) C = A V, the heads joined back: (B, L, E)
          (6) y = C W_o^T + b_o
Backward: (6) dW_o = sum dy^T C,  db_o = sum dy,  dC = dy W_o  (the child Linear ``out_proj``)
          (5) dA = dC V^T,  dV = A^T dC
          (4) dP = dA * R
          (3) dZ = P * (dP - sum_S(dP * P))
          (2) dQ = dZ K / sqrt(D),  dK = dZ^T Q / sqrt(D)
          (1) dW_q = sum dQ^T x_q,  db_q = sum dQ,  dx_q = dQ W_q  (likewise for K and V)
where x_q (B, L, E) is the query, x_k and x_v (B, S, E) the key and value, W_q, W_k, W_v
(E, E) the three row blocks of ``in_proj_weight`` (3E, E) and b_q, b_k, b_v (E,) those of
``in_proj_bias`` (3E,), M the additive mask (0 where a key may be attended to, -inf where
not: ``key_padding_mask`` and ``attn_mask`` together, as PyTorch merges them; a float
``attn_mask`` is added as it is), P (B, h, L, S) the attention weights, R the dropout factor
m / (1 - p) with m ~ Bernoulli(1 - p) per weight (one in evaluation mode or with p = 0),
W_o (E, E) and b_o (E,) ``out_proj.weight`` and ``out_proj.bias``, and y (B, L, E)
``attn_output``. The heads are batched matrix products over (B, h): no loop over either.

Self-attention (one array passed as query, key and value, the same object) projects with
one (3E, E) product, and :meth:`MultiheadAttention.backward` returns that array's whole
gradient as ``d_query`` (the three roles' paths summed, as autograd sums them for a tensor
used three times), with ``d_key`` and ``d_value`` zero: ``d_query + d_key + d_value`` is the
array's gradient either way.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from rnnlab import init as initializers
from rnnlab._checks import boolean, expect_shape, float_array, positive_int, probability
from rnnlab._checks import seed as check_seed
from rnnlab.backend import resolve_dtype
from rnnlab.layers.dropout import keep_scaled
from rnnlab.layers.linear import Linear
from rnnlab.layers.module import Module


def attention_bias(key_padding_mask, attn_mask, batch: int, target: int, source: int,
                   num_heads: int, dtype, names=("key_padding_mask", "attn_mask")):
    """The additive mask M of (2), or None when both masks are None; raise on a bad mask.

    Parameters
    ----------
    key_padding_mask : (B, S) bool, optional
        True where a key is padding (never attended to).
    attn_mask : (L, S) or (B*h, L, S), bool or float, optional
        Bool: True where a query may not attend to a key. Float: added to the scores
        (-inf allowed, e.g. a causal mask; NaN and +inf not).
    batch, target, source, num_heads : int
        B, L, S and h.
    dtype : numpy float dtype
    names : (str, str)
        The two arguments' names in error messages (a layer passes its own, e.g.
        ``src_key_padding_mask``).

    Returns
    -------
    (B or 1, h or 1, L or 1, S) array or None

    A query row left with no key to attend to (every key masked) is refused: its softmax
    would be 0 / 0. PyTorch 2.13 returns NaN there with ``need_weights=True``, and with
    ``need_weights=False`` (``scaled_dot_product_attention``) a zero context, so an output
    equal to ``out_proj.bias``.
    """
    padding_name, mask_name = names
    bias = None
    if key_padding_mask is not None:
        padding = np.asarray(key_padding_mask)
        if padding.dtype.kind != "b":
            raise TypeError(f"{padding_name} must be a bool array of shape (B, S) = "
                            f"({batch}, {source}), True where a key is padding, "
                            f"got dtype {padding.dtype}")
        expect_shape(padding, padding_name, (batch, source), "(B, S)")
        bias = np.where(padding, -np.inf, 0.0).astype(dtype)[:, None, None, :]  # (B, 1, 1, S)
    if attn_mask is not None:
        mask = np.asarray(attn_mask)
        if mask.dtype.kind not in "bf":
            raise TypeError(f"{mask_name} must be a bool or float array of shape (L, S) = "
                            f"({target}, {source}), got dtype {mask.dtype}")
        shapes = ((target, source), (batch * num_heads, target, source))
        if mask.shape not in shapes:
            raise ValueError(f"{mask_name} must have shape (L, S) = {shapes[0]} or "
                             f"(B*h, L, S) = {shapes[1]}, got {mask.shape}")
        if mask.dtype.kind == "b":
            mask = np.where(mask, -np.inf, 0.0).astype(dtype)
        else:
            if np.isnan(mask).any() or np.isposinf(mask).any():
                raise ValueError(f"{mask_name} must hold finite numbers or -inf when float, "
                                 f"got NaN or +inf")
            mask = mask.astype(dtype)
        if mask.ndim == 3:
            mask = mask.reshape(batch, num_heads, target, source)  # (B, h, L, S)
        else:
            mask = mask[None, None]  # (1, 1, L, S)
        bias = mask if bias is None else bias + mask
    if bias is not None:
        blocked = np.isneginf(bias).all(axis=-1)  # (B or 1, h or 1, L or 1)
        blocked = np.broadcast_to(blocked, (batch, blocked.shape[1], target)).any(axis=1)
        if blocked.any():  # (B, L): a query with no key, in some head
            b, l = (int(i) for i in np.argwhere(blocked)[0])
            raise ValueError(f"{padding_name} and {mask_name} leave {int(blocked.sum())} "
                             f"query row(s) with no key to attend to (every key masked; the "
                             f"first: batch element {b}, query {l}): softmax over no keys is "
                             f"undefined (PyTorch gives NaN); leave at least one key unmasked "
                             f"for every query")
    return bias


class Cache(NamedTuple):
    """What backward needs from forward."""

    query: np.ndarray  # (B, L, E) x_q
    key: np.ndarray  # (B, S, E) x_k
    value: np.ndarray  # (B, S, E) x_v
    self_attention: bool  # query, key and value were one array (one fused projection)
    q: np.ndarray  # (B, h, L, D) Q
    k: np.ndarray  # (B, h, S, D) K
    v: np.ndarray  # (B, h, S, D) V
    p: np.ndarray  # (B, h, L, S) P, the softmax
    r: np.ndarray | None  # (B, h, L, S) R, the dropout factor; None when there is none
    a: np.ndarray  # (B, h, L, S) A = P * R


class MultiheadAttention(Module):
    """Multi-head attention, batch first, with PyTorch's parameters and initialization.

    Parameters
    ----------
    embed_dim : int
        E, the size of queries, keys, values and the output.
    num_heads : int
        h; must divide E.
    bias : bool
        Whether to have ``in_proj_bias`` and ``out_proj.bias``.
    dropout : float
        The probability of dropping an attention weight in train mode, 0 <= p < 1.
    dtype : float32 or float64
    seed : int or numpy.random.Generator, optional
        Seeds the module's generator ``rng``: the initial weights, then the dropout masks.

    Notes
    -----
    Parameters: ``in_proj_weight`` (3E, E), Glorot uniform (``xavier_uniform_``) over the
    whole matrix; ``in_proj_bias`` (3E,) zeros; ``out_proj.weight`` (E, E) Linear's default
    U(-1/sqrt(E), 1/sqrt(E)); ``out_proj.bias`` (E,) zeros: PyTorch's ``_reset_parameters``.
    Separate key and value sizes (PyTorch's ``kdim``, ``vdim``), ``add_bias_kv`` and
    ``add_zero_attn`` are not supported.
    """

    def __init__(self, embed_dim, num_heads, bias=True, dropout=0.0, *, dtype=None, seed=None):
        super().__init__(resolve_dtype(dtype))
        self.embed_dim = positive_int(embed_dim, "embed_dim")
        self.num_heads = positive_int(num_heads, "num_heads")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim must be divisible by num_heads = {self.num_heads}, "
                             f"got embed_dim = {self.embed_dim}")
        self.head_dim = self.embed_dim // self.num_heads
        self.dropout = probability(dropout, "dropout", "an attention weight")
        has_bias = boolean(bias, "bias")
        self.rng = np.random.default_rng(check_seed(seed))  # an int, None, or a Generator
        E = self.embed_dim
        self._add_parameter("in_proj_weight",
                            initializers.xavier_uniform((3 * E, E), self.rng, self.dtype))
        if has_bias:
            self._add_parameter("in_proj_bias", np.zeros(3 * E, dtype=self.dtype))
        self.out_proj = Linear(E, E, bias=has_bias, dtype=self.dtype, seed=self.rng)
        if has_bias:
            self.out_proj.parameters()["bias"].fill(0)
        self._add_child("out_proj", self.out_proj)

    def forward(self, query, key, value, key_padding_mask=None, attn_mask=None,
                need_weights=True):
        """Attend from each query to the keys; return ``(attn_output, attn_weights)``.

        Parameters
        ----------
        query : (B, L, E) float
        key, value : (B, S, E) float
            Pass one array as query, key and value for self-attention.
        key_padding_mask : (B, S) bool, optional
            True where a key is padding.
        attn_mask : (L, S) or (B*h, L, S), bool or float, optional
            Bool: True where a query may not attend to a key; float: added to the scores.
        need_weights : bool
            Whether to return the attention weights.

        Returns
        -------
        attn_output : (B, L, E)
        attn_weights : (B, L, S) or None
            A of (4) averaged over the heads (after dropout, as PyTorch's), or None when
            ``need_weights`` is False. They take no part in backward.

        A query row whose every key is masked is refused (see :func:`attention_bias`).
        Queries at padded positions are computed like any other (PyTorch's normal path
        does the same); ignore them downstream.
        """
        E, h, D = self.embed_dim, self.num_heads, self.head_dim
        self_attention = query is key and key is value
        query = float_array(query, "query", self.dtype, "(B, L, E)", ndim=3)
        if query.shape[-1] != E:
            raise ValueError(f"query must have embed_dim = {E} on its last axis (B, L, E), "
                             f"got shape {query.shape}")
        B, L = query.shape[:2]
        if self_attention:
            key = value = query
        else:
            key = float_array(key, "key", self.dtype, "(B, S, E)", ndim=3)
            if key.shape[0] != B or key.shape[2] != E:
                raise ValueError(f"key must have shape (B, S, E) = ({B}, S, {E}), "
                                 f"got {key.shape}")
            value = float_array(value, "value", self.dtype, "(B, S, E)", ndim=3)
            expect_shape(value, "value", key.shape, "(B, S, E) of key")
        S = key.shape[1]
        need_weights = boolean(need_weights, "need_weights")
        bias = attention_bias(key_padding_mask, attn_mask, B, L, S, h, self.dtype)

        weight = self._params["in_proj_weight"]  # (3E, E)
        b_in = self._params.get("in_proj_bias")  # (3E,) or None
        if self_attention:  # (1) one product for Q, K and V
            qkv = query @ weight.T  # (B, L, 3E)
            if b_in is not None:
                qkv += b_in
            q, k, v = qkv[..., :E], qkv[..., E:2 * E], qkv[..., 2 * E:]
        else:  # (1)
            q, k, v = (self._project(x, n) for n, x in enumerate((query, key, value)))
        q = q.reshape(B, L, h, D).transpose(0, 2, 1, 3)  # (B, h, L, D)
        k = k.reshape(B, S, h, D).transpose(0, 2, 1, 3)  # (B, h, S, D)
        v = v.reshape(B, S, h, D).transpose(0, 2, 1, 3)  # (B, h, S, D)
        z = (q * self.dtype.type(1.0 / math.sqrt(D))) @ k.transpose(0, 1, 3, 2)  # (2) (B,h,L,S)
        if bias is not None:
            z += bias  # (2)
        z -= z.max(axis=-1, keepdims=True)  # (3) shifted: exp never overflows
        p = np.exp(z, out=z)
        p /= p.sum(axis=-1, keepdims=True)  # (3)
        r = None
        if self.training and self.dropout > 0:
            r = keep_scaled(self.rng, p.shape, self.dropout, self.dtype)  # (4)
        a = p if r is None else p * r  # (4)
        c = (a @ v).transpose(0, 2, 1, 3).reshape(B, L, E)  # (5)
        y = self.out_proj.forward(c)  # (6)
        self._save_for_backward(Cache(query, key, value, self_attention, q, k, v, p, r, a))
        return y, (a.mean(axis=1) if need_weights else None)

    def backward(self, d_attn_output):
        """Accumulate the parameter gradients; return ``(d_query, d_key, d_value)``.

        Parameters
        ----------
        d_attn_output : (B, L, E)
            dL/d attn_output.

        Returns
        -------
        d_query : (B, L, E)
        d_key, d_value : (B, S, E)

        After a self-attention forward (one array x passed as query, key and value, the
        same object), ``d_query`` is the whole dL/dx, the three roles' paths summed, and
        ``d_key``, ``d_value`` are zeros; so ``d_query + d_key + d_value`` is dL/dx for a
        self-attention and a cross-attention alike.
        """
        cache = self._saved()
        E, h, D = self.embed_dim, self.num_heads, self.head_dim
        B, L, _ = cache.query.shape
        d_out = float_array(d_attn_output, "d_attn_output", self.dtype, "(B, L, E)")
        expect_shape(d_out, "d_attn_output", (B, L, E), "(B, L, E) of attn_output")
        self._mark_read()
        dc = self.out_proj.backward(d_out)  # (6) (B, L, E)
        dc = dc.reshape(B, L, h, D).transpose(0, 2, 1, 3)  # (B, h, L, D)
        da = dc @ cache.v.transpose(0, 1, 3, 2)  # (5) (B, h, L, S)
        dv = cache.a.transpose(0, 1, 3, 2) @ dc  # (5) (B, h, S, D)
        dp = da if cache.r is None else da * cache.r  # (4)
        dz = dp - (dp * cache.p).sum(axis=-1, keepdims=True)  # (3)
        dz *= cache.p  # (3)
        scale = self.dtype.type(1.0 / math.sqrt(D))
        dq = dz @ cache.k  # (2) (B, h, L, D)
        dq *= scale
        dk = dz.transpose(0, 1, 3, 2) @ cache.q  # (2) (B, h, S, D)
        dk *= scale
        weight = self._params["in_proj_weight"]
        d_weight = self._grads["in_proj_weight"]
        has_bias = "in_proj_bias" in self._params
        if cache.self_attention:  # (1) the fused projection: one product for dW
            d_qkv = np.empty((B, L, 3, h, D), dtype=self.dtype)
            for n, dpart in enumerate((dq, dk, dv)):
                d_qkv[:, :, n] = dpart.transpose(0, 2, 1, 3)
            d_qkv = d_qkv.reshape(B * L, 3 * E)  # (B*L, 3E)
            d_weight += d_qkv.T @ cache.query.reshape(B * L, E)  # (1)
            if has_bias:
                self._grads["in_proj_bias"] += d_qkv.sum(axis=0)  # (1)
            d_x = (d_qkv @ weight).reshape(B, L, E)  # (1) the three paths at once
            return d_x, np.zeros_like(d_x), np.zeros_like(d_x)
        grads = []
        for n, (dpart, x) in enumerate(((dq, cache.query), (dk, cache.key), (dv, cache.value))):
            rows = slice(n * E, (n + 1) * E)
            d2 = dpart.transpose(0, 2, 1, 3).reshape(-1, E)  # (B*L or B*S, E)
            d_weight[rows] += d2.T @ x.reshape(-1, E)  # (1)
            if has_bias:
                self._grads["in_proj_bias"][rows] += d2.sum(axis=0)  # (1)
            grads.append((d2 @ weight[rows]).reshape(x.shape))  # (1)
        return tuple(grads)

    def _project(self, x, n: int):
        """Block n (0 query, 1 key, 2 value) of (1): x W_n^T + b_n, (B, L or S, E)."""
        E = self.embed_dim
        rows = slice(n * E, (n + 1) * E)
        out = x @ self._params["in_proj_weight"][rows].T
        if "in_proj_bias" in self._params:
            out += self._params["in_proj_bias"][rows]
        return out

    def __repr__(self) -> str:
        return (f"MultiheadAttention({self.embed_dim}, {self.num_heads}, "
                f"bias={'in_proj_bias' in self._params}, dropout={self.dropout}, "
                f"dtype={self.dtype.name})")
