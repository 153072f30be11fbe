"""The ``differentiate`` API and the ``autodiff`` pass: the function it creates, activity
(integers, stop_gradient, unreached arguments), fan-out, errors, the pass options, cleanup by
canonicalize/cse, and the documented custom-rule example."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from gradcheck import check_vjp, make_module, t64

from avalon.backends.interpreter import run
from avalon.ir.diagnostics import DiagnosticError
from avalon.ir.dialects import tensor as T
from avalon.ir.dialects.func import FuncOp
from avalon.ir.parser import parse_module
from avalon.ir.types import TensorType, i32, i64
from avalon.ir.verifier import verify
from avalon.passes import PassManager, PassPipelineError
from avalon.passes.autodiff import differentiate
from avalon.passes.vjp_rules import AutodiffError, get_vjp_rule, registered_ops

ROOT = Path(__file__).resolve().parents[2]

MLP = """
func.func @loss(%x: tensor<4x3xf64>, %w: tensor<3x2xf64>, %b: tensor<2xf64>) -> tensor<f64> {
  %h = tensor.matmul %x, %w : (tensor<4x3xf64>, tensor<3x2xf64>) -> tensor<4x2xf64>
  %bb = tensor.broadcast %b, dims = [1] : tensor<2xf64> -> tensor<4x2xf64>
  %y = tensor.add %h, %bb : tensor<4x2xf64>
  %t = tensor.tanh %y : tensor<4x2xf64>
  %sq = tensor.mul %t, %t : tensor<4x2xf64>
  %s = tensor.reduce sum, %sq, dims = [0, 1] : tensor<4x2xf64> -> tensor<f64>
  return %s : tensor<f64>
}
"""


def mlp_args(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, (4, 3)), rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, 2)]


def mlp_reference(x, w, b):
    t = np.tanh(x @ w + b)
    dy = 2 * t * (1 - t * t)
    return np.sum(t * t), x.T @ dy, dy.sum(axis=0), dy @ w.T


# ------------------------------------------------------------------------ the new function


def test_grad_function_signature_and_placement():
    m = parse_module(MLP)
    fn = differentiate(m, "loss", [1, 2])
    names = [op.symbol for op in m.body.ops]
    assert names == ["loss", "loss_grad"]
    assert fn.symbol == "loss_grad"
    assert fn.type.inputs == m.lookup("loss").type.inputs
    assert [str(t) for t in fn.type.results] == ["tensor<f64>", "tensor<3x2xf64>",
                                                "tensor<2xf64>"]


def test_grad_matches_closed_form():
    m = parse_module(MLP)
    differentiate(m, "loss", [0, 1, 2])
    args = mlp_args()
    value, gx, gw, gb = run(m, "loss_grad", *args)
    ref_value, ref_gw, ref_gb, ref_gx = mlp_reference(*args)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    np.testing.assert_allclose(gw, ref_gw, rtol=1e-12)
    np.testing.assert_allclose(gb, ref_gb, rtol=1e-12)
    np.testing.assert_allclose(gx, ref_gx, rtol=1e-12)


def test_custom_name_and_original_untouched():
    m = parse_module(MLP)
    before = str(m.lookup("loss"))
    differentiate(m, "loss", [0], name="dloss")
    assert m.lookup("dloss") is not None and m.lookup("loss_grad") is None
    assert str(m.lookup("loss")) == before


def test_seed_ones_is_gradient_of_the_sum():
    m = make_module([t64(2, 3)], lambda b, a: b.create(T.SinOp, a[0]).result)
    differentiate(m, "f", [0])
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    value, g = run(m, "f_grad", x)
    np.testing.assert_array_equal(value, np.sin(x))
    np.testing.assert_allclose(g, np.cos(x), rtol=1e-14)


def test_seed_argument_makes_a_vjp():
    m = make_module([t64(2, 3)], lambda b, a: b.create(T.SinOp, a[0]).result)
    fn = differentiate(m, "f", [0], seed="argument")
    assert fn.type.inputs == (t64(2, 3), t64(2, 3))
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    v = np.arange(6.0).reshape(2, 3)
    _, g = run(m, "f_grad", x, v)
    np.testing.assert_allclose(g, v * np.cos(x), rtol=1e-14)


def test_other_results_are_dropped():
    def body(b, a):
        e = b.create(T.ExpOp, a[0]).result
        return [e, b.create(T.MulOp, a[0], a[0]).result]

    m = make_module([t64(3)], body)
    fn = differentiate(m, "f", [0], result=1)
    assert fn.type.results == (t64(3), t64(3))
    assert not any(op.name == "tensor.exp" for op in fn.entry_block.ops)  # dead, erased
    x = np.array([1.0, -2.0, 0.5])
    value, g = run(m, "f_grad", x)
    np.testing.assert_array_equal(value, x * x)
    np.testing.assert_array_equal(g, 2 * x)


def test_identity_and_repeated_wrt():
    m = make_module([t64(2)], lambda b, a: a[0])
    differentiate(m, "f", [0, 0])
    _, g1, g2 = run(m, "f_grad", np.array([3.0, 4.0]))
    np.testing.assert_array_equal(g1, [1.0, 1.0])
    np.testing.assert_array_equal(g2, [1.0, 1.0])


def test_unreached_argument_gets_zeros():
    m = make_module([t64(2), t64(3)], lambda b, a: b.create(T.ExpOp, a[0]).result)
    differentiate(m, "f", [0, 1])
    _, g0, g1 = run(m, "f_grad", np.zeros(2), np.ones(3))
    np.testing.assert_array_equal(g0, [1.0, 1.0])
    np.testing.assert_array_equal(g1, np.zeros(3))


def test_constant_result_gives_zero_gradients():
    m = make_module([t64(2)], lambda b, a: b.create(
        T.ConstantOp, value=_dense(np.array([1.0, 2.0]), t64(2))).result)
    differentiate(m, "f", [0])
    _, g = run(m, "f_grad", np.array([5.0, 6.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0])


def _dense(array, t):
    from avalon.ir.attributes import DenseElementsAttr

    return DenseElementsAttr(np.asarray(array), t)


# ----------------------------------------------------------------------------- activity


def test_stop_gradient_blocks_the_gradient():
    # f = sum(x * stop_gradient(x)): the derivative is x, not 2x.
    def body(b, a):
        frozen = b.create(T.StopGradientOp, a[0]).result
        return b.create(T.MulOp, a[0], frozen).result

    m = make_module([t64(3)], body)
    differentiate(m, "f", [0])
    x = np.array([1.0, -2.0, 3.0])
    value, g = run(m, "f_grad", x)
    np.testing.assert_array_equal(value, x * x)
    np.testing.assert_array_equal(g, x)


def test_integer_values_carry_no_gradient():
    # y = x * float(argmax(x)) broadcast: the index path is constant.
    def body(b, a):
        idx = b.create(T.ArgmaxOp, a[0], dim=0).result
        as_float = b.create(T.CastOp, idx, result_types=[t64()]).result
        wide = b.create(T.BroadcastOp, as_float, dims=[], result_types=[t64(4)]).result
        return b.create(T.MulOp, a[0], wide).result

    m = make_module([t64(4)], body)
    differentiate(m, "f", [0])
    x = np.array([0.5, 3.0, -1.0, 2.0])
    _, g = run(m, "f_grad", x)
    np.testing.assert_array_equal(g, np.full(4, 1.0))


def test_integer_arguments_may_be_present():
    def body(b, a):
        n = b.create(T.CastOp, a[1], result_types=[t64(4)]).result
        return b.create(T.MulOp, a[0], n).result

    m = make_module([t64(4), TensorType((4,), i32)], body)
    differentiate(m, "f", [0])
    _, g = run(m, "f_grad", np.ones(4), np.array([1, 2, 3, 4], dtype=np.int32))
    np.testing.assert_array_equal(g, [1.0, 2.0, 3.0, 4.0])


def test_fan_out_accumulates():
    # f = exp(x) * sin(x) + x: x has three uses.
    def body(b, a):
        x = a[0]
        e = b.create(T.ExpOp, x).result
        s = b.create(T.SinOp, x).result
        return b.create(T.AddOp, b.create(T.MulOp, e, s).result, x).result

    m = make_module([t64(5)], body)
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, 5)
    (g,) = check_vjp(m, [x], [0], rng)
    m2 = make_module([t64(5)], body)
    differentiate(m2, "f", [0])
    _, ones_grad = run(m2, "f_grad", x)
    np.testing.assert_allclose(ones_grad, np.exp(x) * (np.sin(x) + np.cos(x)) + 1,
                               rtol=1e-14)
    assert g.shape == (5,)


def test_grad_ir_round_trips_through_text():
    m = parse_module(MLP)
    differentiate(m, "loss", [0, 1, 2])
    text = str(m)
    again = parse_module(text)
    assert str(again) == text
    args = mlp_args(1)
    for a, b in zip(run(m, "loss_grad", *args), run(again, "loss_grad", *args)):
        np.testing.assert_array_equal(a, b)


# -------------------------------------------------------------------------------- errors


def test_integer_wrt_argument_is_an_error():
    m = make_module([t64(4), t64(4), TensorType((4,), i32)], lambda b, a: a[0])
    with pytest.raises(AutodiffError, match=re.escape(
            "argument #2 has integer type tensor<4xi32>; only float arguments can be "
            "differentiated")):
        differentiate(m, "f", [0, 2])


@pytest.mark.parametrize("kwargs, message", [
    (dict(wrt=[3]), "argument #3 does not exist"),
    (dict(wrt=[0], result=2), "result #2 does not exist"),
    (dict(wrt=[0], result=1), "result #1 has type tensor<4xi64>"),
    (dict(wrt=[0], seed="twos"), "seed must be one of"),
    (dict(wrt=[0], name="f"), "cannot create '@f': the symbol already exists"),
])
def test_bad_requests_are_errors(kwargs, message):
    def body(b, a):
        return [a[0], b.create(T.IotaOp, dim=0, result_types=[TensorType((4,), i64)]).result]

    m = make_module([t64(4)], body)
    with pytest.raises((AutodiffError, ValueError), match=re.escape(message)):
        differentiate(m, "f", **kwargs)


def test_missing_function_and_declaration():
    m = parse_module("func.func private @decl(tensor<2xf64>) -> tensor<2xf64>")
    with pytest.raises(AutodiffError, match="no function named '@nope'"):
        differentiate(m, "nope", [0])
    with pytest.raises(AutodiffError, match="it is a declaration"):
        differentiate(m, "decl", [0])


def test_generic_is_a_located_error():
    m = parse_module("""
func.func @f(%x: tensor<4xf64>) -> tensor<4xf64> {
  %e = tensor.empty : tensor<4xf64>
  %y = tensor.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
                       iterator_types = ["parallel"]}
      ins(%x : tensor<4xf64>) outs(%e : tensor<4xf64>) {
  ^bb0(%a: f64, %o: f64):
    %s = arith.mulf %a, %a : f64
    tensor.yield %s : f64
  }
  return %y : tensor<4xf64>
}
""", "gen.mlir")
    with pytest.raises(AutodiffError) as info:
        differentiate(m, "f", [0])
    diag = info.value.diagnostic
    assert "cannot differentiate 'tensor.generic'" in diag.message
    assert "before generalization" in diag.message
    assert diag.location.line == 4


def test_op_without_rule_is_a_located_error():
    m = parse_module("""
func.func @g(%x: tensor<2xf64>) -> tensor<2xf64> {
  return %x : tensor<2xf64>
}
func.func @f(%x: tensor<2xf64>) -> tensor<2xf64> {
  %y = func.call @g(%x) : (tensor<2xf64>) -> tensor<2xf64>
  return %y : tensor<2xf64>
}
""", "call.mlir")
    with pytest.raises(AutodiffError) as info:
        differentiate(m, "f", [0])
    assert info.value.diagnostic.message.startswith("no VJP rule for 'func.call'")
    assert info.value.diagnostic.location.line == 6
    assert m.lookup("f_grad") is None  # nothing half-built is left behind


def test_every_tensor_op_has_a_rule():
    tensor_ops = set(T.DIALECT.ops) - {"tensor.yield"}
    missing = tensor_ops - set(registered_ops())
    assert not missing, f"tensor ops without a VJP rule: {sorted(missing)}"
    assert get_vjp_rule("tensor.nonexistent") is None


# -------------------------------------------------------------------------------- the pass


def test_pass_from_pipeline_text():
    m = parse_module(MLP)
    pm = PassManager.parse(
        "builtin.module(autodiff{func=loss wrt=1,2 name=g seed=argument})")
    pm.run(m)
    fn = m.lookup("g")
    assert isinstance(fn, FuncOp)
    assert fn.type.inputs[-1] == TensorType((), fn.type.inputs[0].element_type)
    args = mlp_args(2)
    _, gw, gb = run(m, "g", *args, np.asarray(2.0))
    _, ref_gw, ref_gb, _ = mlp_reference(*args)
    np.testing.assert_allclose(gw, 2 * ref_gw, rtol=1e-12)
    np.testing.assert_allclose(gb, 2 * ref_gb, rtol=1e-12)


def test_pass_defaults_to_every_float_argument():
    m = parse_module(MLP)
    PassManager.parse("builtin.module(autodiff{func=loss})").run(m)
    assert len(m.lookup("loss_grad").type.results) == 4


def test_pass_pipeline_text_round_trips_options():
    pm = PassManager.parse("builtin.module(autodiff{func=loss wrt=0,2 result=0 name=h})")
    text = pm.pipeline_text()
    assert "func=loss" in text and "wrt=0,2" in text and "name=h" in text
    assert PassManager.parse(text).pipeline_text() == text


@pytest.mark.parametrize("options, message", [
    ("", "autodiff needs the 'func' option"),
    ("func=loss seed=sideways", "option 'seed' must be 'ones' or 'argument'"),
    ("func=loss wrt=5", "argument #5 does not exist"),
])
def test_pass_failures_are_diagnostics(options, message):
    m = parse_module(MLP)
    pm = PassManager.parse(f"builtin.module(autodiff{{{options}}})")
    with pytest.raises((PassPipelineError, DiagnosticError), match=re.escape(message)):
        pm.run(m)


def test_canonicalize_cse_preserve_results_and_shrink():
    m = parse_module(MLP)
    differentiate(m, "loss", [0, 1, 2])
    args = mlp_args(4)
    before = run(m, "loss_grad", *args)
    size_before = sum(1 for _ in m.lookup("loss_grad").entry_block.ops)
    PassManager.parse("builtin.module(canonicalize,cse)").run(m)
    verify(m)
    after = run(m, "loss_grad", *args)
    size_after = sum(1 for _ in m.lookup("loss_grad").entry_block.ops)
    assert size_after < size_before
    for x, y in zip(before, after):
        np.testing.assert_allclose(x, y, rtol=1e-14, atol=1e-15)


# --------------------------------------------------------------------- documented example


def _doc_example() -> str:
    text = (ROOT / "docs" / "autodiff.md").read_text()
    marker = text.index("<!-- tested: custom-vjp -->")
    start = text.index("```python\n", marker) + len("```python\n")
    return text[start:text.index("```", start)]


def test_documented_custom_rule_example():
    namespace: dict = {}
    exec(compile(_doc_example(), "docs/autodiff.md", "exec"), namespace)
    softplus = namespace["SoftplusOp"]
    assert get_vjp_rule("demo.softplus") is not None
    m = make_module([t64(2, 3)], lambda b, a: b.create(softplus, a[0]).result)
    rng = np.random.default_rng(5)
    x = rng.uniform(-3, 3, (2, 3))
    (g,) = check_vjp(m, [x], [0], rng)
    # Also differentiable twice: the rule only emits ops with rules.
    differentiate(m, "f", [0], name="f_grad")
    differentiate(m, "f_grad", [0], result=1, name="f_second")
    _, second = run(m, "f_second", x)
    sig = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(second, sig * (1 - sig), rtol=1e-12)
    assert g.shape == x.shape
