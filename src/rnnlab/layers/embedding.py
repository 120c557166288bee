"""Token ids into vectors: a learned lookup table, one vector per index, like
``torch.nn.Embedding``, and the fixed one-hot code (``torch.nn.functional.one_hot``, as
floats).

Shapes: N any dimensions of the integer input (e.g. B, T), V num_embeddings (or num_classes),
D embedding_dim.

Notes
-----
Forward:  (1) y[n] = W[x[n]]
Backward: (1) dW[v] = sum over n with x[n] = v of dy[n], for v != padding_idx;
              dW[padding_idx] = 0
where x (N...) holds indices in [0, V), W (V, D) is the weight and y (N..., D) the output.
An index that appears k times gets the sum of its k gradients (``np.add.at``). The input has
no gradient: backward returns None. The one-hot code is (1) with W the identity (V, V), fixed.
"""

from __future__ import annotations

import numpy as np

from rnnlab._checks import expect_shape, float_array, positive_int
from rnnlab._checks import seed as check_seed
from rnnlab.backend import get_xp, resolve_dtype
from rnnlab.layers.module import Module


class TokenInput(Module):
    """A module that takes integer token ids (Embedding, OneHot): as the first module of a
    :class:`~rnnlab.layers.Sequential`, it takes ids (B, T) and passes (B, T, D) on;
    ``lengths`` then describe the (B, T) ids."""

    steps_pointwise = True  # step: the forward of one step (see Module.step)
    size_name = "num_classes"  # what the error messages call V

    def __init__(self, classes: int, dtype):
        super().__init__(resolve_dtype(dtype))
        self.classes = positive_int(classes, self.size_name)

    def indices(self, x, shape_doc: str = "(...)", ndim: int | None = None):
        """``x`` as an integer array of indices in [0, V), or raise naming it."""
        get_xp(x)  # refuses a GPU array with a message
        x = np.asarray(x)
        if x.dtype.kind not in "iu":  # floats, bools and anything else are refused
            raise TypeError(f"x must be an integer array of indices {shape_doc}, "
                            f"got dtype {x.dtype}")
        if ndim is not None and x.ndim != ndim:
            raise ValueError(f"x must have {ndim} dimensions {shape_doc}, got shape {x.shape}")
        if x.size and (x.min() < 0 or x.max() >= self.classes):
            raise ValueError(f"x must hold indices in [0, {self.size_name}) = "
                             f"[0, {self.classes}), got min {x.min()} and max {x.max()}")
        return x


class Embedding(TokenInput):
    """y = W[x]: each integer index in x becomes the row of W it names.

    Parameters
    ----------
    num_embeddings, embedding_dim : int
        V and D.
    padding_idx : int, optional
        An index whose row starts at zero and gets no gradient (a padding token); negative
        values count from the end, as in PyTorch.
    dtype : float32 or float64
    seed : int or numpy.random.Generator, optional
        W is drawn from N(0, 1), as in PyTorch.

    Notes
    -----
    As the first module of a :class:`~rnnlab.layers.Sequential`, it takes token ids (B, T)
    and passes (B, T, D) on; ``lengths`` then describe the (B, T) ids.
    """

    size_name = "num_embeddings"

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, *, dtype=None,
                 seed=None):
        super().__init__(num_embeddings, dtype)
        self.num_embeddings = self.classes
        self.embedding_dim = positive_int(embedding_dim, "embedding_dim")
        self.padding_idx = None if padding_idx is None else self._padding_idx(padding_idx)
        rng = np.random.default_rng(check_seed(seed))  # an int, None, or a Generator as is
        weight = rng.standard_normal((self.num_embeddings, self.embedding_dim))
        weight = weight.astype(self.dtype)
        if self.padding_idx is not None:
            weight[self.padding_idx] = 0
        self._add_parameter("weight", weight)

    def _padding_idx(self, value) -> int:
        """``value`` as an index in [0, V), counting a negative one from the end."""
        v = self.num_embeddings
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"padding_idx must be None or an int, got "
                            f"{type(value).__name__} {value!r}")
        if not -v <= value < v:
            raise ValueError(f"padding_idx must lie in [-num_embeddings, num_embeddings) = "
                             f"[{-v}, {v}), got {value}")
        return int(value) % v

    def forward(self, x):
        """(N...) int -> (N..., D)."""
        x = self.indices(x)
        self._save_for_backward(x)
        return self._params["weight"][x]  # (1)

    def backward(self, d_output):
        """Accumulate dW (the padding row's stays zero); return None (indices have none)."""
        x = self._saved()
        d_output = float_array(d_output, "d_output", self.dtype, "(..., embedding_dim)")
        expect_shape(d_output, "d_output", x.shape + (self.embedding_dim,), "(N..., D)")
        self._mark_read()
        index = x.reshape(-1)  # (n,)
        d_rows = d_output.reshape(-1, self.embedding_dim)  # (n, D)
        if self.padding_idx is not None:
            keep = index != self.padding_idx
            index, d_rows = index[keep], d_rows[keep]
        np.add.at(self._grads["weight"], index, d_rows)  # (1)
        return None

    def __repr__(self) -> str:
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return (f"Embedding({self.num_embeddings}, {self.embedding_dim}{padding}, "
                f"dtype={self.dtype.name})")


class OneHot(TokenInput):
    """y = e_x: each integer index in x becomes the one-hot vector of its class (a fixed
    code: no parameters, no gradient to the ids).

    Parameters
    ----------
    num_classes : int
        V, the length of each vector.
    dtype : float32 or float64
    """

    def __init__(self, num_classes, *, dtype=None):
        super().__init__(num_classes, dtype)
        self.num_classes = self.classes

    def forward(self, x):
        """(N...) int -> (N..., V)."""
        x = self.indices(x)
        self._save_for_backward(x.shape)
        return np.eye(self.classes, dtype=self.dtype)[x]

    def backward(self, d_output):
        """Check ``d_output``; return None (indices have no gradient, the code no weights)."""
        shape = self._saved()
        d_output = float_array(d_output, "d_output", self.dtype, "(..., num_classes)")
        expect_shape(d_output, "d_output", shape + (self.classes,), "(N..., V)")
        self._mark_read()
        return None

    def __repr__(self) -> str:
        return f"OneHot({self.classes}, dtype={self.dtype.name})"
