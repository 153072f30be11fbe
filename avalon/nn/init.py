"""Weight initialisation, in place on numpy arrays, with PyTorch's formulas and gains.

Every function takes an explicit ``rng`` (a ``numpy.random.Generator``); without one it draws
from this module's generator, which :func:`manual_seed` resets, so a script that calls
``manual_seed(0)`` before building its model gets the same weights every run.
"""

from __future__ import annotations

import math

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator used by layers and init functions."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator() -> np.random.Generator:
    return _generator


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return _generator if rng is None else rng


def _fill(array: np.ndarray, values: np.ndarray | float) -> np.ndarray:
    array[...] = np.asarray(values).astype(array.dtype, copy=False)
    return array


_LINEAR_GAIN = {"linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                "conv_transpose2d", "conv_transpose3d", "sigmoid"}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The std scale that keeps activations' variance stable through ``nonlinearity``."""
    if nonlinearity in _LINEAR_GAIN:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, bool) or not isinstance(param, int | float):
            raise ValueError(f"negative_slope {param} is not a valid number")
        else:
            slope = float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def calculate_fan_in_and_fan_out(array: np.ndarray) -> tuple[int, int]:
    """Fans of a weight laid out ``[out, in, kernel...]`` (PyTorch's layout)."""
    if array.ndim < 2:
        raise ValueError("fan in and fan out need an array with at least 2 dimensions")
    receptive = math.prod(array.shape[2:])
    return array.shape[1] * receptive, array.shape[0] * receptive


def _fan(array: np.ndarray, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(array)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(array: np.ndarray, a: float = 0.0, b: float = 1.0,
             rng: np.random.Generator | None = None) -> np.ndarray:
    """Fill with U(a, b)."""
    return _fill(array, _rng(rng).uniform(a, b, array.shape))


def normal_(array: np.ndarray, mean: float = 0.0, std: float = 1.0,
            rng: np.random.Generator | None = None) -> np.ndarray:
    """Fill with N(mean, std²)."""
    return _fill(array, _rng(rng).normal(mean, std, array.shape))


def constant_(array: np.ndarray, val: float) -> np.ndarray:
    return _fill(array, val)


def zeros_(array: np.ndarray) -> np.ndarray:
    return _fill(array, 0.0)


def ones_(array: np.ndarray) -> np.ndarray:
    return _fill(array, 1.0)


def xavier_uniform_(array: np.ndarray, gain: float = 1.0,
                    rng: np.random.Generator | None = None) -> np.ndarray:
    """Glorot: U(±gain·sqrt(6 / (fan_in + fan_out)))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(array)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(array, -bound, bound, rng)


def xavier_normal_(array: np.ndarray, gain: float = 1.0,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """Glorot: N(0, (gain·sqrt(2 / (fan_in + fan_out)))²)."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(array)
    return normal_(array, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def kaiming_uniform_(array: np.ndarray, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     rng: np.random.Generator | None = None) -> np.ndarray:
    """He: U(±gain·sqrt(3 / fan)); ``a`` is the leaky-ReLU slope used for the gain."""
    fan = _fan(array, mode)
    if fan == 0:
        return array
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(array, -bound, bound, rng)


def kaiming_normal_(array: np.ndarray, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    rng: np.random.Generator | None = None) -> np.ndarray:
    """He: N(0, (gain / sqrt(fan))²)."""
    fan = _fan(array, mode)
    if fan == 0:
        return array
    return normal_(array, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), rng)


def orthogonal_(array: np.ndarray, gain: float = 1.0,
                rng: np.random.Generator | None = None) -> np.ndarray:
    """A (semi-)orthogonal matrix over ``[shape[0], prod(shape[1:])]``, scaled by ``gain``."""
    if array.ndim < 2:
        raise ValueError("orthogonal_ needs an array with at least 2 dimensions")
    rows = array.shape[0]
    cols = array.size // rows
    flat = _rng(rng).normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))  # makes the decomposition unique, the result uniform
    if rows < cols:
        q = q.T
    return _fill(array, gain * q.reshape(array.shape))


def uniform_bound(fan_in: int) -> float:
    """PyTorch's default bias (and Linear/Conv weight) bound: 1/sqrt(fan_in)."""
    return 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
