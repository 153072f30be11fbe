"""Lowering of the ``arith`` and ``math`` dialects to LLVM instructions and intrinsics.

Every lowering works on scalars and 1-d vectors alike and reproduces the interpreter's
semantics exactly where LLVM would otherwise leave them undefined:

* integer division and remainder by zero record an error code (the runtime raises) and
  divide by one instead, so no trap or poison ever reaches the machine; signed
  ``MIN / -1`` wraps to ``MIN`` and ``MIN % -1`` is 0, as in the interpreter;
* shifts by at least the bit width give 0 (``shli``, ``shrui``) or the sign fill
  (``shrsi``) instead of poison;
* ``fptosi``/``fptoui`` saturate and map NaN to 0 (``llvm.fpto*i.sat``);
* ``maximumf``/``minimumf`` propagate NaN (``llvm.maximum``), ``maxnumf``/``minnumf`` ignore
  a single NaN and order -0.0 below +0.0 (``llvm.maximumnum``).

Transcendental ``math`` ops use LLVM intrinsics (which become libm calls or inline code);
``expm1``, ``log1p``, ``cbrt``, ``erf`` and ``erfc`` call libm directly, lane by lane for
vectors. Half and bfloat values compute in float and round once, as LLVM promotes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import llvmlite.ir as ir
import numpy as np

from avalon.backends.cpu import lltypes as lt
from avalon.ir.attributes import DenseElementsAttr, FloatAttr, IntegerAttr
from avalon.ir.core import Operation
from avalon.ir.types import ShapedType

if TYPE_CHECKING:
    from avalon.backends.cpu.codegen import FunctionLowering

Lowering = Callable[["FunctionLowering", Operation], Sequence[ir.Value]]
HANDLERS: dict[str, Lowering] = {}

CMPI_PREDICATES = ("eq", "ne", "slt", "sle", "sgt", "sge", "ult", "ule", "ugt", "uge")
CMPF_PREDICATES = ("false", "oeq", "ogt", "oge", "olt", "ole", "one", "ord", "ueq", "ugt",
                   "uge", "ult", "ule", "une", "uno", "true")
_CMP_SYMBOL = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def lowering(*names: str) -> Callable[[Lowering], Lowering]:
    def register(fn: Lowering) -> Lowering:
        for n in names:
            HANDLERS[n] = fn
        return fn

    return register


def _operands(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    return [ft.value(v) for v in op.operands]


def _result_type(op: Operation) -> ir.Type:
    return lt.value_type(op.results[0].type)


# ------------------------------------------------------------------------------ constants


@lowering("arith.constant")
def _constant(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    attr = op.attributes.get("value")
    t = op.results[0].type
    vt = lt.value_type(t)
    if isinstance(attr, IntegerAttr):
        return [lt.int_const(vt, attr.value)]
    if isinstance(attr, FloatAttr):
        return [lt.float_const(vt, attr.value)]
    if isinstance(attr, DenseElementsAttr):
        from avalon.backends.cpu.codegen import large_constant_bytes

        large = large_constant_bytes(op.results[0])
        if large is not None:  # read from global data (stores of it become memcpy)
            g = ft.ml.constant_data(*large)
            return [lt.from_storage(ft.b, ft.b.load(g, typ=lt.storage_type(t), align=64), t)]
        shape = t.shape if isinstance(t, ShapedType) else ()
        values = np.broadcast_to(attr.array, shape).reshape(-1)
        return [lt.constant_of(t, list(values))]
    from avalon.backends.cpu.codegen import codegen_error

    raise codegen_error(op, f"cannot be compiled for the CPU: unsupported value {attr}")


# ------------------------------------------------------------------- integer arithmetic


def _wrapping(method: str) -> Lowering:
    def lower(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
        a, b = _operands(ft, op)
        return [getattr(ft.b, method)(a, b)]

    return lower


for _name, _method in (("addi", "add"), ("subi", "sub"), ("muli", "mul"), ("andi", "and_"),
                       ("ori", "or_"), ("xori", "xor")):
    HANDLERS[f"arith.{_name}"] = _wrapping(_method)


def _division(kind: str) -> Lowering:
    def lower(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
        b = ft.b
        x, d = _operands(ft, op)
        t = x.type
        zero = lt.int_const(t, 0)
        is_zero = b.icmp_unsigned("==", d, zero)
        ft.report_error_if(op, is_zero)
        if lt.element_of(t).width == 1:
            # i1: the only valid divisor is true (1, or -1 signed): quotients are the
            # dividend (-x == x mod 2), remainders 0.
            return [zero if kind in ("remsi", "remui") else x]
        one = lt.int_const(t, 1)
        safe = b.select(is_zero, one, d)
        if kind == "divui":
            return [b.udiv(x, safe)]
        if kind == "remui":
            return [b.urem(x, safe)]
        is_minus_one = b.icmp_signed("==", d, lt.int_const(t, -1))
        safe = b.select(is_minus_one, one, safe)
        if kind == "remsi":
            return [b.srem(x, safe)]
        negated = b.sub(zero, x)
        q = b.sdiv(x, safe)
        if kind == "divsi":
            return [b.select(is_minus_one, negated, q)]
        r = b.srem(x, safe)
        inexact = b.icmp_signed("!=", r, zero)
        signs_differ = b.icmp_signed("<", b.xor(r, safe), zero)
        if kind == "floordivsi":
            q = b.sub(q, b.zext(b.and_(inexact, signs_differ), t))
        else:
            q = b.add(q, b.zext(b.and_(inexact, b.not_(signs_differ)), t))
        return [b.select(is_minus_one, negated, q)]

    return lower


for _kind in ("divsi", "divui", "remsi", "remui", "floordivsi", "ceildivsi"):
    HANDLERS[f"arith.{_kind}"] = _division(_kind)


def _shift(kind: str) -> Lowering:
    def lower(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
        b = ft.b
        x, n = _operands(ft, op)
        t = x.type
        width = lt.element_of(t).width
        zero = lt.int_const(t, 0)
        in_range = b.icmp_unsigned("<", n, lt.int_const(t, width))
        amount = b.select(in_range, n, zero)
        if kind == "shli":
            return [b.select(in_range, b.shl(x, amount), zero)]
        if kind == "shrui":
            return [b.select(in_range, b.lshr(x, amount), zero)]
        fill = b.ashr(x, lt.int_const(t, width - 1))
        return [b.select(in_range, b.ashr(x, amount), fill)]

    return lower


for _kind in ("shli", "shrui", "shrsi"):
    HANDLERS[f"arith.{_kind}"] = _shift(_kind)


def _intrinsic_binary(intrinsic: str) -> Lowering:
    def lower(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
        a, b = _operands(ft, op)
        fn = ft.ml.intrinsic(intrinsic, a.type, [a.type, a.type], [a.type])
        return [ft.b.call(fn, [a, b])]

    return lower


for _name, _intr in (("maxsi", "llvm.smax"), ("minsi", "llvm.smin"), ("maxui", "llvm.umax"),
                     ("minui", "llvm.umin"), ("maximumf", "llvm.maximum"),
                     ("minimumf", "llvm.minimum"), ("maxnumf", "llvm.maximumnum"),
                     ("minnumf", "llvm.minimumnum")):
    HANDLERS[f"arith.{_name}"] = _intrinsic_binary(_intr)


# ------------------------------------------------------------------------------ comparisons


def _predicate(op: Operation, names: tuple[str, ...]) -> str:
    attr = op.attributes.get("predicate")
    if isinstance(attr, IntegerAttr) and 0 <= attr.value < len(names):
        return names[attr.value]
    from avalon.backends.cpu.codegen import codegen_error

    raise codegen_error(op, f"has an invalid predicate {attr}")


@lowering("arith.cmpi")
def _cmpi(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    a, b = _operands(ft, op)
    pred = _predicate(op, CMPI_PREDICATES)
    if pred in ("eq", "ne"):
        return [ft.b.icmp_signed(_CMP_SYMBOL[pred], a, b)]
    symbol = _CMP_SYMBOL[pred[1:]]
    if pred[0] == "s":
        return [ft.b.icmp_signed(symbol, a, b)]
    return [ft.b.icmp_unsigned(symbol, a, b)]


@lowering("arith.cmpf")
def _cmpf(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    a, b = _operands(ft, op)
    pred = _predicate(op, CMPF_PREDICATES)
    if pred in ("false", "true"):
        return [lt.int_const(lt.bool_type_like(a.type), int(pred == "true"))]
    if pred in ("ord", "uno"):
        fn = ft.b.fcmp_ordered if pred == "ord" else ft.b.fcmp_unordered
        return [fn(pred, a, b)]
    symbol = _CMP_SYMBOL[pred[1:]]
    if pred[0] == "o":
        return [ft.b.fcmp_ordered(symbol, a, b)]
    return [ft.b.fcmp_unordered(symbol, a, b)]


@lowering("arith.select")
def _select(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    c, a, b = _operands(ft, op)
    return [ft.b.select(c, a, b)]


# ------------------------------------------------------------------------ float arithmetic


for _name, _method in (("addf", "fadd"), ("subf", "fsub"), ("mulf", "fmul"), ("divf", "fdiv"),
                       ("remf", "frem")):
    HANDLERS[f"arith.{_name}"] = _wrapping(_method)


@lowering("arith.negf")
def _negf(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    return [ft.b.fneg(ft.value(op.operands[0]))]


# ----------------------------------------------------------------------------------- casts


def _cast(method: str) -> Lowering:
    def lower(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
        return [getattr(ft.b, method)(ft.value(op.operands[0]), _result_type(op))]

    return lower


for _name, _method in (("extsi", "sext"), ("extui", "zext"), ("trunci", "trunc"),
                       ("sitofp", "sitofp"), ("uitofp", "uitofp"), ("extf", "fpext"),
                       ("truncf", "fptrunc"), ("bitcast", "bitcast")):
    HANDLERS[f"arith.{_name}"] = _cast(_method)


def _index_cast(extend: str) -> Lowering:
    def lower(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
        x = ft.value(op.operands[0])
        rt = _result_type(op)
        src, dst = lt.element_of(x.type).width, lt.element_of(rt).width
        if src == dst:
            return [x]
        if src < dst:
            return [getattr(ft.b, extend)(x, rt)]
        return [ft.b.trunc(x, rt)]

    return lower


HANDLERS["arith.index_cast"] = _index_cast("sext")
HANDLERS["arith.index_castui"] = _index_cast("zext")


def _saturating(intrinsic: str) -> Lowering:
    def lower(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
        x = ft.value(op.operands[0])
        rt = _result_type(op)
        fn = ft.ml.intrinsic(intrinsic, rt, [x.type], [rt, x.type])
        return [ft.b.call(fn, [x])]

    return lower


HANDLERS["arith.fptosi"] = _saturating("llvm.fptosi.sat")
HANDLERS["arith.fptoui"] = _saturating("llvm.fptoui.sat")


# ------------------------------------------------------------------------------------ math

_UNARY_INTRINSICS = {
    "exp": "llvm.exp", "exp2": "llvm.exp2", "log": "llvm.log", "log2": "llvm.log2",
    "log10": "llvm.log10", "sqrt": "llvm.sqrt", "sin": "llvm.sin", "cos": "llvm.cos",
    "tan": "llvm.tan", "asin": "llvm.asin", "acos": "llvm.acos", "atan": "llvm.atan",
    "sinh": "llvm.sinh", "cosh": "llvm.cosh", "tanh": "llvm.tanh", "absf": "llvm.fabs",
    "floor": "llvm.floor", "ceil": "llvm.ceil", "trunc": "llvm.trunc", "round": "llvm.round",
    "roundeven": "llvm.roundeven",
}
_BINARY_INTRINSICS = {"powf": "llvm.pow", "atan2": "llvm.atan2", "copysign": "llvm.copysign"}
#: math ops without an LLVM intrinsic: the libm function (float version gets an ``f``).
_LIBM = {"expm1": "expm1", "log1p": "log1p", "cbrt": "cbrt", "erf": "erf", "erfc": "erfc"}


def _unary_intrinsic(intrinsic: str) -> Lowering:
    def lower(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
        x = ft.value(op.operands[0])
        fn = ft.ml.intrinsic(intrinsic, x.type, [x.type], [x.type])
        return [ft.b.call(fn, [x])]

    return lower


for _name, _intr in _UNARY_INTRINSICS.items():
    HANDLERS[f"math.{_name}"] = _unary_intrinsic(_intr)
for _name, _intr in _BINARY_INTRINSICS.items():
    HANDLERS[f"math.{_name}"] = _intrinsic_binary(_intr)


def _libm_call(ft: FunctionLowering, base: str, x: ir.Value) -> ir.Value:
    """``base(x)`` through libm, per lane for vectors; half/bfloat go through float."""
    b = ft.b
    et = lt.element_of(x.type)

    def scalar(v: ir.Value) -> ir.Value:
        if et == lt.DOUBLE:
            return b.call(ft.ml.c_function(base, lt.DOUBLE, [lt.DOUBLE]), [v])
        fn = ft.ml.c_function(base + "f", lt.FLOAT, [lt.FLOAT])
        if et == lt.FLOAT:
            return b.call(fn, [v])
        return b.fptrunc(b.call(fn, [b.fpext(v, lt.FLOAT)]), et)

    if not isinstance(x.type, ir.VectorType):
        return scalar(x)
    out: ir.Value = ir.Constant(x.type, ir.Undefined)
    for i in range(x.type.count):
        lane = lt.int_const(lt.I64, i)
        out = b.insert_element(out, scalar(b.extract_element(x, lane)), lane)
    return out


def _libm(base: str) -> Lowering:
    def lower(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
        return [_libm_call(ft, base, ft.value(op.operands[0]))]

    return lower


for _name, _base in _LIBM.items():
    HANDLERS[f"math.{_name}"] = _libm(_base)


@lowering("math.rsqrt")
def _rsqrt(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    """``1 / sqrt(x)``; half and bfloat compute in float and round once."""
    b = ft.b
    x = ft.value(op.operands[0])
    narrow = lt.element_of(x.type) in (lt.HALF, lt.BFLOAT)
    wide = x.type
    if narrow:
        wide = (ir.VectorType(lt.FLOAT, x.type.count) if isinstance(x.type, ir.VectorType)
                else lt.FLOAT)
        x = b.fpext(x, wide)
    sqrt = ft.ml.intrinsic("llvm.sqrt", wide, [wide], [wide])
    r = b.fdiv(lt.float_const(wide, 1.0), b.call(sqrt, [x]))
    return [b.fptrunc(r, ft.value(op.operands[0]).type) if narrow else r]


@lowering("math.fma")
def _fma(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    a, b, c = _operands(ft, op)
    fn = ft.ml.intrinsic("llvm.fma", a.type, [a.type] * 3, [a.type])
    return [ft.b.call(fn, [a, b, c])]


@lowering("math.absi")
def _absi(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    x = ft.value(op.operands[0])
    fn = ft.ml.intrinsic("llvm.abs", x.type, [x.type, lt.I1], [x.type])
    return [ft.b.call(fn, [x, lt.int_const(lt.I1, 0)])]
