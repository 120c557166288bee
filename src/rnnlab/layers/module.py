"""The base of every layer: named parameters, their gradients, and children.

A module owns its parameters and gradients as ``{name: ndarray}`` in PyTorch's naming; a
container prefixes its children's names with their position (``"0.weight_ih_l0"``), as
``torch.nn.Sequential`` does, so state dicts move between rnnlab and PyTorch unchanged.

One forward, one backward. A forward pass keeps what its backward needs (one cache per
module); the backward that follows reads it once. Two rules keep that from giving a wrong
gradient silently:

- A module appears once in a model, and owns its parameter arrays alone: a container refuses
  a module it already holds (``Sequential(lin, lin)``) or parameter arrays another of its
  modules holds (they would be updated twice per step). A module applied twice in one pass
  (weight tying, a siamese encoder) is not supported: its second forward would overwrite the
  first one's cache. The second backward after one forward raises, which is where such a
  pass ends if it is written out by hand.
- Parameters changed between forward and backward (an optimizer step, ``load_state_dict``)
  make backward raise, as PyTorch does, instead of mixing the new weights into the
  gradient of the old ones. A version counter per module, raised by every change rnnlab
  makes (optimizer steps, ``load_state_dict``), is compared; code that writes parameter
  arrays itself calls :meth:`Module.mark_changed`.
"""

from __future__ import annotations

import contextlib
import threading
import weakref

import numpy as np

from rnnlab._checks import boolean
from rnnlab.backend import get_xp

# The module that owns each live parameter array, by the array's id, so that an optimizer
# given plain arrays can raise their module's version (an entry goes with its module).
_OWNERS: "weakref.WeakValueDictionary[int, Module]" = weakref.WeakValueDictionary()


# Whether forward keeps what backward needs; off within ``with no_grad():`` (per thread).
_GRAD = threading.local()
_NO_CACHE = "no cache: the forward ran under rnnlab.no_grad()"  # a forward's cache then


def is_grad_enabled() -> bool:
    """Whether a forward run now keeps what its backward needs (False under ``no_grad``)."""
    return getattr(_GRAD, "enabled", True)


@contextlib.contextmanager
def no_grad():
    """Run forward passes for inference: within the block no module keeps a cache for
    backward (a recurrent layer keeps no gates, states or inputs, and stacked layers share
    one set of work arrays), so memory holds what the outputs need; a ``backward`` after
    such a forward raises. As ``torch.no_grad()``; per thread, and it nests.

    >>> with rnnlab.no_grad():
    ...     logits = model(x)
    """
    previous = is_grad_enabled()
    _GRAD.enabled = False
    try:
        yield
    finally:
        _GRAD.enabled = previous


def mark_changed(arrays) -> None:
    """Record that the parameter arrays ``arrays`` were changed in place (by an optimizer):
    a backward pass of the forward before this raises."""
    for array in arrays:
        owner = _OWNERS.get(id(array))
        if owner is not None and any(p is array for p in owner._params.values()):
            owner._version += 1


class Module:
    """Base class: ``forward`` keeps what ``backward`` needs; ``backward`` accumulates grads.

    Attributes
    ----------
    uses_lengths : bool
        Whether ``forward`` takes ``lengths=``; containers pass lengths only to these.
    training : bool
        Train mode (True, the default) or evaluation mode (False, dropout off); set by
        :meth:`train` and :meth:`eval`.
    """

    uses_lengths = False

    def __init__(self, dtype):
        self.dtype = dtype  # the parameters' dtype; None for a module without parameters
        self._params: dict = {}
        self._grads: dict = {}
        self._children: dict = {}
        self._version = 0  # raised whenever the parameters change (see mark_changed)
        self._cache = None  # what the last forward kept for backward
        self._cache_version = 0  # the parameters' version that forward ran with
        self._cache_read = False  # whether backward has read the cache already
        self.training = True  # train mode; the eval method turns dropout off

    # What a forward pass leaves behind for backward, and buffers reused between batches:
    # never part of a module's pickled state (a fitted model pickles as its parameters).
    transient = ("_cache", "_workspaces", "state_grads", "_step_state")

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
        state.setdefault("_version", 0)  # pickled before version counters existed
        state.setdefault("_cache_version", 0)
        state.setdefault("_cache_read", False)
        state.setdefault("training", True)  # pickled before train/eval modes existed
        self.__dict__.update(state)
        self._grads = {name: get_xp(p).zeros_like(p) for name, p in self._params.items()}
        for p in self._params.values():
            _OWNERS[id(p)] = self

    # -- parameters --------------------------------------------------------------------
    def _add_parameter(self, name: str, value) -> None:
        self._params[name] = value
        self._grads[name] = get_xp(value).zeros_like(value)
        _OWNERS[id(value)] = self

    def _add_child(self, name: str, module: "Module") -> None:
        """Hold ``module`` as the child ``name``; refuse a module (or a parameter array) that
        this module already holds, which would be run and updated twice."""
        for held_name, held in self._named_modules():
            if held is module:
                raise ValueError(f"module {name} ({module!r}) is already held here as "
                                 f"{held_name or 'this module'}: a module may appear once in "
                                 f"a model (use two modules, e.g. copy.deepcopy(module))")
        mine = {id(p): n for n, p in self.parameters().items()}
        for param_name, p in module.parameters().items():
            if id(p) in mine:
                raise ValueError(f"module {name} ({module!r}) shares its parameter "
                                 f"{param_name!r} with {mine[id(p)]!r}: shared parameter "
                                 f"arrays would be updated twice per step")
        self._children[name] = module

    def named_modules(self):
        """Yield ``(name, module)`` for this module ("") and every module inside it, as
        ``torch.nn.Module.named_modules`` (names like "0", "1.lower")."""
        yield from self._named_modules()

    def _named_modules(self, prefix: str = ""):
        """Yield ``(name, module)`` for this module and every module inside it."""
        yield prefix, self
        for name, child in self._children.items():
            yield from child._named_modules(f"{prefix}.{name}" if prefix else name)

    def mark_changed(self) -> None:
        """Record that this module's parameters (and its children's) were changed in place,
        so that a backward of an earlier forward raises. Optimizer steps and
        ``load_state_dict`` call it; call it after writing parameter arrays yourself."""
        for _, module in self._named_modules():
            module._version += 1

    def train(self, mode: bool = True) -> "Module":
        """Put this module and every module inside it in train mode (``mode`` True) or
        evaluation mode (False); return the module, as PyTorch's ``train`` does."""
        mode = boolean(mode, "mode")
        for _, module in self._named_modules():
            module.training = mode
        return self

    def eval(self) -> "Module":
        """Put this module and every module inside it in evaluation mode: ``train(False)``."""
        return self.train(False)

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
        if not isinstance(state, dict) and not hasattr(state, "keys"):
            raise TypeError(f"state must be a dict {{name: array}} (a state_dict), got "
                            f"{type(state).__name__}")
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
        self.mark_changed()

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

    # Whether the output at a step depends on the input at that step alone (a linear layer,
    # an activation, an embedding, a layer norm, dropout): then ``step`` is its forward.
    steps_pointwise = False

    def step(self, x, state=None):
        """One step of inference: ``(output, state)`` for one time step's input.

        Recurrent layers carry a state (:mod:`rnnlab.layers.stepping`); a module whose output
        at a step depends on that step's input alone (``steps_pointwise``) runs its forward
        in evaluation mode and gives None as its state, leaving the cache of an earlier
        forward, and its mode, as they were. Other modules (pooling over the steps, a
        bidirectional or hierarchical layer, attention) have no step: ``TypeError``.
        """
        if not self.steps_pointwise:
            raise TypeError(f"{type(self).__name__} has no step: its output at a step depends "
                            f"on other steps (use forward on the whole sequence)")
        kept = (self._cache, self._cache_version, self._cache_read, self.training)
        try:
            self.training = False
            return self.forward(x), None
        finally:
            self._cache, self._cache_version, self._cache_read, self.training = kept

    def _save_for_backward(self, cache) -> None:
        """Keep ``cache``, what this forward's backward needs, with the parameters' version;
        under :func:`no_grad`, keep nothing (a backward then says why it cannot run)."""
        if not is_grad_enabled():
            cache = _NO_CACHE
        self._cache, self._cache_version, self._cache_read = cache, self._version, False

    def _saved(self, for_backward: bool = True):
        """The last forward's cache, or raise ``RuntimeError``.

        Raises when no forward ran, when the parameters changed since that forward, and (for
        backward) when this forward's backward ran already. A backward calls
        :meth:`_mark_read` once its arguments check out.
        """
        name = type(self).__name__
        if self._cache is None:
            raise RuntimeError(f"{name}.backward called before forward")
        if self._cache is _NO_CACHE:
            raise RuntimeError(f"{name}.backward called after a forward under rnnlab.no_grad(), "
                               f"which keeps nothing for backward: run forward again outside "
                               f"no_grad")
        if for_backward and self._cache_read:
            raise RuntimeError(
                f"{name}.backward called twice after one forward: run forward again first. "
                f"(A module applied twice in one pass, as in weight tying or a siamese "
                f"encoder, is not supported: its second forward replaced the first one's "
                f"cache; use two modules.)")
        if self._cache_version != self._version:
            raise RuntimeError(
                f"{name}'s parameters changed between forward and backward (an optimizer step "
                f"or load_state_dict): the backward pass would mix the new weights into the "
                f"old pass's gradient; run forward again")
        return self._cache

    def _mark_read(self) -> None:
        """Record that a backward has read the cache (a second one raises)."""
        self._cache_read = True
