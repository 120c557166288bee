"""A module's architecture as plain JSON, and the module built again from it.

``module_spec(module)`` describes a module by its type and the keyword arguments of its
constructor that shape it: sizes, layers, directions, dtype, and the settings that change
what training computes (dropout probabilities, layer normalization and its eps, the
nonlinearity, bias, checkpointed BPTT, padding_idx, heads). Containers hold their children's
specs::

    {"type": "Sequential", "args": {}, "modules": [
        {"type": "LSTM", "args": {"input_size": 12, "hidden_size": 64, ...}},
        {"type": "LastStep", "args": {"dtype": null}},
        {"type": "Linear", "args": {"in_features": 64, "out_features": 9, ...}}]}

``build_module(spec)`` builds an equal architecture (the same repr, the same parameter names
and shapes), initialized afresh: the weights are loaded afterwards. Settings that only
choose the initial weights (``seed``, ``init``, ``init_hh``, ``chrono``, ``forget_bias``)
are not stored, so a spec never depends on them, and an LSTM built with ``chrono`` comes
back without it in its repr (its biases are in its weights).

Only the types of this module's registry are built, by their constructors: no name is
imported, nothing is evaluated, so a spec read from a file runs no code of its own. A spec
of an unknown type, a missing or unknown field, or an argument a constructor refuses raises
``ValueError`` naming the place in the spec, e.g. ``spec['modules'][1]['type']: unknown
module type 'Foo'``. A higher floor may describe its own modules with :class:`ModuleKind`
entries passed as ``extra``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from rnnlab.layers.activations import ReLU, Sigmoid, Tanh
from rnnlab.layers.attention import MultiheadAttention
from rnnlab.layers.attention_pooling import AdditiveAttention, DotAttention
from rnnlab.layers.decoder import AdditiveQueryAttention, DotQueryAttention
from rnnlab.layers.dropout import Dropout
from rnnlab.layers.embedding import Embedding, OneHot
from rnnlab.layers.hierarchical import HierarchicalRNN
from rnnlab.layers.linear import Linear
from rnnlab.layers.module import Module
from rnnlab.layers.norm import LayerNorm
from rnnlab.layers.pooling import LastStep, MeanPool
from rnnlab.layers.positional import PositionalEncoding
from rnnlab.layers.recurrent import GRU, LSTM, RNN
from rnnlab.layers.seq2seq import Seq2Seq
from rnnlab.layers.sequence_transformer import SequenceTransformer
from rnnlab.layers.sequential import Sequential
from rnnlab.layers.transformer import TransformerEncoder, TransformerEncoderLayer

DTYPES = (None, "float32", "float64")  # what a spec's "dtype" may say


class ModuleKind(NamedTuple):
    """How one module type is described and built.

    Attributes
    ----------
    cls : type
        The module class (matched exactly: a subclass needs its own kind).
    names : tuple of str
        The constructor's keyword arguments a spec holds, each read from the module's
        attribute of that name ("dtype": its name, or None), unless ``read`` says otherwise.
    children : tuple of str
        The fields of the child modules given to the constructor (a module, None, or for
        ``"modules"`` a list passed positionally, as ``Sequential(*modules)``).
    read : dict of str to callable
        ``read[name](module)``: an argument or child that is not the attribute of its name.
    build : callable, optional
        ``build(args, children) -> Module`` when the constructor is not called as
        ``cls(*modules, **children, **args)``.
    """

    cls: type
    names: tuple
    children: tuple = ()
    read: dict = {}
    build: Callable | None = None

    def args(self, module) -> dict:
        """The constructor's keyword arguments that ``module`` was built with, JSON values."""
        return {name: self._value(module, name) for name in self.names}

    def child_modules(self, module) -> dict:
        """``{field: Module, list of Module or None}``."""
        return {name: self._value(module, name) for name in self.children}

    def _value(self, module, name: str):
        if name in self.read:
            return self.read[name](module)
        if name == "dtype":
            return None if module.dtype is None else module.dtype.name
        return getattr(module, name)


def _has(parameter: str):
    """Reads whether a module has ``parameter`` (e.g. a bias)."""
    return lambda m: parameter in m._params


def _query_attention(cls):
    """Builds a decoder attention, whose constructor takes the generator ``rng``."""
    def build(args, _):
        return cls(**args, rng=np.random.default_rng(0))
    return build


RECURRENT = ("input_size", "hidden_size", "num_layers", "nonlinearity", "bias",
             "bidirectional", "dtype", "checkpoint_every", "norm", "eps", "dropout",
             "recurrent_dropout")
CELL_KEYWORDS = ("nonlinearity", "bias", "checkpoint_every", "norm", "eps", "dropout",
                 "recurrent_dropout")  # HierarchicalRNN's **cell_kwargs, read from its lower
DTYPE_ONLY = ("dtype",)

KINDS = (
    ModuleKind(RNN, RECURRENT),
    ModuleKind(LSTM, RECURRENT),
    ModuleKind(GRU, RECURRENT),
    ModuleKind(Linear, ("in_features", "out_features", "bias", "dtype"),
               read={"bias": _has("bias")}),
    ModuleKind(Embedding, ("num_embeddings", "embedding_dim", "padding_idx", "dtype")),
    ModuleKind(OneHot, ("num_classes", "dtype")),
    ModuleKind(LayerNorm, ("normalized_shape", "eps", "elementwise_affine", "bias", "dtype"),
               read={"normalized_shape": lambda m: list(m.normalized_shape),
                     "bias": lambda m: "bias" in m._params or not m.elementwise_affine}),
    ModuleKind(Dropout, ("p", "dtype")),
    ModuleKind(Tanh, DTYPE_ONLY),
    ModuleKind(ReLU, DTYPE_ONLY),
    ModuleKind(Sigmoid, DTYPE_ONLY),
    ModuleKind(LastStep, DTYPE_ONLY),
    ModuleKind(MeanPool, DTYPE_ONLY),
    ModuleKind(AdditiveAttention, ("input_size", "attention_size", "dtype")),
    ModuleKind(DotAttention, ("input_size", "dtype")),
    ModuleKind(PositionalEncoding, ("d_model", "max_len", "dropout", "dtype"),
               read={"dropout": lambda m: m.dropout.p}),
    ModuleKind(MultiheadAttention, ("embed_dim", "num_heads", "bias", "dropout", "dtype"),
               read={"bias": _has("in_proj_bias")}),
    ModuleKind(TransformerEncoderLayer, ("d_model", "nhead", "dim_feedforward", "dropout",
                                         "activation", "layer_norm_eps", "norm_first", "dtype"),
               read={"dropout": lambda m: m.dropout.p,
                     "layer_norm_eps": lambda m: m.norm1.eps}),
    ModuleKind(TransformerEncoder, ("num_layers",), ("encoder_layer", "norm"),
               read={"encoder_layer": lambda m: m.layers[0]}),
    ModuleKind(SequenceTransformer, ("input_size", "d_model", "nhead", "num_layers",
                                     "dim_feedforward", "dropout", "causal", "dtype"),
               read={"dropout": lambda m: m.position.dropout.p}),
    ModuleKind(HierarchicalRNN, ("input_size", "hidden_size", "chunk", "cell",
                                 "upper_hidden_size", "num_layers", "bidirectional",
                                 "return_sequence", "dtype") + CELL_KEYWORDS,
               read={"cell": lambda m: m.cell_name,
                     **{k: (lambda m, k=k: getattr(m.lower, k)) for k in CELL_KEYWORDS}}),
    ModuleKind(Seq2Seq, ("input_size", "output_size", "hidden_size", "cell", "attention",
                         "num_layers", "embedding_size", "num_tokens", "attention_size",
                         "dtype"),
               read={"cell": lambda m: m.cell_name, "attention": lambda m: m.attention_name,
                     "attention_size": lambda m: getattr(m.attention, "attention_size", None)}),
    ModuleKind(AdditiveQueryAttention, ("query_size", "memory_size", "attention_size",
                                        "dtype"),
               build=_query_attention(AdditiveQueryAttention)),
    ModuleKind(DotQueryAttention, ("query_size", "memory_size", "general", "dtype"),
               build=_query_attention(DotQueryAttention)),
    ModuleKind(Sequential, (), ("modules",)),
)


def _registry(extra) -> dict:
    """{type name: ModuleKind} of the layers and ``extra``."""
    kinds = {kind.cls.__name__: kind for kind in KINDS}
    for kind in extra:
        if not isinstance(kind, ModuleKind):
            raise TypeError(f"extra must hold ModuleKind entries, got {type(kind).__name__}")
        kinds[kind.cls.__name__] = kind
    return kinds


def module_spec(module: Module, extra=()) -> dict:
    """The architecture of ``module`` as plain JSON: ``{"type": ..., "args": {...}}``, and
    the children's specs of a container (see the module's docstring).

    Parameters
    ----------
    module : Module
        A module of :mod:`rnnlab.layers` (its exact type), or of a kind in ``extra``.
    extra : sequence of ModuleKind
        Kinds of other modules (a higher floor's).

    Raises
    ------
    TypeError
        When a module (or one inside it) has no kind, naming it and where it is.
    """
    return _describe(module, _registry(extra), "module")


def _describe(module, kinds: dict, where: str) -> dict:
    kind = kinds.get(type(module).__name__)
    if kind is None or type(module) is not kind.cls:
        raise TypeError(f"{where} must be a module of rnnlab.layers to have an architecture "
                        f"spec ({', '.join(sorted(kinds))}), got {type(module).__name__}")
    spec = {"type": type(module).__name__, "args": kind.args(module)}
    for field, child in kind.child_modules(module).items():
        if isinstance(child, list):
            spec[field] = [_describe(c, kinds, f"{where}.{field}[{k}]")
                           for k, c in enumerate(child)]
        else:
            spec[field] = None if child is None else _describe(child, kinds,
                                                               f"{where}.{field}")
    return spec


def build_module(spec: dict, extra=()) -> Module:
    """A module of the architecture ``spec`` describes (:func:`module_spec`), freshly
    initialized: load its weights next.

    Parameters
    ----------
    spec : dict
        As :func:`module_spec` returns it (e.g. read from JSON).
    extra : sequence of ModuleKind
        Kinds of other modules (a higher floor's).

    Raises
    ------
    ValueError
        For an unknown type, a missing or unknown field or argument, or an argument the
        constructor refuses; the message names the place, e.g.
        ``spec['modules'][1]['type']: unknown module type 'Foo'``.
    """
    return _build(spec, _registry(extra), "spec")


def _build(spec, kinds: dict, path: str) -> Module:
    if not isinstance(spec, dict):
        raise ValueError(f"{path} must be a module spec, a dict {{'type': ..., 'args': "
                         f"{{...}}}}, got {type(spec).__name__}")
    name = spec.get("type")
    if not isinstance(name, str) or name not in kinds:
        raise ValueError(f"{path}['type']: unknown module type {name!r} (known: "
                         f"{', '.join(sorted(kinds))})")
    kind = kinds[name]
    args = spec.get("args")
    if not isinstance(args, dict):
        raise ValueError(f"{path}['args'] must be a dict of {name}'s keyword arguments, "
                         f"got {type(args).__name__}")
    _check_args(kind, args, f"{path}['args']", name)
    fields = _check_fields(kind, spec, path, name)
    children = {}
    for field, value in fields.items():
        where = f"{path}[{field!r}]"
        if field == "modules":
            if not isinstance(value, list):
                raise ValueError(f"{where} must be a list of module specs, "
                                 f"got {type(value).__name__}")
            children[field] = [_build(v, kinds, f"{where}[{k}]") for k, v in enumerate(value)]
        else:
            children[field] = None if value is None else _build(value, kinds, where)
    try:
        if kind.build is not None:
            return kind.build(args, children)
        modules = children.pop("modules", [])
        return kind.cls(*modules, **children, **args)
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"{path}: {name} refuses its arguments: {err}") from None


def _check_args(kind: ModuleKind, args: dict, path: str, name: str) -> None:
    expected = set(kind.names)
    unknown = sorted(set(args) - expected, key=str)
    missing = sorted(expected - set(args))
    if unknown:
        raise ValueError(f"{path}: unknown argument(s) {unknown} of {name} (expected "
                         f"{sorted(expected)})")
    if missing:
        raise ValueError(f"{path}: missing argument(s) {missing} of {name}")
    if "dtype" in args and args["dtype"] not in DTYPES:
        raise ValueError(f"{path}['dtype'] must be one of {list(DTYPES)}, "
                         f"got {args['dtype']!r}")


def _check_fields(kind: ModuleKind, spec: dict, path: str, name: str) -> dict:
    """The children's fields of ``spec``, checked to be exactly those of ``kind``."""
    fields = set(kind.children)
    unknown = sorted(set(spec) - fields - {"type", "args"}, key=str)
    missing = sorted(fields - set(spec))
    if unknown:
        raise ValueError(f"{path}: unknown field(s) {unknown} in a {name} spec (expected "
                         f"{sorted(fields | {'type', 'args'})})")
    if missing:
        raise ValueError(f"{path}: missing field(s) {missing} of {name}")
    return {field: spec[field] for field in sorted(fields)}
