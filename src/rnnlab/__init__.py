"""rnnlab: recurrent neural networks with explicit, hand-written Backpropagation Through Time.

>>> import numpy as np, rnnlab
>>> lstm = rnnlab.LSTM(input_size=12, hidden_size=64, num_layers=2, seed=0)
>>> output, (h_n, c_n) = lstm(np.random.randn(8, 29, 12).astype(np.float32), lengths=lengths)
>>> dx, (dh0, dc0) = lstm.backward(d_output)
>>> lstm.grad_dict()["weight_hh_l0"].shape
(256, 64)
"""

from rnnlab.data import SequenceData, lengths_to_mask, pad_sequences, reverse_padded
from rnnlab.estimators import RNNClassifier, RNNRegressor
from rnnlab.layers import (GRU, LSTM, RNN, AdditiveAttention, DotAttention, Dropout, Embedding,
                           HierarchicalRNN, LastStep, LayerNorm, Linear, MeanPool, Module,
                           MultiheadAttention, OneHot, PositionalEncoding, ReLU, Seq2Seq,
                           Sequential, Sigmoid, Tanh, TransformerEncoder,
                           TransformerEncoderLayer, no_grad)
from rnnlab.losses import bce_with_logits, cross_entropy, mse_loss
from rnnlab.saved_model import load_model, save_model
from rnnlab.training import TrainConfig, Trainer, TrainingDiverged

__version__ = "0.1.0"

__all__ = [
    "RNN", "LSTM", "GRU", "Linear", "LastStep", "MeanPool", "Sequential", "Module",
    "Embedding", "OneHot", "LayerNorm", "Dropout", "Tanh", "ReLU", "Sigmoid", "HierarchicalRNN",
    "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder", "PositionalEncoding",
    "AdditiveAttention", "DotAttention", "Seq2Seq",
    "mse_loss", "bce_with_logits", "cross_entropy",
    "pad_sequences", "lengths_to_mask", "reverse_padded", "SequenceData",
    "Trainer", "TrainConfig", "TrainingDiverged", "RNNClassifier", "RNNRegressor",
    "save_model", "load_model", "no_grad",
]
