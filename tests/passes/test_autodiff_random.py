"""Random programs: compositions of 2-6 smooth tensor ops with broadcasting, reductions and
fan-out, built with the Builder from a random op list. Their reverse-mode gradients must
match finite differences, and canonicalize+cse after autodiff must keep the interpreted
gradients (translation validation) without growing the IR."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gradcheck import check_vjp, make_module, t64
from hypothesis import given
from hypothesis import strategies as st

from avalon.backends.interpreter import run
from avalon.ir.builder import Builder
from avalon.ir.core import Value
from avalon.ir.dialects import tensor as T
from avalon.ir.verifier import verify
from avalon.passes import PassManager
from avalon.passes.autodiff import differentiate
from avalon.passes.vjp_rules import like

UNARY = ("tanh", "sin", "cos", "neg", "erf", "soft_exp", "soft_sqrt", "soft_log")
BINARY = ("add", "sub", "mul", "safe_div", "safe_pow")


@dataclass(frozen=True)
class Program:
    """``space``: the full shape; each value lives on a sorted subset of its dimensions
    (``dims``), with extent 1 allowed on any of them (broadcast on use)."""

    space: tuple[int, ...]
    args: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]  # (dims, shape)
    ops: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]  # (kind, operands, extra)


@st.composite
def programs(draw):
    space = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    rank = len(space)
    n_args = draw(st.integers(1, 3))
    args = []
    values_dims = []
    for _ in range(n_args):
        dims = tuple(d for d in range(rank) if draw(st.booleans()))
        shape = tuple(1 if draw(st.integers(0, 3)) == 0 else space[d] for d in dims)
        args.append((dims, shape))
        values_dims.append(dims)
    ops = []
    for _ in range(draw(st.integers(2, 6))):
        n = len(values_dims)
        kind = draw(st.sampled_from(("unary", "binary", "binary", "reduce")))
        if kind == "unary":
            op = draw(st.sampled_from(UNARY))
            ops.append((op, (draw(st.integers(0, n - 1)),), ()))
            values_dims.append(values_dims[ops[-1][1][0]])
        elif kind == "binary":
            op = draw(st.sampled_from(BINARY))
            a, b = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
            ops.append((op, (a, b), ()))
            values_dims.append(tuple(sorted(set(values_dims[a]) | set(values_dims[b]))))
        else:
            a = draw(st.integers(0, n - 1))
            dims = values_dims[a]
            picked = tuple(i for i in range(len(dims)) if draw(st.booleans()))
            ops.append(("reduce", (a,), picked))
            values_dims.append(tuple(d for i, d in enumerate(dims) if i not in picked))
    return Program(space, tuple(args), tuple(ops))


class _Emitter:
    """Builds a Program's ops, keeping each value's dims within the space."""

    def __init__(self, b: Builder, space: tuple[int, ...]) -> None:
        self.b = b
        self.space = space

    def to_dims(self, v: Value, dims: tuple[int, ...], target: tuple[int, ...]) -> Value:
        shape = tuple(self.space[d] for d in target)
        if v.type.shape == shape:
            return v
        where = [target.index(d) for d in dims]
        return self.b.create(T.BroadcastOp, v, dims=where, result_types=[t64(*shape)]).result

    def unary(self, kind: str, x: Value) -> Value:
        b = self.b

        def un(cls, v):
            return b.create(cls, v).result

        def bin_(cls, u, v):
            return b.create(cls, u, v).result

        simple = {"tanh": T.TanhOp, "sin": T.SinOp, "cos": T.CosOp, "neg": T.NegOp,
                  "erf": T.ErfOp}
        if kind in simple:
            return un(simple[kind], x)
        if kind == "soft_exp":  # exp(tanh x): bounded
            return un(T.ExpOp, un(T.TanhOp, x))
        one_plus_sq = bin_(T.AddOp, like(b, 1.0, x), bin_(T.MulOp, x, x))
        if kind == "soft_sqrt":
            return un(T.SqrtOp, one_plus_sq)
        return un(T.LogOp, one_plus_sq)  # soft_log

    def binary(self, kind: str, x: Value, y: Value) -> Value:
        b = self.b

        def bin_(cls, u, v):
            return b.create(cls, u, v).result

        plain = {"add": T.AddOp, "sub": T.SubOp, "mul": T.MulOp}
        if kind in plain:
            return bin_(plain[kind], x, y)
        one_plus_sq = bin_(T.AddOp, like(b, 1.0, y), bin_(T.MulOp, y, y))
        if kind == "safe_div":
            return bin_(T.DivOp, x, one_plus_sq)
        base = bin_(T.AddOp, like(b, 1.0, x), bin_(T.MulOp, x, x))
        return bin_(T.PowOp, base, b.create(T.TanhOp, y).result)  # safe_pow


def build(p: Program):
    """The module of ``p``: the sum of every value no op consumed, broadcast to the space."""
    full = tuple(range(len(p.space)))

    def body(b: Builder, args: list[Value]):
        em = _Emitter(b, p.space)
        values = [(a, dims) for a, (dims, _) in zip(args, p.args)]
        used = set()
        for kind, operands, extra in p.ops:
            used.update(operands)
            if kind == "reduce":
                v, dims = values[operands[0]]
                out = b.create(T.ReduceOp, v, kind="sum", dims=list(extra)).result
                values.append((out, tuple(d for i, d in enumerate(dims) if i not in extra)))
            elif len(operands) == 1:
                v, dims = values[operands[0]]
                values.append((em.unary(kind, v), dims))
            else:
                (u, du), (v, dv) = values[operands[0]], values[operands[1]]
                target = tuple(sorted(set(du) | set(dv)))
                out = em.binary(kind, em.to_dims(u, du, target), em.to_dims(v, dv, target))
                values.append((out, target))
        leaves = [values[i] for i in range(len(p.args), len(values)) if i not in used]
        total = None
        for v, dims in leaves:
            wide = em.to_dims(v, dims, full)
            total = wide if total is None else b.create(T.AddOp, total, wide).result
        return total

    return make_module([t64(*shape) for _, shape in p.args], body)


def _args(p: Program, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.5, 1.5, shape) for _, shape in p.args]


@given(p=programs(), seed=st.integers(0, 2**32 - 1))
def test_random_program_gradients(p, seed):
    m = build(p)
    args = _args(p, seed)
    check_vjp(m, args, list(range(len(args))), np.random.default_rng(seed + 1))


@given(p=programs(), seed=st.integers(0, 2**32 - 1))
def test_canonicalize_cse_after_autodiff_preserve_gradients(p, seed):
    m = build(p)
    differentiate(m, "f", list(range(len(p.args))))
    args = _args(p, seed)
    before = run(m, "f_grad", *args)
    ops_before = sum(1 for _ in m.lookup("f_grad").entry_block.ops)
    PassManager.parse("builtin.module(canonicalize,cse)").run(m)
    verify(m)
    after = run(m, "f_grad", *args)
    ops_after = sum(1 for _ in m.lookup("f_grad").entry_block.ops)
    assert ops_after <= ops_before
    for x, y in zip(before, after):
        np.testing.assert_allclose(y, x, rtol=1e-12, atol=1e-14)


@given(p=programs(), seed=st.integers(0, 2**32 - 1))
def test_random_program_second_derivatives(p, seed):
    # Differentiate the gradient of argument #0 again (a Hessian-vector product) and check
    # it against finite differences of the gradient function.
    m = build(p)
    differentiate(m, "f", list(range(len(p.args))))
    args = _args(p, seed)
    check_vjp(m, args, [0], np.random.default_rng(seed + 2), name="f_grad", result=1,
              rtol=1e-6, atol=1e-7)
