"""The Transformer encoder, like ``torch.nn.TransformerEncoderLayer`` and
``torch.nn.TransformerEncoder`` with ``batch_first=True`` (Vaswani et al. 2017; the
pre-norm form of Xiong et al. 2020 with ``norm_first=True``).

Shapes: B batch, T steps, E d_model, F dim_feedforward.

Notes
-----
Post-norm (``norm_first=False``, the default, as in the original paper):

Forward:  (1) a = SelfAttention(x)
          (2) u = LayerNorm1(x + Dropout1(a))
          (3) g = act(u W1^T + b1)
          (4) f = Dropout(g) W2^T + b2
          (5) y = LayerNorm2(u + Dropout2(f))
Backward: (5) dt = LayerNorm2'(dy),  df = Dropout2'(dt)
          (4) dg = Dropout'(df W2)  (with dW2, db2)
          (3) dz = dg act'(z),  du = dt + dz W1  (with dW1, db1)
          (2) ds = LayerNorm1'(du),  da = Dropout1'(ds)
          (1) dx = ds + d_query, from SelfAttention'(da) (self-attention: d_query is the whole)

Pre-norm (``norm_first=True``):

Forward:  (1) a = SelfAttention(LayerNorm1(x))
          (2) u = x + Dropout1(a)
          (3) g = act(LayerNorm2(u) W1^T + b1)
          (4) f = Dropout(g) W2^T + b2
          (5) y = u + Dropout2(f)
Backward: (5) df = Dropout2'(dy)
          (4) dg = Dropout'(df W2)  (with dW2, db2)
          (3) dz = dg act'(z),  du = dy + LayerNorm2'(dz W1)  (with dW1, db1)
          (2) da = Dropout1'(du)
          (1) dx = du + LayerNorm1'(d_query), from SelfAttention'(da)

where x (B, T, E) is the input, SelfAttention the ``self_attn`` module with x (or its
normalization) as query, key and value (:mod:`rnnlab.layers.attention`), z (B, T, F) the
pre-activation u W1^T + b1 (or LayerNorm2(u) W1^T + b1), act ReLU or the exact GELU
z Phi(z) = z (1 + erf(z / sqrt(2))) / 2 with act'(z) = Phi(z) + z phi(z), phi the standard
normal density, W1 (F, E), b1 (F,) ``linear1``'s and W2 (E, F), b2 (E,) ``linear2``'s
parameters, Dropout1, Dropout and Dropout2 the dropouts at PyTorch's places (after the
attention, inside the feed-forward, after it), primes their backward passes, and y (B, T, E)
the output. Each sum of a residual connection sends its gradient down both paths.

Padded steps (``src_key_padding_mask`` True) are never attended to, but their own outputs
are computed like any other (attending to the valid steps), as on PyTorch's normal path;
its inference fast path (nested tensors) returns zeros there instead. Ignore them
downstream.
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple

import numpy as np
from numba import vectorize

from rnnlab._checks import boolean, expect_shape, finite_number, float_array, one_of
from rnnlab._checks import positive_int, probability
from rnnlab._checks import seed as check_seed
from rnnlab.backend import resolve_dtype
from rnnlab.layers.attention import MultiheadAttention, attention_bias
from rnnlab.layers.dropout import Dropout
from rnnlab.layers.linear import Linear
from rnnlab.layers.module import Module
from rnnlab.layers.norm import LayerNorm

ACTIVATIONS = ("relu", "gelu")


@vectorize(cache=True)
def _erf(z):
    """erf elementwise (C's erf, as PyTorch's exact GELU uses); compiled on first use."""
    return math.erf(z)


def _dropout_forward(module: Dropout, x):
    """module(x), or x itself when the module drops nothing (p = 0): no draws."""
    return module.forward(x) if module.p > 0 else x


def _dropout_backward(module: Dropout, d):
    """The backward of :func:`_dropout_forward`."""
    return module.backward(d) if module.p > 0 else d


class Cache(NamedTuple):
    """What the layer's own backward needs (its children keep their own)."""

    z: np.ndarray  # (B, T, F) the feed-forward pre-activation (ReLU: the activation g)
    phi: np.ndarray | None  # (B, T, F) Phi(z), for GELU; None for ReLU


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with a residual connection and layer
    normalization (after it, or before it with ``norm_first``); batch first.

    Parameters
    ----------
    d_model : int
        E, the size of each step's vector.
    nhead : int
        The number of attention heads; must divide d_model.
    dim_feedforward : int
        F, the feed-forward block's hidden size.
    dropout : float
        The probability of dropping, 0 <= p < 1, at every dropout: the attention weights,
        after the attention, inside and after the feed-forward block.
    activation : "relu" or "gelu"
        The feed-forward nonlinearity; "gelu" is the exact (erf) form, PyTorch's default.
    layer_norm_eps : float
        LayerNorm's eps, > 0.
    norm_first : bool
        Pre-norm (True) or post-norm (False).
    dtype : float32 or float64
    seed : int or numpy.random.Generator, optional
        Seeds the initial weights and every dropout's own generator.

    Notes
    -----
    Children, in PyTorch's names: ``self_attn``, ``linear1``, ``dropout``, ``linear2``,
    ``norm1``, ``norm2``, ``dropout1``, ``dropout2``; their parameters are named
    ``self_attn.in_proj_weight``, ``linear1.weight``, ``norm1.bias`` and so on.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, norm_first=False, *, dtype=None, seed=None):
        super().__init__(resolve_dtype(dtype))
        self.d_model = positive_int(d_model, "d_model")
        self.nhead = positive_int(nhead, "nhead")
        if self.d_model % self.nhead:
            raise ValueError(f"d_model must be divisible by nhead = {self.nhead}, "
                             f"got d_model = {self.d_model}")
        self.dim_feedforward = positive_int(dim_feedforward, "dim_feedforward")
        p = probability(dropout, "dropout")
        one_of(activation, "activation", ACTIVATIONS)
        self.activation = activation
        eps = finite_number(layer_norm_eps, "layer_norm_eps")
        if eps <= 0:
            raise ValueError(f"layer_norm_eps must be a finite number > 0, got {layer_norm_eps!r}")
        self.norm_first = boolean(norm_first, "norm_first")
        seeds = np.random.default_rng(check_seed(seed)).spawn(6)  # one stream per child
        E, F, dt = self.d_model, self.dim_feedforward, self.dtype
        self.self_attn = MultiheadAttention(E, self.nhead, dropout=p, dtype=dt, seed=seeds[0])
        self.linear1 = Linear(E, F, dtype=dt, seed=seeds[1])
        self.dropout = Dropout(p, seed=seeds[2])
        self.linear2 = Linear(F, E, dtype=dt, seed=seeds[3])
        self.norm1 = LayerNorm(E, eps=eps, dtype=dt)
        self.norm2 = LayerNorm(E, eps=eps, dtype=dt)
        self.dropout1 = Dropout(p, seed=seeds[4])
        self.dropout2 = Dropout(p, seed=seeds[5])
        for name in ("self_attn", "linear1", "dropout", "linear2", "norm1", "norm2",
                     "dropout1", "dropout2"):
            self._add_child(name, getattr(self, name))

    def forward(self, src, src_key_padding_mask=None, src_mask=None):
        """(B, T, E) -> (B, T, E).

        Parameters
        ----------
        src : (B, T, E) float
        src_key_padding_mask : (B, T) bool, optional
            True at padded steps: no step attends to them.
        src_mask : (T, T) or (B*nhead, T, T), bool or float, optional
            Bool: True where step i may not attend to step j; float: added to the scores.
        """
        src = self._check(src, src_key_padding_mask, src_mask)
        masks = {"key_padding_mask": src_key_padding_mask, "attn_mask": src_mask,
                 "need_weights": False}
        x = src
        if self.norm_first:
            n1 = self.norm1.forward(x)  # (1)
            a, _ = self.self_attn.forward(n1, n1, n1, **masks)  # (1)
            u = x + _dropout_forward(self.dropout1, a)  # (2)
            z = self.linear1.forward(self.norm2.forward(u))  # (3) (B, T, F)
        else:
            a, _ = self.self_attn.forward(x, x, x, **masks)  # (1)
            u = self.norm1.forward(x + _dropout_forward(self.dropout1, a))  # (2)
            z = self.linear1.forward(u)  # (3) (B, T, F)
        g, phi = self._activate(z)  # (3)
        f = self.linear2.forward(_dropout_forward(self.dropout, g))  # (4)
        t = u + _dropout_forward(self.dropout2, f)  # (5)
        y = t if self.norm_first else self.norm2.forward(t)  # (5)
        self._save_for_backward(Cache(g if phi is None else z, phi))
        return y

    def backward(self, d_output):
        """Accumulate every parameter gradient; return dL/d src (B, T, E)."""
        cache = self._saved()
        d_output = float_array(d_output, "d_output", self.dtype, "(B, T, E)")
        expect_shape(d_output, "d_output", cache.z.shape[:2] + (self.d_model,),
                     "(B, T, E) of src")
        self._mark_read()
        dt = d_output if self.norm_first else self.norm2.backward(d_output)  # (5)
        df = _dropout_backward(self.dropout2, dt)  # (5)
        dg = _dropout_backward(self.dropout, self.linear2.backward(df))  # (4)
        dz = self._activate_backward(cache, dg)  # (3)
        if self.norm_first:
            du = dt + self.norm2.backward(self.linear1.backward(dz))  # (3)
            da = _dropout_backward(self.dropout1, du)  # (2)
            d_n1, _, _ = self.self_attn.backward(da)  # (1) self-attention: all in d_query
            return du + self.norm1.backward(d_n1)  # (1)
        du = dt + self.linear1.backward(dz)  # (3)
        ds = self.norm1.backward(du)  # (2)
        da = _dropout_backward(self.dropout1, ds)  # (2)
        d_query, _, _ = self.self_attn.backward(da)  # (1) self-attention: all in d_query
        return ds + d_query  # (1)

    def _check(self, src, padding_mask, mask, names=("src_key_padding_mask", "src_mask"),
               src_name="src"):
        """src as a float array of this layer's dtype, its masks checked; or raise."""
        src = float_array(src, src_name, self.dtype, "(B, T, E)", ndim=3)
        if src.shape[-1] != self.d_model:
            raise ValueError(f"{src_name} must have d_model = {self.d_model} on its last axis "
                             f"(B, T, E), got shape {src.shape}")
        B, T, _ = src.shape
        attention_bias(padding_mask, mask, B, T, T, self.nhead, self.dtype, names)
        return src

    def _activate(self, z):
        """(3) g = act(z), and Phi(z) for GELU's backward (None for ReLU)."""
        if self.activation == "relu":
            return np.maximum(z, 0, out=z), None  # (3) in place: z is linear1's own output
        phi = _erf(z * self.dtype.type(1 / math.sqrt(2)))
        phi += 1
        phi *= 0.5  # Phi(z), the standard normal distribution function
        return z * phi, phi  # (3)

    def _activate_backward(self, cache: Cache, dg):
        """(3) dz = dg act'(z): relu' = [g > 0]; gelu' = Phi(z) + z phi(z)."""
        if cache.phi is None:
            return dg * (cache.z > 0)  # (3) cache.z holds g = relu(z)
        z = cache.z
        density = np.exp(-0.5 * z * z)
        density *= self.dtype.type(1 / math.sqrt(2 * math.pi))  # phi(z)
        density *= z
        density += cache.phi
        return dg * density  # (3)

    def __repr__(self) -> str:
        return (f"TransformerEncoderLayer({self.d_model}, {self.nhead}, dim_feedforward="
                f"{self.dim_feedforward}, dropout={self.dropout.p}, activation="
                f"{self.activation!r}, norm_first={self.norm_first}, dtype={self.dtype.name})")


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer``, then an optional ``norm``.

    Parameters
    ----------
    encoder_layer : TransformerEncoderLayer
        Copied ``num_layers`` times (deep copies, as PyTorch's ``_get_clones``): every layer
        starts with the same weights, and is trained on its own. Each copy's dropouts draw
        from their own generators, spawned from the given layer's.
    num_layers : int
    norm : LayerNorm or another Module, optional
        Applied to the last layer's output (e.g. after pre-norm layers).
    dtype : float32 or float64, optional, keyword-only
        Must be ``encoder_layer``'s (the default: its dtype); the copies keep it.
    seed : int or numpy.random.Generator, optional, keyword-only
        Where the copies' dropout generators are spawned from instead of the given layer's
        (the weights are copies, so they use no randomness).

    Notes
    -----
    Parameters are named ``layers.{i}.self_attn.in_proj_weight`` and so on, and
    ``norm.weight``, ``norm.bias``, as in PyTorch. Forward: x_0 = src,
    x_i = layer_i(x_{i-1}), y = norm(x_N); backward runs them in reverse.
    """

    def __init__(self, encoder_layer, num_layers, norm=None, *, dtype=None, seed=None):
        if not isinstance(encoder_layer, TransformerEncoderLayer):
            raise TypeError(f"encoder_layer must be a TransformerEncoderLayer, "
                            f"got {type(encoder_layer).__name__}")
        num_layers = positive_int(num_layers, "num_layers")
        if norm is not None and not isinstance(norm, Module):
            raise TypeError(f"norm must be None or an rnnlab Module (e.g. LayerNorm), "
                            f"got {type(norm).__name__}")
        if norm is not None and norm.dtype not in (None, encoder_layer.dtype):
            raise ValueError(f"norm must have encoder_layer's dtype {encoder_layer.dtype}, "
                             f"got {norm.dtype}")
        if dtype is not None and resolve_dtype(dtype) != encoder_layer.dtype:
            raise ValueError(f"dtype must be encoder_layer's dtype {encoder_layer.dtype} (or "
                             f"None), got {dtype!r}")
        source = None if seed is None else np.random.default_rng(check_seed(seed))
        super().__init__(encoder_layer.dtype)
        self.num_layers = num_layers
        self.layers = _clones(encoder_layer, num_layers, source)
        for i, layer in enumerate(self.layers):
            self._add_child(f"layers.{i}", layer)
        self.norm = norm
        if norm is not None:
            self._add_child("norm", norm)

    def forward(self, src, mask=None, src_key_padding_mask=None):
        """(B, T, E) -> (B, T, E); the masks as :meth:`TransformerEncoderLayer.forward`'s
        ``src_mask`` and ``src_key_padding_mask``, given to every layer."""
        x = self.layers[0]._check(src, src_key_padding_mask, mask,
                                  ("src_key_padding_mask", "mask"))
        for layer in self.layers:
            x = layer.forward(x, src_key_padding_mask=src_key_padding_mask, src_mask=mask)
        return x if self.norm is None else self.norm.forward(x)

    def backward(self, d_output):
        """Accumulate every parameter gradient; return dL/d src (B, T, E)."""
        d = d_output if self.norm is None else self.norm.backward(d_output)
        for layer in reversed(self.layers):
            d = layer.backward(d)
        return d

    def __repr__(self) -> str:
        return (f"TransformerEncoder({self.layers[0]!r}, num_layers={self.num_layers}, "
                f"norm={self.norm!r})")


def _clones(layer: Module, n: int, source=None) -> list:
    """n deep copies of ``layer``; copy i's dropout generators are spawned from the layer's,
    or from the Generator ``source`` when given (deep copies alone would give every copy the
    same masks)."""
    def drawing(module):
        return [m for _, m in module.named_modules()
                if isinstance(getattr(m, "rng", None), np.random.Generator)]

    streams = [(m.rng if source is None else source).spawn(n) for m in drawing(layer)]
    copies = []
    for i in range(n):
        clone = copy.deepcopy(layer)
        for module, spawned in zip(drawing(clone), streams):
            module.rng = spawned[i]
        copies.append(clone)
    return copies
