"""Semantics of the ``arith`` dialect, exact at the IR's types.

Every kernel works on numpy scalars and, elementwise, on numpy arrays (vector operands, and
scalar bodies that ``tensor.generic`` runs on whole arrays). Results keep the op's element
dtype. Integers are two's complement at the type's width: ``i8``..``i64`` and ``index`` wrap as
numpy does, ``i1`` is computed in an 8-bit domain (true = -1 signed, 1 unsigned) and reduced
mod 2. Unsigned ops reinterpret the bits. bf16 arithmetic is done in float64 and rounded once.
The cases MLIR leaves undefined (poison) get defined results listed in ``docs/interpreter.md``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from avalon.backends.interpreter.executor import Kernel, specialized_impl
from avalon.backends.interpreter.registry import ExecContext, interp_error
from avalon.backends.interpreter.values import int_width, round_bf16
from avalon.ir.attributes import DenseElementsAttr, FloatAttr, IntegerAttr, StringAttr
from avalon.ir.core import Operation
from avalon.ir.types import FloatType, IndexType, IntegerType, ShapedType, Type, bf16

ndarray = np.ndarray
F64 = np.dtype(np.float64)

# ----------------------------------------------------------------------------- type helpers


def elem_type(t: Type) -> Type:
    return t.element_type if isinstance(t, ShapedType) else t


class IntKind(NamedTuple):
    """How an integer type is computed: its width and signed/unsigned numpy domains."""

    width: int
    s: np.dtype
    u: np.dtype
    is_bool: bool


_SIGNED = {8: np.int8, 16: np.int16, 32: np.int32, 64: np.int64}


def int_kind(t: Type) -> IntKind:
    """The computing domain of integer (or index) type ``t``; i1 computes in 8 bits."""
    et = elem_type(t)
    if not isinstance(et, IntegerType | IndexType):
        raise TypeError(f"expected an integer or index type, got {et}")
    width = int_width(et)
    if width == 1:
        return IntKind(1, np.dtype(np.int8), np.dtype(np.uint8), True)
    if width not in _SIGNED:
        raise TypeError(f"integers of width {width} are not supported by the interpreter")
    s = np.dtype(_SIGNED[width])
    return IntKind(width, s, np.dtype(f"u{width // 8}"), False)


def to_signed(x: Any, k: IntKind) -> Any:
    """Signed view of an integer value (i1 true becomes -1)."""
    return -(x.astype(np.int8)) if k.is_bool else x


def to_unsigned(x: Any, k: IntKind) -> Any:
    """Unsigned view of an integer value's bits."""
    return x.astype(np.uint8) if k.is_bool else x.view(k.u)


def from_signed(x: Any, k: IntKind) -> Any:
    """Back from the signed domain to the runtime dtype (i1 keeps the low bit)."""
    return (x & 1).astype(np.bool_) if k.is_bool else x


def from_unsigned(x: Any, k: IntKind) -> Any:
    return (x & 1).astype(np.bool_) if k.is_bool else x.view(k.s)


def float_dtype(t: Type) -> np.dtype:
    et = elem_type(t)
    if not isinstance(et, FloatType):
        raise TypeError(f"expected a floating-point type, got {et}")
    return np.dtype(np.float32) if et == bf16 else np.dtype(f"f{et.width // 8}")


def round_to(x: Any, t: Type) -> Any:
    """Round float64 values ``x`` once to float type ``t`` (bf16 held in float32)."""
    et = elem_type(t)
    if et == bf16:
        return round_bf16(x)
    return x.astype(float_dtype(et))


def is_array(a: Any, b: Any = None) -> bool:
    return type(a) is ndarray or type(b) is ndarray


def _operand_type(op: Operation, i: int = 0) -> Type:
    return op.operands[i].type


def _result_type(op: Operation) -> Type:
    return op.results[0].type


# ------------------------------------------------------------------------------- constants


@specialized_impl("arith.constant")
def _constant(ctx: ExecContext, op: Operation) -> Kernel:
    """The ``value`` attribute as a runtime value of the result type (built once)."""
    attr = op.attributes.get("value")
    t = _result_type(op)
    if isinstance(attr, DenseElementsAttr):
        if not isinstance(t, ShapedType):
            value: Any = attr.array.reshape(-1)[0]
        else:
            value = attr.array
    elif isinstance(attr, IntegerAttr | FloatAttr):
        et = elem_type(t)
        if isinstance(et, FloatType):
            scalar = round_to(np.float64(attr.value), et)
        else:
            k = int_kind(et)
            scalar = np.bool_(attr.value & 1) if k.is_bool else np.array(
                attr.value, dtype=np.int64).astype(k.s)[()]
        value = np.full(t.shape, scalar) if isinstance(t, ShapedType) else scalar
        if isinstance(value, ndarray):
            value.flags.writeable = False
    else:
        raise interp_error(op, f"has an unsupported 'value' attribute {attr}")

    def constant(args: list) -> list:
        return [value]

    return constant


# ------------------------------------------------------------------ integer arithmetic


def _check_divisor(b: Any, op: Operation) -> None:
    if type(b) is ndarray:
        if not b.all():
            where = tuple(int(i) for i in np.argwhere(b == 0)[0])
            raise interp_error(op, f"divides by zero (divisor element at {where})")
    elif not b:
        raise interp_error(op, "divides by zero")


def _divsi(a: Any, b: Any, k: IntKind) -> Any:
    q = a // b  # floor; the quotient truncates toward zero instead
    if type(q) is not ndarray:
        return q + 1 if (a ^ b) < 0 and q * b != a else q
    return q + ((a - q * b != 0) & ((a ^ b) < 0))


def _remsi(a: Any, b: Any, k: IntKind) -> Any:
    r = a % b  # numpy's remainder takes the divisor's sign; C's takes the dividend's
    if type(r) is not ndarray:
        return r - b if r and (a ^ b) < 0 else r
    return r - b * ((r != 0) & ((a ^ b) < 0))


def _ceildivsi(a: Any, b: Any, k: IntKind) -> Any:
    q = a // b
    if type(q) is not ndarray:
        return q + 1 if q * b != a else q
    return q + (a - q * b != 0)


def _floordivsi(a: Any, b: Any, k: IntKind) -> Any:
    return a // b


def _divui(a: Any, b: Any, k: IntKind) -> Any:
    return a // b


def _remui(a: Any, b: Any, k: IntKind) -> Any:
    return a % b


def _max(a: Any, b: Any, k: IntKind) -> Any:
    if is_array(a, b):
        return np.maximum(a, b)
    return a if a >= b else b


def _min(a: Any, b: Any, k: IntKind) -> Any:
    if is_array(a, b):
        return np.minimum(a, b)
    return a if a <= b else b


def _shift_amount(b: Any, k: IntKind) -> tuple[Any, Any]:
    """(amount in range?, amount clamped into range) with the amount read as unsigned."""
    amount = b.astype(np.uint64) & np.uint64((1 << k.width) - 1)
    ok = amount < k.width
    return ok, np.where(ok, amount, 0).astype(k.s)


def _shli(a: Any, b: Any, k: IntKind) -> Any:
    if not is_array(a, b):
        return a << b if int(b) & ((1 << k.width) - 1) < k.width else a ^ a
    ok, amount = _shift_amount(b, k)
    return np.where(ok, a << amount, 0).astype(k.s)[()]


def _shrsi(a: Any, b: Any, k: IntKind) -> Any:
    fill = k.s.type(k.width - 1)
    if not is_array(a, b):
        return a >> b if int(b) & ((1 << k.width) - 1) < k.width else a >> fill
    ok, amount = _shift_amount(b, k)
    return np.where(ok, a >> amount, a >> fill).astype(k.s)[()]


def _shrui(a: Any, b: Any, k: IntKind) -> Any:
    ua = to_unsigned(a, k)
    if not is_array(a, b):
        if int(b) & ((1 << k.width) - 1) < k.width:
            return from_unsigned(ua >> to_unsigned(b, k), k)
        return a ^ a
    ok, amount = _shift_amount(b, k)
    return from_unsigned(np.where(ok, ua >> amount.astype(k.u), 0).astype(k.u), k)[()]


IntFn = Callable[[Any, Any, IntKind], Any]


def _register_int_binary(name: str, fn: IntFn, *, signed: bool = True,
                         divides: bool = False) -> None:
    """Register ``fn`` (computing in the signed or unsigned domain) as ``arith.<name>``."""

    @specialized_impl(f"arith.{name}")
    def make(ctx: ExecContext, op: Operation) -> Kernel:
        k = int_kind(_operand_type(op))
        if k.is_bool:
            conv = to_signed if signed else to_unsigned

            def bool_kernel(args: list) -> list:
                if divides:
                    _check_divisor(args[1], op)
                return [from_signed(fn(conv(args[0], k), conv(args[1], k), k), k)]

            return bool_kernel
        if signed:
            if not divides:
                return lambda args: [fn(args[0], args[1], k)]

            def signed_kernel(args: list) -> list:
                b = args[1]
                if type(b) is ndarray:
                    _check_divisor(b, op)
                elif not b:
                    raise interp_error(op, "divides by zero")
                return [fn(args[0], b, k)]

            return signed_kernel

        def unsigned_kernel(args: list) -> list:
            if divides:
                _check_divisor(args[1], op)
            return [fn(args[0].view(k.u), args[1].view(k.u), k).view(k.s)]

        return unsigned_kernel


for _name, _fn in (("divsi", _divsi), ("remsi", _remsi), ("ceildivsi", _ceildivsi),
                   ("floordivsi", _floordivsi)):
    _register_int_binary(_name, _fn, divides=True)
for _name, _fn in (("divui", _divui), ("remui", _remui)):
    _register_int_binary(_name, _fn, signed=False, divides=True)
_register_int_binary("maxsi", _max)
_register_int_binary("minsi", _min)
_register_int_binary("maxui", _max, signed=False)
_register_int_binary("minui", _min, signed=False)
_register_int_binary("shli", _shli)
_register_int_binary("shrsi", _shrsi)


@specialized_impl("arith.shrui")
def _shrui_impl(ctx: ExecContext, op: Operation) -> Kernel:
    k = int_kind(_operand_type(op))
    if k.is_bool:
        return lambda args: [args[0] & ~args[1]]
    return lambda args: [_shrui(args[0], args[1], k)]


def _register_wrapping(name: str, fn: Callable[[Any, Any], Any],
                       bool_fn: Callable[[Any, Any], Any]) -> None:
    """Ops that wrap naturally in numpy's fixed-width types; ``bool_fn`` is the i1 (mod 2)
    version. ``fn`` is an ``operator`` function: the fastest call on numpy scalars."""

    @specialized_impl(f"arith.{name}")
    def make(ctx: ExecContext, op: Operation) -> Kernel:
        f = bool_fn if int_kind(_operand_type(op)).is_bool else fn
        return lambda args: [f(args[0], args[1])]


_register_wrapping("addi", operator.add, operator.xor)
_register_wrapping("subi", operator.sub, operator.xor)
_register_wrapping("muli", operator.mul, operator.and_)
_register_wrapping("andi", operator.and_, operator.and_)
_register_wrapping("ori", operator.or_, operator.or_)
_register_wrapping("xori", operator.xor, operator.xor)

# ---------------------------------------------------------------------- comparisons

CMPI_PREDICATES = ("eq", "ne", "slt", "sle", "sgt", "sge", "ult", "ule", "ugt", "uge")
CMPF_PREDICATES = ("false", "oeq", "ogt", "oge", "olt", "ole", "one", "ord", "ueq", "ugt",
                   "uge", "ult", "ule", "une", "uno", "true")


def predicate_name(op: Operation, names: tuple[str, ...]) -> str:
    """The op's ``predicate`` attribute (upstream integer numbering, or its name)."""
    attr = op.attributes.get("predicate")
    if isinstance(attr, IntegerAttr) and 0 <= attr.value < len(names):
        return names[attr.value]
    if isinstance(attr, StringAttr) and attr.value in names:
        return attr.value
    raise interp_error(op, f"has an invalid 'predicate' attribute {attr}")


_ORDER_TESTS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
    "gt": operator.gt, "ge": operator.ge,
}


@specialized_impl("arith.cmpi")
def _cmpi(ctx: ExecContext, op: Operation) -> Kernel:
    pred = predicate_name(op, CMPI_PREDICATES)
    k = int_kind(_operand_type(op))
    test = _ORDER_TESTS[pred if pred in ("eq", "ne") else pred[1:]]
    if pred in ("eq", "ne"):
        return lambda args: [test(args[0], args[1])]
    if pred[0] == "s":
        if k.is_bool:
            return lambda args: [test(to_signed(args[0], k), to_signed(args[1], k))]
        return lambda args: [test(args[0], args[1])]
    if k.is_bool:
        return lambda args: [test(args[0], args[1])]
    u = k.u
    return lambda args: [test(args[0].view(u), args[1].view(u))]


def _unordered(a: Any, b: Any) -> Any:
    return (a != a) | (b != b)


def _constant_bool(value: bool) -> Callable[[Any, Any], Any]:
    def fn(a: Any, b: Any) -> Any:
        return np.full(np.broadcast_shapes(np.shape(a), np.shape(b)), value)[()]

    return fn


_CMPF: dict[str, Callable[[Any, Any], Any]] = {
    "false": _constant_bool(False),
    "oeq": operator.eq,
    "ogt": operator.gt,
    "oge": operator.ge,
    "olt": operator.lt,
    "ole": operator.le,
    "one": lambda a, b: (a < b) | (a > b),
    "ord": lambda a, b: (a == a) & (b == b),
    "ueq": lambda a, b: ~((a < b) | (a > b)),
    "ugt": lambda a, b: ~(a <= b),
    "uge": lambda a, b: ~(a < b),
    "ult": lambda a, b: ~(a >= b),
    "ule": lambda a, b: ~(a > b),
    "une": operator.ne,
    "uno": _unordered,
    "true": _constant_bool(True),
}


@specialized_impl("arith.cmpf")
def _cmpf(ctx: ExecContext, op: Operation) -> Kernel:
    test = _CMPF[predicate_name(op, CMPF_PREDICATES)]
    return lambda args: [test(args[0], args[1])]


@specialized_impl("arith.select")
def _select(ctx: ExecContext, op: Operation) -> Kernel:
    """A scalar condition picks a whole operand; a vector condition picks elementwise."""

    def select(args: list) -> list:
        c, a, b = args
        if type(c) is ndarray:
            return [np.where(c, a, b)[()]] if c.ndim else [a if c else b]
        return [a if c else b]

    return select


# ---------------------------------------------------------------------- float arithmetic


def _signbit(x: Any) -> bool:
    return math.copysign(1.0, x) < 0


def _maximumf(a: Any, b: Any) -> Any:
    """IEEE maximum: NaN propagates, -0.0 < +0.0."""
    if type(a) is ndarray or type(b) is ndarray:
        return np.where(a == b, np.where(np.signbit(a), b, a), np.maximum(a, b))[()]
    if a > b:
        return a
    if b > a:
        return b
    if a != a or b != b:
        return a + b  # NaN of the operand dtype
    return b if _signbit(a) else a


def _minimumf(a: Any, b: Any) -> Any:
    """IEEE minimum: NaN propagates, -0.0 < +0.0."""
    if type(a) is ndarray or type(b) is ndarray:
        return np.where(a == b, np.where(np.signbit(a), a, b), np.minimum(a, b))[()]
    if a < b:
        return a
    if b < a:
        return b
    if a != a or b != b:
        return a + b
    return a if _signbit(a) else b


def _maxnumf(a: Any, b: Any) -> Any:
    """IEEE maxNum: a NaN operand is ignored unless both are NaN; -0.0 < +0.0."""
    if type(a) is ndarray or type(b) is ndarray:
        return np.where(a == b, np.where(np.signbit(a), b, a), np.fmax(a, b))[()]
    if a != a:
        return b
    if b != b:
        return a
    return _maximumf(a, b)


def _minnumf(a: Any, b: Any) -> Any:
    """IEEE minNum: a NaN operand is ignored unless both are NaN; -0.0 < +0.0."""
    if type(a) is ndarray or type(b) is ndarray:
        return np.where(a == b, np.where(np.signbit(a), a, b), np.fmin(a, b))[()]
    if a != a:
        return b
    if b != b:
        return a
    return _minimumf(a, b)


def _remf(a: Any, b: Any) -> Any:
    return np.fmod(a, b)


def _register_float(name: str, fn: Callable[..., Any], arity: int = 2) -> None:
    """Float ops computed in the operand dtype (IEEE-exact there); bf16 in float64, rounded."""

    @specialized_impl(f"arith.{name}")
    def make(ctx: ExecContext, op: Operation) -> Kernel:
        et = elem_type(_result_type(op))
        float_dtype(et)
        if et == bf16:
            if arity == 1:
                return lambda args: [round_bf16(fn(args[0].astype(F64)))]
            return lambda args: [round_bf16(fn(args[0].astype(F64), args[1].astype(F64)))]
        if arity == 1:
            return lambda args: [fn(args[0])]
        return lambda args: [fn(args[0], args[1])]


_register_float("addf", operator.add)
_register_float("subf", operator.sub)
_register_float("mulf", operator.mul)
_register_float("divf", operator.truediv)
_register_float("remf", _remf)
_register_float("maximumf", _maximumf)
_register_float("minimumf", _minimumf)
_register_float("maxnumf", _maxnumf)
_register_float("minnumf", _minnumf)
_register_float("negf", operator.neg, arity=1)

# --------------------------------------------------------------------------------- casts


def _unary(fn: Callable[[Any], Any]) -> Kernel:
    return lambda args: [fn(args[0])]


@specialized_impl("arith.extsi", "arith.trunci", "arith.index_cast")
def _signed_int_cast(ctx: ExecContext, op: Operation) -> Kernel:
    """Sign-extend or truncate (keep the low bits) between integer widths."""
    src, dst = int_kind(_operand_type(op)), int_kind(_result_type(op))
    if dst.is_bool:
        return _unary(lambda x: (x & 1).astype(np.bool_) if not src.is_bool else x)
    if src.is_bool:
        return _unary(lambda x: -(x.astype(dst.s)))
    return _unary(lambda x: x.astype(dst.s))


@specialized_impl("arith.extui", "arith.index_castui")
def _unsigned_int_cast(ctx: ExecContext, op: Operation) -> Kernel:
    """Zero-extend or truncate between integer widths."""
    src, dst = int_kind(_operand_type(op)), int_kind(_result_type(op))
    if dst.is_bool:
        return _unary(lambda x: (x & 1).astype(np.bool_) if not src.is_bool else x)
    if src.is_bool:
        return _unary(lambda x: x.astype(dst.s))
    return _unary(lambda x: x.view(src.u).astype(dst.s))


def int_to_float(x: Any, unsigned: bool, src: IntKind, dst: Type) -> Any:
    """Integer (signed or unsigned view) to float type ``dst``, rounded once to nearest."""
    if src.is_bool:
        x = x.astype(np.int8) if unsigned else -(x.astype(np.int8))
    elif unsigned:
        x = x.view(src.u)
    et = elem_type(dst)
    if et != bf16:
        return x.astype(float_dtype(et))
    # bf16: round to odd at 24 bits in integers (exact), then round once to 8 bits.
    mag = np.abs(x.astype(np.int64)).view(np.uint64) if not unsigned else x.astype(np.uint64)
    bits = np.frexp(mag.astype(np.float64))[1]
    drop = np.maximum(bits - 24, 0).astype(np.uint64)
    kept = (mag >> drop) << drop
    sticky = ((mag != kept) & (drop > 0)).astype(np.uint64) << drop
    odd = (kept | sticky).astype(np.float64)
    signed = odd if unsigned else np.where(x < 0, -odd, odd)
    return round_bf16(signed)


@specialized_impl("arith.sitofp", "arith.uitofp")
def _int_to_float(ctx: ExecContext, op: Operation) -> Kernel:
    src = int_kind(_operand_type(op))
    dst = _result_type(op)
    float_dtype(dst)
    unsigned = op.name == "arith.uitofp"
    return _unary(lambda x: int_to_float(x, unsigned, src, dst))


def float_to_int(x: Any, unsigned: bool, dst: IntKind) -> Any:
    """Truncate toward zero, saturating at the type's range; NaN gives 0."""
    t = np.trunc(x.astype(np.float64))
    if unsigned:
        lo, hi = 0.0, 2.0 ** dst.width
        dtype, top, bottom = dst.u, dst.u.type(~np.uint64(0) >> np.uint64(64 - dst.width)), 0
    else:
        lo, hi = -(2.0 ** (dst.width - 1)), 2.0 ** (dst.width - 1)
        dtype = dst.s
        top, bottom = dst.s.type((1 << (dst.width - 1)) - 1), dst.s.type(-(1 << (dst.width - 1)))
    inside = (t >= lo) & (t < hi)
    exact = np.where(inside, t, 0.0).astype(dtype)
    out = np.where(t >= hi, top, np.where(t < lo, bottom, exact)).astype(dtype)[()]
    return from_unsigned(out, dst) if unsigned else from_signed(out, dst)


@specialized_impl("arith.fptosi", "arith.fptoui")
def _float_to_int(ctx: ExecContext, op: Operation) -> Kernel:
    float_dtype(_operand_type(op))
    dst = int_kind(_result_type(op))
    unsigned = op.name == "arith.fptoui"
    return _unary(lambda x: float_to_int(x, unsigned, dst))


@specialized_impl("arith.extf", "arith.truncf")
def _float_cast(ctx: ExecContext, op: Operation) -> Kernel:
    """Widening is exact; narrowing rounds once to nearest even (overflow gives inf)."""
    src, dst = elem_type(_operand_type(op)), elem_type(_result_type(op))
    if dst == bf16 and src != bf16:
        return _unary(round_bf16)
    dtype = float_dtype(dst)
    float_dtype(src)
    return _unary(lambda x: x.astype(dtype))


def _bit_width(et: Type) -> int:
    return et.width if isinstance(et, FloatType) else int_kind(et).width


def to_bits(x: Any, et: Type) -> Any:
    """The raw bit pattern of values of type ``et``, as unsigned integers of its width."""
    if et == bf16:
        return (x.view(np.uint32) >> np.uint32(16)).astype(np.uint16)
    if isinstance(et, FloatType):
        return x.view(np.dtype(f"u{et.width // 8}"))
    k = int_kind(et)
    return x.astype(np.uint8) if k.is_bool else x.view(k.u)


def from_bits(bits: Any, et: Type) -> Any:
    """Values of type ``et`` with bit pattern ``bits`` (unsigned integers of its width)."""
    if et == bf16:
        return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)
    if isinstance(et, FloatType):
        return bits.view(float_dtype(et))
    k = int_kind(et)
    return (bits & 1).astype(np.bool_) if k.is_bool else bits.view(k.s)


@specialized_impl("arith.bitcast")
def _bitcast(ctx: ExecContext, op: Operation) -> Kernel:
    """Reinterpret the bits of each element as the result element type (same width)."""
    src, dst = elem_type(_operand_type(op)), elem_type(_result_type(op))
    if _bit_width(src) != _bit_width(dst):
        raise interp_error(op, f"cannot bitcast {src} to {dst}: widths differ")
    return _unary(lambda x: from_bits(to_bits(x, src), dst))
