"""The base of every layer: named parameters, their gradients, and children.

A module owns its parameters and gradients as ``{name: ndarray}`` in PyTorch's naming; a
container prefixes its children's names with their position (``"0.weight_ih_l0"``), as
``torch.nn.Sequential`` does, so state dicts move between rnnlab and PyTorch unchanged.
"""

from __future__ import annotations

import numpy as np

from rnnlab.backend import get_xp


class Module:
    """Base class: ``forward`` keeps what ``backward`` needs; ``backward`` accumulates grads.

    Attributes
    ----------
    uses_lengths : bool
        Whether ``forward`` takes ``lengths=``; containers pass lengths only to these.
    """

    uses_lengths = False

    def __init__(self, dtype):
        self.dtype = dtype  # the parameters' dtype; None for a module without parameters
        self._params: dict = {}
        self._grads: dict = {}
        self._children: dict = {}

    # What a forward pass leaves behind for backward, and buffers reused between batches:
    # never part of a module's pickled state (a fitted model pickles as its parameters).
    transient = ("_cache", "_workspaces", "state_grads")

    def __getstate__(self) -> dict:
        """The module's state for pickle (and joblib, deepcopy): everything but the caches of
        the last forward, the reused buffers and the gradients (zero again when loaded)."""
        state = dict(self.__dict__)
        for name in self.transient:
            if name in state:
                state[name] = {} if name == "_workspaces" else None
        del state["_grads"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._grads = {name: get_xp(p).zeros_like(p) for name, p in self._params.items()}

    # -- parameters --------------------------------------------------------------------
    def _add_parameter(self, name: str, value) -> None:
        self._params[name] = value
        self._grads[name] = get_xp(value).zeros_like(value)

    def _add_child(self, name: str, module: "Module") -> None:
        self._children[name] = module

    def parameters(self) -> dict:
        """The live parameter arrays, ``{name: ndarray}``; optimizers update them in place."""
        out = dict(self._params)
        for prefix, child in self._children.items():
            out.update({f"{prefix}.{k}": v for k, v in child.parameters().items()})
        return out

    def gradients(self) -> dict:
        """The live gradient arrays, under the parameters' names."""
        out = dict(self._grads)
        for prefix, child in self._children.items():
            out.update({f"{prefix}.{k}": v for k, v in child.gradients().items()})
        return out

    def state_dict(self) -> dict:
        """A copy of every parameter, ``{name: ndarray}``, in PyTorch's names and shapes."""
        return {k: v.copy() for k, v in self.parameters().items()}

    def grad_dict(self) -> dict:
        """A copy of every gradient, under the parameters' names."""
        return {k: v.copy() for k, v in self.gradients().items()}

    def load_state_dict(self, state: dict) -> None:
        """Copy ``state`` (``{name: array}``, NumPy arrays or CPU tensors) into the parameters.

        The names must match exactly and every shape must agree; the values are cast to this
        module's dtype. Nothing is changed unless everything checks out.
        """
        params = self.parameters()
        missing = sorted(set(params) - set(state))
        unexpected = sorted(set(state) - set(params))
        if missing or unexpected:
            raise ValueError(f"state must have exactly this module's parameter names; "
                             f"missing {missing}, unexpected {unexpected}")
        arrays = {}
        for name, param in params.items():
            value = np.asarray(state[name])
            if value.dtype.kind not in "fiu":
                raise TypeError(f"state[{name!r}] must be a numeric array, got dtype {value.dtype}")
            if value.shape != param.shape:
                raise ValueError(f"state[{name!r}] must have shape {param.shape}, "
                                 f"got {value.shape}")
            with np.errstate(over="ignore"):
                value = value.astype(param.dtype)
            if not np.isfinite(value).all():
                raise ValueError(f"state[{name!r}] must be finite in {param.dtype}")
            arrays[name] = value
        for name, param in params.items():
            param[...] = get_xp(param).asarray(arrays[name])

    def zero_grad(self) -> None:
        """Set every gradient to zero (backward accumulates into them)."""
        for g in self.gradients().values():
            g.fill(0)

    def num_parameters(self) -> int:
        """The number of scalar parameters; equal to PyTorch's for the same layer."""
        return sum(int(p.size) for p in self.parameters().values())

    # -- computation -------------------------------------------------------------------
    def forward(self, x, *args, **kwargs):
        raise NotImplementedError

    def backward(self, d_output, *args, **kwargs):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _cache_or_raise(self, cache):
        if cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return cache
