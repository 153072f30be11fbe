"""Layers: plain classes whose numpy array attributes are the parameters, named like
PyTorch's, each called with ``layer(x)``."""

from avalon.nn.layers.activation import (
    ELU,
    GELU,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Softsign,
    Tanh,
)
from avalon.nn.layers.attention import MultiheadAttention
from avalon.nn.layers.containers import Flatten, Identity, ModuleDict, ModuleList, Sequential
from avalon.nn.layers.conv import Conv1d, Conv2d, Conv3d
from avalon.nn.layers.dropout import Dropout
from avalon.nn.layers.embedding import Embedding
from avalon.nn.layers.linear import Linear
from avalon.nn.layers.norm import BatchNorm1d, BatchNorm2d, BatchNorm3d, LayerNorm
from avalon.nn.layers.pooling import (
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
)
from avalon.nn.layers.recurrent import GRU, LSTM, RNN

__all__ = [
    "ELU", "GELU", "GRU", "LSTM", "RNN", "AvgPool1d", "AvgPool2d", "AvgPool3d", "BatchNorm1d",
    "BatchNorm2d", "BatchNorm3d", "Conv1d", "Conv2d", "Conv3d", "Dropout", "Embedding", "Flatten",
    "Identity", "LayerNorm", "LeakyReLU", "Linear", "LogSigmoid", "LogSoftmax", "MaxPool1d",
    "MaxPool2d", "MaxPool3d", "ModuleDict", "ModuleList", "MultiheadAttention", "ReLU",
    "Sequential", "SiLU", "Sigmoid", "Softmax", "Softplus", "Softsign", "Tanh",
]
