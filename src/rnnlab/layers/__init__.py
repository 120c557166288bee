"""Stateful layers that own their parameters, gradients and caches."""

from rnnlab.layers.linear import Linear
from rnnlab.layers.module import Module
from rnnlab.layers.pooling import LastStep, MeanPool
from rnnlab.layers.recurrent import GRU, LSTM, RNN
from rnnlab.layers.sequential import Sequential

__all__ = ["Module", "RNN", "LSTM", "GRU", "Linear", "LastStep", "MeanPool", "Sequential"]
