"""TransformerEncoderLayer, TransformerEncoder and PositionalEncoding: agreement with PyTorch in
float64 (both norm_first forms, ReLU and GELU, padding and attention masks, weights moved both
ways), central finite differences in train mode with fixed dropout masks, parameter names
and counts, train / evaluation modes, and bad input."""

import math

import numpy as np
import pytest

from rnnlab.gradcheck import fixed_masks, numerical_gradient, relative_error
from rnnlab.layers.norm import LayerNorm
from rnnlab.layers.positional import PositionalEncoding
from rnnlab.layers.transformer import TransformerEncoder, TransformerEncoderLayer

FD_TOL = 1e-6  # finite differences in float64
TORCH_TOL = 1e-10  # PyTorch in float64
E, HEADS, FF, B, T = 8, 2, 12, 3, 5


def rng(seed=0):
    return np.random.default_rng(seed)


def randomized(state, seed):
    """Random weights of the shapes of ``state``: ones and zeros (LayerNorm, biases) would
    hide mistakes."""
    return {k: rng(seed + n).standard_normal(v.shape) for n, (k, v) in enumerate(state.items())}


def padding_mask():
    padding = np.zeros((B, T), dtype=bool)
    padding[1, 3:] = True  # batch element 1 has 3 valid steps, element 2 has 4
    padding[2, 4] = True
    return padding


def torch_run(torch, twin, x, r, **masks):
    """Torch's (output, dL/dx, {name: grad}) for L = sum(out * r)."""
    twin.zero_grad(set_to_none=True)
    tx = torch.tensor(x, requires_grad=True)
    out = twin(tx, **{k: None if v is None else torch.tensor(v) for k, v in masks.items()})
    (out * torch.tensor(r)).sum().backward()
    return out.detach().numpy(), tx.grad.numpy(), {k: p.grad.numpy()
                                                   for k, p in twin.named_parameters()}


def worst_error(ours, x, r, t_out, t_dx, t_grads, **masks):
    """Ours run on (x, masks) with dL/dy = r, against torch's results; the worst error."""
    ours.zero_grad()
    out = ours.forward(x, **masks)
    dx = ours.backward(r)
    grads = ours.grad_dict()
    assert sorted(grads) == sorted(t_grads)
    return max([relative_error(out, t_out), relative_error(dx, t_dx)]
               + [relative_error(grads[k], t_grads[k]) for k in t_grads])


def causal(steps):
    """PyTorch's float causal mask: 0 on and below the diagonal, -inf above."""
    return np.triu(np.full((steps, steps), -np.inf), k=1)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("masking", ["none", "padding", "causal", "padding+bool"])
def test_layer_agrees_with_torch_both_ways(torch, norm_first, activation, masking):
    ours = TransformerEncoderLayer(E, HEADS, FF, dropout=0.0, activation=activation,
                                   norm_first=norm_first, dtype="float64", seed=0)
    twin = torch.nn.TransformerEncoderLayer(E, HEADS, FF, dropout=0.0, activation=activation,
                                            norm_first=norm_first, batch_first=True,
                                            dtype=torch.float64)
    # train mode (and inputs that require grad): torch runs its normal path, not the
    # inference fast path, whose outputs differ at padded steps
    twin.train()
    masks = {"none": {}, "padding": {"src_key_padding_mask": padding_mask()},
             "causal": {"src_mask": causal(T)},
             "padding+bool": {"src_key_padding_mask": padding_mask(),
                              "src_mask": np.isinf(causal(T))}}[masking]
    x, r = rng(1).standard_normal((B, T, E)), rng(2).standard_normal((B, T, E))
    errors = []
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    errors.append(worst_error(ours, x, r, *torch_run(torch, twin, x, r, **masks), **masks))
    twin.load_state_dict({k: torch.from_numpy(v)
                          for k, v in randomized(ours.state_dict(), 10).items()})
    ours.load_state_dict(twin.state_dict())  # torch's weights into ours
    errors.append(worst_error(ours, x, r, *torch_run(torch, twin, x, r, **masks), **masks))
    print(f"{activation} norm_first={norm_first} {masking}: {errors[0]:.2e}, {errors[1]:.2e}")
    assert max(errors) <= TORCH_TOL


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_two_layer_encoder_with_padding_agrees_with_torch(torch, norm_first):
    layer = TransformerEncoderLayer(E, HEADS, FF, dropout=0.0, activation="gelu",
                                    norm_first=norm_first, dtype="float64", seed=0)
    ours = TransformerEncoder(layer, 2, norm=LayerNorm(E, dtype="float64"))
    t_layer = torch.nn.TransformerEncoderLayer(E, HEADS, FF, dropout=0.0, activation="gelu",
                                               norm_first=norm_first, batch_first=True,
                                               dtype=torch.float64)
    # enable_nested_tensor=False and train mode: torch takes its normal path (the nested-tensor
    # fast path is for inference only and returns zeros at padded steps), which computes the
    # padded steps like any other, as ours does; so every position is compared
    twin = torch.nn.TransformerEncoder(t_layer, 2, norm=torch.nn.LayerNorm(E, dtype=torch.float64),
                                       enable_nested_tensor=False).train()
    assert list(ours.state_dict()) == list(twin.state_dict())
    assert ours.num_parameters() == sum(p.numel() for p in twin.parameters())
    state = randomized(ours.state_dict(), 20)
    ours.load_state_dict(state)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    x, r = rng(3).standard_normal((B, T, E)), rng(4).standard_normal((B, T, E))
    masks = {"src_key_padding_mask": padding_mask(), "mask": np.isinf(causal(T))}  # both bool
    err = worst_error(ours, x, r, *torch_run(torch, twin, x, r, **masks), **masks)
    twin.load_state_dict({k: torch.from_numpy(v)
                          for k, v in randomized(ours.state_dict(), 40).items()})
    ours.load_state_dict(twin.state_dict())
    err = max(err, worst_error(ours, x, r, *torch_run(torch, twin, x, r, **masks), **masks))
    print(f"encoder norm_first={norm_first}: worst relative error {err:.2e}")
    assert err <= TORCH_TOL


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_torch_fast_path_agrees_at_valid_steps_and_zeros_padded_ones(torch):
    """PyTorch's inference fast path (eval mode, no grad, nested tensors) agrees at the
    valid steps; at padded steps it returns zeros where ours (and torch's normal path)
    computes them like any other, as the module docstring says."""
    ours = TransformerEncoder(TransformerEncoderLayer(E, HEADS, FF, dropout=0.0,
                                                      dtype="float64", seed=0), 2)
    twin = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(
        E, HEADS, FF, dropout=0.0, batch_first=True, dtype=torch.float64), 2).eval()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x, padding = rng(21).standard_normal((B, T, E)), padding_mask()
    with torch.inference_mode():
        fast = twin(torch.tensor(x), src_key_padding_mask=torch.tensor(padding)).numpy()
    out = ours.eval().forward(x, src_key_padding_mask=padding)
    assert relative_error(out[~padding], fast[~padding]) <= TORCH_TOL
    assert not fast[padding].any() and np.abs(out[padding]).min() > 0


def test_encoder_layers_are_independent_copies():
    layer = TransformerEncoderLayer(E, HEADS, FF, dropout=0.5, dtype="float64", seed=0)
    encoder = TransformerEncoder(layer, 3)
    params = encoder.parameters()
    names = [k for k in params if k.endswith("linear1.weight")]
    assert names == [f"layers.{i}.linear1.weight" for i in range(3)]
    first, second = params["layers.0.linear1.weight"], params["layers.1.linear1.weight"]
    np.testing.assert_array_equal(first, layer.parameters()["linear1.weight"])
    np.testing.assert_array_equal(first, second)  # same start, as PyTorch's _get_clones
    assert first is not second and first is not layer.parameters()["linear1.weight"]
    draws = [m.rng.random(4) for _, m in encoder.named_modules() if hasattr(m, "rng")]
    assert len(draws) == 3 * 4  # self_attn, dropout, dropout1, dropout2 in each layer
    assert len({d.tobytes() for d in draws}) == len(draws)  # each its own masks
    x = rng(5).standard_normal((B, T, E))
    encoder.forward(x)
    encoder.backward(rng(6).standard_normal((B, T, E)))
    grads = encoder.grad_dict()
    assert not np.allclose(grads["layers.0.linear1.weight"], grads["layers.1.linear1.weight"])


def test_encoder_dtype_and_seed_keywords():
    layer = TransformerEncoderLayer(E, HEADS, FF, dropout=0.5, dtype="float64", seed=0)

    def draws(encoder):
        return [m.rng.random(3) for _, m in encoder.named_modules() if hasattr(m, "rng")]

    one = draws(TransformerEncoder(layer, 2, dtype="float64", seed=7))
    assert np.array_equal(one, draws(TransformerEncoder(layer, 2, seed=7)))  # seeded
    assert not np.array_equal(one, draws(TransformerEncoder(layer, 2, seed=8)))
    assert TransformerEncoder(layer, 2).dtype == np.float64


def test_names_and_counts_are_pytorchs(torch):
    for norm_first in (False, True):
        ours = TransformerEncoderLayer(64, 4, 256, norm_first=norm_first, seed=0)
        twin = torch.nn.TransformerEncoderLayer(64, 4, 256, batch_first=True,
                                                norm_first=norm_first)
        assert list(ours.state_dict()) == list(twin.state_dict())
        assert {k: v.shape for k, v in ours.state_dict().items()} == \
            {k: tuple(v.shape) for k, v in twin.state_dict().items()}
        assert ours.num_parameters() == sum(p.numel() for p in twin.parameters())
    assert PositionalEncoding(64).num_parameters() == 0


# -- finite differences, train mode, dropout masks fixed -------------------------------------
def fd_worst(model, x, **kwargs):
    """Worst relative error of backward against central differences over every parameter and
    x, for L = sum(forward(x) * R)."""
    r = rng(6).standard_normal(model.forward(x, **kwargs).shape)
    model.zero_grad()
    model.forward(x, **kwargs)
    dx = model.backward(r)
    analytic = dict(model.grad_dict(), x=dx)
    targets = dict(model.parameters())
    targets["x"] = x
    errors = {name: relative_error(analytic[name], numerical_gradient(
        lambda: float(np.sum(model.forward(x, **kwargs) * r)), array))
        for name, array in targets.items()}
    return max(errors.values()), errors


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_layer_train_mode_backward_matches_finite_differences(norm_first, activation):
    layer = TransformerEncoderLayer(4, 2, 6, dropout=0.25, activation=activation,
                                    norm_first=norm_first, dtype="float64", seed=0)
    layer.load_state_dict(randomized(layer.state_dict(), 30))
    x = rng(7).standard_normal((2, 3, 4))
    padding = np.array([[False, False, True], [False, False, False]])
    with fixed_masks(layer) as draws:
        worst, errors = fd_worst(layer, x, src_key_padding_mask=padding)
        assert (draws.random((2, 3, 4)) < 0.25).any()  # some elements were dropped
    print(f"{activation} norm_first={norm_first}: worst relative error {worst:.2e}")
    assert worst <= FD_TOL, errors


def test_encoder_train_mode_backward_matches_finite_differences():
    layer = TransformerEncoderLayer(4, 2, 6, dropout=0.25, activation="gelu",
                                    dtype="float64", seed=0)
    encoder = TransformerEncoder(layer, 2, norm=LayerNorm(4, dtype="float64"))
    encoder.load_state_dict(randomized(encoder.state_dict(), 50))
    x = rng(8).standard_normal((2, 3, 4))
    with fixed_masks(encoder):
        worst, errors = fd_worst(encoder, x, mask=causal(3))
    print(f"encoder: worst relative error {worst:.2e}")
    assert worst <= FD_TOL, errors


def test_positional_encoding_table_forward_and_backward(torch):
    pe = PositionalEncoding(6, max_len=50, dtype="float64")
    # the table of the PyTorch tutorial ("Language modeling with nn.Transformer")
    position = torch.arange(50, dtype=torch.float64).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, 6, 2, dtype=torch.float64) * (-math.log(10000.0) / 6))
    table = torch.zeros(50, 6, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * div_term)
    table[:, 1::2] = torch.cos(position * div_term)
    x = rng(9).standard_normal((2, 7, 6))
    y = pe.forward(x)
    assert relative_error(y - x, np.broadcast_to(table[:7].numpy(), x.shape)) <= 1e-15
    d = rng(10).standard_normal(y.shape)
    np.testing.assert_array_equal(pe.backward(d), d)
    odd = PositionalEncoding(5, max_len=8).forward(np.zeros((1, 8, 5)))
    np.testing.assert_allclose(odd[0, :, 4], np.sin(np.arange(8) * 10000.0 ** (-4 / 5)))


def test_positional_encoding_dropout_matches_finite_differences():
    pe = PositionalEncoding(4, max_len=10, dropout=0.5, dtype="float64", seed=0)
    x = rng(11).standard_normal((2, 3, 4))
    with fixed_masks(pe):
        worst, _ = fd_worst(pe, x)
        assert (pe.forward(x) == 0).any()
    assert worst <= FD_TOL
    pe.eval()
    np.testing.assert_array_equal(pe.forward(x), pe.forward(x))


def test_eval_and_train_propagate_and_switch_dropout():
    layer = TransformerEncoderLayer(E, HEADS, FF, dropout=0.3, dtype="float64", seed=0)
    encoder = TransformerEncoder(layer, 2)
    x = rng(12).standard_normal((B, T, E))
    assert not np.allclose(encoder.forward(x), encoder.forward(x))  # fresh masks
    encoder.eval()
    assert all(not m.training for _, m in encoder.named_modules())
    a = encoder.forward(x)
    np.testing.assert_array_equal(a, encoder.forward(x))
    plain = TransformerEncoder(TransformerEncoderLayer(E, HEADS, FF, dropout=0.0,
                                                       dtype="float64", seed=0), 2)
    np.testing.assert_allclose(a, plain.forward(x), rtol=0, atol=1e-13)
    encoder.train()
    assert all(m.training for _, m in encoder.named_modules())


def test_float32_layer_runs_in_float32():
    layer = TransformerEncoderLayer(E, HEADS, FF, activation="gelu", seed=0)
    x = rng(13).standard_normal((B, T, E)).astype(np.float32)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grad_dict().values())
    double = TransformerEncoderLayer(E, HEADS, FF, activation="gelu", dtype="float64", seed=0)
    double.load_state_dict(layer.state_dict())
    double.eval()
    layer.eval()
    assert relative_error(layer.forward(x), double.forward(x.astype(np.float64))) < 1e-5


# -- bad input ------------------------------------------------------------------------------
BAD_LAYER = [
    (dict(d_model=10, nhead=4), ValueError, "d_model must be divisible by nhead"),
    (dict(d_model=8, nhead=0), ValueError, "nhead"),
    (dict(d_model=8, nhead=2, dim_feedforward=0), ValueError, "dim_feedforward"),
    (dict(d_model=8, nhead=2, dropout=1.0), ValueError, r"dropout must lie in \[0, 1\)"),
    (dict(d_model=8, nhead=2, activation="tanh"), ValueError, "activation must be one of"),
    (dict(d_model=8, nhead=2, layer_norm_eps=0.0), ValueError, "layer_norm_eps"),
    (dict(d_model=8, nhead=2, norm_first="yes"), TypeError, "norm_first must be a bool"),
    (dict(d_model=8, nhead=2, dtype="float16"), TypeError, "dtype"),
]


@pytest.mark.parametrize("kwargs,error,match", BAD_LAYER)
def test_bad_layer_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        TransformerEncoderLayer(**kwargs)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(encoder_layer=LayerNorm(4), num_layers=2), TypeError, "encoder_layer must be"),
    (dict(num_layers=0), ValueError, "num_layers"),
    (dict(num_layers=2, norm="layer"), TypeError, "norm must be None or an rnnlab Module"),
    (dict(num_layers=2, norm=LayerNorm(8, dtype="float32")), ValueError, "norm must have"),
    (dict(num_layers=2, dtype="float32"), ValueError, "dtype"),
    (dict(num_layers=2, seed=-1), ValueError, "seed"),
])
def test_bad_encoder_arguments_are_refused(kwargs, error, match):
    kwargs.setdefault("encoder_layer", TransformerEncoderLayer(8, 2, dtype="float64"))
    with pytest.raises(error, match=match):
        TransformerEncoder(**kwargs)


def bad_forward_cases():
    x = rng(14).standard_normal((B, T, E))
    all_padding = padding_mask()
    all_padding[0] = True
    return {
        "src last dim": (dict(src=x[..., :6]), ValueError, "src must have d_model = 8"),
        "src 2-D": (dict(src=x[0]), ValueError, "src must have 3 dimensions"),
        "padding shape": (dict(src_key_padding_mask=np.zeros((B, T + 1), dtype=bool)),
                          ValueError, r"src_key_padding_mask must have shape \(B, S\)"),
        "padding float": (dict(src_key_padding_mask=np.zeros((B, T))), TypeError,
                          "src_key_padding_mask must be a bool array"),
        "mask shape": (dict(src_mask=np.zeros((T, T + 1), dtype=bool)), ValueError,
                       r"src_mask must have shape \(L, S\)"),
        "sequence all padding": (dict(src_key_padding_mask=all_padding), ValueError,
                                 "src_key_padding_mask and src_mask leave 5 query row"),
    }


@pytest.mark.parametrize("case", list(bad_forward_cases()))
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_bad_layer_forward_input_is_refused_before_any_work(case, norm_first):
    changes, error, match = bad_forward_cases()[case]
    layer = TransformerEncoderLayer(E, HEADS, FF, norm_first=norm_first, dtype="float64")
    kwargs = dict(src=rng(14).standard_normal((B, T, E)))
    kwargs.update(changes)
    with pytest.raises(error, match=match):
        layer.forward(**kwargs)
    assert all(m._cache is None for _, m in layer.named_modules())  # nothing ran


def test_bad_encoder_forward_input_names_its_own_arguments():
    encoder = TransformerEncoder(TransformerEncoderLayer(E, HEADS, FF, dtype="float64"), 2)
    x = rng(15).standard_normal((B, T, E))
    with pytest.raises(ValueError, match=r"mask must have shape \(L, S\)"):
        encoder.forward(x, mask=np.zeros((T, 2), dtype=bool))
    with pytest.raises(ValueError, match=r"src_key_padding_mask must have shape"):
        encoder.forward(x, src_key_padding_mask=np.zeros((B, 2), dtype=bool))
    assert all(m._cache is None for _, m in encoder.named_modules())


@pytest.mark.parametrize("kwargs,match", [
    (dict(d_model=0), "d_model"), (dict(d_model=4, max_len=0), "max_len"),
    (dict(d_model=4, dropout=1.5), r"dropout must lie in \[0, 1\)"),
])
def test_bad_positional_encoding_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PositionalEncoding(**kwargs)


def test_positional_encoding_refuses_bad_x():
    pe = PositionalEncoding(4, max_len=6)
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, E\) with T <= max_len = 6"):
        pe.forward(np.zeros((1, 7, 4)))
    with pytest.raises(ValueError, match="E = d_model = 4"):
        pe.forward(np.zeros((1, 3, 5)))
    with pytest.raises(RuntimeError, match="before forward"):
        pe.backward(np.zeros((1, 3, 4)))
    pe.forward(np.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match="d_output must have shape"):
        pe.backward(np.zeros((1, 4, 4)))


def test_layer_backward_refuses_bad_input():
    layer = TransformerEncoderLayer(E, HEADS, FF, dtype="float64")
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((B, T, E)))
    layer.forward(rng(16).standard_normal((B, T, E)))
    with pytest.raises(ValueError, match=r"d_output must have shape \(B, T, E\)"):
        layer.backward(np.ones((B, T + 1, E)))
