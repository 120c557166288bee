"""Where a trained model looks: its attention weights on test sequences, as a PNG.

Two kinds of model have weights to show (:func:`rnnlab.experiments.models.build_model` with
``attention``): attention pooling over a recurrent layer's outputs, one weight per step
(B, T), whose question on the long-gap language task is whether the answer reads the
country, N words back; and an encoder-decoder, one weight per answer step and source step
(B, n, n), whose reversal should be the anti-diagonal.
"""

from __future__ import annotations

import numpy as np

from rnnlab.experiments.plots import _pyplot, _save
from rnnlab.layers import AdditiveAttention, DotAttention
from rnnlab.tasks.encoder_decoder import EncoderDecoder
from rnnlab.training.trainer import model_mode

SHOWN = 8  # sequences in the picture


def has_attention(model) -> bool:
    """Whether ``model`` (a Sequential) holds attention weights to show."""
    return any(isinstance(m, (AdditiveAttention, DotAttention, EncoderDecoder))
               for m in model.modules)


def attention_weights(model, x, lengths) -> tuple:
    """Run ``model`` in evaluation mode on x (B, T, F) and return ``(kind, weights)``:
    ("pooling", (B, T)) or ("encoder-decoder", (B, S, S), answer step by source step)."""
    with model_mode(model, training=False):
        model.forward(x, lengths=lengths)
    for module in model.modules:
        if isinstance(module, (AdditiveAttention, DotAttention)):
            return "pooling", module.weights
        if isinstance(module, EncoderDecoder):
            return "encoder-decoder", module.attention_weights
    raise ValueError("model has no attention to show: build it with attention "
                     "(rnnlab train --attention additive)")


def plot_attention(model, task, path, seed: int = 0, title: str = "") -> str:
    """Draw ``model``'s attention on test sequences of ``task`` drawn from ``seed`` (apart
    from the training stream) into the PNG ``path``; return the path."""
    data = task.generate(256, np.random.default_rng([seed, 9]))
    x = data.x.astype(model.dtype or np.float32)
    kind, weights = attention_weights(model, x, data.lengths)
    tokens = np.where(data.x.sum(-1) > 0, data.x.argmax(-1), -1)  # (B, T), -1 at padding
    if kind == "pooling":
        return _plot_pooling(weights, tokens, data.lengths, task, path, title)
    return _plot_encoder_decoder(weights, tokens, data.y, data.lengths, path, title)


def _plot_pooling(weights, tokens, lengths, task, path, title):
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5),
                                      gridspec_kw={"height_ratios": [1, 1.2]})
    shown = np.ma.masked_where(weights[:SHOWN] <= 0, weights[:SHOWN])
    image = top.imshow(shown, aspect="auto", cmap="viridis", interpolation="nearest")
    fig.colorbar(image, ax=top, label="attention weight")
    top.set_ylabel("test sequence")
    top.set_xlabel("step")
    top.set_title(f"Attention weights of {SHOWN} test sequences (blank: padding)")
    mean = weights.mean(axis=0)  # (T,)
    steps = np.arange(len(mean))
    bottom.semilogy(steps, np.maximum(mean, 1e-12), color="tab:blue", lw=1.2)
    bottom.set_xlabel("step")
    bottom.set_ylabel(f"mean weight over {len(weights)} sequences")
    marks = getattr(task, "marked_steps", None)
    for step, label in (marks() if marks is not None else []):
        for ax in (top, bottom):
            ax.axvline(step, color="tab:red", ls="--", lw=1)
        bottom.annotate(label, (step, mean[step]), textcoords="offset points", xytext=(6, 6),
                        color="tab:red")
    fig.suptitle(title or f"Where the model looks when it answers: {task.describe()}",
                 fontsize=10)
    return _save(fig, path)


def _plot_encoder_decoder(weights, tokens, targets, lengths, path, title):
    plt = _pyplot()
    order = np.argsort(-lengths, kind="stable")[:3]  # the three longest strings
    fig, axes = plt.subplots(1, len(order), figsize=(4.2 * len(order), 4.2), squeeze=False)
    for ax, k in zip(axes[0], order):
        n = int(lengths[k]) // 2
        alpha = weights[k, :n, :n]  # (answer step, source step)
        ax.imshow(alpha, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks(range(n), [str(t) for t in tokens[k, :n]], fontsize=7)
        ax.set_yticks(range(n), [str(t) for t in targets[k, n:2 * n]], fontsize=7)
        ax.set_xlabel("source symbol")
        ax.set_ylabel("answer symbol (the step's target)")
    fig.suptitle(title or "Attention of the decoder over the source (rows: answer steps)",
                 fontsize=10)
    return _save(fig, path)

