"""Recurrent layers, stacked and bidirectional, mirroring ``torch.nn.RNN / LSTM / GRU``.

Shapes: B batch, T steps, I input_size, H hidden_size, L num_layers, D directions (2 when
bidirectional, else 1), G gates (1 RNN, 4 LSTM, 3 GRU).

Inputs are batch-first. Variable lengths come as ``lengths`` (B,): steps at or after a
sequence's length are padding and never change a result; the outputs there are zero (as
after PyTorch's ``pad_packed_sequence``), the final state is each sequence's state at its own
last step, and the reverse direction starts at each sequence's own last step.

With ``checkpoint_every=k`` the layers run checkpointed BPTT (:mod:`rnnlab.layers.checkpointed`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnlab import init as initializers
from rnnlab._checks import boolean, expect_shape, lengths_array, one_of, positive_int, probability
from rnnlab._checks import seed as check_seed
from rnnlab.backend import get_xp, resolve_dtype
from rnnlab.cells import gru, ln_gru, ln_lstm, ln_rnn, lstm, rnn
from rnnlab.cells.common import Workspace
from rnnlab.data.padding import lengths_to_mask, reverse_padded
from rnnlab.layers.checkpointed import Checkpointed, _Checkpoints
from rnnlab.layers.dropout import keep_scaled
from rnnlab.layers.module import Module, is_grad_enabled
from rnnlab.layers.recurrent_parameters import RecurrentParameters
from rnnlab.layers.recurrent_traces import Traces
from rnnlab.layers.stepping import Stepping
from rnnlab.layers.unbatched import Unbatched


class _Cache(NamedTuple):
    cells: list  # one cell cache per (layer, direction), index k * D + d
    lengths: object  # (B,) int or None
    batch: int
    steps: int
    keeps: list  # dropout between layers k and k + 1: the scaled mask, or None


class _Recurrent(Unbatched, RecurrentParameters, Checkpointed, Stepping, Traces, Module):
    """What RNN, LSTM and GRU share: parameters, stacking, directions, lengths, states."""

    cell = None  # the module with forward/backward/final_state for one direction
    num_gates = 1
    state_names = ("h",)  # ("h", "c") for LSTM
    nonlinearities = ("tanh",)
    uses_lengths = True
    chrono = None  # LSTM, GRU: T_max of chrono initialization, set before _build runs
    chrono_gates = ()  # (gate, sign): the bias blocks that chrono sets to sign * log(u)
    # Diagnostics: when True, backward keeps dL/dh_t (and dL/dc_t) of every layer and
    # direction in ``state_grads`` (see there); off by default, as it holds (T, B, H) arrays.
    track_state_grads = False

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 bidirectional=False, *, dtype=None, seed=None, init="default", init_hh=None,
                 checkpoint_every=None, norm=None, eps=1e-5, dropout=0.0,
                 recurrent_dropout=0.0):
        super().__init__(resolve_dtype(dtype))
        self._set_norm(norm, eps)  # read by _build
        self.dropout = probability(dropout, "dropout", "an output of every layer but the last")
        self.recurrent_dropout = probability(recurrent_dropout, "recurrent_dropout",
                                              "a unit of h_{t-1} in the recurrent product")
        self.checkpoint_every = checkpoint_every  # checked by the property's setter
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.num_layers = positive_int(num_layers, "num_layers")
        one_of(nonlinearity, "nonlinearity", self.nonlinearities)
        self.bias = boolean(bias, "bias")
        self.bidirectional = boolean(bidirectional, "bidirectional")
        init_hh = init if init_hh is None else init_hh
        one_of(init, "init", initializers.NAMES)
        one_of(init_hh, "init_hh", initializers.NAMES)
        self.nonlinearity = nonlinearity
        self.num_directions = 2 if bidirectional else 1
        self.init, self.init_hh = init, init_hh
        rng = np.random.default_rng(check_seed(seed))  # an int, None, or a Generator as is
        self._build(rng)
        # dropout's masks, drawn after the weights
        self.rng = rng if self.dropout or self.recurrent_dropout else None
        self._workspaces = {}  # per (layer, direction) index: the cells' large arrays, reused
        self.state_grads = None

    @property
    def checkpoint_every(self):
        """k, the steps between the states kept for checkpointed BPTT; None for full BPTT.

        Settable at any time; it takes effect at the next ``forward`` (a ``backward`` follows
        the way its ``forward`` ran).
        """
        return self._checkpoint_every

    @checkpoint_every.setter
    def checkpoint_every(self, value) -> None:
        self._checkpoint_every = None if value is None else positive_int(value,
                                                                         "checkpoint_every")

    # -- computation -------------------------------------------------------------------
    def _drop(self, outputs):
        """Dropout between stacked layers (PyTorch's ``dropout=``), in train mode with p > 0:
        (outputs * keep, keep), keep = m / (1 - p) from ``rng``; else (outputs, None)."""
        if not (self.training and self.dropout):
            return outputs, None
        keep = keep_scaled(self.rng, outputs.shape, self.dropout, outputs.dtype)
        return outputs * keep, keep

    def _recurrent_keep(self, batch: int):
        """Variational recurrent dropout's mask for one layer and direction, (B, H) scaled by
        1 / (1 - p), drawn from ``rng`` in train mode with p > 0; else None (the cells then
        run their plain loops)."""
        if not (self.training and self.recurrent_dropout):
            return None
        return keep_scaled(self.rng, (batch, self.hidden_size), self.recurrent_dropout,
                           self.dtype)

    @staticmethod
    def _undrop(d_inputs, keep):
        """The gradient through :meth:`_drop`: the same mask and scale."""
        return d_inputs if keep is None else d_inputs * keep

    def _cell_forward(self, params, x, state0, mask, workspace=None, keep=None):
        return self.cell.forward(params, x, state0, mask, workspace=workspace, keep=keep)

    def _cell_run(self, params, x, state0, mask, index: int, keep):
        """One layer and direction forward: ``(y, cache, final state)``; under ``no_grad``,
        through the cell's inference path where it has one (no cache: None)."""
        infer = getattr(self.cell, "infer", None)
        if infer is not None and not is_grad_enabled():
            y, final = self._cell_infer(infer, params, x, state0, mask, keep)
            return y, None, final
        y, cache = self._cell_forward(params, x, state0, mask, self._workspace(index), keep)
        return y, cache, self._final_state(cache)

    def _cell_infer(self, infer, params, x, state0, mask, keep):
        return infer(params, x, state0, mask, workspace=self._workspace(-1), keep=keep)

    def _workspace(self, index: int) -> Workspace:
        """The arrays of (layer, direction) ``index``, reused from call to call while the
        shapes repeat (see :class:`~rnnlab.cells.common.Workspace`); checkpointed BPTT,
        whose segments come and go within one call, allocates afresh instead. Under
        ``no_grad`` every layer and direction shares one set (nothing is kept for backward,
        and each output is a copy), key -1."""
        return self._workspaces.setdefault(index if is_grad_enabled() else -1, Workspace())

    def _final_state(self, cache):
        """The final state of one layer and direction: views of its work arrays, or under
        ``no_grad`` (where the next layer reuses those arrays) copies."""
        final = self.cell.final_state(cache)
        if is_grad_enabled():
            return final
        return final.copy() if not isinstance(final, tuple) else tuple(f.copy() for f in final)

    def forward(self, x, lengths=None, state=None):
        """Run every layer and direction over the batch.

        Parameters
        ----------
        x : (B, T, I) float, or (T, I), one unbatched sequence (:mod:`rnnlab.layers.unbatched`)
        lengths : (B,) int, optional
            Each sequence's number of valid steps, 1 <= lengths <= T; all T by default.
        state : (L*D, B, H), or for LSTM the pair (h_0, c_0), optional
            The initial state; zeros by default.

        Returns
        -------
        output : (B, T, D*H)
            The last layer's h_t (both directions side by side), zero at padded steps.
        h_n : (L*D, B, H), or for LSTM the pair (h_n, c_n)
            Each sequence's state at its own last step, for every layer and direction.

        With ``checkpoint_every`` set, backward reads ``x`` again (it is kept by reference,
        not copied, when it already has the layer's dtype): leave it unchanged until then.
        """
        x, state, unbatched = self._batch_input(x, lengths, state)  # x: a float (B, T, I)
        batch, steps, features = x.shape
        if batch < 1 or steps < 1:
            raise ValueError(f"x must have B >= 1 and T >= 1, got shape {x.shape}")
        if features != self.input_size:
            raise ValueError(f"x must have I = input_size = {self.input_size} features, "
                             f"got shape {x.shape}")
        mask = None
        if lengths is not None:
            lengths = lengths_array(lengths, batch, steps)
            if (lengths < steps).any():
                mask = lengths_to_mask(lengths, steps)
            else:
                lengths = None  # every sequence is full: no padding to skip
        states0 = self._state_components(state, "state", batch, allow_none=False)
        self._cache = None  # the workspaces are overwritten: no half-overwritten cache remains
        if self.checkpoint_every is not None:
            return self._unbatch_result(*self._forward_checkpointed(x, lengths, mask, states0),
                                        unbatched)

        caches, finals, inputs, keeps = [], [], x, []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                params = self._cell_params(layer, direction)
                x_d = inputs if direction == 0 else reverse_padded(inputs, lengths)
                y, cache, final = self._cell_run(params, x_d, self._cell_state(states0, index),
                                                 mask, index, self._recurrent_keep(batch))
                outputs.append(y if direction == 0 else reverse_padded(y, lengths))
                caches.append(cache)
                finals.append(final)
            inputs = outputs[0] if len(outputs) == 1 else get_xp(x).concatenate(outputs, axis=-1)
            if layer < self.num_layers - 1:
                inputs, keep = self._drop(inputs)
                keeps.append(keep)
        self._save_for_backward(_Cache(caches, lengths, batch, steps, keeps))
        return self._unbatch_result(inputs, self._stack_states(finals), unbatched)

    def backward(self, d_output, d_state=None):
        """Backpropagate through every layer, direction and step; accumulate the gradients.

        Parameters
        ----------
        d_output : (B, T, D*H), or (T, D*H) after an unbatched forward (then no B axis anywhere)
            dL/d output (entries at padded steps are ignored).
        d_state : (L*D, B, H), or for LSTM a pair whose parts may be None, optional
            dL/d h_n (and dL/d c_n).

        Returns
        -------
        dx : (B, T, I)
            dL/dx; zero at padded steps.
        d_state0 : (L*D, B, H), or for LSTM the pair (dL/dh_0, dL/dc_0)

        With ``track_state_grads`` set, ``state_grads`` then holds, for every layer and
        direction (index layer * D + direction), a dict {"h": dL/dh_t} (and "c": dL/dc_t
        for LSTM), each (B, T, H) in input time order: the total gradient reaching each
        step's state, from its output and from the future.

        After a checkpointed forward (``checkpoint_every`` set when forward ran) each
        segment is recomputed from its checkpoint, then backpropagated; the results equal
        full BPTT's (see :class:`RNN`, Notes).
        """
        cache = self._saved()
        hidden, batch, steps = self.hidden_size, cache.batch, cache.steps
        d_output, d_state = self._batch_gradients(d_output, d_state, steps)  # (B, T, D*H)
        expect_shape(d_output, "d_output", (batch, steps, self.num_directions * hidden),
                     "(B, T, D*H)")
        d_last = self._state_components(d_state, "d_state", batch, allow_none=True)
        self._mark_read()
        if isinstance(cache, _Checkpoints):
            return self._unbatch_gradients(*self._backward_checkpointed(cache, d_output, d_last))

        caches, lengths = cache.cells, cache.lengths
        d_states0 = [None] * len(caches)
        traces = [None] * len(caches)
        d_y = d_output
        for layer in reversed(range(self.num_layers)):
            d_inputs = None
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                d_y_d = d_y[..., direction * hidden:(direction + 1) * hidden]
                if direction == 1:
                    d_y_d = reverse_padded(d_y_d, lengths)
                grads = self.cell.backward(self._cell_params(layer, direction), caches[index],
                                           d_y_d, self._cell_state(d_last, index),
                                           workspace=self._workspace(index))
                dx = grads.dx if direction == 0 else reverse_padded(grads.dx, lengths)
                d_inputs = dx if d_inputs is None else d_inputs + dx
                d_states0[index] = grads.d_state0
                self._accumulate(layer, direction, grads)
                if self.track_state_grads:
                    traces[index] = self._state_trace(grads.d_states, direction, lengths)
            d_y = d_inputs if layer == 0 else self._undrop(d_inputs, cache.keeps[layer - 1])
        self.state_grads = traces if self.track_state_grads else None
        return self._unbatch_gradients(d_y, self._stack_states(d_states0))

    def __repr__(self) -> str:
        extra = ""
        if self.nonlinearities != ("tanh",):
            extra += f", nonlinearity={self.nonlinearity!r}"
        options = ""
        if self.checkpoint_every is not None:
            options += f", checkpoint_every={self.checkpoint_every}"
        if self.chrono is not None:
            options += f", chrono={self.chrono}"
        if self.norm is not None:
            options += f", norm={self.norm!r}"
        if self.dropout:
            options += f", dropout={self.dropout:g}"
        if self.recurrent_dropout:
            options += f", recurrent_dropout={self.recurrent_dropout:g}"
        return (f"{type(self).__name__}({self.input_size}, {self.hidden_size}, "
                f"num_layers={self.num_layers}{extra}, bias={self.bias}, "
                f"bidirectional={self.bidirectional}, dtype={self.dtype.name}{options})")


class RNN(_Recurrent):
    """An Elman RNN, h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), like ``torch.nn.RNN``.

    Parameters
    ----------
    input_size : int
        I, the number of input features.
    hidden_size : int
        H, the number of hidden units.
    num_layers : int
        L, stacked layers; layer k > 0 reads layer k-1's output (D*H features).
    nonlinearity : {"tanh", "relu", "sigmoid"}
        f. PyTorch has tanh and relu; sigmoid is here to show its 1/4 derivative bound.
    bias : bool
        Whether to have b_ih and b_hh.
    bidirectional : bool
        Whether to run a second, reversed direction (parameters ``..._reverse``).
    dtype : float32 or float64
        Parameters' dtype (default float32); float inputs are cast to it.
    seed : int or numpy.random.Generator, optional
        Randomness for the initial weights.
    init, init_hh : str
        Initializer of the input weights and of the recurrent weights (default: ``init``),
        one of ``rnnlab.init.NAMES``, applied to each gate block. With "default" for both
        (PyTorch's U(-1/sqrt(H), 1/sqrt(H))) the biases are drawn the same way; otherwise
        they start at zero.
    checkpoint_every : int >= 1 or None, keyword-only
        k: run checkpointed BPTT, keeping the state at every k-th step rather than every
        step's activations (see Notes). None (the default) is full BPTT. Also a settable
        attribute; about sqrt(T) minimizes the memory.
    norm : {None, "layer"}, keyword-only
        "layer": layer normalization (Ba, Kiros & Hinton 2016) of the input and of the
        recurrent pre-activations, h_t = f(LN(W_ih x_t) + LN(W_hh h_{t-1}) + b), the
        equations of :mod:`rnnlab.reference.ln_rnn`. Each layer and direction gets
        ``ln_ih_weight_l{k}``, ``ln_ih_bias_l{k}``, ``ln_hh_weight_l{k}``, ``ln_hh_bias_l{k}``
        (H,) (``_reverse`` for the second direction), gains at 1 and biases at 0. The
        GRU's and the LSTM's are alike (their own equations: :class:`GRU`, :class:`LSTM`).
        PyTorch has no such layers.
    eps : float > 0, keyword-only
        Layer normalization's epsilon (1e-5).
    dropout : float in [0, 1), keyword-only
        As PyTorch's: in train mode, inverted dropout on the outputs of every layer but the
        last (no effect with one layer); the masks come from the layer's own generator
        (``rng``, seeded by ``seed``, saved in the Trainer's checkpoints).
    recurrent_dropout : float in [0, 1), keyword-only
        Variational recurrent dropout (Gal & Ghahramani 2016), which PyTorch does not have:
        in train mode one mask k (B, H), scaled by 1 / (1 - p), per forward, layer and
        direction multiplies h_{t-1} where it enters the recurrent product, W_hh (k *
        h_{t-1}), the same at every step; the identity in evaluation mode (docs/layers.md).

    Notes
    -----
    Checkpointed BPTT (``checkpoint_every=k``): :mod:`rnnlab.layers.checkpointed`.
    """

    nonlinearities = ("tanh", "relu", "sigmoid")

    @property
    def cell(self):
        """The cell functions: :mod:`rnnlab.cells.rnn`, or with ``norm="layer"``
        :mod:`rnnlab.cells.ln_rnn`."""
        return rnn if self.norm is None else ln_rnn

    def _cell_forward(self, params, x, state0, mask, workspace=None, keep=None):
        return self.cell.forward(params, x, state0, mask, self.nonlinearity,
                                 workspace=workspace, keep=keep)

    def _cell_infer(self, infer, params, x, state0, mask, keep):
        return infer(params, x, state0, mask, self.nonlinearity, workspace=self._workspace(-1),
                     keep=keep)


class LSTM(_Recurrent):
    """Long short-term memory, gates i, f, g, o, like ``torch.nn.LSTM``.

    The state is the pair (h, c). The parameters are those of :class:`RNN`, and so is
    checkpointed BPTT (``checkpoint_every``); ``nonlinearity`` is accepted
    for a uniform signature and must be "tanh". Two more keywords set the gates' biases, and
    ``norm`` layer-normalizes the recurrence:

    Parameters
    ----------
    forget_bias : float, keyword-only
        Added to the forget gate's block of ``bias_ih`` after initialization (default 0, as
        PyTorch; Keras adds 1). A forget gate that starts open, sigmoid(1) = 0.73 rather than
        0.5, lets c_t and its gradient survive longer from the first update on (Gers et al.
        2000; Jozefowicz et al. 2015). The command line (rnnlab train, compare, gradflow)
        passes forget_bias=1 unless --forget-bias says otherwise.
    chrono : int >= 2 or None, keyword-only
        T_max: chrono initialization of the input and forget gates' biases, for a memory of
        up to about T_max steps (Tallec & Ollivier 2018, "Can recurrent neural networks warp
        time?", ICLR). None (the default) keeps the initialization above. For every layer
        and direction, u_j ~ U(1, T_max - 1) is drawn independently for each hidden unit j,
        and

            b_f = log(u),    b_i = -log(u)

        where b_f and b_i are the biases of the forget and input gates (the sum ``bias_ih +
        bias_hh`` of a gate block: the value goes into ``bias_ih``'s block, ``bias_hh``'s is
        0). Everything else keeps its usual initialization; u is drawn from the layer's
        generator after the weights, so a seed gives the same weights with or without
        chrono. Needs ``bias=True`` and ``forget_bias=0``. At the start f_t ~ u / (1 + u),
        a forgetting time of 1 + u steps, spread up to T_max where ``forget_bias=1`` gives
        every unit 1 + e (docs/chrono.md).
    norm : {None, "layer"}, keyword-only
        "layer": the layer-normalized LSTM of Ba, Kiros & Hinton (2016), whose equations are
        :mod:`rnnlab.reference.ln_lstm`: LN(W_ih x_t) + LN(W_hh h_{t-1}) + b, and
        h_t = o * tanh(LN(c_t)). Each layer and direction gets ``ln_ih_weight_l{k}``,
        ``ln_ih_bias_l{k}``, ``ln_hh_weight_l{k}``, ``ln_hh_bias_l{k}`` (4H,) and
        ``ln_c_weight_l{k}``, ``ln_c_bias_l{k}`` (H,) (``_reverse`` for the second
        direction), gains at 1 and biases at 0; ``eps`` as :class:`RNN`'s.
    """

    num_gates = 4
    state_names = ("h", "c")
    chrono_gates = (("f", 1.0), ("i", -1.0))

    @property
    def cell(self):
        """The cell functions: :mod:`rnnlab.cells.lstm`, or with ``norm="layer"``
        :mod:`rnnlab.cells.ln_lstm`."""
        return lstm if self.norm is None else ln_lstm

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 bidirectional=False, *, forget_bias=0.0, chrono=None, **kwargs):
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float)) or \
                not np.isfinite(forget_bias):
            raise TypeError(f"forget_bias must be a finite number, got {forget_bias!r}")
        if forget_bias and not bias:
            raise ValueError(f"forget_bias must be 0 when bias=False, got {forget_bias!r}")
        chrono = None if chrono is None else initializers.check_chrono(chrono, bias=bias)
        if chrono is not None and forget_bias:
            raise ValueError(f"chrono sets the forget gate's bias: expected forget_bias=0 with "
                             f"chrono={chrono}, got forget_bias={forget_bias!r}")
        self.chrono = chrono  # read by _build
        super().__init__(input_size, hidden_size, num_layers, nonlinearity, bias, bidirectional,
                         **kwargs)
        self.forget_bias = 0.0
        self.add_forget_bias(forget_bias)

    def add_forget_bias(self, value: float) -> None:
        """Add ``value`` to the forget gate's block of every ``bias_ih`` (what the
        ``forget_bias`` keyword does at construction; ``forget_bias`` keeps the total)."""
        f, hidden = lstm.GATES.index("f"), self.hidden_size
        for name, array in self._params.items():
            if name.startswith("bias_ih"):
                array[f * hidden:(f + 1) * hidden] += value
        self.forget_bias += float(value)
        self.mark_changed()


class GRU(_Recurrent):
    """Gated recurrent unit, gates r, z, n, like ``torch.nn.GRU``.

    The parameters are those of :class:`RNN`, and so are checkpointed BPTT
    (``checkpoint_every``) and ``eps``; ``nonlinearity`` is accepted for a uniform
    signature and must be "tanh". One more keyword sets the update gate's bias, and ``norm``
    layer-normalizes the recurrence:

    Parameters
    ----------
    chrono : int >= 2 or None, keyword-only
        T_max: chrono initialization of the update gate's bias, for a memory of up to about
        T_max steps (Tallec & Ollivier 2018, "Can recurrent neural networks warp time?",
        ICLR). None (the default) keeps the initialization above. For every layer and
        direction, u_j ~ U(1, T_max - 1) is drawn independently for each hidden unit j, and

            b_z = log(u)

        where b_z is the bias of the update gate z (set as the LSTM's chrono biases are).
        Needs ``bias=True``. In PyTorch's form h_t = (1 - z_t) * n_t + z_t * h_{t-1}, z
        keeps h_{t-1} as the LSTM's f keeps c_{t-1}: at the start z_t ~ u / (1 + u), a
        forgetting time of 1 + u steps (docs/chrono.md).
    norm : {None, "layer"}, keyword-only
        "layer": the input and the recurrent projections layer-normalized separately (Ba,
        Kiros & Hinton 2016), [x_r, x_z, x_n] = LN(W_ih x_t) + b_ih and [h_r, h_z, h_n] =
        LN(W_hh h_{t-1}) + b_hh, each over the whole 3H, so that h_n is normalized before
        the reset gate multiplies it: :mod:`rnnlab.reference.ln_gru`. The parameters are
        named as :class:`RNN`'s, each (3H,).
    """

    num_gates = 3
    chrono_gates = (("z", 1.0),)

    @property
    def cell(self):
        """The cell functions: :mod:`rnnlab.cells.gru`, or with ``norm="layer"``
        :mod:`rnnlab.cells.ln_gru`."""
        return gru if self.norm is None else ln_gru

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 bidirectional=False, *, chrono=None, **kwargs):
        # read by _build
        self.chrono = None if chrono is None else initializers.check_chrono(chrono, bias=bias)
        super().__init__(input_size, hidden_size, num_layers, nonlinearity, bias, bidirectional,
                         **kwargs)
