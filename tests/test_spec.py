"""Architecture specs: every module type described as plain JSON and built again equal (the
same repr, parameter names and shapes, and after loading the weights the same outputs), and
every bad spec refused with a ValueError naming where it is."""

import json
import re

import numpy as np
import pytest

from rnnlab import layers as L
from rnnlab.layers.decoder import AdditiveQueryAttention, DotQueryAttention
from rnnlab.layers.sequence_transformer import SequenceTransformer
from rnnlab.layers.spec import KINDS, ModuleKind, build_module, module_spec

F64 = "float64"
B, T = 3, 6
LENGTHS = np.array([6, 4, 1])


def x_of(features, seed=0):
    return np.random.default_rng(seed).standard_normal((B, T, features))


def ids_of(classes, seed=0):
    return np.random.default_rng(seed).integers(0, classes, size=(B, T))


def recurrent(m, f):
    return m(x_of(f), lengths=LENGTHS)


def encoder_layer(seed=2):
    return L.TransformerEncoderLayer(8, 2, dim_feedforward=12, dropout=0.2, activation="gelu",
                                     layer_norm_eps=1e-6, norm_first=True, dtype=F64, seed=seed)


def query_step(m):
    memory = x_of(m.memory_size)
    query = np.random.default_rng(1).standard_normal((B, m.query_size))
    mask = np.arange(T)[None, :] < LENGTHS[:, None]
    return m.step(query, memory, m.keys(memory), mask)[:2]


# (name, the module with non-default arguments, its forward on a float64 case)
CASES = [
    ("rnn", lambda: L.RNN(3, 5, num_layers=2, nonlinearity="relu", bias=False,
                          bidirectional=True, dtype=F64, seed=1, checkpoint_every=2,
                          dropout=0.3, recurrent_dropout=0.2, init="orthogonal"),
     lambda m: recurrent(m, 3)),
    ("lstm", lambda: L.LSTM(3, 4, num_layers=2, dtype=F64, seed=1, norm="layer", eps=1e-4,
                            forget_bias=1.0, dropout=0.1),
     lambda m: recurrent(m, 3)),
    ("gru", lambda: L.GRU(3, 4, bidirectional=True, dtype=F64, seed=1, chrono=10,
                          recurrent_dropout=0.25, checkpoint_every=3),
     lambda m: recurrent(m, 3)),
    ("linear", lambda: L.Linear(3, 2, bias=False, dtype=F64, seed=1), lambda m: m(x_of(3))),
    ("embedding", lambda: L.Embedding(7, 3, padding_idx=-2, dtype=F64, seed=1),
     lambda m: m(ids_of(7))),
    ("onehot", lambda: L.OneHot(5, dtype=F64), lambda m: m(ids_of(5))),
    ("layernorm", lambda: L.LayerNorm((2, 3), eps=1e-3, bias=False, dtype=F64),
     lambda m: m(x_of(6).reshape(B, T, 2, 3))),
    ("layernorm-plain", lambda: L.LayerNorm(4, elementwise_affine=False, dtype=F64),
     lambda m: m(x_of(4))),
    ("dropout", lambda: L.Dropout(0.3, dtype=F64, seed=1), lambda m: m(x_of(3))),
    ("tanh", lambda: L.Tanh(dtype=F64), lambda m: m(x_of(3))),
    ("relu", lambda: L.ReLU(), lambda m: m(x_of(3))),
    ("sigmoid", lambda: L.Sigmoid(dtype="float32"), lambda m: m(x_of(3))),
    ("laststep", lambda: L.LastStep(), lambda m: m(x_of(3), lengths=LENGTHS)),
    ("meanpool", lambda: L.MeanPool(), lambda m: m(x_of(3), lengths=LENGTHS)),
    ("additive", lambda: L.AdditiveAttention(4, attention_size=3, dtype=F64, seed=1),
     lambda m: m(x_of(4), lengths=LENGTHS)),
    ("dot", lambda: L.DotAttention(4, dtype=F64, seed=1), lambda m: m(x_of(4), lengths=LENGTHS)),
    ("positional", lambda: L.PositionalEncoding(5, max_len=20, dropout=0.2, dtype=F64, seed=1),
     lambda m: m(x_of(5))),
    ("mha", lambda: L.MultiheadAttention(6, 3, bias=False, dropout=0.1, dtype=F64, seed=1),
     lambda m: m(x_of(6), x_of(6, 1), x_of(6, 2))),
    ("encoder-layer", encoder_layer, lambda m: m(x_of(8))),
    ("encoder", lambda: L.TransformerEncoder(encoder_layer(), 3, norm=L.LayerNorm(8, dtype=F64)),
     lambda m: m(x_of(8), src_key_padding_mask=np.arange(T)[None, :] >= LENGTHS[:, None])),
    ("encoder-no-norm", lambda: L.TransformerEncoder(encoder_layer(), 2), lambda m: m(x_of(8))),
    ("sequence-transformer", lambda: SequenceTransformer(3, 8, 4, num_layers=2,
                                                         dim_feedforward=10, dropout=0.1,
                                                         causal=True, dtype=F64, seed=1),
     lambda m: m(x_of(3), lengths=LENGTHS)),
    ("hierarchical", lambda: L.HierarchicalRNN(3, 4, chunk=2, cell="gru", upper_hidden_size=5,
                                               num_layers=2, bidirectional=True,
                                               return_sequence=True, dtype=F64, seed=1,
                                               norm="layer", dropout=0.2,
                                               checkpoint_every=2),
     lambda m: recurrent(m, 3)),
    ("hierarchical-rnn", lambda: L.HierarchicalRNN(3, 4, chunk=3, cell="rnn",
                                                   nonlinearity="relu", bias=False, dtype=F64),
     lambda m: recurrent(m, 3)),
    ("seq2seq", lambda: L.Seq2Seq(3, 4, 6, cell="gru", attention="additive", num_layers=2,
                                  embedding_size=5, num_tokens=7, attention_size=3, dtype=F64,
                                  seed=1),
     lambda m: m(x_of(3), LENGTHS, ids_of(7))),
    ("seq2seq-general", lambda: L.Seq2Seq(3, 4, 6, cell="rnn", attention="general", dtype=F64),
     lambda m: m(x_of(3), LENGTHS, ids_of(5))),
    ("seq2seq-plain", lambda: L.Seq2Seq(3, 4, 6, attention=None, dtype=F64),
     lambda m: m(x_of(3), LENGTHS, ids_of(5))),
    ("query-additive", lambda: AdditiveQueryAttention(4, 5, 3, dtype=F64,
                                                      rng=np.random.default_rng(1)),
     query_step),
    ("query-dot", lambda: DotQueryAttention(4, 4, general=False, dtype=F64,
                                            rng=np.random.default_rng(1)),
     query_step),
    ("sequential", lambda: L.Sequential(L.LSTM(3, 4, dtype=F64, seed=1), L.Dropout(0.1),
                                        L.LastStep(), L.Linear(4, 2, dtype=F64, seed=2)),
     lambda m: m(x_of(3), lengths=LENGTHS)),
    ("nested", lambda: L.Sequential(L.Embedding(9, 4, dtype=F64),
                                    L.Sequential(L.GRU(4, 5, dtype=F64), L.Tanh()),
                                    L.MeanPool(), L.Linear(5, 3, dtype=F64)),
     lambda m: m(ids_of(9), lengths=LENGTHS)),
]


def flat(value):
    """Every array in a forward's result (tuples and pairs of states), in order."""
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in flat(v)]
    return [] if value is None else [np.asarray(value)]


def test_every_layer_type_has_a_case():
    covered = {type(m).__name__ for _, make, _ in CASES for _, m in make().named_modules()}
    assert {kind.cls.__name__ for kind in KINDS} <= covered


@pytest.mark.parametrize("name,make,run", CASES, ids=[c[0] for c in CASES])
def test_built_again_equal(name, make, run):
    module = make()
    spec = module_spec(module)
    assert json.loads(json.dumps(spec)) == spec  # plain JSON
    twin = build_module(json.loads(json.dumps(spec)))
    assert type(twin) is type(module)
    assert module_spec(twin) == spec
    drop_chrono = re.compile(r", chrono=\d+")  # init-only: not in the spec
    assert [(n, drop_chrono.sub("", repr(m))) for n, m in module.named_modules()] == \
        [(n, drop_chrono.sub("", repr(m))) for n, m in twin.named_modules()]
    ours, theirs = module.state_dict(), twin.state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape and ours[k].dtype == theirs[k].dtype
               for k in ours)
    twin.load_state_dict(ours)
    module.eval()
    twin.eval()
    expected, got = flat(run(module)), flat(run(twin))
    assert expected and len(expected) == len(got)
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)


def test_settings_that_change_training_are_kept():
    lstm = build_module(module_spec(L.LSTM(3, 4, num_layers=3, dropout=0.4, checkpoint_every=5,
                                           recurrent_dropout=0.1, norm="layer", eps=1e-3)))
    assert (lstm.dropout, lstm.recurrent_dropout, lstm.checkpoint_every, lstm.norm,
            lstm.eps) == (0.4, 0.1, 5, "layer", 1e-3)
    layer = build_module(module_spec(encoder_layer()))
    assert [m.p for m in (layer.dropout, layer.dropout1, layer.dropout2)] == [0.2] * 3
    assert layer.self_attn.dropout == 0.2 and layer.norm2.eps == 1e-6


def test_init_only_settings_do_not_change_the_spec():
    a = L.LSTM(3, 4, seed=1, forget_bias=1.0, init="orthogonal", init_hh="identity")
    b = L.LSTM(3, 4, seed=2)
    c = L.LSTM(3, 4, chrono=8)
    assert module_spec(a) == module_spec(b) == module_spec(c)


SPEC = {"type": "Sequential", "args": {}, "modules": [
    {"type": "LSTM", "args": module_spec(L.LSTM(3, 4))["args"]},
    {"type": "LastStep", "args": {"dtype": None}},
    {"type": "Linear", "args": {"in_features": 4, "out_features": 2, "bias": True,
                                "dtype": "float32"}}]}


def edited(path, value):
    """SPEC with the entry at ``path`` (keys and indices) set to ``value``, or removed."""
    spec = json.loads(json.dumps(SPEC))
    where = spec
    for key in path[:-1]:
        where = where[key]
    if value is KeyError:
        del where[path[-1]]
    else:
        where[path[-1]] = value
    return spec


@pytest.mark.parametrize("path,value,message", [
    (("modules", 1, "type"), "Foo", "spec['modules'][1]['type']: unknown module type 'Foo'"),
    (("type",), "os.system", "spec['type']: unknown module type 'os.system'"),
    (("type",), KeyError, "spec['type']: unknown module type None"),
    (("modules", 0, "type"), ["LSTM"], "spec['modules'][0]['type']: unknown module type"),
    (("modules", 2, "args", "activation"), "relu",
     "spec['modules'][2]['args']: unknown argument(s) ['activation'] of Linear"),
    (("modules", 2, "args", "bias"), KeyError,
     "spec['modules'][2]['args']: missing argument(s) ['bias'] of Linear"),
    (("modules", 0, "args", "hidden_size"), 0,
     "spec['modules'][0]: LSTM refuses its arguments: hidden_size must be a positive int"),
    (("modules", 0, "args", "bidirectional"), "yes",
     "spec['modules'][0]: LSTM refuses its arguments: bidirectional must be a bool"),
    (("modules", 0, "args", "dtype"), "object",
     "spec['modules'][0]['args']['dtype'] must be one of [None, 'float32', 'float64']"),
    (("modules", 1, "args"), [], "spec['modules'][1]['args'] must be a dict"),
    (("modules", 1), "LastStep", "spec['modules'][1] must be a module spec"),
    (("modules",), KeyError, "spec: missing field(s) ['modules'] of Sequential"),
    (("modules",), {"type": "LastStep"}, "spec['modules'] must be a list of module specs"),
    (("modules",), [], "spec: Sequential refuses its arguments: Sequential needs at least"),
    (("modules", 1, "modules"), [], "spec['modules'][1]: unknown field(s) ['modules']"),
])
def test_bad_specs_are_refused_naming_the_place(path, value, message):
    with pytest.raises(ValueError) as err:
        build_module(edited(path, value))
    assert message in str(err.value)


def test_not_a_dict_is_refused():
    with pytest.raises(ValueError, match=r"^spec must be a module spec"):
        build_module("Sequential")


def test_a_type_without_a_spec_is_refused_by_name():
    class MyLinear(L.Linear):
        pass

    with pytest.raises(TypeError, match=r"module\.modules\[1\] must be a module of "
                                        r"rnnlab\.layers .* got MyLinear"):
        module_spec(L.Sequential(L.Tanh(), MyLinear(2, 2)))


def test_a_higher_floor_adds_its_own_kinds():
    class Scaled(L.Module):
        def __init__(self, inner, factor):
            super().__init__(inner.dtype)
            self.inner, self.factor = inner, factor
            self._add_child("inner", inner)

    kind = ModuleKind(Scaled, ("factor",), ("inner",))
    spec = module_spec(Scaled(L.Linear(2, 3), 2.5), extra=[kind])
    assert spec == {"type": "Scaled", "args": {"factor": 2.5},
                    "inner": module_spec(L.Linear(2, 3))}
    built = build_module(spec, extra=[kind])
    assert isinstance(built, Scaled) and built.factor == 2.5
    with pytest.raises(ValueError, match="unknown module type 'Scaled'"):
        build_module(spec)
