"""The parameters and states of a recurrent layer: PyTorch's names and layout, their
initialization (PyTorch's default or a named initializer per gate block, chrono's gate
biases), layer normalization's gains and biases; the public state (L*D, B, H) checked; and
the view of one layer and direction, parameters and state, that the cell functions take.
:class:`RecurrentParameters` is the part of :class:`rnnlab.layers.recurrent._Recurrent`
that holds them.
"""

from __future__ import annotations

import numpy as np

from rnnlab import init as initializers
from rnnlab._checks import expect_shape, finite_number, float_array, one_of
from rnnlab.backend import get_xp
from rnnlab.cells import Params


class RecurrentParameters:
    """Building, naming and handing out a recurrent layer's parameters (a mixin of
    ``_Recurrent``, whose sizes, ``cell``, ``norm`` and ``chrono`` it reads)."""

    norm = None  # "layer": layer normalization (Ba et al. 2016), with the cell's NORMS
    eps = 1e-5  # layer normalization's epsilon

    def _set_norm(self, norm, eps) -> None:
        """Check and store ``norm`` (None or "layer") and ``eps`` (> 0), before ``_build``
        reads them; the errors name the argument."""
        one_of(norm, "norm", (None, "layer"))
        if finite_number(eps, "eps") <= 0:
            raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
        self.norm, self.eps = norm, float(eps)

    def _names(self, layer: int, direction: int) -> tuple:
        """PyTorch's names: weight_ih_l{k}[_reverse], weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}."""
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        return tuple(f"{kind}{suffix}" for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def _build(self, rng) -> None:
        """Create every parameter in PyTorch's order, each gate block initialized on its own."""
        gh, h = self.num_gates * self.hidden_size, self.hidden_size
        for layer in range(self.num_layers):
            n_in = self.input_size if layer == 0 else self.num_directions * h
            for direction in range(self.num_directions):
                w_ih, w_hh, b_ih, b_hh = self._names(layer, direction)
                self._add_parameter(w_ih, self._weight((h, n_in), self.init, rng))
                self._add_parameter(w_hh, self._weight((h, h), self.init_hh, rng))
                if self.bias:
                    for name in (b_ih, b_hh):
                        if self.init == self.init_hh == "default":
                            bias = initializers.default((gh,), rng, self.dtype, h)
                        else:
                            bias = np.zeros(gh, dtype=self.dtype)
                        self._add_parameter(name, bias)
                for name in self._norm_names(layer, direction):  # gains 1, biases 0
                    size = h if name.startswith("ln_c_") else gh
                    fill = 1.0 if "_weight" in name else 0.0
                    self._add_parameter(name, np.full(size, fill, dtype=self.dtype))
        if self.chrono is not None:
            self._chrono_biases(rng)  # after every weight: the same seed, the same weights

    def _chrono_biases(self, rng) -> None:
        """Chrono initialization (``chrono`` in :class:`LSTM`, :class:`GRU`): per layer and
        direction, each ``chrono_gates`` block of bias_ih + bias_hh is sign * log(u)."""
        h = self.hidden_size
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                _, _, b_ih, b_hh = self._names(layer, direction)
                log_u = initializers.chrono(h, self.chrono, rng)  # (H,)
                for gate, sign in self.chrono_gates:
                    k = self.cell.GATES.index(gate)
                    self._params[b_ih][k * h:(k + 1) * h] = sign * log_u
                    self._params[b_hh][k * h:(k + 1) * h] = 0.0

    def _weight(self, block_shape, name, rng):
        """A (G*H, fan_in) weight: G gate blocks (H, fan_in), each initialized on its own."""
        blocks = []
        for _ in range(self.num_gates):
            if name == "default":
                blocks.append(initializers.default(block_shape, rng, self.dtype, self.hidden_size))
            else:
                blocks.append(initializers.INITIALIZERS[name](block_shape, rng, self.dtype))
        return np.concatenate(blocks, axis=0)

    def _norm_names(self, layer: int, direction: int) -> tuple:
        """With ``norm="layer"``: the cell's ``NORMS`` with the suffix _l{k}[_reverse]
        (ln_ih_weight, ln_ih_bias, ln_hh_weight, ln_hh_bias, and for LSTM ln_c_weight,
        ln_c_bias); else none."""
        if self.norm is None:
            return ()
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        return tuple(f"{name}{suffix}" for name in self.cell.NORMS)

    def _cell_params(self, layer: int, direction: int):
        """What the cell functions take for one layer and direction."""
        w_ih, w_hh, b_ih, b_hh = self._names(layer, direction)
        p = self._params
        if self.norm is None:
            return Params(p[w_ih], p[w_hh], p.get(b_ih), p.get(b_hh))
        norms = [p[name] for name in self._norm_names(layer, direction)]
        return self.cell.LNParams(p[w_ih], p[w_hh], p.get(b_ih), p.get(b_hh), *norms,
                                  eps=self.eps)

    def _accumulate(self, layer: int, direction: int, grads) -> None:
        parts = (grads.dweight_ih, grads.dweight_hh, grads.dbias_ih, grads.dbias_hh)
        for name, g in zip(self._names(layer, direction), parts):
            if g is not None:
                self._grads[name] += g
        for name in self._norm_names(layer, direction):
            self._grads[name] += grads.d_norm[name.rsplit("_l", 1)[0]]

    # -- states: the public form and the per-(layer, direction) view --------------------
    def _state_components(self, state, name: str, batch: int, allow_none: bool) -> tuple:
        """The public state (an array, or a pair for LSTM) -> a tuple of (L*D, B, H) arrays.

        ``None`` gives zeros, or Nones when ``allow_none`` (for gradients).
        """
        n = len(self.state_names)
        if state is None:
            state = (None,) * n
        elif n == 1:
            state = (state,)
        elif not isinstance(state, (tuple, list)) or len(state) != n:
            raise TypeError(f"{name} must be a pair (h, c) of arrays of shape (L*D, B, H), "
                            f"got {type(state).__name__}")
        shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        out = []
        for k, component in enumerate(state):
            label = name if n == 1 else f"{name}[{k}] ({self.state_names[k]})"
            if component is None:
                out.append(None if allow_none else np.zeros(shape, dtype=self.dtype))
                continue
            component = float_array(component, label, self.dtype, "(L*D, B, H)", ndim=3)
            expect_shape(component, label, shape, "(L*D, B, H)")
            out.append(component)
        return tuple(out)

    def _cell_state(self, components: tuple, index: int):
        """The state of one (layer, direction): an array, or a pair for LSTM."""
        parts = tuple(None if c is None else c[index] for c in components)
        return parts[0] if len(parts) == 1 else parts

    def _stack_states(self, states: list):
        """Per-(layer, direction) states -> the public (L*D, B, H) array, or pair."""
        xp = get_xp(states[0] if len(self.state_names) == 1 else states[0][0])
        if len(self.state_names) == 1:
            return xp.stack(states)
        return tuple(xp.stack([s[k] for s in states]) for k in range(len(self.state_names)))
