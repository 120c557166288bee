"""Stateful layers that own their parameters, gradients and caches."""

from rnnlab.layers.activations import ReLU, Sigmoid, Tanh
from rnnlab.layers.attention import MultiheadAttention
from rnnlab.layers.attention_pooling import AdditiveAttention, DotAttention
from rnnlab.layers.dropout import Dropout
from rnnlab.layers.embedding import Embedding, OneHot
from rnnlab.layers.hierarchical import HierarchicalRNN
from rnnlab.layers.linear import Linear
from rnnlab.layers.module import Module, is_grad_enabled, no_grad
from rnnlab.layers.norm import LayerNorm
from rnnlab.layers.pooling import LastStep, MeanPool
from rnnlab.layers.positional import PositionalEncoding
from rnnlab.layers.recurrent import GRU, LSTM, RNN
from rnnlab.layers.seq2seq import Seq2Seq
from rnnlab.layers.sequential import Sequential
from rnnlab.layers.transformer import TransformerEncoder, TransformerEncoderLayer

__all__ = ["Module", "no_grad", "is_grad_enabled", "RNN", "LSTM", "GRU", "Linear", "LastStep",
           "MeanPool", "Sequential", "Embedding", "OneHot", "LayerNorm", "Dropout", "Tanh",
           "ReLU", "Sigmoid",
           "HierarchicalRNN", "MultiheadAttention", "TransformerEncoderLayer",
           "TransformerEncoder", "PositionalEncoding", "AdditiveAttention", "DotAttention",
           "Seq2Seq"]
