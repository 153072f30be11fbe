"""jit: one trace per argument signature; lower() returns the IR."""

import numpy as np

import avalon


def test_cache_hits_for_same_signature_and_retraces_for_new_ones():
    calls = []

    def f(x, scale):
        calls.append(1)
        return x * scale

    jf = avalon.jit(f)
    a = np.ones(3, np.float32)
    np.testing.assert_allclose(jf(a, 2.0), [2, 2, 2])
    np.testing.assert_allclose(jf(a + 1, 2.0), [4, 4, 4])
    assert len(calls) == 1 and jf.cache_size == 1
    jf(np.ones(4, np.float32), 2.0)  # new shape
    jf(a, 3.0)  # new static value
    jf(a.astype(np.float64), 2.0)  # new dtype
    assert len(calls) == 4 and jf.cache_size == 4


def test_lower_returns_verified_tensor_ir():
    from avalon.ir.verifier import verify

    module = avalon.jit(lambda x: np.tanh(x).sum()).lower(np.ones((2, 2), np.float32))
    verify(module)
    text = str(module)
    assert "tensor.tanh" in text and "tensor.reduce sum" in text
    assert "-> tensor<f32>" in text


def test_jit_inside_trace_traces_through():
    inner = avalon.jit(lambda x: x * 2.0)
    module = avalon.trace(lambda x: inner(x) + 1.0, np.ones(2, np.float32))
    names = [op.name for op in module.walk_ops()]
    assert "tensor.mul" in names and "func.call" not in names


def test_numpy_scalar_and_zero_d_arguments():
    out = avalon.jit(lambda s, x: x * s)(np.float32(3.0), np.ones(2, np.float32))
    np.testing.assert_allclose(out, [3.0, 3.0])
    assert out.dtype == np.float32
