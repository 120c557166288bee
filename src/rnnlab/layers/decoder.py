"""The decoder's parts for :class:`~rnnlab.layers.seq2seq.Seq2Seq`: the attention of a
decoder state over the encoder's outputs, and one step of a stacked recurrent layer.

Shapes: B batch, S source steps, F the encoder's output features (the memory), H the
decoder's hidden units (the query), A attention_size.

The decoder runs one step at a time, each step reading the last one's output, so neither
part runs a whole sequence the way a layer's ``forward`` does: each step returns its own
cache, and the backward of that step takes it back. The keys, the part of the score that
depends on the memory alone, are computed once per sequence (:meth:`keys`) and their
gradient, summed over the decoder's steps, goes back through the memory once
(:meth:`keys_backward`): the same mathematics, summed.

Notes
-----
Attention at decoder step t, with query q = h_t (H,) and memory h_1..h_S (F,):

    (K) k_j = U h_j (additive),  W_a h_j (general),  h_j (dot)        once per sequence
    (5) e_j = v^T tanh(W q + b + k_j)   additive (Bahdanau et al. 2015; Luong's "concat")
        e_j = q^T k_j                   general (Luong et al. 2015, q^T W_a h_j) and dot
    (6) alpha_j = m_j exp(e_j) / sum_i m_i exp(e_i)     the softmax over valid source steps
    (7) c = sum_j alpha_j h_j

where U (A, F) is ``weight_key``, W (A, H) ``weight_query``, b (A,) ``bias``, v (A,) ``v``,
W_a (H, F) ``weight`` (general; dot has no parameters and needs H = F), m_j in {0, 1} marks
the valid source steps, alpha (S,) the attention weights and c (F,) the context.

Backward, from dc (B, F):

    (7) dalpha_j = dc . h_j,  dh_j += alpha_j dc
    (6) de_j = alpha_j (dalpha_j - sum_i alpha_i dalpha_i)
    (5) additive: u_j = tanh(W q + b + k_j), da_j = de_j v (1 - u_j^2), dv += sum de_j u_j,
        dk_j += da_j, dW += (sum_j da_j) q^T, db += sum_j da_j, dq = W^T sum_j da_j
        general, dot: dq = sum_j de_j k_j,  dk_j += de_j q
    (K) dU += sum dk_j h_j^T, dh_j += U^T dk_j (additive); dW_a likewise (general);
        dh_j += dk_j (dot)
"""

from __future__ import annotations

import math

import numpy as np

from rnnlab import init as initializers
from rnnlab._checks import positive_int
from rnnlab.backend import resolve_dtype
from rnnlab.layers.attention_pooling import masked_softmax, masked_softmax_backward
from rnnlab.layers.module import Module


class _QueryAttention(Module):
    """Attention of a query (B, H) over a memory (B, S, F), one decoder step at a time.

    Its parameters are used by the model that drives it (``Seq2Seq``); it has no
    ``forward`` of its own.
    """

    def __init__(self, query_size, memory_size, dtype):
        super().__init__(resolve_dtype(dtype))
        self.query_size = positive_int(query_size, "query_size")
        self.memory_size = positive_int(memory_size, "memory_size")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.query_size}, {self.memory_size}, "
                f"kind={self.kind!r}, dtype={self.dtype.name})")

    def step(self, query, memory, keys, mask):
        """(5)-(7): (context (B, F), alpha (B, S), cache) for one decoder step."""
        scores, score_cache = self._scores(query, keys)  # (5) (B, S)
        alpha = masked_softmax(scores, mask).astype(memory.dtype)  # (6) (B, S)
        context = np.einsum("bs,bsf->bf", alpha, memory)  # (7) (B, F)
        return context, alpha, (query, alpha, score_cache)

    def step_backward(self, d_context, cache, memory, keys, d_keys):
        """(7)-(5) of one step: (dL/dquery (B, H), the step's dL/dmemory (B, S, F)); adds
        dL/dkeys into ``d_keys`` and the query side's parameter gradients."""
        query, alpha, score_cache = cache
        d_alpha = np.einsum("bf,bsf->bs", d_context, memory)  # (7) (B, S)
        d_memory = alpha[:, :, None] * d_context[:, None, :]  # (7) (B, S, F)
        d_scores = masked_softmax_backward(alpha, d_alpha)  # (6) (B, S), 0 at padding
        d_query = self._scores_backward(query, keys, d_scores, score_cache, d_keys)  # (5)
        return d_query, d_memory


class AdditiveQueryAttention(_QueryAttention):
    """e_j = v^T tanh(W q + b + U h_j): Bahdanau, Cho & Bengio 2015 (ICLR), with the
    decoder's current state as the query (Luong et al. 2015's "concat").

    Parameters ``weight_query`` (A, H), ``weight_key`` (A, F), ``bias`` (A,), ``v`` (A,);
    W, U and b from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), v from U(-1/sqrt(A), 1/sqrt(A)).
    """

    kind = "additive"

    def __init__(self, query_size, memory_size, attention_size=None, *, dtype=None, rng):
        super().__init__(query_size, memory_size, dtype)
        size = self.query_size if attention_size is None else attention_size
        self.attention_size = a = positive_int(size, "attention_size")
        h, f = self.query_size, self.memory_size
        self._add_parameter("weight_query",
                            initializers.uniform((a, h), rng, self.dtype, 1 / math.sqrt(h)))
        self._add_parameter("weight_key",
                            initializers.uniform((a, f), rng, self.dtype, 1 / math.sqrt(f)))
        self._add_parameter("bias", initializers.uniform((a,), rng, self.dtype, 1 / math.sqrt(h)))
        self._add_parameter("v", initializers.uniform((a,), rng, self.dtype, 1 / math.sqrt(a)))

    def keys(self, memory):
        """(K) U h_j for every source step: (B, S, A)."""
        return memory @ self._params["weight_key"].T

    def keys_backward(self, memory, d_keys):
        """(K) Accumulate dU; return dL/dmemory (B, S, F) through the keys."""
        self._grads["weight_key"] += (d_keys.reshape(-1, self.attention_size).T
                                      @ memory.reshape(-1, self.memory_size))
        return d_keys @ self._params["weight_key"]

    def _scores(self, query, keys):
        p = self._params
        projected = query @ p["weight_query"].T + p["bias"]  # (5) W q + b  (B, A)
        u = np.tanh(keys + projected[:, None, :])  # (5) (B, S, A)
        return u @ p["v"], u  # (5) (B, S)

    def _scores_backward(self, query, keys, d_scores, u, d_keys):
        p, g = self._params, self._grads
        g["v"] += np.einsum("bs,bsa->a", d_scores, u)  # (5)
        da = d_scores[:, :, None] * p["v"] * (1.0 - u * u)  # (5) tanh' = 1 - u^2 (B, S, A)
        d_keys += da  # (5) dk_j
        d_projected = da.sum(axis=1)  # (5) (B, A)
        g["weight_query"] += d_projected.T @ query
        g["bias"] += d_projected.sum(axis=0)
        return d_projected @ p["weight_query"]  # (5) dq (B, H)


class DotQueryAttention(_QueryAttention):
    """e_j = q^T W_a h_j (Luong et al. 2015's "general", ``general=True``, parameter
    ``weight`` (H, F) from U(-1/sqrt(F), 1/sqrt(F))) or e_j = q^T h_j (their "dot", no
    parameters, H = F)."""

    def __init__(self, query_size, memory_size, general=True, *, dtype=None, rng):
        super().__init__(query_size, memory_size, dtype)
        self.general = bool(general)
        self.kind = "general" if self.general else "dot"
        h, f = self.query_size, self.memory_size
        if self.general:
            self._add_parameter("weight", initializers.uniform((h, f), rng, self.dtype,
                                                               1 / math.sqrt(f)))
        elif h != f:
            raise ValueError(f"attention='dot' needs the query and memory sizes equal, got "
                             f"{h} and {f}")

    def keys(self, memory):
        """(K) W_a h_j (general) or h_j (dot) for every source step: (B, S, H)."""
        return memory @ self._params["weight"].T if self.general else memory

    def keys_backward(self, memory, d_keys):
        """(K) Accumulate dW_a (general); return dL/dmemory (B, S, F) through the keys."""
        if not self.general:
            return d_keys
        self._grads["weight"] += (d_keys.reshape(-1, self.query_size).T
                                  @ memory.reshape(-1, self.memory_size))
        return d_keys @ self._params["weight"]

    def _scores(self, query, keys):
        return np.einsum("bh,bsh->bs", query, keys), None  # (5) (B, S)

    def _scores_backward(self, query, keys, d_scores, _, d_keys):
        d_keys += d_scores[:, :, None] * query[:, None, :]  # (5) dk_j (B, S, H)
        return np.einsum("bs,bsh->bh", d_scores, keys)  # (5) dq (B, H)


# -- one step of a stacked recurrent layer ---------------------------------------------
def cell_step(layer, x, states):
    """One step of the stacked recurrent ``layer`` (an RNN, LSTM or GRU, one direction),
    run with its parameters by the cell functions of :mod:`rnnlab.cells` on a sequence of
    length 1 (the layer's own ``forward`` and cache are not used).

    Parameters
    ----------
    layer : RNN, LSTM or GRU
    x : (B, I) the step's input
    states : list of L states s_{t-1}, one per layer: (B, H), or for LSTM the pair (h, c)

    Returns
    -------
    h : (B, H) the last layer's new hidden state
    states : list of L new states s_t
    caches : list of L cell caches, for :func:`cell_step_backward`
    """
    caches, new_states, inputs = [], [], x
    for k in range(layer.num_layers):
        y, cache = layer._cell_forward(layer._cell_params(k, 0), inputs[:, None, :],
                                       states[k], None)  # (B, 1, H)
        caches.append(cache)
        new_states.append(layer.cell.final_state(cache))
        inputs = y[:, 0]  # layer k's h_t is layer k+1's input
    return inputs, new_states, caches


def cell_step_backward(layer, caches, d_h, d_states):
    """BPTT of one :func:`cell_step`: accumulate ``layer``'s parameter gradients.

    Parameters
    ----------
    d_h : (B, H) dL/dh_t of the last layer from above (the output and the attention)
    d_states : list of L dL/ds_t from step t+1 (None, or for LSTM pairs, for none)

    Returns
    -------
    dx : (B, I) dL/dx_t
    d_states : list of L dL/ds_{t-1}
    """
    d_prev = [None] * layer.num_layers
    d_y = d_h
    for k in reversed(range(layer.num_layers)):
        grads = layer.cell.backward(layer._cell_params(k, 0), caches[k], d_y[:, None, :],
                                    d_states[k])
        layer._accumulate(k, 0, grads)
        d_prev[k] = grads.d_state0
        d_y = grads.dx[:, 0]  # dL/d (layer k's input) = dL/dh_t of layer k-1
    return d_y, d_prev
