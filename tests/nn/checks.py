"""One comparison for every nn test: Avalon's eager and jit outputs and its gradients against
PyTorch when it is installed, and always against the numpy references of ``reference.py``
(whose central differences stand in for PyTorch's gradients when it is not installed).

Set ``AVALON_TEST_NO_TORCH=1`` to exercise the torch-free path on a machine with torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import avalon
from avalon import nn


def _load_torch() -> Any:
    if os.environ.get("AVALON_TEST_NO_TORCH"):
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch


torch = _load_torch()
HAVE_TORCH = torch is not None


def rand(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def leaves(out: Any) -> list[Any]:
    """Arrays (or tensors) of a nested tuple/list output, ``None`` dropped."""
    if out is None:
        return []
    if isinstance(out, tuple | list):
        return [leaf for o in out for leaf in leaves(o)]
    return [out]


def assert_close(actual: Any, expected: Any, rtol: float, atol: float, what: str) -> None:
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.nanmax(np.abs(expected)))) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, err_msg=what)


def numeric_grad(f: Callable[[], float], arr: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of ``f()`` as each element of ``arr`` (float64) is nudged."""
    g = np.zeros_like(arr)
    flat, gflat = arr.reshape(-1), g.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        hi = f()
        flat[k] = old - eps
        lo = f()
        flat[k] = old
        gflat[k] = (hi - lo) / (2 * eps)
    return g


def _is_float(a: Any) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _to_torch(a: Any, requires_grad: bool) -> Any:
    if not isinstance(a, np.ndarray):
        return a
    if a.dtype.kind == "f":
        return torch.tensor(a.astype(np.float64), requires_grad=requires_grad)
    return torch.tensor(a)


def _scalar(out_leaves: list[Any], cots: list[np.ndarray]) -> Any:
    total = 0.0
    for leaf, cot in zip(out_leaves, cots):
        total = total + (leaf * cot).sum()
    return total


def check(fn: Callable[..., Any], inputs: Sequence[Any], *, layer: Any = None,
          torch_fn: Callable[..., Any] | None = None,
          torch_layer: Callable[[Any], Any] | None = None,
          ref: Callable[..., Any] | None = None, grad_inputs: Sequence[int] | None = None,
          rtol: float = 1e-4, atol: float = 1e-5, grad_rtol: float | None = None,
          grad_atol: float | None = None, numeric_grads: bool = True, seed: int = 0) -> Any:
    """Check ``fn(layer, *inputs)``; returns Avalon's eager output.

    ``torch_layer(torch.nn)`` builds the PyTorch twin of ``layer`` (its weights are loaded into
    ``layer`` by name, which checks the names too); ``torch_fn(module, *tensors)`` and
    ``ref(params, *inputs)`` (params: the layer's state dict in float64) compute the same
    output. Gradients of sum(output · random cotangent) are compared for the layer's
    parameters and the float inputs listed in ``grad_inputs`` (default: all);
    ``numeric_grads=False`` skips the finite-difference fallback (for large models).
    """
    grad_rtol = rtol * 10 if grad_rtol is None else grad_rtol
    grad_atol = atol * 10 if grad_atol is None else grad_atol
    inputs = list(inputs)
    if grad_inputs is None:
        grad_inputs = [i for i, a in enumerate(inputs) if _is_float(a)]
    tm = None
    if HAVE_TORCH and torch_layer is not None:
        torch.manual_seed(seed)
        tm = torch_layer(torch.nn)
        nn.load_state_dict(layer, {k: v.detach().numpy() for k, v in tm.state_dict().items()})
        tm = tm.double()

    out = fn(layer, *inputs)
    out_leaves = leaves(out)
    jitted = leaves(avalon.jit(fn)(layer, *inputs))
    assert len(jitted) == len(out_leaves)
    for k, (a, b) in enumerate(zip(jitted, out_leaves)):
        assert np.asarray(a).dtype == np.asarray(b).dtype, f"jit output {k} dtype"
        assert_close(a, b, 1e-5, 1e-6, f"jit vs eager output {k}")

    rng = np.random.default_rng(seed + 1)
    cots = [rng.standard_normal(np.shape(o)).astype(np.asarray(o).dtype) for o in out_leaves]

    def scalar(lay: Any, *xs: Any) -> Any:
        return _scalar(leaves(fn(lay, *xs)), cots)

    argnums = (0, *(1 + i for i in grad_inputs))
    grads = avalon.grad(scalar, argnums=argnums)(layer, *inputs)
    layer_grads = nn.state_dict(grads[0]) if layer is not None else {}
    param_names = [name for name, _ in nn.named_parameters(layer)] if layer is not None else []
    input_grads = dict(zip(grad_inputs, grads[1:]))

    params64 = {k: (np.asarray(v, np.float64) if np.asarray(v).dtype.kind == "f"
                    else np.asarray(v))
                for k, v in (nn.state_dict(layer).items() if layer is not None else [])}
    inputs64 = [a.astype(np.float64) if _is_float(a) else a for a in inputs]

    if ref is not None:
        expected = leaves(ref(params64, *inputs64))
        assert len(expected) == len(out_leaves)
        for k, (a, e) in enumerate(zip(out_leaves, expected)):
            assert_close(a, e, rtol, atol, f"output {k} vs numpy reference")

    if HAVE_TORCH and torch_fn is not None:
        targs = [_to_torch(a, i in grad_inputs) for i, a in enumerate(inputs)]
        t_out = leaves(torch_fn(tm, *targs))
        assert len(t_out) == len(out_leaves)
        for k, (a, e) in enumerate(zip(out_leaves, t_out)):
            assert_close(a, e.detach().numpy(), rtol, atol, f"output {k} vs torch")
        _scalar(t_out, [torch.tensor(c.astype(np.float64)) for c in cots]).backward()
        tparams = dict(tm.named_parameters()) if tm is not None else {}
        for name in param_names:
            tg = tparams[name].grad
            expected_g = np.zeros(tparams[name].shape) if tg is None else tg.numpy()
            assert_close(layer_grads[name], expected_g, grad_rtol, grad_atol,
                         f"gradient of {name} vs torch")
        for i in grad_inputs:
            tg = targs[i].grad
            expected_g = np.zeros(inputs[i].shape) if tg is None else tg.numpy()
            assert_close(input_grads[i], expected_g, grad_rtol, grad_atol,
                         f"gradient of input {i} vs torch")
    elif ref is not None and numeric_grads:
        def value() -> float:
            return float(_scalar(leaves(ref(params64, *inputs64)), cots))

        for name in param_names:
            assert_close(layer_grads[name], numeric_grad(value, params64[name]), grad_rtol,
                         grad_atol, f"gradient of {name} vs finite differences")
        for i in grad_inputs:
            assert_close(input_grads[i], numeric_grad(value, inputs64[i]), grad_rtol,
                         grad_atol, f"gradient of input {i} vs finite differences")
    return out
