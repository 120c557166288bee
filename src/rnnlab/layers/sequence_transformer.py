"""A Transformer encoder over a sequence of feature vectors, with lengths: the lab's
Transformer baseline, used as a recurrent layer is (``forward(x, lengths)``, ``Sequential``).

Shapes: B batch, T steps, I input_size, E d_model.

Notes
-----
Forward:  (1) u_t = W_in x_t + b_in                       ``input_proj``, (B, T, E)
          (2) u_t <- u_t + PE_t                           sinusoidal (Vaswani et al. 2017)
          (3) y = TransformerEncoder(u, padding mask, causal mask)     ``encoder``
Backward: (3) du = the encoder's backward,  (2) the identity,  (1) dx = du W_in, dW_in, db_in
where the padding mask (B, T) is True at the steps at or after each sequence's length (no
query attends to them) and, with ``causal=True``, step t attends to steps s <= t only, so
that an output at step t depends on x_1..x_t alone, as a recurrent layer's does: a model
trained on a task with a target at every step must not see the inputs that come later
(teacher-forced answers, in the sequence-to-sequence tasks). The encoder's layers are
pre-norm (``norm_first=True``, with a final LayerNorm), which trains without a warm-up of
the learning rate (Xiong et al. 2020).
"""

from __future__ import annotations

import numpy as np

from rnnlab._checks import boolean, float_array, lengths_array, positive_int
from rnnlab._checks import seed as check_seed
from rnnlab.backend import resolve_dtype
from rnnlab.data.padding import lengths_to_mask
from rnnlab.layers.linear import Linear
from rnnlab.layers.module import Module
from rnnlab.layers.norm import LayerNorm
from rnnlab.layers.positional import PositionalEncoding
from rnnlab.layers.transformer import TransformerEncoder, TransformerEncoderLayer


class SequenceTransformer(Module):
    """Input projection, positional encoding and a pre-norm Transformer encoder.

    Parameters
    ----------
    input_size : int
        I, features per step.
    d_model : int
        E, the width of the model (divisible by ``nhead``).
    nhead : int
        Attention heads.
    num_layers : int
        Encoder layers.
    dim_feedforward : int, optional
        The feed-forward width; 2 E by default (a Transformer layer then has about as many
        parameters as an LSTM of hidden size E / 1.2 with a small input).
    dropout : float in [0, 1)
        PyTorch's dropout places in every layer, and after the positional encoding.
    causal : bool
        Whether step t attends to steps s <= t only (see the module's Notes).
    dtype, seed : as every module's

    Parameters are named ``input_proj.*`` and ``encoder.layers.{i}.*``, ``encoder.norm.*``.
    """

    uses_lengths = True

    def __init__(self, input_size, d_model, nhead, num_layers=1, dim_feedforward=None,
                 dropout=0.0, causal=False, *, dtype=None, seed=None):
        dtype = resolve_dtype(dtype)
        super().__init__(dtype)
        self.input_size = positive_int(input_size, "input_size")
        self.d_model = positive_int(d_model, "d_model")
        self.nhead = positive_int(nhead, "nhead")
        self.num_layers = positive_int(num_layers, "num_layers")
        self.dim_feedforward = 2 * self.d_model if dim_feedforward is None else \
            positive_int(dim_feedforward, "dim_feedforward")
        self.causal = boolean(causal, "causal")
        rng = np.random.default_rng(check_seed(seed))
        self.input_proj = Linear(self.input_size, self.d_model, dtype=dtype, seed=rng)
        self.position = PositionalEncoding(self.d_model, dropout=dropout, dtype=dtype, seed=rng)
        layer = TransformerEncoderLayer(self.d_model, self.nhead, self.dim_feedforward, dropout,
                                        norm_first=True, dtype=dtype, seed=rng)
        self.encoder = TransformerEncoder(layer, self.num_layers,
                                          norm=LayerNorm(self.d_model, dtype=dtype), seed=rng)
        for name, child in (("input_proj", self.input_proj), ("position", self.position),
                            ("encoder", self.encoder)):
            self._add_child(name, child)

    def forward(self, x, lengths=None):
        """(B, T, I) -> (B, T, E); ``lengths`` (B,) marks the valid steps (all by default)."""
        x = float_array(x, "x", self.dtype, "(B, T, I)", ndim=3)
        batch, steps, features = x.shape
        if features != self.input_size:
            raise ValueError(f"x must have I = input_size = {self.input_size} features, "
                             f"got shape {x.shape}")
        padding = None
        if lengths is not None:
            lengths = lengths_array(lengths, batch, steps)
            if (lengths < steps).any():
                padding = ~lengths_to_mask(lengths, steps)  # (B, T) True at padding
        causal = np.triu(np.ones((steps, steps), dtype=bool), k=1) if self.causal else None
        u = self.position.forward(self.input_proj.forward(x))  # (1), (2)
        return self.encoder.forward(u, mask=causal, src_key_padding_mask=padding)  # (3)

    def backward(self, d_output):
        """dL/dy (B, T, E) -> dL/dx (B, T, I); the parameter gradients accumulate."""
        d_u = self.encoder.backward(d_output)  # (3)
        return self.input_proj.backward(self.position.backward(d_u))  # (2), (1)

    def __repr__(self) -> str:
        return (f"SequenceTransformer({self.input_size}, d_model={self.d_model}, "
                f"nhead={self.nhead}, num_layers={self.num_layers}, "
                f"dim_feedforward={self.dim_feedforward}, causal={self.causal}, "
                f"dtype={self.dtype.name})")
