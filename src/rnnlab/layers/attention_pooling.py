"""Attention pooling: many-to-one heads that weigh the steps of a (B, T, F) sequence.

Shapes: B batch, T steps, F features (input_size), A attention_size.

Where :class:`~rnnlab.layers.LastStep` keeps one step and :class:`~rnnlab.layers.MeanPool`
weighs every valid step alike, an attention head learns a score per step and returns the
softmax-weighted sum of the steps: the context vector. Only valid steps take part: the
softmax runs over t < lengths[b], and a padded step gets weight exactly 0 (its input never
changes a result, and its gradient dx is exactly 0).

Notes
-----
Forward, for each sequence b and step t:

    (1) u_t = tanh(W x_t + b)                          AdditiveAttention
    (2) e_t = v^T u_t                                  AdditiveAttention
    (2') e_t = q^T x_t                                 DotAttention
    (3) alpha_t = m_t exp(e_t) / sum_s m_s exp(e_s)    softmax over the valid steps
    (4) c = sum_t alpha_t x_t

where x_t (F,) is step t of the input, W (A, F) ``weight``, b (A,) ``bias``, v (A,) ``v``,
q (F,) ``query``, u_t (A,) the hidden attention layer, e_t the score, m_t in {0, 1} marks
the valid steps, alpha_t the attention weight (kept as ``weights`` (B, T)) and c (F,) the
context vector, the output.

Backward, from dc (B, F) = dL/dc:

    (4) dalpha_t = dc . x_t,   dx_t = alpha_t dc
    (3) de_t = alpha_t (dalpha_t - sum_s alpha_s dalpha_s)     (0 at padded steps)
    (2) dv = sum_{b,t} de_t u_t,   du_t = de_t v
    (1) da_t = du_t (1 - u_t^2),   dW = sum_{b,t} da_t x_t^T,   db = sum_{b,t} da_t,
        dx_t += W^T da_t
    (2') dq = sum_{b,t} de_t x_t,   dx_t += de_t q

AdditiveAttention is the scoring of Bahdanau, Cho & Bengio 2015 ("Neural machine
translation by jointly learning to align and translate", ICLR) used as a pooling head, with
a learned context vector v in place of the decoder state, as in the word and sentence
attention of Yang et al. 2016 (Hierarchical Attention Networks, NAACL). DotAttention is
Luong, Pham & Manning 2015's "dot" score (EMNLP) against a learned query q; their
"general" score q^T W x_t would add nothing here, since W^T q is itself just a vector q.
"""

from __future__ import annotations

import math

import numpy as np

from rnnlab import init as initializers
from rnnlab._checks import expect_shape, float_array, lengths_array, positive_int
from rnnlab._checks import seed as check_seed
from rnnlab.backend import resolve_dtype
from rnnlab.data.padding import lengths_to_mask
from rnnlab.layers.module import Module


def masked_softmax(scores, mask):
    """(3) The softmax of ``scores`` (..., T) over the last axis, where ``mask`` (..., T) is
    True; exactly 0 where it is False. Each row needs at least one True."""
    shifted = np.where(mask, scores, -np.inf)
    shifted = shifted - shifted.max(axis=-1, keepdims=True)
    e = np.exp(shifted)  # exp(-inf) = 0 at masked steps
    return e / e.sum(axis=-1, keepdims=True)


def masked_softmax_backward(alpha, d_alpha):
    """(3) dL/de from dL/dalpha for alpha = masked_softmax(e): alpha (dalpha - sum alpha
    dalpha) over the last axis; exactly 0 where alpha is (at masked steps)."""
    return alpha * (d_alpha - (alpha * d_alpha).sum(axis=-1, keepdims=True))


class _AttentionPool(Module):
    """What both heads share: lengths, the masked softmax (3), the weighted sum (4)."""

    uses_lengths = True  # Sequential passes lengths, as to LastStep and MeanPool
    transient = Module.transient + ("weights",)

    def __init__(self, input_size, dtype):
        super().__init__(resolve_dtype(dtype))
        self.input_size = positive_int(input_size, "input_size")
        self.weights = None  # (B, T) alpha of the last forward, for plots

    def _inputs(self, x, lengths):
        x = float_array(x, "x", self.dtype, "(B, T, F)", ndim=3)
        batch, steps, features = x.shape
        if batch < 1 or steps < 1:
            raise ValueError(f"x must have B >= 1 and T >= 1, got shape {x.shape}")
        if features != self.input_size:
            raise ValueError(f"x must have F = input_size = {self.input_size} features, "
                             f"got shape {x.shape}")
        if lengths is None:
            lengths = np.full(batch, steps, dtype=np.int64)
        return x, lengths_array(lengths, batch, steps)

    def forward(self, x, lengths=None):
        """(B, T, F) -> the context (B, F): the attention-weighted sum of the valid steps.

        Parameters
        ----------
        x : (B, T, F) float
        lengths : (B,) int, optional
            Each sequence's number of valid steps, 1 <= lengths <= T; all T by default.
        """
        x, lengths = self._inputs(x, lengths)
        mask = lengths_to_mask(lengths, x.shape[1])  # (B, T)
        scores, score_cache = self._scores(x)  # (1)-(2): (B, T)
        alpha = masked_softmax(scores, mask).astype(x.dtype)  # (3) (B, T)
        self.weights = alpha
        self._save_for_backward((x, alpha, score_cache))
        return np.einsum("bt,btf->bf", alpha, x)  # (4)

    def backward(self, d_output):
        """dL/dc (B, F) -> dL/dx (B, T, F), zero at padded steps; accumulate the parameters'
        gradients."""
        x, alpha, score_cache = self._saved()
        d_output = float_array(d_output, "d_output", self.dtype, "(B, F)", ndim=2)
        expect_shape(d_output, "d_output", (x.shape[0], x.shape[2]), "(B, F)")
        self._mark_read()
        d_alpha = np.einsum("bf,btf->bt", d_output, x)  # (4) (B, T)
        dx = alpha[:, :, None] * d_output[:, None, :]  # (4) (B, T, F)
        d_scores = masked_softmax_backward(alpha, d_alpha)  # (3) (B, T)
        dx += self._scores_backward(x, d_scores, score_cache)  # (2), (1) or (2')
        return dx

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._sizes()}, dtype={self.dtype.name})"


class AdditiveAttention(_AttentionPool):
    """Additive (Bahdanau) attention pooling: e_t = v^T tanh(W x_t + b), c = sum alpha_t x_t.

    Parameters
    ----------
    input_size : int
        F, the features of each step (e.g. a recurrent layer's D*H).
    attention_size : int, optional
        A, the units of the hidden attention layer; ``input_size`` by default.
    dtype : float32 or float64, keyword-only
        The parameters' dtype (default float32); float inputs are cast to it.
    seed : int or numpy.random.Generator, optional, keyword-only
        Randomness for the initial weights: W and b from U(-1/sqrt(F), 1/sqrt(F)) (as
        ``Linear``), then v from U(-1/sqrt(A), 1/sqrt(A)).

    Attributes
    ----------
    weights : (B, T) ndarray or None
        alpha of the last forward: each step's weight, 0 at padded steps.

    Notes
    -----
    Parameters ``weight`` (A, F), ``bias`` (A,) and ``v`` (A,); equations (1)-(4) of
    :mod:`rnnlab.layers.attention_pooling`.

    Examples
    --------
    >>> model = Sequential(LSTM(12, 64), AdditiveAttention(64), Linear(64, 9))
    >>> logits = model(x, lengths=lengths)
    >>> model[1].weights          # (B, T): where the model looked
    """

    def __init__(self, input_size, attention_size=None, *, dtype=None, seed=None):
        super().__init__(input_size, dtype)
        size = self.input_size if attention_size is None else attention_size
        self.attention_size = positive_int(size, "attention_size")
        rng = np.random.default_rng(check_seed(seed))  # an int, None, or a Generator as is
        f, a = self.input_size, self.attention_size
        bound = 1.0 / math.sqrt(f)
        self._add_parameter("weight", initializers.uniform((a, f), rng, self.dtype, bound))
        self._add_parameter("bias", initializers.uniform((a,), rng, self.dtype, bound))
        self._add_parameter("v", initializers.uniform((a,), rng, self.dtype,
                                                      1.0 / math.sqrt(a)))

    def _scores(self, x):
        p = self._params
        u = np.tanh(x @ p["weight"].T + p["bias"])  # (1) (B, T, A)
        return u @ p["v"], u  # (2) (B, T)

    def _scores_backward(self, x, d_scores, u):
        p, g = self._params, self._grads
        g["v"] += np.einsum("bt,bta->a", d_scores, u)  # (2)
        du = d_scores[:, :, None] * p["v"]  # (2) (B, T, A)
        da = du * (1.0 - u * u)  # (1) tanh' = 1 - u^2
        da2 = da.reshape(-1, self.attention_size)  # (B*T, A)
        g["weight"] += da2.T @ x.reshape(-1, self.input_size)  # (1)
        g["bias"] += da2.sum(axis=0)  # (1)
        return da @ p["weight"]  # (1) (B, T, F)

    def _sizes(self) -> str:
        return f"{self.input_size}, attention_size={self.attention_size}"


class DotAttention(_AttentionPool):
    """Dot-product (Luong) attention pooling against a learned query: e_t = q^T x_t.

    Parameters
    ----------
    input_size : int
        F, the features of each step.
    dtype : float32 or float64, keyword-only
        The parameters' dtype (default float32); float inputs are cast to it.
    seed : int or numpy.random.Generator, optional, keyword-only
        Randomness for the initial query, from U(-1/sqrt(F), 1/sqrt(F)).

    Attributes
    ----------
    weights : (B, T) ndarray or None
        alpha of the last forward: each step's weight, 0 at padded steps.

    Notes
    -----
    One parameter, ``query`` (F,); equations (2'), (3), (4) of
    :mod:`rnnlab.layers.attention_pooling`.
    """

    def __init__(self, input_size, *, dtype=None, seed=None):
        super().__init__(input_size, dtype)
        rng = np.random.default_rng(check_seed(seed))  # an int, None, or a Generator as is
        bound = 1.0 / math.sqrt(self.input_size)
        self._add_parameter("query", initializers.uniform((self.input_size,), rng, self.dtype,
                                                          bound))

    def _scores(self, x):
        return x @ self._params["query"], None  # (2') (B, T)

    def _scores_backward(self, x, d_scores, _):
        self._grads["query"] += np.einsum("bt,btf->f", d_scores, x)  # (2')
        return d_scores[:, :, None] * self._params["query"]  # (2') (B, T, F)

    def _sizes(self) -> str:
        return f"{self.input_size}"
