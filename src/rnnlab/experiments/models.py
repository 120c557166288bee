"""The models the lab trains, built from a task and a few names: a recurrent layer (flat or
hierarchical), with a many-to-one head or attention pooling, an encoder-decoder with
attention for the sequence-to-sequence tasks, or a Transformer encoder.

Every model is a :class:`rnnlab.layers.Sequential` that takes ``forward(x, lengths)`` and
gives the task's prediction: (B, K), or (B, T, K) for a task with a target at every step.
"""

from __future__ import annotations

import numpy as np

from rnnlab.diagnostics import scale_recurrent_weights
from rnnlab.layers import (GRU, LSTM, RNN, AdditiveAttention, DotAttention, HierarchicalRNN,
                           LastStep, Linear, Sequential)
from rnnlab.layers.sequence_transformer import SequenceTransformer
from rnnlab.tasks.encoder_decoder import EncoderDecoder
from rnnlab.tasks.seq2seq import Seq2SeqTask

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}  # the recurrent cells
MODELS = tuple(CELLS) + ("transformer",)  # what RunConfig.cell may name
GATED = ("lstm", "gru")  # the cells chrono initialization applies to
NORMS = ("layer",)  # the values of RunConfig.norm, besides None
ATTENTIONS = ("additive", "dot")  # the values of RunConfig.attention, besides None
POOLING = {"additive": AdditiveAttention, "dot": DotAttention}
DEFAULT_HEADS = 4


def norm_cells() -> tuple:
    """The cells whose layer takes ``norm="layer"`` (the layer-normalized LSTM of Ba, Kiros
    & Hinton 2016; the others as their layers gain it)."""
    found = []
    for name, layer in CELLS.items():
        try:
            layer(1, 1, norm="layer", dtype="float64", seed=0)
        except (TypeError, ValueError):
            continue
        found.append(name)
    return tuple(found)


def encoder_decoder_task(task) -> bool:
    """Whether ``attention`` on ``task`` means an encoder-decoder (a sequence-to-sequence
    task), rather than attention pooling (one target per sequence)."""
    return isinstance(task, Seq2SeqTask)


def build_model(task, cell: str = "lstm", hidden_size: int = 64, num_layers: int = 1,
                nonlinearity: str = "tanh", forget_bias: float = 1.0, seed: int = 0,
                dtype: str = "float32", lambda_1: float | None = None,
                chrono: int | None = None, init_hh: str | None = None,
                norm: str | None = None, chunk: int | None = None, dropout: float = 0.0,
                recurrent_dropout: float = 0.0, attention: str | None = None,
                heads: int = DEFAULT_HEADS) -> Sequential:
    """The model ``cell`` names for ``task``:

    - a recurrent cell: cell -> (LastStep, unless the task wants an output per step) ->
      Linear head; with ``chunk``, HierarchicalRNN -> Linear head;
    - with ``attention`` ("additive": Bahdanau et al. 2015, "dot": Luong et al. 2015), on a
      task with one target per sequence, attention pooling over the cell's outputs instead
      of the last step; on a sequence-to-sequence task (reverse, sort, seq-copy), an
      encoder-decoder of that cell with that attention
      (:class:`rnnlab.tasks.encoder_decoder.EncoderDecoder`);
    - "transformer": a pre-norm Transformer encoder of width ``hidden_size``, ``heads``
      heads, ``num_layers`` layers and feed-forward width 2 ``hidden_size``
      (:class:`rnnlab.layers.sequence_transformer.SequenceTransformer`), causal on a task
      with a target at every step, then the head as for a cell; ``dropout`` is its own.

    ``lambda_1`` (rnn only) rescales every W_hh to that largest singular value; ``chrono``
    (lstm, gru) is chrono initialization's T_max, and an LSTM with it has no forget bias
    added; ``init_hh`` initializes W_hh ("identity" with a ReLU RNN is Le et al.'s IRNN);
    ``norm="layer"`` layer-normalizes the recurrence (Ba, Kiros & Hinton 2016); ``chunk`` = K
    builds a two-level model, a lower layer over each chunk of K steps and an upper one over
    the chunks (:class:`rnnlab.layers.HierarchicalRNN`; tasks with one target per sequence);
    ``dropout`` (between stacked layers) and ``recurrent_dropout`` (variational, on h_{t-1})
    are the recurrent layers' own, drawn from the model's seed, off in evaluation mode.
    """
    rng = np.random.default_rng(seed)
    head = [] if task.per_step else [LastStep()]
    if cell == "transformer":
        body = SequenceTransformer(task.input_size, hidden_size, heads, num_layers,
                                   dropout=dropout, causal=task.per_step, dtype=dtype, seed=rng)
        return Sequential(body, *head, Linear(hidden_size, task.output_size, dtype=dtype,
                                              seed=rng))
    if attention is not None and encoder_decoder_task(task):
        model = EncoderDecoder(task, hidden_size, cell, attention, num_layers, dtype=dtype,
                               seed=rng)
        if cell == "lstm" and forget_bias:
            for layer in (model.seq2seq.encoder, model.seq2seq.decoder):
                layer.add_forget_bias(forget_bias)
        return Sequential(model)
    kwargs = {"dtype": dtype, "seed": rng}
    if init_hh is not None:
        kwargs["init_hh"] = init_hh
    if cell == "rnn":
        kwargs["nonlinearity"] = nonlinearity
    if chrono is not None:
        kwargs["chrono"] = chrono
    elif cell == "lstm":
        kwargs["forget_bias"] = forget_bias
    if norm is not None:
        kwargs["norm"] = norm
    if dropout:
        kwargs["dropout"] = dropout
    if recurrent_dropout:
        kwargs["recurrent_dropout"] = recurrent_dropout
    if chunk is not None:
        if task.per_step:
            raise ValueError(f"chunk (a hierarchical model) needs a task with one target per "
                             f"sequence, got the {task.name} task")
        recurrent = HierarchicalRNN(task.input_size, hidden_size, chunk, cell,
                                    num_layers=num_layers, **kwargs)
        return Sequential(recurrent, Linear(hidden_size, task.output_size, dtype=dtype,
                                            seed=rng))
    recurrent = CELLS[cell](task.input_size, hidden_size, num_layers, **kwargs)
    if lambda_1 is not None:
        scale_recurrent_weights(recurrent, lambda_1)
    if attention is not None:
        if task.per_step:
            raise ValueError(f"attention pools a sequence into one output, or drives an "
                             f"encoder-decoder on a sequence-to-sequence task; the "
                             f"{task.name} task has neither form")
        head = [POOLING[attention](hidden_size, dtype=dtype, seed=rng)]
    return Sequential(recurrent, *head, Linear(hidden_size, task.output_size, dtype=dtype,
                                               seed=rng))

