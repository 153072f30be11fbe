"""Recurrent layers ``RNN``, ``LSTM`` and ``GRU`` with PyTorch's parameters and equations.

Shapes are static, so the time loop is a Python loop: tracing unrolls it into straight-line
IR. The input projection of all time steps is one matmul per layer and direction; only the
hidden projection runs per step. Parameters are named and laid out like PyTorch's
(``weight_ih_l{k}[_reverse]`` is ``[gates·hidden, input]``, gate order LSTM i,f,g,o and GRU
r,z,n), so ``load_state_dict`` takes a PyTorch module's weights unchanged.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from avalon.nn import functional as F
from avalon.nn import init
from avalon.nn.layers.dropout import new_seed, next_seed
from avalon.nn.module import Module


def _chunks(x: Any, n: int) -> list[Any]:
    """``x`` split into ``n`` equal parts along its last axis."""
    size = x.shape[-1] // n
    return [x[..., i * size:(i + 1) * size] for i in range(n)]


class _RNNBase(Module):
    """Parameters, state shapes and the layer/direction/time loops. Subclasses define
    ``_cell(xw, h, c, w_hh, b_hh) -> (h, c)``, one time step given xw = W_ih·x + b_ih."""

    gates: ClassVar[int] = 1
    state_attrs: ClassVar[tuple[str, ...]] = ("seed",)
    rng_attrs: ClassVar[tuple[str, ...]] = ("seed",)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, *, rng: np.random.Generator | None = None,
                 dtype: Any = np.float32) -> None:
        if num_layers < 1:
            raise ValueError("num_layers must be at least 1")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be in [0, 1], got {dropout}")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.training = True
        self.seed = new_seed(rng)
        bound = init.uniform_bound(hidden_size)
        dirs = 2 if bidirectional else 1
        rows = self.gates * hidden_size
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * dirs
            for d in range(dirs):
                sfx = f"l{layer}" + ("_reverse" if d else "")
                shapes = [("weight_ih", (rows, in_size)), ("weight_hh", (rows, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (rows,)), ("bias_hh", (rows,))]
                for name, shape in shapes:
                    setattr(self, f"{name}_{sfx}",
                            init.uniform_(np.empty(shape, dtype), -bound, bound, rng))

    def _params(self, layer: int, d: int) -> tuple[Any, Any, Any, Any]:
        sfx = f"l{layer}" + ("_reverse" if d else "")
        get = vars(self).get
        return (get(f"weight_ih_{sfx}"), get(f"weight_hh_{sfx}"), get(f"bias_ih_{sfx}"),
                get(f"bias_hh_{sfx}"))

    def _initial(self, hx: Any, batch: int, dtype: Any, unbatched: bool) -> Any:
        dirs = 2 if self.bidirectional else 1
        shape = (self.num_layers * dirs, batch, self.hidden_size)
        if hx is None:
            return np.zeros(shape, dtype)
        if unbatched:
            hx = hx[:, None]
        if tuple(hx.shape) != shape:
            raise ValueError(f"initial state must have shape {shape}, got {tuple(hx.shape)}")
        return hx

    def _run(self, x: Any, h0: Any, c0: Any | None) -> tuple[Any, list[Any], list[Any]]:
        """Time-major ``x [L, N, in]`` -> (output ``[L, N, dirs·H]``, final h's, final c's)."""
        dirs = 2 if self.bidirectional else 1
        steps = x.shape[0]
        hs: list[Any] = []
        cs: list[Any] = []
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                w_ih, w_hh, b_ih, b_hh = self._params(layer, d)
                xw = F.linear(x, w_ih, b_ih)
                h = h0[layer * dirs + d]
                c = None if c0 is None else c0[layer * dirs + d]
                seq: list[Any] = [None] * steps
                for t in (range(steps) if d == 0 else reversed(range(steps))):
                    h, c = self._cell(xw[t], h, c, w_hh, b_hh)
                    seq[t] = h
                outs.append(np.stack(seq, axis=0))
                hs.append(h)
                cs.append(c)
            x = outs[0] if dirs == 1 else np.concatenate(outs, axis=-1)
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True, next_seed(self))
        return x, hs, cs

    def _forward(self, x: Any, hx: Any, cx: Any, with_cell: bool) -> tuple[Any, Any, Any]:
        if x.ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__} expects input of rank 2 or 3, got shape "
                             f"{tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__} expects {self.input_size} input "
                             f"features, got {x.shape[-1]}")
        unbatched = x.ndim == 2
        if unbatched:
            x = x[:, None]
        elif self.batch_first:
            x = np.swapaxes(x, 0, 1)
        batch = x.shape[1]
        h0 = self._initial(hx, batch, x.dtype, unbatched)
        c0 = self._initial(cx, batch, x.dtype, unbatched) if with_cell else None
        out, hs, cs = self._run(x, h0, c0)
        h_n = np.stack(hs, axis=0)
        c_n = np.stack(cs, axis=0) if with_cell else None
        if unbatched:
            out, h_n = out[:, 0], h_n[:, 0]
            c_n = None if c_n is None else c_n[:, 0]
        elif self.batch_first:
            out = np.swapaxes(out, 0, 1)
        return out, h_n, c_n

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"batch_first={self.batch_first}, bidirectional={self.bidirectional}")


class RNN(_RNNBase):
    """Elman RNN: h' = act(W_ih x + b_ih + W_hh h + b_hh), act ``tanh`` or ``relu``.

    ``rnn(x, h0=None) -> (output, h_n)``; ``x`` is ``[L, N, in]`` (``[N, L, in]`` with
    ``batch_first``) or unbatched ``[L, in]``; ``h_n`` is ``[layers·dirs, N, H]``.
    """

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, *,
                 rng: np.random.Generator | None = None, dtype: Any = np.float32) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, rng=rng, dtype=dtype)

    def _cell(self, xw: Any, h: Any, c: Any, w_hh: Any, b_hh: Any) -> tuple[Any, Any]:
        pre = xw + F.linear(h, w_hh, b_hh)
        return (np.tanh(pre) if self.nonlinearity == "tanh" else F.relu(pre)), None

    def __call__(self, x: Any, hx: Any = None) -> tuple[Any, Any]:
        out, h_n, _ = self._forward(x, hx, None, with_cell=False)
        return out, h_n


class LSTM(_RNNBase):
    """Long short-term memory, gates i, f, g, o:
    c' = sigmoid(f)·c + sigmoid(i)·tanh(g),  h' = sigmoid(o)·tanh(c').

    ``lstm(x, (h0, c0)=None) -> (output, (h_n, c_n))``.
    """

    gates = 4

    def _cell(self, xw: Any, h: Any, c: Any, w_hh: Any, b_hh: Any) -> tuple[Any, Any]:
        i, f, g, o = _chunks(xw + F.linear(h, w_hh, b_hh), 4)
        c = F.sigmoid(f) * c + F.sigmoid(i) * np.tanh(g)
        return F.sigmoid(o) * np.tanh(c), c

    def __call__(self, x: Any, hx: tuple[Any, Any] | None = None) -> tuple[Any, Any]:
        h0, c0 = (None, None) if hx is None else hx
        out, h_n, c_n = self._forward(x, h0, c0, with_cell=True)
        return out, (h_n, c_n)


class GRU(_RNNBase):
    """Gated recurrent unit, gates r, z, n:
    n = tanh(W_in x + b_in + r·(W_hn h + b_hn)),  h' = (1 - z)·n + z·h.

    ``gru(x, h0=None) -> (output, h_n)``.
    """

    gates = 3

    def _cell(self, xw: Any, h: Any, c: Any, w_hh: Any, b_hh: Any) -> tuple[Any, Any]:
        xr, xz, xn = _chunks(xw, 3)
        hr, hz, hn = _chunks(F.linear(h, w_hh, b_hh), 3)
        r = F.sigmoid(xr + hr)
        z = F.sigmoid(xz + hz)
        n = np.tanh(xn + r * hn)
        return (1 - z) * n + z * h, None

    def __call__(self, x: Any, hx: Any = None) -> tuple[Any, Any]:
        out, h_n, _ = self._forward(x, hx, None, with_cell=False)
        return out, h_n
