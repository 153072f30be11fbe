"""Activation functions as layers, for ``Sequential`` stacks (PyTorch's ``nn.ReLU()`` ...)."""

from __future__ import annotations

from typing import Any

from avalon.nn import functional as F
from avalon.nn.module import Module


class ReLU(Module):
    def __call__(self, x: Any) -> Any:
        return F.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = float(negative_slope)

    def __call__(self, x: Any) -> Any:
        return F.leakyrelu(x, self.negative_slope)


class ELU(Module):
    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = float(alpha)

    def __call__(self, x: Any) -> Any:
        return F.elu(x, self.alpha)


class GELU(Module):
    def __init__(self, approximate: str = "none") -> None:
        self.approximate = approximate

    def __call__(self, x: Any) -> Any:
        return F.gelu(x, self.approximate)


class SiLU(Module):
    def __call__(self, x: Any) -> Any:
        return F.silu(x)


class Sigmoid(Module):
    def __call__(self, x: Any) -> Any:
        return F.sigmoid(x)


class LogSigmoid(Module):
    def __call__(self, x: Any) -> Any:
        return F.logsigmoid(x)


class Softplus(Module):
    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        self.beta = float(beta)
        self.threshold = float(threshold)

    def __call__(self, x: Any) -> Any:
        return F.softplus(x, self.beta, self.threshold)


class Softsign(Module):
    def __call__(self, x: Any) -> Any:
        return F.softsign(x)


class Tanh(Module):
    def __call__(self, x: Any) -> Any:
        return F.tanh(x)


class Softmax(Module):
    def __init__(self, dim: int = -1) -> None:
        self.dim = int(dim)

    def __call__(self, x: Any) -> Any:
        return F.softmax(x, self.dim)


class LogSoftmax(Module):
    def __init__(self, dim: int = -1) -> None:
        self.dim = int(dim)

    def __call__(self, x: Any) -> Any:
        return F.logsoftmax(x, self.dim)
