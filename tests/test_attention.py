"""MultiheadAttention: agreement with torch.nn.MultiheadAttention in float64 (outputs, weights,
input and parameter gradients, weights moved both ways), central finite differences in train
mode with fixed dropout masks, PyTorch's initialization and parameter count, refused masks
and bad input."""

import warnings

import numpy as np
import pytest

from rnnlab.gradcheck import fixed_masks, numerical_gradient, relative_error
from rnnlab.layers.attention import MultiheadAttention

FD_TOL = 1e-6  # finite differences in float64
TORCH_TOL = 1e-10  # PyTorch in float64
E, B, L, S = 8, 3, 4, 6  # embed_dim, batch, target length, source length (L != S)


def rng(seed=0):
    return np.random.default_rng(seed)


def inputs(self_attention, seed=1):
    """(query, key, value): one array three times for self-attention, else L != S."""
    r = rng(seed)
    if self_attention:
        x = r.standard_normal((B, L, E))
        return x, x, x
    return r.standard_normal((B, L, E)), r.standard_normal((B, S, E)), \
        r.standard_normal((B, S, E))


def masks(kind, target, source, heads, seed=2):
    """(key_padding_mask, attn_mask) of a named kind; no query row is left without a key."""
    r = rng(seed)
    padding = np.zeros((B, source), dtype=bool)
    padding[1, source - 2:] = True  # the last two keys of batch element 1 are padding
    padding[2, 0] = True
    causal = np.triu(np.ones((target, source), dtype=bool), k=1)  # True: not allowed
    additive = r.standard_normal((target, source))
    additive[0, 1] = -np.inf  # -inf is allowed in a float mask
    per_head = r.random((B * heads, target, source)) < 0.3
    per_head[..., 0] = False  # key 0 is padding nowhere in "per_head" cases
    return {"none": (None, None),
            "padding": (padding, None),
            "bool": (None, causal),
            "float": (None, additive),
            "padding+bool": (padding * np.array([1, 1, 0])[:, None] > 0, causal),
            "padding+float": (padding, additive),
            "per_head": (None, per_head)}[kind]


def torch_twin(torch, ours, heads, bias=True):
    twin = torch.nn.MultiheadAttention(E, heads, bias=bias, batch_first=True,
                                       dtype=torch.float64)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return twin


def torch_run(torch, twin, query, key, value, padding, mask, r, self_attention):
    """Torch's (output, weights, d_query, d_key, d_value, {name: grad}); for self-attention
    one leaf tensor goes in three times, so its gradient is the sum of the three roles'."""
    twin.zero_grad(set_to_none=True)
    if self_attention:
        x = torch.tensor(query, requires_grad=True)
        tq = tk = tv = x
    else:
        tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (query, key, value))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mismatched bool padding and float attn_mask
        out, weights = twin(tq, tk, tv,
                            key_padding_mask=None if padding is None else torch.tensor(padding),
                            attn_mask=None if mask is None else torch.tensor(mask))
    (out * torch.tensor(r)).sum().backward()
    grads = {k: p.grad.numpy() for k, p in twin.named_parameters()}
    d = [t.grad.numpy() for t in (tq, tk, tv)]
    return out.detach().numpy(), weights.detach().numpy(), d, grads


def compare(torch, ours, twin, heads, kind, self_attention):
    """The worst relative error, ours against twin, over everything forward and backward."""
    query, key, value = inputs(self_attention)
    source = L if self_attention else S
    padding, mask = masks(kind, L, source, heads)
    r = rng(3).standard_normal((B, L, E))
    ours.zero_grad()
    out, weights = ours.forward(query, key, value, key_padding_mask=padding, attn_mask=mask)
    d = ours.backward(r)
    t_out, t_weights, t_d, t_grads = torch_run(torch, twin, query, key, value, padding, mask,
                                               r, self_attention)
    if self_attention:  # the documented convention: d_query is dL/dx, the others zero
        assert not d[1].any() and not d[2].any()
        d = [d[0]]
        t_d = t_d[:1]
    assert sorted(t_grads) == sorted(ours.grad_dict())
    grads = ours.grad_dict()
    errors = [relative_error(out, t_out), relative_error(weights, t_weights)]
    errors += [relative_error(a, b) for a, b in zip(d, t_d)]
    errors += [relative_error(grads[k], t_grads[k]) for k in t_grads]
    return max(errors)


@pytest.mark.parametrize("heads", [1, 2, 4])
@pytest.mark.parametrize("kind", ["none", "padding", "bool", "float", "padding+bool",
                                  "padding+float", "per_head"])
@pytest.mark.parametrize("self_attention", [False, True], ids=["cross", "self"])
def test_agrees_with_torch_both_ways(torch, heads, kind, self_attention):
    ours = MultiheadAttention(E, heads, dtype="float64", seed=0)
    twin = torch_twin(torch, ours, heads)  # our initial weights into torch
    err_ours_into_torch = compare(torch, ours, twin, heads, kind, self_attention)
    with torch.no_grad():  # and torch's, randomized (zero biases would hide mistakes), into ours
        for p in twin.parameters():
            p.copy_(torch.randn(p.shape, dtype=torch.float64, generator=torch.Generator()
                                .manual_seed(p.numel())))
    ours.load_state_dict(twin.state_dict())
    err_torch_into_ours = compare(torch, ours, twin, heads, kind, self_attention)
    print(f"heads={heads} {kind} self={self_attention}: {err_ours_into_torch:.2e}, "
          f"{err_torch_into_ours:.2e}")
    assert max(err_ours_into_torch, err_torch_into_ours) <= TORCH_TOL


@pytest.mark.parametrize("need_weights", [True, False])
def test_no_bias_and_need_weights_agree_with_torch(torch, need_weights):
    ours = MultiheadAttention(E, 2, bias=False, dtype="float64", seed=4)
    assert sorted(ours.state_dict()) == ["in_proj_weight", "out_proj.weight"]
    twin = torch_twin(torch, ours, 2, bias=False)
    query, key, value = inputs(False)
    out, weights = ours.forward(query, key, value, need_weights=need_weights)
    t_out, t_weights = twin(*(torch.tensor(a) for a in (query, key, value)),
                            need_weights=need_weights)
    assert (weights is None) == (not need_weights) == (t_weights is None)
    assert relative_error(out, t_out.detach().numpy()) <= TORCH_TOL


def test_names_counts_and_initialization_are_pytorchs(torch):
    ours = MultiheadAttention(64, 4, seed=0)
    twin = torch.nn.MultiheadAttention(64, 4, batch_first=True)
    assert list(ours.state_dict()) == list(twin.state_dict())
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in twin.state_dict().items()}
    assert ours.num_parameters() == sum(p.numel() for p in twin.parameters())
    params = ours.parameters()
    assert params["in_proj_weight"].dtype == np.float32
    assert not params["in_proj_bias"].any() and not params["out_proj.bias"].any()
    glorot = np.sqrt(6 / (64 + 3 * 64))  # xavier_uniform_ over the whole (3E, E) matrix
    w = params["in_proj_weight"]
    assert glorot * 0.98 < np.abs(w).max() <= glorot
    assert abs(w.std() - glorot / np.sqrt(3)) < 0.01 * glorot
    default = 1 / np.sqrt(64)  # Linear's default U(-1/sqrt(E), 1/sqrt(E))
    assert default * 0.98 < np.abs(params["out_proj.weight"]).max() <= default
    np.testing.assert_array_equal(w, MultiheadAttention(64, 4, seed=0).parameters()
                                  ["in_proj_weight"])


# -- finite differences, train mode, dropout masks fixed -------------------------------------
def fd_worst(model, arrays, run):
    """Worst relative error of model's backward against central differences, over every
    parameter and the named input ``arrays``, for L = sum(run()[0] * R)."""
    out = run()[0]
    r = rng(5).standard_normal(out.shape)
    model.zero_grad()
    run()
    d = model.backward(r)
    analytic = dict(model.grad_dict())
    if len(arrays) == 1:  # self-attention: d_query is the whole gradient
        analytic["x"] = d[0]
        assert not d[1].any() and not d[2].any()
    else:
        analytic.update(zip(arrays, d))
    targets = dict(model.parameters())
    targets.update(arrays)
    worst = {}
    for name, array in targets.items():
        numerical = numerical_gradient(lambda: float(np.sum(run()[0] * r)), array)
        worst[name] = relative_error(analytic[name], numerical)
    return max(worst.values()), worst


@pytest.mark.parametrize("self_attention", [False, True], ids=["cross", "self"])
@pytest.mark.parametrize("heads", [1, 2])
def test_train_mode_backward_matches_finite_differences(heads, self_attention):
    model = MultiheadAttention(4, heads, dropout=0.3, dtype="float64", seed=0)
    model.load_state_dict({k: rng(6).standard_normal(v.shape)
                           for k, v in model.state_dict().items()})
    r = rng(7)
    if self_attention:
        x = r.standard_normal((2, 3, 4))
        arrays = {"x": x}
        padding = np.array([[False, False, True], [False, False, False]])
        with fixed_masks(model):
            worst, each = fd_worst(model, arrays, lambda: model.forward(
                x, x, x, key_padding_mask=padding))
    else:
        arrays = {"query": r.standard_normal((2, 3, 4)), "key": r.standard_normal((2, 5, 4)),
                  "value": r.standard_normal((2, 5, 4))}
        mask = r.standard_normal((3, 5))
        with fixed_masks(model) as draws:
            worst, each = fd_worst(model, arrays, lambda: model.forward(
                *arrays.values(), attn_mask=mask))
            assert (draws.random((2, heads, 3, 5)) < 0.3).any()  # some weights were dropped
    print(f"heads={heads} self={self_attention}: worst relative error {worst:.2e} {each}")
    assert worst <= FD_TOL


def test_train_mode_drops_weights_and_eval_mode_does_not():
    model = MultiheadAttention(8, 2, dropout=0.5, dtype="float64", seed=0)
    query, key, value = inputs(False)
    first, w1 = model.forward(query, key, value)
    second, _ = model.forward(query, key, value)
    assert not np.allclose(first, second)  # a fresh mask each forward
    assert (w1 == 0).any()
    model.eval()
    assert not model.training and not model.out_proj.training  # children follow
    a, wa = model.forward(query, key, value)
    b, _ = model.forward(query, key, value)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(wa.sum(axis=-1), 1.0)
    plain = MultiheadAttention(8, 2, dtype="float64", seed=0)
    np.testing.assert_allclose(a, plain.forward(query, key, value)[0], rtol=0, atol=1e-14)
    model.train()
    assert model.training and model.out_proj.training


def test_float32_runs_in_float32():
    model = MultiheadAttention(8, 4, seed=0)
    query, key, value = (a.astype(np.float32) for a in inputs(False))
    out, weights = model.forward(query, key, value)
    d = model.backward(np.ones_like(out))
    assert out.dtype == weights.dtype == np.float32
    assert all(g.dtype == np.float32 for g in d)


# -- masked rows and bad input --------------------------------------------------------------
@pytest.mark.parametrize("which", ["padding", "attn_mask", "together", "float"])
def test_a_query_with_no_key_is_refused_not_nan(which):
    model = MultiheadAttention(8, 2, dtype="float64", seed=0)
    query, key, value = inputs(False)
    padding = np.zeros((B, S), dtype=bool)
    mask = np.zeros((L, S), dtype=bool)
    if which == "padding":
        padding[2] = True  # batch element 2 is all padding
    elif which == "attn_mask":
        mask[1] = True  # query 1 may attend to nothing
    elif which == "together":
        padding[0, :3] = True
        mask[:, 3:] = True  # each allows only what the other masks
    kwargs = {"key_padding_mask": padding, "attn_mask": mask}
    if which == "float":
        kwargs["attn_mask"] = np.where(mask | (np.arange(S) > -1), -np.inf, 0.0)
    with pytest.raises(ValueError, match="key_padding_mask and attn_mask leave .* no key"):
        model.forward(query, key, value, **kwargs)
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.ones((B, L, E)))  # refused before any work: nothing was kept


def test_torch_gives_nan_for_a_query_with_no_key(torch):
    """What the refusal avoids: PyTorch's need_weights path returns NaN there."""
    twin = torch.nn.MultiheadAttention(4, 2, batch_first=True, dtype=torch.float64)
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    padding = torch.tensor([[False, False, False], [True, True, True]])
    out, _ = twin(x, x, x, key_padding_mask=padding)
    assert torch.isnan(out[1]).all() and not torch.isnan(out[0]).any()


BAD_INIT = [
    (dict(embed_dim=10, num_heads=4), ValueError, "embed_dim must be divisible by num_heads"),
    (dict(embed_dim=0, num_heads=1), ValueError, "embed_dim"),
    (dict(embed_dim=8, num_heads=2.0), TypeError, "num_heads"),
    (dict(embed_dim=8, num_heads=2, dropout=1.0), ValueError, r"dropout must lie in \[0, 1\)"),
    (dict(embed_dim=8, num_heads=2, dropout=-0.1), ValueError, "dropout"),
    (dict(embed_dim=8, num_heads=2, dropout="0.1"), TypeError, "dropout"),
    (dict(embed_dim=8, num_heads=2, bias=1), TypeError, "bias"),
    (dict(embed_dim=8, num_heads=2, dtype="int32"), TypeError, "dtype"),
    (dict(embed_dim=8, num_heads=2, seed=-1), ValueError, "seed"),
]


@pytest.mark.parametrize("kwargs,error,match", BAD_INIT)
def test_bad_constructor_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        MultiheadAttention(**kwargs)


def bad_forward_cases():
    q, k, v = inputs(False)
    ok_padding = np.zeros((B, S), dtype=bool)
    return {
        "query last dim": (dict(query=q[..., :6]), ValueError, "query must have embed_dim = 8"),
        "query 2-D": (dict(query=q[0]), ValueError, "query must have 3 dimensions"),
        "query ints": (dict(query=q.astype(int)), TypeError, "query must be a float array"),
        "query NaN": (dict(query=np.full_like(q, np.nan)), ValueError, "query must be finite"),
        "key batch": (dict(key=k[:2], value=v[:2]), ValueError, r"key must have shape \(B, S, E\)"),
        "key embed": (dict(key=k[..., :4]), ValueError, r"key must have shape \(B, S, E\)"),
        "value shape": (dict(value=v[:, :5]), ValueError, "value must have shape"),
        "padding shape": (dict(key_padding_mask=np.zeros((B, L), dtype=bool)), ValueError,
                          r"key_padding_mask must have shape \(B, S\)"),
        "padding float": (dict(key_padding_mask=ok_padding.astype(float)), TypeError,
                          "key_padding_mask must be a bool array"),
        "mask shape": (dict(attn_mask=np.zeros((S, L), dtype=bool)), ValueError,
                       r"attn_mask must have shape \(L, S\)"),
        "mask 3-D shape": (dict(attn_mask=np.zeros((B, L, S), dtype=bool)), ValueError,
                           r"attn_mask must have shape \(L, S\) = \(4, 6\) or \(B\*h"),
        "mask ints": (dict(attn_mask=np.zeros((L, S), dtype=int)), TypeError,
                      "attn_mask must be a bool or float array"),
        "mask NaN": (dict(attn_mask=np.full((L, S), np.nan)), ValueError,
                     "attn_mask must hold finite numbers or -inf"),
        "mask +inf": (dict(attn_mask=np.full((L, S), np.inf)), ValueError,
                      "attn_mask must hold finite numbers or -inf"),
        "need_weights": (dict(need_weights=1), TypeError, "need_weights must be a bool"),
    }


@pytest.mark.parametrize("case", list(bad_forward_cases()))
def test_bad_forward_input_is_refused_before_any_work(case):
    changes, error, match = bad_forward_cases()[case]
    model = MultiheadAttention(E, 2, dropout=0.5, dtype="float64", seed=0)
    state = model.rng.bit_generator.state
    q, k, v = inputs(False)
    kwargs = dict(query=q, key=k, value=v)
    kwargs.update(changes)
    with pytest.raises(error, match=match):
        model.forward(**kwargs)
    assert model.rng.bit_generator.state == state  # no dropout mask was drawn
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.ones((B, L, E)))


def test_bad_backward_input_is_refused():
    model = MultiheadAttention(E, 2, dtype="float64", seed=0)
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.ones((B, L, E)))
    model.forward(*inputs(False))
    with pytest.raises(ValueError, match=r"d_attn_output must have shape \(B, L, E\)"):
        model.backward(np.ones((B, S, E)))
    model.backward(np.ones((B, L, E)))  # the bad call kept the cache for a good one
    with pytest.raises(RuntimeError, match="twice"):
        model.backward(np.ones((B, L, E)))
