"""A chain of layers, like ``torch.nn.Sequential``, that also carries ``lengths``."""

from __future__ import annotations

import numpy as np

from rnnlab._checks import NonFiniteError, boolean, float_array, lengths_array
from rnnlab.layers.embedding import TokenInput
from rnnlab.layers.module import Module


class Sequential(Module):
    """Run modules one after another; backward runs them in reverse.

    ``lengths`` goes to every module that takes it (recurrent layers and pooling). A recurrent
    layer passes on its output sequence; its final state is not used here (call the layer
    yourself when you need it). Parameter names are prefixed with each module's position,
    ``"0.weight_ih_l0"``, as in PyTorch. A module may appear once (see
    :mod:`rnnlab.layers.module`).

    A value that stops being finite inside the chain (an overflowing forward pass, or a
    gradient that overflows on its way back) raises :class:`rnnlab._checks.NonFiniteError`
    (a ``ValueError``) naming the module whose output, or passed-back gradient, it was; the
    Trainer reports it as a diverged run.

    One unbatched sequence, x (T, F) (or token ids (T,)), goes through as PyTorch's modules
    take it: each module gets it as it is. Recurrent layers and ``LastStep`` / ``MeanPool``
    take it (a pooling head reduces (T, H) to (H,), as a batch of one would), so do Linear,
    the activations, LayerNorm, Dropout and Embedding (any leading axes); a module that needs
    a batch refuses it with its own error naming ``x``. ``lengths`` must then be None, and
    ``backward`` takes the unbatched gradient of the output.

    Examples
    --------
    >>> model = Sequential(LSTM(12, 64), LastStep(), Linear(64, 9))
    >>> logits = model(x, lengths=lengths)
    >>> dx = model.backward(d_logits)
    """

    def __init__(self, *modules: Module):
        if not modules:
            raise ValueError("Sequential needs at least one module, got none")
        for k, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"modules[{k}] must be an rnnlab Module, got {type(m).__name__}")
        dtypes = {m.dtype for m in modules if m.dtype is not None}
        if len(dtypes) > 1:
            raise ValueError(f"modules must share one dtype, got {sorted(d.name for d in dtypes)}")
        super().__init__(dtypes.pop() if dtypes else None)
        self.modules = list(modules)
        for k, m in enumerate(modules):
            self._add_child(str(k), m)

    uses_lengths = True

    def forward(self, x, lengths=None, state=None, return_state: bool = False):
        """Run every module; ``lengths`` (B,) goes to those that take it.

        ``lengths`` is checked against x (B, T, F) first, so a bad value fails before any
        module has run.

        Parameters
        ----------
        x : (B, T, F) float, or (B, T) int token ids when the first module is an Embedding
            or OneHot
            Or one unbatched sequence, (T, F) or (T,) token ids (see the class docstring).
        lengths : (B,) int, optional
        state : list, optional
            One initial state per recurrent module, in order (None for zeros): what
            ``return_state`` gave, to carry the state across chunks of a long sequence.
        return_state : bool
            Also return that list of each recurrent module's final state.
        """
        boolean(return_state, "return_state")
        recurrent = self._recurrent_states(state)
        if lengths is not None:
            if isinstance(self.modules[0], TokenInput):  # token ids (B, T), checked by it
                x = self.modules[0].indices(x, "(B, T) when lengths are given", ndim=2)
            else:
                x = float_array(x, "x", self.dtype, "(B, T, F) when lengths are given", ndim=3)
            lengths = lengths_array(lengths, x.shape[0], x.shape[1])
        states = list(state) if state is not None else [None] * len(recurrent)
        finals = []
        for k, m in enumerate(self.modules):
            try:
                if hasattr(m, "state_names"):  # a recurrent layer: (output, final state)
                    x, final = m.forward(x, lengths=lengths, state=states[len(finals)])
                    finals.append(final)
                else:
                    x = m.forward(x, lengths=lengths) if m.uses_lengths else m.forward(x)
            except NonFiniteError as err:
                if k == 0 or err.module is not None or err.argument != "x":
                    raise  # the caller's own input, or already located inside a container
                raise self._not_finite(k - 1, "output") from None
        if not np.isfinite(x).all():
            raise self._not_finite(len(self.modules) - 1, "output")
        return (x, finals) if return_state else x

    def _recurrent_states(self, state) -> list:
        """The recurrent modules, after checking that ``state`` (None, or one state per
        recurrent module, in order) fits them."""
        recurrent = [m for m in self.modules if hasattr(m, "state_names")]
        if state is not None and (not isinstance(state, (list, tuple))
                                  or len(state) != len(recurrent)):
            raise TypeError(f"state must be a list of {len(recurrent)} states, one per recurrent "
                            f"module, got {type(state).__name__} of length "
                            f"{len(state) if isinstance(state, (list, tuple)) else '-'}")
        return recurrent

    def step(self, x, state=None):
        """One step of inference through every module: ``(output, state)``.

        Parameters
        ----------
        x : (B, F) float, or (B,) int token ids when the first module is an Embedding or OneHot
            Or one unbatched step, (F,) (a recurrent module's state is then (L, H)).
        state : list, optional
            One state per recurrent module, in order (None for zeros), as ``forward``'s
            ``state``: what the last step returned.

        Every module must have a step (recurrent layers, and the modules that work on each
        step alone: Linear, the activations, Embedding, OneHot, LayerNorm, Dropout, which runs
        as in evaluation mode). Stepping through a sequence equals ``forward`` on it in evaluation
        mode; nothing is kept for a backward.
        """
        recurrent = self._recurrent_states(state)
        for m in self.modules:
            if not (m.steps_pointwise or hasattr(m, "state_names")):
                m.step(x)  # raises TypeError naming the module, before any work
        states = list(state) if state is not None else [None] * len(recurrent)
        finals = []
        for m in self.modules:
            x, new = m.step(x, states[len(finals)] if hasattr(m, "state_names") else None)
            if hasattr(m, "state_names"):
                finals.append(new)
        return x, finals

    def backward(self, d_output):
        """Run every module's backward in reverse; return dL/dx.

        ``d_output`` has the shape of ``forward``'s output, unbatched after an unbatched
        forward; a recurrent module's d_state0 is dropped (its final state was not used).
        """
        last = len(self.modules) - 1
        for k in range(last, -1, -1):
            try:
                d_output = self.modules[k].backward(d_output)
            except NonFiniteError as err:
                if k == last or err.module is not None or err.argument != "d_output":
                    raise  # the caller's own gradient, or already located
                raise self._not_finite(k + 1, "input gradient") from None
            if isinstance(d_output, tuple):  # a recurrent layer's (dx, d_state0)
                d_output = d_output[0]
        return d_output

    def _not_finite(self, k: int, what: str) -> NonFiniteError:
        module = f"module {k} ({self.modules[k]!r})"
        return NonFiniteError(f"the {what} of {module} is not finite (NaN or infinite): the "
                              f"computation overflowed", what, module)

    def __getitem__(self, index: int) -> Module:
        return self.modules[index]

    def __len__(self) -> int:
        return len(self.modules)

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({k}): {m!r}" for k, m in enumerate(self.modules))
        return f"Sequential(\n{inner}\n)"
