"""An encoder-decoder with attention for sequence-to-sequence learning.

Shapes: B batch, S source steps, I input_size (source features), T target steps, O
output_size (classes of the target tokens), V num_tokens (the decoder's input vocabulary),
E embedding_size, H hidden_size, L num_layers.

Notes
-----
Forward (Luong, Pham & Manning 2015, "Effective approaches to attention-based neural
machine translation", EMNLP, with input feeding, their section 3.3), for t = 1..T:

    (1) (h_1..h_S, s_0) = Encoder(x_1..x_S)     outputs (B, S, H), final state per layer
    (2) e_t = Embedding(y_{t-1})                y_0 the start token (teacher forcing)
    (3) x_t = [e_t ; c_{t-1}],  c_0 = 0         input feeding (x_t = e_t without attention)
    (4) s_t = Cell(x_t, s_{t-1}),  d_t its last layer's h
    (5)-(7) c_t = sum_j alpha_{t,j} h_j,  alpha_t = masked softmax_j score(d_t, h_j)
    (8) z_t = W_o [d_t ; c_t] + b_o             (z_t = W_o d_t + b_o without attention)

where x_1..x_S is the source, s_0 each sequence's encoder state at its own last step (the
decoder's initial state), y_{t-1} the previous target token, e_t (E,) its embedding, c_t (H,)
the context, Cell the decoder's recurrence (an RNN, LSTM or GRU stack), score and equations
(5)-(7) those of :mod:`rnnlab.layers.decoder` (padded source steps get weight exactly 0),
and z_t (O,) the logits. Luong et al. feed the attentional vector tanh(W_c [c_t; d_t]) into
the next step and into the softmax; here the context c_t itself is fed and a Linear on
[d_t; c_t] gives the logits, which keeps one output layer. The attention is queried with
the current state d_t (Luong), so the context is the previous step's where it enters the
recurrence (3) and the current step's where it enters the output (8). With attention=None
this is the plain encoder-decoder of Sutskever, Vinyals & Le 2014 and Cho et al. 2014: the
final state s_0 is all the decoder knows of the source.

Backward, for t = T..1, carrying dL/ds_t and dL/dc_t (through x_{t+1}) from step t+1:

    (8) [dd_t ; dc_t] = W_o^T dz_t (all steps at once);  dc_t += the part from x_{t+1}
    (7)-(5) dd_t += dL/dquery, dh_j += dL/dmemory (:mod:`rnnlab.layers.decoder`)
    (4) the cell's BPTT for one step: dx_t and dL/ds_{t-1}
    (3) [de_t ; dc_{t-1}] = dx_t
    (2) dEmbedding += de_t at row y_{t-1} (all steps at once)
    (1) the encoder's BPTT from dL/dh_j (all steps) and dL/ds_0: dL/dx (returned)

The target tokens get no gradient. Padded target steps (past a target's length) change no
valid step (the decoder is causal): mask them out of the loss.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnlab._checks import expect_shape, float_array, lengths_array, one_of, positive_int
from rnnlab._checks import seed as check_seed
from rnnlab.backend import resolve_dtype
from rnnlab.data.padding import lengths_to_mask
from rnnlab.layers.decoder import (AdditiveQueryAttention, DotQueryAttention, cell_step,
                                   cell_step_backward)
from rnnlab.layers.embedding import Embedding
from rnnlab.layers.linear import Linear
from rnnlab.layers.module import Module
from rnnlab.layers.recurrent import GRU, LSTM, RNN

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
ATTENTIONS = ("additive", "general", "dot", None)


class _Cache(NamedTuple):
    memory: object  # (B, S, H) the encoder's outputs
    keys: object  # (B, S, A or H) the attention's keys, or None
    cells: list  # per step t: the L cell caches
    attention: list  # per step t: the attention's cache, or None
    versions: tuple  # the decoder's and attention's parameter versions at forward


class Seq2Seq(Module):
    """Encoder-decoder with attention: source (B, S, I) -> logits (B, T, O) per target step.

    Parameters
    ----------
    input_size : int
        I, the source's features (e.g. a one-hot of the source tokens).
    output_size : int
        O, the classes of the target tokens; the logits have O entries per step.
    hidden_size : int
        H, the encoder's and the decoder's hidden units.
    cell : {"lstm", "gru", "rnn"}
        The recurrence of the encoder and of the decoder.
    attention : {"additive", "general", "dot", None}
        The score of (5): "additive" v^T tanh(W d_t + U h_j + b) (Bahdanau et al. 2015),
        "general" d_t^T W_a h_j, "dot" d_t^T h_j (Luong et al. 2015); None for no attention.
    num_layers : int
        L, stacked layers of the encoder and of the decoder; the decoder's layer k starts
        from the encoder's layer k's final state, and the attention reads the last layer.
    embedding_size : int, optional, keyword-only
        E, the size of the target tokens' embedding; ``hidden_size`` by default.
    num_tokens : int, optional, keyword-only
        V, the decoder's input vocabulary; ``output_size + 1`` by default, so that the
        token ``output_size`` can be the start token, one the model never outputs.
    attention_size : int, optional, keyword-only
        A, the units of the additive score; ``hidden_size`` by default.
    dtype : float32 or float64, keyword-only
        The parameters' dtype (default float32).
    seed : int or numpy.random.Generator, optional, keyword-only
        Randomness for the initial weights: encoder, embedding, decoder, attention, out.

    Attributes
    ----------
    encoder, decoder : RNN, LSTM or GRU
        Children ``encoder.*`` and ``decoder.*`` (PyTorch's names, e.g.
        ``decoder.weight_ih_l0`` (G*H, E + H)); the decoder's parameters are run one step
        at a time by :func:`rnnlab.layers.decoder.cell_step`, never by its own forward.
    embedding : Embedding
        ``embedding.weight`` (V, E).
    attention : AdditiveQueryAttention or DotQueryAttention, or None
        ``attention.*`` (:mod:`rnnlab.layers.decoder`; "dot" has no parameters).
    out : Linear
        ``out.weight`` (O, 2H), or (O, H) without attention, and ``out.bias``.
    attention_weights : (B, T, S) ndarray or None
        alpha of the last forward (or ``greedy_decode``), 0 at padded source steps.

    Examples
    --------
    >>> model = Seq2Seq(10, 10, 32, cell="gru", attention="additive")
    >>> logits = model(src, src_lengths, tgt_in)      # tgt_in[:, 0] = 10, the start token
    >>> loss, d_logits = cross_entropy(logits, tgt_out, mask=tgt_mask)
    >>> d_src = model.backward(d_logits)
    >>> tokens = model.greedy_decode(src, src_lengths, max_len=5, start_token=10)
    """

    uses_lengths = False  # forward takes src_lengths, not lengths: not for Sequential
    transient = Module.transient + ("attention_weights",)

    def __init__(self, input_size, output_size, hidden_size, cell="lstm", attention="additive",
                 num_layers=1, *, embedding_size=None, num_tokens=None, attention_size=None,
                 dtype=None, seed=None):
        dtype = resolve_dtype(dtype)
        super().__init__(dtype)
        self.input_size = positive_int(input_size, "input_size")
        self.output_size = positive_int(output_size, "output_size")
        self.hidden_size = h = positive_int(hidden_size, "hidden_size")
        one_of(cell, "cell", CELLS)
        one_of(attention, "attention", ATTENTIONS)
        self.cell_name, self.attention_name = cell, attention
        self.num_layers = positive_int(num_layers, "num_layers")
        e = h if embedding_size is None else embedding_size
        self.embedding_size = positive_int(e, "embedding_size")
        v = self.output_size + 1 if num_tokens is None else num_tokens
        self.num_tokens = positive_int(v, "num_tokens")
        rng = np.random.default_rng(check_seed(seed))  # one stream for every child, in order
        layer = CELLS[cell]
        self.encoder = layer(input_size, h, num_layers, dtype=dtype, seed=rng)
        self.embedding = Embedding(self.num_tokens, self.embedding_size, dtype=dtype, seed=rng)
        context = 0 if attention is None else h  # the context's features fed back (3)
        self.decoder = layer(self.embedding_size + context, h, num_layers, dtype=dtype,
                             seed=rng)
        self.attention = None
        if attention == "additive":
            self.attention = AdditiveQueryAttention(h, h, attention_size, dtype=dtype, rng=rng)
        elif attention is not None:
            self.attention = DotQueryAttention(h, h, attention == "general", dtype=dtype, rng=rng)
        self.out = Linear(h + context, self.output_size, dtype=dtype, seed=rng)
        for name in ("encoder", "embedding", "decoder", "attention", "out"):
            if getattr(self, name) is not None:
                self._add_child(name, getattr(self, name))
        self.attention_weights = None

    # -- checks ------------------------------------------------------------------------
    def _source(self, src, src_lengths):
        src = float_array(src, "src", self.dtype, "(B, S, I)", ndim=3)
        batch, steps, features = src.shape
        if batch < 1 or steps < 1:
            raise ValueError(f"src must have B >= 1 and S >= 1, got shape {src.shape}")
        if features != self.input_size:
            raise ValueError(f"src must have I = input_size = {self.input_size} features, "
                             f"got shape {src.shape}")
        if src_lengths is None:
            src_lengths = np.full(batch, steps, dtype=np.int64)
        try:
            src_lengths = lengths_array(src_lengths, batch, steps)
        except (TypeError, ValueError) as err:  # name the argument as the caller knows it
            raise type(err)(f"src_{err}") from None
        return src, src_lengths

    def _tokens(self, tokens, name: str, batch: int):
        tokens = np.asarray(tokens)
        if tokens.dtype.kind not in "iu":
            raise TypeError(f"{name} must be an integer array of token ids (B, T), "
                            f"got dtype {tokens.dtype}")
        if tokens.ndim != 2 or tokens.shape[0] != batch or tokens.shape[1] < 1:
            raise ValueError(f"{name} must have shape (B, T) = ({batch}, T >= 1), "
                             f"got {tokens.shape}")
        if tokens.min() < 0 or tokens.max() >= self.num_tokens:
            raise ValueError(f"{name} must hold token ids in [0, num_tokens) = "
                             f"[0, {self.num_tokens}), got min {tokens.min()} and max "
                             f"{tokens.max()}")
        return tokens

    def _versions(self) -> tuple:
        """The versions of the parameters this module runs itself (decoder, attention)."""
        return tuple(m._version for m in (self.decoder, self.attention) if m is not None)

    # -- computation -------------------------------------------------------------------
    def forward(self, src, src_lengths=None, tgt_in=None):
        """Encode the source, then decode with teacher forcing.

        Parameters
        ----------
        src : (B, S, I) float
        src_lengths : (B,) int, optional
            Each source's valid steps, 1 <= src_lengths <= S; all S by default.
        tgt_in : (B, T) int in [0, V)
            The decoder's input tokens: y_0 (the start token), y_1, ..., y_{T-1}.

        Returns
        -------
        logits : (B, T, O)
            z_t, the scores of y_t given y_0..y_{t-1} and the source.
        """
        src, src_lengths = self._source(src, src_lengths)
        if tgt_in is None:
            raise TypeError("tgt_in must be given: the decoder's input tokens (B, T)")
        tgt_in = self._tokens(tgt_in, "tgt_in", src.shape[0])
        self._cache = None
        memory, final = self.encoder.forward(src, lengths=src_lengths)  # (1) (B, S, H)
        embedded = self.embedding.forward(tgt_in)  # (2) (B, T, E)
        keys, run = self._start(memory, final, src_lengths)
        cells, attention, features, alphas = [], [], [], []
        for t in range(tgt_in.shape[1]):
            feature, alpha, step_caches = run(embedded[:, t])  # (3)-(7)
            features.append(feature)
            alphas.append(alpha)
            cells.append(step_caches[0])
            attention.append(step_caches[1])
        logits = self.out.forward(np.stack(features, axis=1))  # (8) (B, T, O)
        if self.attention is not None:
            self.attention_weights = np.stack(alphas, axis=1)  # (B, T, S)
        self._save_for_backward(_Cache(memory, keys, cells, attention, self._versions()))
        return logits

    def _start(self, memory, final, src_lengths):
        """The keys (K) and a function running one decoder step (3)-(7) from an embedded
        token (B, E) to ([d_t ; c_t], alpha_t, (cell caches, attention cache)), carrying the
        state s_t and the context c_t from call to call."""
        batch = memory.shape[0]
        mask = lengths_to_mask(src_lengths, memory.shape[1])  # (B, S)
        keys = None if self.attention is None else self.attention.keys(memory)  # (K)
        parts = final if isinstance(final, tuple) else (final,)
        # s_0: layer k's (h, c) or h from the encoder's (L, B, H) final state
        carry = {"states": [tuple(p[k] for p in parts) if len(parts) > 1 else parts[0][k]
                            for k in range(self.num_layers)],
                 "context": np.zeros((batch, self.hidden_size), dtype=memory.dtype)}

        def run(e_t):
            if self.attention is None:
                x_t = e_t  # (3) (B, E)
            else:
                x_t = np.concatenate([e_t, carry["context"]], axis=1)  # (3) (B, E + H)
            d_t, carry["states"], cell_caches = cell_step(self.decoder, x_t,
                                                          carry["states"])  # (4)
            if self.attention is None:
                return d_t, None, (cell_caches, None)
            context, alpha, cache = self.attention.step(d_t, memory, keys, mask)  # (5)-(7)
            carry["context"] = context
            return np.concatenate([d_t, context], axis=1), alpha, (cell_caches, cache)

        return keys, run

    def backward(self, d_output):
        """BPTT through the output layer, the decoder's steps, the attention and the
        encoder; accumulate every parameter's gradient.

        Parameters
        ----------
        d_output : (B, T, O)
            dL/dlogits.

        Returns
        -------
        d_src : (B, S, I)
            dL/dsrc; zero at padded source steps.
        """
        cache = self._saved()
        steps = len(cache.cells)
        batch = cache.memory.shape[0]
        d_output = float_array(d_output, "d_output", self.dtype, "(B, T, O)", ndim=3)
        expect_shape(d_output, "d_output", (batch, steps, self.output_size), "(B, T, O)")
        for child in (self.encoder, self.embedding, self.out):
            child._saved()  # every part's cache must still be usable: raise before any work
        if cache.versions != self._versions():
            raise RuntimeError("Seq2Seq's parameters changed between forward and backward (an "
                               "optimizer step or load_state_dict): the backward pass would "
                               "mix the new weights into the old pass's gradient; run forward "
                               "again")
        self._mark_read()
        h, e = self.hidden_size, self.embedding_size
        d_features = self.out.backward(d_output)  # (8) (B, T, H [+ H])
        memory, keys = cache.memory, cache.keys
        d_memory = np.zeros_like(memory)  # (B, S, H)
        d_keys = None if keys is None else np.zeros_like(keys)
        d_embedded = np.zeros((batch, steps, e), dtype=d_output.dtype)
        d_states = [None] * self.num_layers  # dL/ds_t from step t+1
        d_context = np.zeros((batch, h), dtype=d_output.dtype)  # dL/dc_t through x_{t+1}
        for t in reversed(range(steps)):
            d_top = d_features[:, t, :h]  # (8) dd_t  (B, H)
            if self.attention is not None:
                d_context = d_context + d_features[:, t, h:]  # (8) dc_t
                d_query, d_mem = self.attention.step_backward(d_context, cache.attention[t],
                                                              memory, keys, d_keys)  # (7)-(5)
                d_memory += d_mem
                d_top = d_top + d_query
            d_x, d_states = cell_step_backward(self.decoder, cache.cells[t], d_top,
                                               d_states)  # (4)
            d_embedded[:, t] = d_x[:, :e]  # (3) de_t
            d_context = d_x[:, e:]  # (3) dc_{t-1}
        self.embedding.backward(d_embedded)  # (2)
        if self.attention is not None:
            d_memory += self.attention.keys_backward(memory, d_keys)  # (K)
        d_final = self._stack(d_states)
        d_src, _ = self.encoder.backward(d_memory, d_final)  # (1)
        return d_src

    def _stack(self, per_layer):
        """L per-layer states (B, H), or pairs, -> the layer's (L, B, H) array, or pair."""
        if isinstance(per_layer[0], tuple):
            return tuple(np.stack([s[k] for s in per_layer]) for k in range(2))
        return np.stack(per_layer)

    def greedy_decode(self, src, src_lengths, max_len, start_token):
        """Decode ``max_len`` tokens, each step fed its own argmax (no cache is kept).

        Parameters
        ----------
        src : (B, S, I) float
        src_lengths : (B,) int or None
        max_len : int >= 1
            T, the number of tokens to produce.
        start_token : int in [0, V)
            y_0.

        Returns
        -------
        tokens : (B, T) int64
            y_t = argmax z_t, with y_{t-1} fed back at step t. ``attention_weights`` then
            holds this decoding's alpha (B, T, S). A backward of an earlier forward raises
            afterwards (the encoder ran again): run forward again first.
        """
        src, src_lengths = self._source(src, src_lengths)
        max_len = positive_int(max_len, "max_len")
        if isinstance(start_token, (bool, np.bool_)) or \
                not isinstance(start_token, (int, np.integer)):
            raise TypeError(f"start_token must be an int token id, got "
                            f"{type(start_token).__name__} {start_token!r}")
        if not 0 <= start_token < self.num_tokens:
            raise ValueError(f"start_token must lie in [0, num_tokens) = [0, {self.num_tokens}),"
                             f" got {start_token}")
        self._cache = None  # the encoder's cache is replaced: no backward of an older pass
        memory, final = self.encoder.forward(src, lengths=src_lengths)  # (1)
        _, run = self._start(memory, final, src_lengths)
        table = self.embedding.parameters()["weight"]  # (V, E)
        w_out, b_out = self.out.parameters()["weight"], self.out.parameters()["bias"]
        tokens = np.empty((src.shape[0], max_len), dtype=np.int64)
        previous = np.full(src.shape[0], start_token, dtype=np.int64)
        alphas = []
        for t in range(max_len):
            feature, alpha, _ = run(table[previous])  # (2)-(7)
            logits = feature @ w_out.T + b_out  # (8) (B, O)
            previous = tokens[:, t] = np.argmax(logits, axis=1)
            alphas.append(alpha)
        if self.attention is not None:
            self.attention_weights = np.stack(alphas, axis=1)  # (B, T, S)
        return tokens

    def __repr__(self) -> str:
        return (f"Seq2Seq({self.input_size}, {self.output_size}, {self.hidden_size}, "
                f"cell={self.cell_name!r}, attention={self.attention_name!r}, "
                f"num_layers={self.num_layers}, dtype={self.dtype.name})")
