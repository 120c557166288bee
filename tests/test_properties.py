"""Property-based tests (hypothesis): the invariants of tier 3 over random layers and batches.

Each property draws a layer (RNN with tanh, relu or sigmoid, LSTM, GRU; 1 or 2 layers; one or
two directions; with or without biases; float32 or float64) and a batch (sizes, lengths that
vary per sequence, garbage in the padding, an initial state or none, a gradient for the final
state or none), then checks:

1. padded equals unpadded: each sequence of a padded batch gets what it gets alone;
2. step by step (or chunk by chunk) equals the whole sequence;
3. truncated BPTT with k1 = k2 >= T equals full BPTT, bit for bit;
4. save then load (safetensors, ``load_state_dict``, pickle) changes nothing, bit for bit;
5. backward is linear in (d_output, d_state) and accumulates;
6. checkpointed BPTT (``checkpoint_every=k``) equals full BPTT.

Results that come from the same operations on the same numbers must be identical; the others
(a batch of one against a batch of B, one step against T, a sum against two passes) may round
differently, and are compared with a tolerance of the dtype, relative to the largest entry.
The runs are derandomized: the same examples on every run and every machine.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnlab
from rnnlab import io
from rnnlab.losses import mse_loss
from rnnlab.training import truncated_bptt
from helpers import make_layer, parts, rel_err

# max |a - b| / max |a|, |b| for results that may round differently (see rel_err).
TOLERANCE = {np.dtype("float64"): 1e-12, np.dtype("float32"): 1e-4}


def examples(n: int):
    """Hypothesis settings of this file: n examples, the same ones on every run."""
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- the drawn cases -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Case:
    """One drawn layer and batch; ``arrays`` makes its inputs and output gradients."""

    cell: str
    nonlinearity: str
    input_size: int
    hidden_size: int
    num_layers: int
    bidirectional: bool
    bias: bool
    dtype: str
    seed: int  # the layer's weights
    lengths: tuple  # (B,) each sequence's valid steps; T = steps
    steps: int
    garbage: float  # the scale of the values at padded steps of x and d_output
    with_state: bool  # an initial state (else zeros)
    with_d_state: bool  # a gradient for the final state (else none)
    data_seed: int  # the values of x, the state and the gradients

    @property
    def batch(self) -> int:
        return len(self.lengths)

    def layer(self, **kwargs):
        layer = make_layer(self.cell, self.input_size, self.hidden_size, self.num_layers,
                           self.bidirectional, self.bias, self.nonlinearity, self.dtype,
                           self.seed)
        for name, value in kwargs.items():
            setattr(layer, name, value)
        return layer

    def lengths_array(self):
        return np.array(self.lengths, dtype=np.int64)

    def arrays(self, layer):
        """(x, state, d_out, d_state), garbage at the padded steps of x and d_out."""
        rng = np.random.default_rng(self.data_seed)
        dtype = layer.dtype
        batch, steps = self.batch, self.steps
        pad = np.arange(steps)[None, :] >= self.lengths_array()[:, None]  # (B, T)
        x = rng.standard_normal((batch, steps, layer.input_size))
        x[pad] *= self.garbage
        out_features = layer.num_directions * layer.hidden_size
        d_out = rng.standard_normal((batch, steps, out_features))
        d_out[pad] *= self.garbage
        state_shape = (layer.num_layers * layer.num_directions, batch, layer.hidden_size)
        n_parts = len(layer.state_names)

        def a_state():
            arrays = tuple(rng.standard_normal(state_shape).astype(dtype) for _ in range(n_parts))
            return arrays if n_parts > 1 else arrays[0]

        state = a_state() if self.with_state else None
        d_state = a_state() if self.with_d_state else None
        return x.astype(dtype), state, d_out.astype(dtype), d_state


@st.composite
def cases(draw, bidirectional=None, variable=True, max_steps=6, max_batch=4):
    """A random :class:`Case`; ``bidirectional`` None draws it too."""
    cell = draw(st.sampled_from(["rnn", "lstm", "gru"]))
    nonlinearity = "tanh"
    if cell == "rnn":
        nonlinearity = draw(st.sampled_from(["tanh", "relu", "sigmoid"]))
    steps = draw(st.integers(1, max_steps))
    batch = draw(st.integers(1, max_batch))
    if variable:
        lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    else:
        lengths = [steps] * batch
    return Case(
        cell=cell,
        nonlinearity=nonlinearity,
        input_size=draw(st.integers(1, 3)),
        hidden_size=draw(st.integers(1, 4)),
        num_layers=draw(st.integers(1, 2)),
        bidirectional=draw(st.booleans()) if bidirectional is None else bidirectional,
        bias=draw(st.booleans()),
        dtype=draw(st.sampled_from(["float64", "float32"])),
        seed=draw(st.integers(0, 2**16)),
        lengths=tuple(lengths),
        steps=steps,
        garbage=draw(st.sampled_from([1.0, 0.0, 1e6, 1e30])),
        with_state=draw(st.booleans()),
        with_d_state=draw(st.booleans()),
        data_seed=draw(st.integers(0, 2**16)),
    )


# -- helpers -------------------------------------------------------------------------------
def close(a, b, dtype, what: str, scale=None) -> None:
    """a equals b up to the rounding of ``dtype``, relative to their largest entry (or to
    ``scale``, the size of the terms that were summed)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} and {b.shape}"
    if scale is None:
        err = rel_err(a, b)
    else:
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64)).max(initial=0.0)
        err = float(diff / scale) if scale > 0 else float(diff)
    assert err <= TOLERANCE[np.dtype(dtype)], f"{what}: relative error {err:.3g}"


def identical(a, b, what: str) -> None:
    """a and b hold the same bits (dtype, shape and every value, signed zeros included)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, \
        f"{what}: {a.dtype}{a.shape} and {b.dtype}{b.shape}"
    assert a.tobytes() == b.tobytes(), f"{what}: the values differ"


def run(layer, x, lengths, state, d_out, d_state):
    """Forward and backward from zeroed grads: (out, [state_n], dx, [d_state0], grads)."""
    layer.zero_grad()
    out, state_n = layer.forward(x, lengths, state)
    dx, d_state0 = layer.backward(d_out, d_state)
    return out, parts(state_n), dx, parts(d_state0), layer.grad_dict()


def parts_or_none(state) -> list:
    """A state as a list of arrays; [] for None."""
    return [] if state is None else parts(state)


def rows(state, index):
    """Batch rows ``index`` (a slice or int array) of a state: an array, a pair, or None."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s[:, index] for s in state)
    return state[:, index]


def forward_output(model, x, lengths=None):
    """The per-step output of a recurrent layer or of a Sequential."""
    out = model.forward(x, lengths=lengths)
    return out[0] if isinstance(out, tuple) else out


def with_head(layer, case: Case, head: bool):
    """The layer alone, or followed by a Linear head (a Sequential)."""
    if not head:
        return layer
    features = layer.num_directions * layer.hidden_size
    return rnnlab.Sequential(layer, rnnlab.Linear(features, 2, dtype=case.dtype,
                                                  seed=case.seed + 1))


# -- 1. padded equals unpadded -------------------------------------------------------------
@examples(300)
@given(cases())
def test_padded_batch_equals_each_sequence_alone(case):
    """Outputs at valid steps, final state, d(initial state) and dx at valid steps of each
    sequence are what it gets alone, unpadded; the parameter gradients are the sum of the
    sequences' own; output and dx are exactly zero at padded steps, whatever x and d_output
    hold there."""
    layer = case.layer()
    x, state, d_out, d_state = case.arrays(layer)
    lengths = case.lengths_array()
    inputs = [x, lengths, d_out] + parts_or_none(state) + parts_or_none(d_state)
    before = [a.copy() for a in inputs]
    out, state_n, dx, d_state0, grads = run(layer, x, lengths, state, d_out, d_state)
    summed = {name: np.zeros(g.shape, dtype=np.float64) for name, g in grads.items()}
    for b, n in enumerate(lengths):
        one = slice(b, b + 1)
        o, s_n, d, ds0, g = run(layer, x[one, :n], None, rows(state, one), d_out[one, :n],
                                rows(d_state, one))
        assert not out[b, n:].any(), "output at padded steps"
        assert not dx[b, n:].any(), "dx at padded steps"
        close(out[b, :n], o[0], case.dtype, f"output of sequence {b}")
        close(dx[b, :n], d[0], case.dtype, f"dx of sequence {b}")
        for k, (ours, alone) in enumerate(zip(state_n, s_n)):
            close(ours[:, b], alone[:, 0], case.dtype, f"final state part {k}, sequence {b}")
        for k, (ours, alone) in enumerate(zip(d_state0, ds0)):
            close(ours[:, b], alone[:, 0], case.dtype, f"d_state0 part {k}, sequence {b}")
        for name in summed:
            summed[name] += g[name]
    for name, g in grads.items():
        close(g, summed[name], case.dtype, f"gradient of {name}")
    for k, (a, b) in enumerate(zip(inputs, before)):
        identical(a, b, f"argument {k} after the runs (never mutated)")


# -- 2. step by step equals the whole sequence ---------------------------------------------
@examples(300)
@given(cases(bidirectional=False), st.integers(1, 7))
def test_step_by_step_equals_whole_sequence(case, chunk):
    """Running chunks of ``chunk`` steps (1: one step at a time), each on the sequences not yet
    ended and from the state the last chunk left, gives the whole sequence's outputs and
    final state; a single chunk (chunk >= T) is the same computation, bit for bit."""
    layer = case.layer()
    x, state, _, _ = case.arrays(layer)
    lengths = case.lengths_array()
    out, state_n = layer.forward(x, lengths, state)  # no copies: later runs must not touch them
    state_n = parts(state_n)

    carried = [np.zeros_like(s) for s in state_n]
    if state is not None:
        carried = [s.copy() for s in parts(state)]
    pieces = np.zeros_like(out)
    for start in range(0, case.steps, chunk):
        stop = min(start + chunk, case.steps)
        active = np.flatnonzero(lengths > start)  # the sequences not yet ended
        if active.size == 0:
            break
        chunk_lengths = np.minimum(lengths[active] - start, stop - start)
        s0 = tuple(s[:, active] for s in carried)
        o, s = layer.forward(x[active, start:stop], chunk_lengths,
                             s0 if len(s0) > 1 else s0[0])
        pieces[active, start:stop] = o
        for whole, new in zip(carried, parts(s)):
            whole[:, active] = new
    if chunk >= case.steps:
        identical(pieces, out, "output")
        for k, (ours, whole) in enumerate(zip(carried, state_n)):
            identical(ours, whole, f"final state part {k}")
    close(pieces, out, case.dtype, "output")
    for k, (ours, whole) in enumerate(zip(carried, state_n)):
        close(ours, whole, case.dtype, f"final state part {k}")


# -- 3. truncated BPTT with k1 = k2 >= T is full BPTT --------------------------------------
@examples(200)
@given(cases(bidirectional=False), st.integers(0, 3), st.booleans(), st.booleans())
def test_tbptt_with_one_window_is_full_bptt(case, extra, head, summed):
    """TBPTT(k, k) with k >= T runs one chunk, the whole batch: its loss, count and
    gradients are those of forward -> masked loss -> backward, bit for bit."""
    model = with_head(case.layer(), case, head)
    x, _, _, _ = case.arrays(model if not head else model[0])
    lengths = case.lengths_array()
    rng = np.random.default_rng(case.data_seed + 1)
    out_features = 2 if head else case.hidden_size
    y = rng.standard_normal((case.batch, case.steps, out_features)).astype(case.dtype)
    reduction = "sum" if summed else "mean"

    def loss(prediction, target, mask):
        return mse_loss(prediction, target, mask, reduction=reduction)

    model.zero_grad()
    mask = rnnlab.lengths_to_mask(lengths, case.steps)
    value, d_prediction = loss(forward_output(model, x, lengths), y, mask)
    model.backward(d_prediction)
    full = model.grad_dict()

    model.zero_grad()
    k = case.steps + extra
    chunks = list(truncated_bptt(model, x, y, lengths, loss, k, k))
    assert chunks == [(value, int(lengths.sum()))]
    truncated = model.grad_dict()
    assert truncated.keys() == full.keys()
    for name in full:
        identical(truncated[name], full[name], f"gradient of {name}")


# -- 4. save then load equals the original -------------------------------------------------
@examples(150)
@given(cases(), st.booleans())
def test_save_load_and_pickle_change_nothing(case, head):
    """save_weights -> load_weights gives the state dict bit for bit; loading it into a
    fresh model (other weights) makes that model the original's twin; a pickled model
    (after a forward and backward) comes back with the same parameters, no gradients and no
    cache, and computes exactly what the original computes."""
    layer = case.layer()
    model = with_head(layer, case, head)
    x, _, _, _ = case.arrays(layer)
    lengths = case.lengths_array()
    expected = forward_output(model, x, lengths)
    original = model.state_dict()

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "weights.safetensors")
        io.save_weights(path, model.state_dict())
        loaded = io.load_weights(path)
    assert loaded.keys() == original.keys()
    for name, value in original.items():
        identical(loaded[name], value, f"loaded {name}")

    fresh = with_head(make_layer(case.cell, case.input_size, case.hidden_size,
                                 case.num_layers, case.bidirectional, case.bias,
                                 case.nonlinearity, case.dtype, case.seed + 7), case, head)
    fresh.load_state_dict(loaded)
    for name, value in fresh.parameters().items():
        identical(value, original[name], f"{name} after load_state_dict")
    identical(forward_output(fresh, x, lengths), expected, "output after load_state_dict")

    d_out = np.ones_like(expected)
    model.zero_grad()
    model.backward(d_out)  # gradients and a cache present when pickled
    twin = pickle.loads(pickle.dumps(model))
    recurrent = twin if not head else twin[0]
    assert recurrent._cache is None
    for name, value in twin.parameters().items():
        identical(value, original[name], f"{name} after pickle")
    assert not any(g.any() for g in twin.gradients().values()), "gradients after pickle"
    for m in (model, twin):
        m.zero_grad()
        identical(forward_output(m, x, lengths), expected, "output after pickle")
        m.backward(d_out)
    for name, g in model.grad_dict().items():
        identical(twin.grad_dict()[name], g, f"gradient of {name} after pickle")


# -- 5. the gradient of a sum is the sum of the gradients ----------------------------------
@examples(300)
@given(cases(), st.integers(0, 2**16))
def test_backward_is_linear_and_accumulates(case, seed2):
    """backward(d1 + d2) equals backward(d1) then, after a new forward and without zeroing,
    backward(d2): dx, d(initial state) and the accumulated parameter gradients."""
    layer = case.layer()
    x, state, d1, s1 = case.arrays(layer)
    other = dataclasses.replace(case, data_seed=seed2)
    _, _, d2, s2 = other.arrays(layer)
    lengths = case.lengths_array()
    if s1 is None:
        s_sum = None
    elif isinstance(s1, tuple):
        s_sum = tuple(a + b for a, b in zip(s1, s2))
    else:
        s_sum = s1 + s2
    _, _, dx, d_state0, grads = run(layer, x, lengths, state, d1 + d2, s_sum)

    layer.zero_grad()
    layer.forward(x, lengths, state)
    dx1, ds1 = layer.backward(d1, s1)
    dx1, ds1 = dx1.copy(), [s.copy() for s in parts(ds1)]
    first = layer.grad_dict()
    layer.forward(x, lengths, state)  # a new forward before the second backward
    dx2, ds2 = layer.backward(d2, s2)
    accumulated = layer.grad_dict()

    def scale(a, b):
        return np.abs(a).max(initial=0.0) + np.abs(b).max(initial=0.0)

    close(dx1 + dx2, dx, case.dtype, "dx", scale(dx1, dx2))
    for k, (a, b, whole) in enumerate(zip(ds1, parts(ds2), d_state0)):
        close(a + b, whole, case.dtype, f"d_state0 part {k}", scale(a, b))
    for name, g in grads.items():
        g1 = first[name]
        close(accumulated[name], g, case.dtype, f"gradient of {name}",
              scale(g1, accumulated[name] - g1))


# -- 6. checkpointed BPTT equals full BPTT ---------------------------------------------------
@examples(300)
@given(cases(max_steps=8), st.integers(1, 9))
def test_checkpointed_backward_equals_full_bptt(case, every):
    """checkpoint_every=k gives full BPTT's outputs, final state, dx, d(initial state) and
    gradients up to rounding; with one layer of input_size 1 the outputs and final state
    are identical (no sum in forward can be grouped differently)."""
    full = case.layer()
    checkpointed = case.layer(checkpoint_every=every)
    x, state, d_out, d_state = case.arrays(full)
    lengths = case.lengths_array()
    inputs = [x, lengths, d_out] + parts_or_none(state) + parts_or_none(d_state)
    before = [a.copy() for a in inputs]
    expected = run(full, x, lengths, state, d_out, d_state)
    got = run(checkpointed, x, lengths, state, d_out, d_state)
    for k, (a, b) in enumerate(zip(inputs, before)):
        identical(a, b, f"argument {k} after the runs (never mutated)")
    out, state_n, dx, d_state0, grads = got
    close(out, expected[0], case.dtype, "output")
    for k, (ours, theirs) in enumerate(zip(state_n, expected[1])):
        close(ours, theirs, case.dtype, f"final state part {k}")
    close(dx, expected[2], case.dtype, "dx")
    for k, (ours, theirs) in enumerate(zip(d_state0, expected[3])):
        close(ours, theirs, case.dtype, f"d_state0 part {k}")
    for name, g in grads.items():
        close(g, expected[4][name], case.dtype, f"gradient of {name}")
    if case.input_size == 1 and case.num_layers == 1:
        identical(out, expected[0], "output")
        for k, (ours, theirs) in enumerate(zip(state_n, expected[1])):
            identical(ours, theirs, f"final state part {k}")
