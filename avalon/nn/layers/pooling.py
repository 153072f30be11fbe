"""Max and average pooling layers over 1, 2 or 3 trailing spatial dimensions."""

from __future__ import annotations

from typing import Any

from avalon.nn import functional as F
from avalon.nn.module import Module


class _MaxPoolNd(Module):
    n: int = 0

    def __init__(self, kernel_size: F.IntOrTuple, stride: F.IntOrTuple | None = None,
                 padding: F.IntOrTuple = 0) -> None:
        self.kernel_size = F.ntuple(kernel_size, self.n, "kernel_size")
        self.stride = self.kernel_size if stride is None else F.ntuple(stride, self.n,
                                                                         "stride")
        self.padding = F.ntuple(padding, self.n, "padding")

    def __call__(self, x: Any) -> Any:
        return F.pool_nd(self.n, "max", x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AvgPoolNd(_MaxPoolNd):
    def __init__(self, kernel_size: F.IntOrTuple, stride: F.IntOrTuple | None = None,
                 padding: F.IntOrTuple = 0, count_include_pad: bool = True) -> None:
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def __call__(self, x: Any) -> Any:
        return F.pool_nd(self.n, "avg", x, self.kernel_size, self.stride, self.padding,
                       self.count_include_pad)


class MaxPool1d(_MaxPoolNd):
    n = 1


class MaxPool2d(_MaxPoolNd):
    n = 2


class MaxPool3d(_MaxPoolNd):
    n = 3


class AvgPool1d(_AvgPoolNd):
    n = 1


class AvgPool2d(_AvgPoolNd):
    n = 2


class AvgPool3d(_AvgPoolNd):
    n = 3
