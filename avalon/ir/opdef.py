"""The one op-definition API used by every dialect.

An op is a class with declarative fields::

    class AddFOp(Op):
        '''Float addition.'''
        name = "arith.addf"
        traits = (Pure, Commutative, SameOperandsAndResultType, Elementwise)
        lhs = Operand(FloatLike)
        rhs = Operand(FloatLike)
        result = Result(FloatLike)
        assembly_format = "$lhs `,` $rhs attr-dict `:` type($result)"

Fields become accessors (``op.lhs``); the class is registered under ``name``; the declared
constraints, counts and traits are verified by :meth:`Op.verify_structure`; ``build`` creates an
op from keyword arguments and infers result types where the op knows them. Custom text forms are
either a declarative ``assembly_format`` (see :mod:`avalon.ir.asm_format`) or the
``print_custom``/``parse_custom`` hooks (see :mod:`avalon.ir.asm`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from avalon.ir.attributes import (
    AffineMapAttr,
    ArrayAttr,
    Attribute,
    DenseArrayAttr,
    DenseElementsAttr,
    DictAttr,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    SymbolRefAttr,
    TypeAttr,
    UnitAttr,
    bool_attr,
)
from avalon.ir.core import OP_REGISTRY, Block, Operation, Region, Value
from avalon.ir.location import Location
from avalon.ir.traits import trait_types
from avalon.ir.types import (
    FloatType,
    FunctionType,
    IndexType,
    IntegerType,
    MemRefType,
    ShapedType,
    TensorType,
    Type,
    VectorType,
    i1,
    i32,
    i64,
)

# --------------------------------------------------------------------------- type constraints


@dataclass(frozen=True)
class TypeConstraint:
    """A predicate on types with a description used in verifier messages."""

    predicate: Callable[[Type], bool]
    description: str

    def __call__(self, t: Type) -> bool:
        return self.predicate(t)

    def __or__(self, other: TypeConstraint) -> TypeConstraint:
        return TypeConstraint(lambda t: self(t) or other(t),
                              f"{self.description} or {other.description}")


def _is_int(t: Type) -> bool:
    return isinstance(t, IntegerType)


def _is_float(t: Type) -> bool:
    return isinstance(t, FloatType)


def _elem(t: Type) -> Type:
    return t.element_type if isinstance(t, ShapedType) else t


AnyType = TypeConstraint(lambda t: True, "any type")
AnyInteger = TypeConstraint(_is_int, "signless integer")
Index = TypeConstraint(lambda t: isinstance(t, IndexType), "index")
IntegerOrIndex = TypeConstraint(lambda t: isinstance(t, IntegerType | IndexType),
                                "signless integer or index")
AnyFloat = TypeConstraint(_is_float, "floating-point")
Bool = TypeConstraint(lambda t: t == i1, "i1")
IntOrFloat = TypeConstraint(lambda t: isinstance(t, IntegerType | IndexType | FloatType),
                            "integer, index or floating-point")
AnyTensor = TypeConstraint(lambda t: isinstance(t, TensorType), "tensor")
AnyMemRef = TypeConstraint(lambda t: isinstance(t, MemRefType), "memref")
AnyVector = TypeConstraint(lambda t: isinstance(t, VectorType), "vector")
AnyShaped = TypeConstraint(lambda t: isinstance(t, ShapedType), "shaped type")
AnyFunction = TypeConstraint(lambda t: isinstance(t, FunctionType), "function type")


def scalar_or_vector_of(c: TypeConstraint) -> TypeConstraint:
    """``c`` itself, or a vector whose element type satisfies ``c``."""
    return TypeConstraint(
        lambda t: c(t) or (isinstance(t, VectorType) and c(t.element_type)),
        f"{c.description} or vector of {c.description}",
    )


def tensor_of(c: TypeConstraint) -> TypeConstraint:
    return TypeConstraint(lambda t: isinstance(t, TensorType) and c(t.element_type),
                          f"tensor of {c.description}")


def memref_of(c: TypeConstraint) -> TypeConstraint:
    return TypeConstraint(lambda t: isinstance(t, MemRefType) and c(t.element_type),
                          f"memref of {c.description}")


def vector_of(c: TypeConstraint) -> TypeConstraint:
    return TypeConstraint(lambda t: isinstance(t, VectorType) and c(t.element_type),
                          f"vector of {c.description}")


FloatLike = scalar_or_vector_of(AnyFloat)
IntegerLike = scalar_or_vector_of(IntegerOrIndex)
BoolLike = scalar_or_vector_of(Bool)
IntOrFloatLike = scalar_or_vector_of(IntOrFloat)

# ---------------------------------------------------------------------- attribute constraints


@dataclass(frozen=True)
class AttrConstraint:
    """A predicate on attributes, with a description and a converter from Python values."""

    predicate: Callable[[Attribute], bool]
    description: str
    convert: Callable[[Any], Attribute] | None = None

    def __call__(self, a: Attribute) -> bool:
        return self.predicate(a)


def _to_int_attr(t: Type) -> Callable[[Any], Attribute]:
    return lambda v: v if isinstance(v, Attribute) else IntegerAttr(int(v), t)


AnyAttr = AttrConstraint(lambda a: True, "any attribute")
I64Attr = AttrConstraint(lambda a: isinstance(a, IntegerAttr) and a.type == i64,
                         "64-bit integer attribute", _to_int_attr(i64))
I32Attr = AttrConstraint(lambda a: isinstance(a, IntegerAttr) and a.type == i32,
                         "32-bit integer attribute", _to_int_attr(i32))
IndexAttr = AttrConstraint(lambda a: isinstance(a, IntegerAttr) and isinstance(a.type, IndexType),
                           "index attribute", _to_int_attr(IndexType()))
AnyIntegerAttr = AttrConstraint(lambda a: isinstance(a, IntegerAttr), "integer attribute",
                                _to_int_attr(i64))
BoolAttr = AttrConstraint(lambda a: isinstance(a, IntegerAttr) and a.type == i1,
                          "bool attribute", lambda v: v if isinstance(v, Attribute)
                          else bool_attr(v))
FloatAttrC = AttrConstraint(lambda a: isinstance(a, FloatAttr), "float attribute",
                            lambda v: v if isinstance(v, Attribute) else FloatAttr(float(v)))
StrAttr = AttrConstraint(lambda a: isinstance(a, StringAttr), "string attribute",
                         lambda v: v if isinstance(v, Attribute) else StringAttr(str(v)))
SymbolNameAttr = AttrConstraint(lambda a: isinstance(a, StringAttr), "symbol name",
                                lambda v: v if isinstance(v, Attribute) else StringAttr(str(v)))
SymbolRefAttrC = AttrConstraint(lambda a: isinstance(a, SymbolRefAttr), "symbol reference",
                                lambda v: v if isinstance(v, Attribute) else SymbolRefAttr(str(v)))
FlatSymbolRefAttr = AttrConstraint(
    lambda a: isinstance(a, SymbolRefAttr) and not a.nested, "flat symbol reference",
    lambda v: v if isinstance(v, Attribute) else SymbolRefAttr(str(v)))
UnitAttrC = AttrConstraint(lambda a: isinstance(a, UnitAttr), "unit attribute",
                           lambda v: v if isinstance(v, Attribute) else UnitAttr())
TypeAttrC = AttrConstraint(lambda a: isinstance(a, TypeAttr), "type attribute",
                           lambda v: v if isinstance(v, Attribute) else TypeAttr(v))
FunctionTypeAttr = AttrConstraint(
    lambda a: isinstance(a, TypeAttr) and isinstance(a.value, FunctionType),
    "function type attribute", lambda v: v if isinstance(v, Attribute) else TypeAttr(v))
DictAttrC = AttrConstraint(lambda a: isinstance(a, DictAttr), "dictionary attribute",
                           lambda v: v if isinstance(v, Attribute) else DictAttr.of(v))
ArrayAttrC = AttrConstraint(lambda a: isinstance(a, ArrayAttr), "array attribute")
DenseI64ArrayAttr = AttrConstraint(
    lambda a: isinstance(a, DenseArrayAttr) and a.element_type == i64, "i64 dense array",
    lambda v: v if isinstance(v, Attribute) else DenseArrayAttr(i64, tuple(int(x) for x in v)))
DenseBoolArrayAttr = AttrConstraint(
    lambda a: isinstance(a, DenseArrayAttr) and a.element_type == i1, "i1 dense array",
    lambda v: v if isinstance(v, Attribute) else DenseArrayAttr(i1, tuple(bool(x) for x in v)))
ElementsAttr = AttrConstraint(lambda a: isinstance(a, DenseElementsAttr), "elements attribute")
AffineMapAttrC = AttrConstraint(lambda a: isinstance(a, AffineMapAttr), "affine map",
                                lambda v: v if isinstance(v, Attribute) else AffineMapAttr(v))
TypedAttr = AttrConstraint(
    lambda a: isinstance(a, IntegerAttr | FloatAttr | DenseElementsAttr), "typed attribute")


def array_of(c: AttrConstraint) -> AttrConstraint:
    """An ArrayAttr whose elements satisfy ``c``."""
    def convert(v: Any) -> Attribute:
        if isinstance(v, Attribute):
            return v
        return ArrayAttr(tuple(c.convert(x) if c.convert else x for x in v))
    return AttrConstraint(lambda a: isinstance(a, ArrayAttr) and all(c(e) for e in a.elements),
                          f"array of {c.description}", convert)


def enum_attr(*choices: str) -> AttrConstraint:
    """A string attribute restricted to ``choices`` (e.g. comparison predicates)."""
    return AttrConstraint(lambda a: isinstance(a, StringAttr) and a.value in choices,
                          "one of " + ", ".join(f'"{c}"' for c in choices),
                          lambda v: v if isinstance(v, Attribute) else StringAttr(str(v)))


# -------------------------------------------------------------------------------- fields

SINGLE, VARIADIC, OPTIONAL = "single", "variadic", "optional"


@dataclass(eq=False)
class FieldDef:
    """Base of declarative fields; ``name`` is set when the op class is created."""

    kind: str = SINGLE
    name: str = field(default="", init=False)
    doc: str = ""


@dataclass(eq=False)
class OperandDef(FieldDef):
    constraint: TypeConstraint = AnyType

    def __get__(self, op: Any, owner: type | None = None) -> Any:
        if op is None:
            return self
        return op._group(op._operands, type(op)._operand_defs, "operandSegmentSizes", self)


@dataclass(eq=False)
class ResultDef(FieldDef):
    constraint: TypeConstraint = AnyType

    def __get__(self, op: Any, owner: type | None = None) -> Any:
        if op is None:
            return self
        return op._group(op.results, type(op)._result_defs, "resultSegmentSizes", self)


@dataclass(eq=False)
class AttrDef(FieldDef):
    constraint: AttrConstraint = AnyAttr
    default: Attribute | None = None

    def __get__(self, op: Any, owner: type | None = None) -> Any:
        if op is None:
            return self
        return op.attributes.get(self.name, self.default)

    def convert(self, value: Any) -> Attribute:
        if isinstance(value, Attribute):
            return value
        if self.constraint.convert is not None:
            return self.constraint.convert(value)
        raise TypeError(f"attribute '{self.name}' needs an Attribute, not {type(value).__name__}")


@dataclass(eq=False)
class RegionDef(FieldDef):
    def __get__(self, op: Any, owner: type | None = None) -> Any:
        if op is None:
            return self
        defs = type(op)._region_defs
        idx = defs.index(self)
        if self.kind == VARIADIC:  # only the last region field may be variadic
            return op.regions[idx:]
        return op.regions[idx]


@dataclass(eq=False)
class SuccessorDef(FieldDef):
    def __get__(self, op: Any, owner: type | None = None) -> Any:
        if op is None:
            return self
        defs = type(op)._successor_defs
        idx = defs.index(self)
        if self.kind == VARIADIC:
            return op.successors[idx:]
        return op.successors[idx]


def Operand(constraint: TypeConstraint = AnyType, doc: str = "") -> Any:
    return OperandDef(SINGLE, doc, constraint)


def VarOperand(constraint: TypeConstraint = AnyType, doc: str = "") -> Any:
    return OperandDef(VARIADIC, doc, constraint)


def OptOperand(constraint: TypeConstraint = AnyType, doc: str = "") -> Any:
    return OperandDef(OPTIONAL, doc, constraint)


def Result(constraint: TypeConstraint = AnyType, doc: str = "") -> Any:
    return ResultDef(SINGLE, doc, constraint)


def VarResult(constraint: TypeConstraint = AnyType, doc: str = "") -> Any:
    return ResultDef(VARIADIC, doc, constraint)


def OptResult(constraint: TypeConstraint = AnyType, doc: str = "") -> Any:
    return ResultDef(OPTIONAL, doc, constraint)


def Attr(constraint: AttrConstraint = AnyAttr, doc: str = "") -> Any:
    return AttrDef(SINGLE, doc, constraint, None)


def OptAttr(constraint: AttrConstraint = AnyAttr, default: Attribute | None = None,
            doc: str = "") -> Any:
    return AttrDef(OPTIONAL, doc, constraint, default)


def SingleRegion(doc: str = "") -> Any:
    return RegionDef(SINGLE, doc)


def VarRegion(doc: str = "") -> Any:
    return RegionDef(VARIADIC, doc)


def Successor(doc: str = "") -> Any:
    return SuccessorDef(SINGLE, doc)


def VarSuccessor(doc: str = "") -> Any:
    return SuccessorDef(VARIADIC, doc)


# ------------------------------------------------------------------------------- dialects


@dataclass
class Dialect:
    """A namespace of ops (``arith``, ``tensor``...), with its documentation."""

    name: str
    description: str = ""
    ops: dict[str, type[Op]] = field(default_factory=dict)
    #: ``fn(builder, attr, type, location) -> Operation | None``: makes a constant op holding
    #: ``attr`` (used when folding produces an attribute). None: the dialect has no constants.
    materialize_constant: Callable[..., Operation | None] | None = None


DIALECTS: dict[str, Dialect] = {}


def register_dialect(name: str, description: str = "") -> Dialect:
    """Create (or fetch) a dialect and set its description."""
    d = DIALECTS.get(name)
    if d is None:
        d = DIALECTS[name] = Dialect(name, description)
    elif description:
        d.description = description
    return d


# --------------------------------------------------------------------------------- Op base


class Op(Operation):
    """Base class of every registered operation; see the module docstring."""

    __slots__ = ()

    # Declared by subclasses.
    assembly_format: ClassVar[str | None] = None
    #: Field definitions in declaration order, filled by __init_subclass__.
    _operand_defs: ClassVar[list[OperandDef]] = []
    _result_defs: ClassVar[list[ResultDef]] = []
    _attr_defs: ClassVar[list[AttrDef]] = []
    _region_defs: ClassVar[list[RegionDef]] = []
    _successor_defs: ClassVar[list[SuccessorDef]] = []
    _compiled_format: ClassVar[Any] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Fields by name, in declaration order: inherited ones first; a field this class
        # re-declares replaces the inherited one in place.
        defs: dict[type, dict[str, FieldDef]] = {
            OperandDef: {}, ResultDef: {}, AttrDef: {}, RegionDef: {}, SuccessorDef: {}}
        for base in reversed(cls.__mro__[1:]):
            if issubclass(base, Op) and base is not Op:
                for kind, named in defs.items():
                    for f in base._fields_of(kind):
                        named[f.name] = f
        for attr_name, value in list(vars(cls).items()):
            if isinstance(value, FieldDef):
                value.name = attr_name
                for named in defs.values():
                    named.pop(attr_name, None)
                defs[type(value)][attr_name] = value
        cls._operand_defs = list(defs[OperandDef].values())
        cls._result_defs = list(defs[ResultDef].values())
        cls._attr_defs = list(defs[AttrDef].values())
        cls._region_defs = list(defs[RegionDef].values())
        cls._successor_defs = list(defs[SuccessorDef].values())
        cls.traits = tuple(t() if isinstance(t, type) else t for t in cls.traits)
        cls._trait_types = trait_types(cls.traits)
        cls._compiled_format = None
        if "name" in vars(cls) and cls.name:
            if cls.name in OP_REGISTRY and OP_REGISTRY[cls.name].__qualname__ != cls.__qualname__:
                raise ValueError(f"op '{cls.name}' is already registered")
            OP_REGISTRY[cls.name] = cls
            dialect = register_dialect(cls.name.split(".", 1)[0])
            dialect.ops[cls.name] = cls

    @classmethod
    def _fields_of(cls, kind: type) -> list:
        return {
            OperandDef: cls._operand_defs, ResultDef: cls._result_defs, AttrDef: cls._attr_defs,
            RegionDef: cls._region_defs, SuccessorDef: cls._successor_defs,
        }[kind]

    # -- variadic groups
    def _segment_sizes(self, items: Sequence[Any], defs: list, attr_name: str) -> list[int]:
        n_var = sum(1 for d in defs if d.kind != SINGLE)
        if n_var == 0:
            return [1] * len(defs)
        if n_var == 1:
            rest = len(items) - (len(defs) - 1)
            return [1 if d.kind == SINGLE else max(rest, 0) for d in defs]
        seg = self.attributes.get(attr_name)
        if not isinstance(seg, DenseArrayAttr) or len(seg.values) != len(defs):
            raise self.emit_error(f"requires attribute '{attr_name}' with {len(defs)} entries")
        return [int(v) for v in seg.values]

    def _group(self, items: Sequence[Any], defs: list, attr_name: str, d: FieldDef) -> Any:
        sizes = self._segment_sizes(items, defs, attr_name)
        start = 0
        for other, size in zip(defs, sizes, strict=True):
            if other is d:
                chunk = list(items[start:start + size])
                if d.kind == SINGLE:
                    return chunk[0] if chunk else None
                if d.kind == OPTIONAL:
                    return chunk[0] if chunk else None
                return chunk
            start += size
        raise AttributeError(d.name)  # pragma: no cover

    # -- building
    @classmethod
    def build(
        cls,
        *args: Any,
        result_types: Sequence[Type] | None = None,
        regions: int | Sequence[Region] | None = None,
        successors: Sequence[Block] = (),
        location: Location | None = None,
        **kwargs: Any,
    ) -> Op:
        """Create an op from fields: positional args fill operand fields in order, keyword
        args name operand or attribute fields. Result types are inferred when omitted."""
        operand_values: dict[str, Any] = {}
        for d, a in zip(cls._operand_defs, args, strict=False):
            operand_values[d.name] = a
        if len(args) > len(cls._operand_defs):
            raise TypeError(f"{cls.name}.build takes {len(cls._operand_defs)} operands")
        attributes: dict[str, Attribute] = {}
        attr_by_name = {d.name: d for d in cls._attr_defs}
        op_by_name = {d.name for d in cls._operand_defs}
        for key, value in kwargs.items():
            if key in op_by_name:
                operand_values[key] = value
            elif key in attr_by_name:
                if value is not None:
                    attributes[key] = attr_by_name[key].convert(value)
            elif key == "attributes":
                attributes.update(value)
            else:
                raise TypeError(f"{cls.name}.build got unknown field '{key}'")
        operands: list[Value] = []
        sizes: list[int] = []
        for d in cls._operand_defs:
            v = operand_values.get(d.name)
            if d.kind == SINGLE:
                if v is None:
                    raise TypeError(f"{cls.name}.build needs operand '{d.name}'")
                operands.append(v)
                sizes.append(1)
            elif d.kind == OPTIONAL:
                if v is not None:
                    operands.append(v)
                sizes.append(0 if v is None else 1)
            else:
                vs = list(v or ())
                operands.extend(vs)
                sizes.append(len(vs))
        if sum(1 for d in cls._operand_defs if d.kind != SINGLE) > 1:
            attributes["operandSegmentSizes"] = DenseArrayAttr(i32, tuple(sizes))
        if regions is None:
            regions = sum(1 for d in cls._region_defs if d.kind == SINGLE)
        if result_types is None:
            result_types = cls.infer_result_types(operands, attributes)
        return cls(operands, list(result_types), attributes, regions, successors, location)

    @classmethod
    def infer_result_types(
        cls, operands: Sequence[Value], attributes: dict[str, Attribute]
    ) -> list[Type]:
        """Result types from operands and attributes. The default handles ops with no results
        and ops with SameOperandsAndResultType; ops whose results are determined override it."""
        from avalon.ir.traits import SameOperandsAndResultType

        single = [d for d in cls._result_defs if d.kind == SINGLE]
        if not cls._result_defs:
            return []
        if cls.has_trait(SameOperandsAndResultType) and operands and len(single) == len(
            cls._result_defs
        ):
            return [operands[0].type] * len(single)
        raise TypeError(f"'{cls.name}' cannot infer its result types; pass result_types=")

    @classmethod
    def can_infer_result_types(cls) -> bool:
        """Whether ``infer_result_types`` is overridden or the default can apply."""
        from avalon.ir.traits import SameOperandsAndResultType

        if cls.infer_result_types.__func__ is not Op.infer_result_types.__func__:
            return True
        if not cls._result_defs:
            return True
        return cls.has_trait(SameOperandsAndResultType) and all(
            d.kind == SINGLE for d in cls._result_defs)

    # -- verification of declared structure
    def verify_structure(self) -> None:
        cls = type(self)
        self._verify_values(self._operands, cls._operand_defs, "operandSegmentSizes", "operand")
        self._verify_values(self.results, cls._result_defs, "resultSegmentSizes", "result")
        for d in cls._attr_defs:
            a = self.attributes.get(d.name)
            if a is None:
                if d.kind == SINGLE:
                    raise self.emit_error(f"requires attribute '{d.name}'")
                continue
            if not d.constraint(a):
                raise self.emit_error(
                    f"attribute '{d.name}' failed to satisfy constraint: "
                    f"{d.constraint.description}"
                )
        n_single = sum(1 for d in cls._region_defs if d.kind == SINGLE)
        has_var = any(d.kind == VARIADIC for d in cls._region_defs)
        if len(self.regions) < n_single or (not has_var and len(self.regions) != n_single):
            raise self.emit_error(
                f"requires {n_single}{'+' if has_var else ''} regions, got {len(self.regions)}")
        n_succ = sum(1 for d in cls._successor_defs if d.kind == SINGLE)
        has_var_s = any(d.kind == VARIADIC for d in cls._successor_defs)
        if len(self.successors) < n_succ or (not has_var_s and len(self.successors) != n_succ):
            raise self.emit_error(
                f"requires {n_succ}{'+' if has_var_s else ''} successors, "
                f"got {len(self.successors)}")
        for t in cls.traits:
            t.verify(self)

    def _verify_values(self, items: Sequence[Value], defs: list, seg_attr: str,
                       what: str) -> None:
        n_single = sum(1 for d in defs if d.kind == SINGLE)
        n_var = len(defs) - n_single
        if n_var == 0 and len(items) != n_single:
            raise self.emit_error(f"expected {n_single} {what}s, but found {len(items)}")
        if n_var == 1 and len(items) < n_single:
            raise self.emit_error(
                f"expected {n_single} or more {what}s, but found {len(items)}")
        sizes = self._segment_sizes(items, defs, seg_attr)
        if n_var > 1 and sum(sizes) != len(items):
            raise self.emit_error(
                f"'{seg_attr}' sums to {sum(sizes)} but the op has {len(items)} {what}s")
        start = 0
        for d, size in zip(defs, sizes, strict=True):
            if d.kind == SINGLE and size != 1:
                raise self.emit_error(f"{what} group '{d.name}' must have exactly one value")
            if d.kind == OPTIONAL and size > 1:
                raise self.emit_error(f"optional {what} group '{d.name}' has {size} values")
            for k in range(start, start + size):
                t = items[k].type
                if not d.constraint(t):
                    raise self.emit_error(
                        f"{what} #{k} ('{d.name}') must be {d.constraint.description}, "
                        f"but got '{t}'")
            start += size


def op_doc(cls: type[Op]) -> str:
    """First paragraph of an op's docstring (for the generated dialect reference)."""
    text = (cls.__doc__ or "").strip()
    return text.split("\n\n", 1)[0].replace("\n", " ") if text else ""
