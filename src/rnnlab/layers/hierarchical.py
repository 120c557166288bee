"""A two-level recurrent layer: a lower RNN over fixed-size chunks, an upper RNN over chunks.

Shapes: B batch, T steps, I input_size, K chunk, C = ceil(T / K) chunks, N the valid chunks
of a batch (sum over b of ceil(L_b / K)), H the lower hidden_size, U the upper hidden size,
L num_layers, D directions (2 when bidirectional, else 1).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnlab._checks import boolean, expect_shape, float_array, lengths_array, one_of, positive_int
from rnnlab._checks import seed as check_seed
from rnnlab.backend import get_xp, resolve_dtype
from rnnlab.layers.module import Module
from rnnlab.layers.recurrent import GRU, LSTM, RNN

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


class _Cache(NamedTuple):
    batch: int
    steps: int
    chunks: int  # C, the chunks of the padded batch
    rows: np.ndarray  # (N,) the sequence of each valid chunk
    cols: np.ndarray  # (N,) its position among that sequence's chunks


class HierarchicalRNN(Module):
    """A lower recurrent layer reads each chunk of K steps; an upper one reads the chunks.

    The sequence is cut into chunks of ``chunk`` steps. Every chunk is an independent short
    sequence for the lower layer, which starts from a zero state; its last layer's final
    hidden state h (both directions side by side) summarizes the chunk. The upper layer runs
    over the chunk summaries, one step per chunk. BPTT runs through both levels. This is the
    word-to-sentence-to-document structure of Hierarchical Attention Networks (Yang et al.
    2016) with each chunk's last state in place of attention, and the slicing of Sliced RNNs
    (Yu & Liu 2018) with two levels; the idea of processing a sequence at two time scales
    goes back to El Hihi & Bengio (1996). For images read row by row, ``chunk`` = the row
    width gives a row RNN whose row summaries a column RNN reads.

    A gradient reaching step t crosses at most K lower steps and C upper steps rather than
    T steps, which shortens the paths through which gradients vanish or explode
    (Pascanu et al. 2013).

    Parameters
    ----------
    input_size : int
        I, the number of input features.
    hidden_size : int
        H, the lower layer's hidden units.
    chunk : int >= 1
        K, the steps per chunk.
    cell : {"lstm", "gru", "rnn"}
        The recurrence of both levels.
    upper_hidden_size : int, optional
        U, the upper layer's hidden units; ``hidden_size`` by default.
    num_layers : int
        L, stacked layers at each level.
    bidirectional : bool
        Whether both levels run a reversed direction too.
    return_sequence : bool, keyword-only
        False (the default): the output is one vector per sequence, (B, D*U), the upper
        layer's final h of its last layer (both directions side by side), so that a head
        with no lengths can follow, as in ``Sequential(HierarchicalRNN(...), Linear(...))``.
        True: the upper layer's output sequence (B, C, D*U), one step per chunk; follow it
        with ``LastStep()`` or ``MeanPool()`` given ``output_lengths(lengths)``, called by
        hand (``Sequential`` would pass them the step lengths, not the chunk counts).
    dtype : float32 or float64, keyword-only
        The parameters' dtype (default float32).
    seed : int or numpy.random.Generator, optional, keyword-only
        Randomness for the initial weights: the lower layer's first, then the upper's.
    **cell_kwargs
        Passed to both levels' constructors (``nonlinearity``, ``bias``, ``init``,
        ``checkpoint_every``, ``forget_bias``, ``chrono``, ...).

    Attributes
    ----------
    lower, upper : RNN, LSTM or GRU
        The two levels, children named ``lower`` and ``upper``: parameters are
        ``lower.weight_ih_l0``, ``upper.weight_hh_l0``, ... in PyTorch's names.

    Notes
    -----
    For sequence b of length L_b, with n_b = ceil(L_b / K) chunks::

        (1) x^{b,c} = x_b[cK : cK + l_{b,c}],   l_{b,c} = min(K, L_b - cK),   c < n_b
        (2) s_{b,c} = h_n of lower(x^{b,c}; zero state), last layer, directions side by side
        (3) (y_b, h_n) = upper(s_{b,0}, ..., s_{b,n_b-1}; state)
        (4) output_b = y_b (return_sequence) or the upper's h_n, last layer, directions
            side by side

    where x_b is sequence b's (T, I) input, l_{b,c} the valid steps of its chunk c, s_{b,c}
    the (D*H,) summary of that chunk, y_b the upper's (C, D*U) outputs (zero past n_b) and
    ``state`` the upper layer's initial state (zeros by default). Chunks past a sequence's
    length are not run at all; padded steps never change a result.

    Backward mirrors it: (4') dL/d output enters the upper layer as dL/dy or as dL/dh_n;
    (3') the upper's BPTT gives dL/ds_{b,c}; (2') each dL/ds_{b,c} enters the lower layer's
    BPTT as dL/dh_n of its last layer (no gradient reaches its outputs otherwise); (1') the
    chunks' dL/dx are put back at their steps, zero at padded steps.

    References: Z. Yang et al., "Hierarchical Attention Networks for Document
    Classification", NAACL 2016; Z. Yu and G. Liu, "Sliced Recurrent Neural Networks",
    COLING 2018; S. El Hihi and Y. Bengio, "Hierarchical Recurrent Neural Networks for
    Long-Term Dependencies", NIPS 1995.

    Truncated BPTT does not apply: the output is per chunk (or per sequence), not per step.

    Examples
    --------
    >>> model = Sequential(HierarchicalRNN(3, 16, chunk=8, cell="gru"), Linear(16, 2))
    >>> logits = model(x, lengths=lengths)            # x (B, T, 3) -> (B, 2)
    >>> dx = model.backward(d_logits)
    """

    uses_lengths = True

    def __init__(self, input_size, hidden_size, chunk, cell="lstm", upper_hidden_size=None,
                 num_layers=1, bidirectional=False, *, return_sequence=False, dtype=None,
                 seed=None, **cell_kwargs):
        dtype = resolve_dtype(dtype)
        super().__init__(dtype)
        self.chunk = positive_int(chunk, "chunk")
        one_of(cell, "cell", CELLS)
        self.cell_name = cell
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        upper_hidden_size = hidden_size if upper_hidden_size is None else upper_hidden_size
        self.upper_hidden_size = positive_int(upper_hidden_size, "upper_hidden_size")
        self.num_layers = positive_int(num_layers, "num_layers")
        self.bidirectional = boolean(bidirectional, "bidirectional")
        self.return_sequence = boolean(return_sequence, "return_sequence")
        self.num_directions = 2 if self.bidirectional else 1
        rng = np.random.default_rng(check_seed(seed))  # one stream: lower's weights, then upper's
        layer = CELLS[cell]
        lower = layer(input_size, hidden_size, num_layers, bidirectional=bidirectional,
                      dtype=dtype, seed=rng, **cell_kwargs)
        upper = layer(self.num_directions * hidden_size, self.upper_hidden_size, num_layers,
                      bidirectional=bidirectional, dtype=dtype, seed=rng, **cell_kwargs)
        self.lower, self.upper = lower, upper
        self._add_child("lower", lower)
        self._add_child("upper", upper)
        self.state_names = upper.state_names  # the state is the upper layer's

    def output_lengths(self, lengths):
        """Each sequence's number of chunks, ceil(lengths / K): the lengths of the output
        sequence when ``return_sequence`` is set.

        Parameters
        ----------
        lengths : (B,) int >= 1
        """
        arr = np.asarray(lengths)
        if arr.ndim != 1:
            raise ValueError(f"lengths must have shape (B,), got {arr.shape}")
        numeric = arr.size and arr.dtype.kind in "iuf" and np.isfinite(arr).all()
        lengths = lengths_array(arr, arr.shape[0], max(1, int(arr.max())) if numeric else 1)
        return -(-lengths // self.chunk)  # (B,)

    # -- computation -------------------------------------------------------------------
    def forward(self, x, lengths=None, state=None):
        """Run the lower layer over every valid chunk, the upper one over the summaries.

        Parameters
        ----------
        x : (B, T, I) float
        lengths : (B,) int, optional
            Each sequence's number of valid steps, 1 <= lengths <= T; all T by default.
        state : (L*D, B, U), or for LSTM the pair (h_0, c_0), optional
            The upper layer's initial state; zeros by default. (Every chunk starts the lower
            layer from zeros.)

        Returns
        -------
        output : (B, D*U), or (B, C, D*U) with ``return_sequence``
            See ``return_sequence``; the output sequence is zero past each sequence's
            ceil(L_b / K) chunks.
        h_n : (L*D, B, U), or for LSTM the pair (h_n, c_n)
            The upper layer's final state, at each sequence's own last chunk.
        """
        x = float_array(x, "x", self.dtype, "(B, T, I)", ndim=3)
        batch, steps, features = x.shape
        if batch < 1 or steps < 1:
            raise ValueError(f"x must have B >= 1 and T >= 1, got shape {x.shape}")
        if features != self.input_size:
            raise ValueError(f"x must have I = input_size = {self.input_size} features, "
                             f"got shape {x.shape}")
        if lengths is None:
            lengths = np.full(batch, steps, dtype=np.int64)
        lengths = lengths_array(lengths, batch, steps)
        self.upper._state_components(state, "state", batch, allow_none=False)  # checks only
        self._cache = None
        xp, k = get_xp(x), self.chunk
        chunks = -(-steps // k)  # C
        counts = -(-lengths // k)  # (B,) n_b, the upper layer's lengths
        # (1) the valid chunks, gathered into one batch for the lower layer
        padded = xp.zeros((batch, chunks * k, features), dtype=x.dtype)
        padded[:, :steps] = x
        rows, cols = np.nonzero(np.arange(chunks)[None, :] < counts[:, None])  # (N,), (N,)
        pieces = padded.reshape(batch, chunks, k, features)[rows, cols]  # (N, K, I)
        piece_lengths = np.minimum(k, lengths[rows] - cols * k)  # (N,)
        # (2) each chunk's summary: the lower layer's last h, directions side by side
        _, h_lower = self.lower.forward(pieces, lengths=piece_lengths)
        summaries = self._last_layer(h_lower)  # (N, D*H)
        upper_in = xp.zeros((batch, chunks, summaries.shape[1]), dtype=x.dtype)  # (B, C, D*H)
        upper_in[rows, cols] = summaries
        # (3) the upper layer over the chunks
        y, h_n = self.upper.forward(upper_in, lengths=counts, state=state)  # (B, C, D*U)
        self._save_for_backward(_Cache(batch, steps, chunks, rows, cols))
        # (4)
        output = y if self.return_sequence else self._last_layer(h_n)  # or (B, D*U)
        return output, h_n

    def backward(self, d_output, d_state=None):
        """Backpropagate through the upper layer, then through every chunk of the lower one.

        Parameters
        ----------
        d_output : (B, D*U), or (B, C, D*U) with ``return_sequence``
            dL/d output (entries past a sequence's chunks are ignored).
        d_state : (L*D, B, U), or for LSTM a pair whose parts may be None, optional
            dL/d h_n (and dL/d c_n) of the upper layer.

        Returns
        -------
        dx : (B, T, I)
            dL/dx; zero at padded steps.
        d_state0 : (L*D, B, U), or for LSTM the pair (dL/dh_0, dL/dc_0)
            The gradient of the upper layer's initial state.
        """
        cache = self._saved()
        batch, d, u = cache.batch, self.num_directions, self.upper_hidden_size
        if self.return_sequence:
            shape, doc = (batch, cache.chunks, d * u), "(B, C, D*U)"
        else:
            shape, doc = (batch, d * u), "(B, D*U)"
        d_output = float_array(d_output, "d_output", self.dtype, doc, ndim=len(shape))
        expect_shape(d_output, "d_output", shape, doc)
        d_last = self.upper._state_components(d_state, "d_state", batch, allow_none=True)
        self.lower._saved()  # both levels' caches must still be usable: raise before any work
        self.upper._saved()
        self._mark_read()
        xp = get_xp(d_output)
        # (4') dL/d output enters the upper layer as dL/dy, or as dL/dh_n of its last layer
        if self.return_sequence:
            d_y = d_output
        else:
            d_y = xp.zeros((batch, cache.chunks, d * u), dtype=d_output.dtype)
            d_h = self._into_last_layer(d_output, u, d_last[0])  # (L*D, B, U)
            d_last = (d_h,) + d_last[1:]
        d_upper_state = d_last[0] if len(d_last) == 1 else d_last
        # (3') the upper layer's BPTT: dL/ds for every chunk (zero past each sequence's own)
        d_upper_in, d_state0 = self.upper.backward(d_y, d_upper_state)  # (B, C, D*H)
        d_summaries = d_upper_in[cache.rows, cache.cols]  # (N, D*H)
        # (2') into the lower layer as dL/dh_n of its last layer; nothing reaches its outputs
        n = d_summaries.shape[0]
        d_h_lower = self._into_last_layer(d_summaries, self.hidden_size, None)  # (L*D, N, H)
        d_lower_state = d_h_lower if len(self.state_names) == 1 else (d_h_lower, None)
        d_pieces, _ = self.lower.backward(
            xp.zeros((n, self.chunk, d * self.hidden_size), dtype=d_output.dtype),
            d_lower_state)  # (N, K, I)
        # (1') each chunk's dL/dx back at its steps
        k, features = self.chunk, self.input_size
        dx = xp.zeros((batch, cache.chunks, k, features), dtype=d_output.dtype)
        dx[cache.rows, cache.cols] = d_pieces
        return dx.reshape(batch, cache.chunks * k, features)[:, :cache.steps], d_state0

    def _last_layer(self, state):
        """A final state (L*D, n, hidden), or an LSTM's pair, -> its last layer's h with the
        directions side by side, (n, D*hidden)."""
        h = state[0] if isinstance(state, tuple) else state
        d = self.num_directions
        last = h[-d:]  # (D, n, hidden)
        return last.transpose(1, 0, 2).reshape(last.shape[1], d * last.shape[2])

    def _into_last_layer(self, d_last_h, hidden: int, d_h):
        """dL/d (n, D*hidden) of ``_last_layer`` -> dL/dh (L*D, n, hidden), plus ``d_h``."""
        xp, d, n = get_xp(d_last_h), self.num_directions, d_last_h.shape[0]
        out = xp.zeros((self.num_layers * d, n, hidden), dtype=d_last_h.dtype)
        out[-d:] = d_last_h.reshape(n, d, hidden).transpose(1, 0, 2)
        if d_h is not None:
            out += d_h
        return out

    def __repr__(self) -> str:
        upper = ""
        if self.upper_hidden_size != self.hidden_size:
            upper = f", upper_hidden_size={self.upper_hidden_size}"
        return (f"HierarchicalRNN({self.input_size}, {self.hidden_size}, chunk={self.chunk}, "
                f"cell={self.cell_name!r}{upper}, num_layers={self.num_layers}, "
                f"bidirectional={self.bidirectional}, return_sequence={self.return_sequence}, "
                f"dtype={self.dtype.name})")
