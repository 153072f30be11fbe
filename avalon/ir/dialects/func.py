"""The ``func`` dialect: functions, calls and returns, as in upstream MLIR.

A ``func.func`` is a symbol whose body is isolated from above: everything it uses arrives as an
entry-block argument. Calls name their callee symbolically (``@f``), resolved in the nearest
enclosing symbol table (normally the module), so functions can be cloned, renamed and erased
without chasing pointers.
"""

from __future__ import annotations

from collections.abc import Sequence

from avalon.ir.asm import Argument, OpAsmParser, OpAsmPrinter
from avalon.ir.attributes import ArrayAttr, Attribute, DictAttr, StringAttr, SymbolRefAttr, TypeAttr
from avalon.ir.core import Block, Operation, Region, Value
from avalon.ir.diagnostics import error
from avalon.ir.location import Location
from avalon.ir.opdef import (
    AnyType,
    Attr,
    DictAttrC,
    FlatSymbolRefAttr,
    FunctionTypeAttr,
    Op,
    OptAttr,
    SingleRegion,
    SymbolNameAttr,
    VarOperand,
    VarResult,
    array_of,
    enum_attr,
    register_dialect,
)
from avalon.ir.symbols import lookup_symbol_ref, nearest_symbol_table
from avalon.ir.traits import (
    CallLike,
    FunctionLike,
    HasParent,
    IsolatedFromAbove,
    Pure,
    ReturnLike,
    Symbol,
    SymbolTable,
    Terminator,
)
from avalon.ir.types import FunctionType, Type

DIALECT = register_dialect(
    "func",
    "Functions and calls: `func.func` defines a named function (a symbol) whose body is "
    "isolated from above, `func.call` calls one by name and `func.return` ends it.",
)

EXAMPLE = """\
func.func private @scale(f32) -> f32

func.func @twice(%x: f32 {avalon.note = "input"}) -> (f32 {avalon.note = "output"}) {
  %y = func.call @scale(%x) : (f32) -> f32
  %z = call @scale(%y) : (f32) -> f32
  return %z : f32
}
"""

_FUNC_INHERENT = ("sym_name", "function_type", "sym_visibility", "arg_attrs", "res_attrs")


def _dict_list(attr: Attribute | None, n: int) -> list[DictAttr]:
    """Per-argument (or per-result) attribute dictionaries, empty ones filled in."""
    if isinstance(attr, ArrayAttr):
        out = [e if isinstance(e, DictAttr) else DictAttr(()) for e in attr.elements]
        return out + [DictAttr(())] * (n - len(out))
    return [DictAttr(())] * n


def _dicts_attr(dicts: Sequence[DictAttr | dict | None]) -> ArrayAttr | None:
    """ArrayAttr of DictAttrs, or None when every dictionary is empty (MLIR omits it)."""
    out = [d if isinstance(d, DictAttr) else DictAttr.of(d or {}) for d in dicts]
    if all(not d.items for d in out):
        return None
    return ArrayAttr(tuple(out))


class FuncOp(Op):
    """A function: a symbol with a ``function_type`` and a body region whose entry block takes
    the arguments. Without a body it is a declaration (which must not be public). The body is
    isolated from above; ``return`` inside it may be written without the ``func.`` prefix.

    ``func.func private @f(%arg0: f32 {a.b}, %arg1: i32) -> (f32 {x.y}) attributes {...} {...}``
    """

    name = "func.func"
    traits = (IsolatedFromAbove, Symbol, FunctionLike)
    default_dialect = "func"
    sym_name = Attr(SymbolNameAttr, doc="the function's name")
    function_type = Attr(FunctionTypeAttr, doc="argument and result types")
    sym_visibility = OptAttr(enum_attr("public", "private", "nested"),
                             doc="symbol visibility (public when absent)")
    arg_attrs = OptAttr(array_of(DictAttrC), doc="one dictionary per argument")
    res_attrs = OptAttr(array_of(DictAttrC), doc="one dictionary per result")
    body_region = SingleRegion(doc="the body; empty for a declaration")

    # -- construction
    @classmethod
    def create(  # type: ignore[override]
        cls,
        name: str,
        function_type: FunctionType,
        *,
        visibility: str | None = None,
        arg_attrs: Sequence[DictAttr | dict | None] | None = None,
        res_attrs: Sequence[DictAttr | dict | None] | None = None,
        attributes: dict[str, Attribute] | None = None,
        declaration: bool = False,
        location: Location | None = None,
        arg_locations: Sequence[Location] = (),
    ) -> FuncOp:
        """A function named ``name``; unless ``declaration``, with an entry block whose
        arguments have the input types (add the body and a ``func.return`` yourself)."""
        attrs: dict[str, Attribute] = dict(attributes or {})
        attrs["sym_name"] = StringAttr(name)
        attrs["function_type"] = TypeAttr(function_type)
        if visibility is not None and visibility != "public":
            attrs["sym_visibility"] = StringAttr(visibility)
        if arg_attrs is not None and (a := _dicts_attr(arg_attrs)) is not None:
            attrs["arg_attrs"] = a
        if res_attrs is not None and (r := _dicts_attr(res_attrs)) is not None:
            attrs["res_attrs"] = r
        region = Region()
        if not declaration:
            locs = list(arg_locations) or [location] * len(function_type.inputs)
            region.add_block(Block(function_type.inputs,
                                   [loc for loc in locs if loc is not None]))
        return cls([], [], attrs, [region], [], location)

    # -- accessors
    @property
    def symbol(self) -> str:
        return self.attributes["sym_name"].value

    @property
    def type(self) -> FunctionType:
        """The function type (unwrapped from its ``function_type`` attribute)."""
        return self.attributes["function_type"].value

    @property
    def visibility(self) -> str:
        attr = self.attributes.get("sym_visibility")
        return attr.value if isinstance(attr, StringAttr) else "public"

    @property
    def is_declaration(self) -> bool:
        return not self.regions[0].blocks

    @property
    def entry_block(self) -> Block:
        if self.is_declaration:
            raise ValueError(f"function @{self.symbol} is a declaration and has no body")
        return self.regions[0].blocks[0]

    @property
    def arguments(self) -> list:
        return list(self.entry_block.args)

    def arg_attr_dicts(self) -> list[DictAttr]:
        return _dict_list(self.attributes.get("arg_attrs"), len(self.type.inputs))

    def res_attr_dicts(self) -> list[DictAttr]:
        return _dict_list(self.attributes.get("res_attrs"), len(self.type.results))

    def set_type(self, function_type: FunctionType) -> None:
        """Change the signature attribute (entry block arguments are left to the caller)."""
        self.attributes["function_type"] = TypeAttr(function_type)

    # -- verification
    def verify_(self) -> None:
        parent = self.parent_op
        if parent is not None and not parent.has_trait(SymbolTable):
            raise self.emit_error("symbol's parent must have the SymbolTable trait")
        ftype = self.type
        for key, n, what in (("arg_attrs", len(ftype.inputs), "argument"),
                             ("res_attrs", len(ftype.results), "result")):
            attr = self.attributes.get(key)
            if isinstance(attr, ArrayAttr) and len(attr) != n:
                raise self.emit_error(
                    f"expects {what} attribute array to have the same number of elements as "
                    f"the number of function {what}s, got {len(attr)}, but expected {n}")
        if self.is_declaration:
            if self.visibility == "public":
                raise self.emit_error("symbol declaration cannot have public visibility")
            return
        entry = self.regions[0].blocks[0]
        if len(entry.args) != len(ftype.inputs):
            raise self.emit_error(
                f"entry block must have {len(ftype.inputs)} arguments to match function "
                "signature")
        for i, (arg, t) in enumerate(zip(entry.args, ftype.inputs, strict=True)):
            if arg.type != t:
                raise self.emit_error(
                    f"type of entry block argument #{i}('{arg.type}') must match the type of "
                    f"the corresponding argument in function signature('{t}')")

    # -- text
    def print_custom(self, p: OpAsmPrinter) -> None:
        if self.visibility != "public":
            p.write(self.visibility + " ")
        p.print_symbol_name(self.symbol)
        ftype = self.type
        arg_dicts = self.arg_attr_dicts()
        p.write("(")
        for i, t in enumerate(ftype.inputs):
            if i:
                p.write(", ")
            if self.is_declaration:
                p.print_type(t)
            else:
                p.print_block_argument(self.entry_block.args[i])
            p.print_attr_dict(arg_dicts[i].as_dict())
        p.write(")")
        res_dicts = self.res_attr_dicts()
        if ftype.results:
            p.write(" -> ")
            wrap = (len(ftype.results) > 1 or any(d.items for d in res_dicts)
                    or isinstance(ftype.results[0], FunctionType))
            if wrap:
                p.write("(")
            for i, t in enumerate(ftype.results):
                if i:
                    p.write(", ")
                p.print_type(t)
                p.print_attr_dict(res_dicts[i].as_dict())
            if wrap:
                p.write(")")
        p.print_attr_dict_with_keyword(self.attributes, elided=_FUNC_INHERENT)
        if not self.is_declaration:
            p.write(" ")
            p.print_region(self.regions[0], print_entry_block_args=False)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        attrs: dict[str, Attribute] = {}
        for vis in ("private", "public", "nested"):
            if p.parse_optional_keyword(vis):
                if vis != "public":
                    attrs["sym_visibility"] = StringAttr(vis)
                break
        attrs["sym_name"] = StringAttr(p.parse_symbol_name())
        inputs: list[Type] = []
        arguments: list[Argument] = []
        arg_dicts: list[dict[str, Attribute]] = []
        p.parse_punct("(")
        if not p.parse_optional_punct(")"):
            while True:
                loc = p.current_location()
                t = p.parse_optional_type()
                if t is None:
                    if len(arguments) != len(inputs):
                        raise error("expected a type (arguments are all named or all not)",
                                    loc)
                    arg = p.parse_argument()
                    arguments.append(arg)
                    t = arg.type
                elif arguments:
                    raise error("expected SSA identifier (arguments are all named or not)",
                                loc)
                inputs.append(t)
                arg_dicts.append(p.parse_optional_attr_dict())
                if p.parse_optional_punct(")"):
                    break
                p.parse_punct(",")
        results: list[Type] = []
        res_dicts: list[dict[str, Attribute]] = []
        if p.parse_optional_punct("->"):
            if p.parse_optional_punct("("):
                if not p.parse_optional_punct(")"):
                    while True:
                        results.append(p.parse_type())
                        res_dicts.append(p.parse_optional_attr_dict())
                        if p.parse_optional_punct(")"):
                            break
                        p.parse_punct(",")
            else:
                results.append(p.parse_type())
                res_dicts.append({})
        attrs.update(p.parse_optional_attr_dict_with_keyword())
        attrs["function_type"] = TypeAttr(FunctionType(tuple(inputs), tuple(results)))
        if (a := _dicts_attr(arg_dicts)) is not None:
            attrs["arg_attrs"] = a
        if (r := _dicts_attr(res_dicts)) is not None:
            attrs["res_attrs"] = r
        region = p.parse_optional_region(arguments if arguments else None)
        if region is None:
            region = Region()
        elif not region.blocks:
            raise p.error("expected non-empty function body")
        return cls([], [], attrs, [region], [], p.location)


class ReturnOp(Op):
    """Return from the enclosing ``func.func`` with the operands as its results; their
    number and types must match the function's result types.

    ``func.return %a, %b : f32, i32`` (``return`` inside a function body)
    """

    name = "func.return"
    traits = (Pure, Terminator, ReturnLike, HasParent("func.func"))
    values = VarOperand(AnyType, doc="the returned values")

    def verify_(self) -> None:
        func = self.parent_op
        if not isinstance(func, FuncOp):
            return
        results = func.type.results
        if len(self.operands) != len(results):
            raise self.emit_error(
                f"has {len(self.operands)} operands, but enclosing function (@{func.symbol}) "
                f"returns {len(results)}")
        for i, (v, t) in enumerate(zip(self.operands, results, strict=True)):
            if v.type != t:
                raise self.emit_error(
                    f"type of return operand {i} ('{v.type}') doesn't match function result "
                    f"type ('{t}') in function @{func.symbol}")

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_attr_dict(self.attributes)
        if self.operands:
            p.write(" ")
            p.print_operands(self.operands)
            p.write(" : ")
            p.print_types(v.type for v in self.operands)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        attrs = p.parse_optional_attr_dict()
        operands = []
        op = p.parse_optional_operand()
        if op is not None:
            operands.append(op)
            while p.parse_optional_punct(","):
                operands.append(p.parse_operand())
        values: list[Value] = []
        if operands:
            types = p.parse_colon_type_list()
            values = p.resolve_operands(operands, types)
        return cls.build(values=values, attributes=attrs, location=p.location)


class CallOp(Op):
    """Call the function ``callee`` (a flat symbol reference, resolved in the nearest symbol
    table) with the operands; the results are the callee's results. Operand and result types
    must match the callee's ``function_type``.

    ``%r = func.call @f(%a) : (f32) -> f32``
    """

    name = "func.call"
    traits = (CallLike,)
    callee = Attr(FlatSymbolRefAttr, doc="the called function")
    args = VarOperand(AnyType, doc="the arguments")
    outputs = VarResult(AnyType, doc="the callee's results")

    @classmethod
    def call(cls, callee: str | FuncOp, args: Sequence[Value],
             result_types: Sequence[Type] | None = None,
             location: Location | None = None) -> CallOp:
        """Build a call; result types default to those of ``callee`` when it is a FuncOp."""
        if isinstance(callee, FuncOp):
            if result_types is None:
                result_types = list(callee.type.results)
            callee = callee.symbol
        if result_types is None:
            raise TypeError("func.call needs result_types when the callee is given by name")
        return cls.build(args=list(args), callee=SymbolRefAttr(callee),
                         result_types=list(result_types), location=location)

    @property
    def callee_name(self) -> str:
        return self.attributes["callee"].root

    def resolve_callee(self) -> Operation | None:
        return lookup_symbol_ref(self, self.attributes["callee"])

    def verify_(self) -> None:
        if nearest_symbol_table(self) is None:
            return  # a detached function: calls are checked once it is in a symbol table
        name = self.callee_name
        fn = self.resolve_callee()
        if not isinstance(fn, FuncOp):
            raise self.emit_error(f"'{name}' does not reference a valid function")
        ftype = fn.type
        if len(ftype.inputs) != len(self.operands):
            raise self.emit_error("incorrect number of operands for callee")
        for i, (v, t) in enumerate(zip(self.operands, ftype.inputs, strict=True)):
            if v.type != t:
                raise self.emit_error(
                    f"operand type mismatch: expected operand type '{t}', but provided "
                    f"'{v.type}' for operand number {i}")
        if len(ftype.results) != len(self.results):
            raise self.emit_error("incorrect number of results for callee")
        for i, (r, t) in enumerate(zip(self.results, ftype.results, strict=True)):
            if r.type != t:
                err = self.emit_error(f"result type mismatch at index {i}")
                ours = ", ".join(f"'{x.type}'" for x in self.results)
                theirs = ", ".join(f"'{x}'" for x in ftype.results)
                err.diagnostic.attach_note(f"      op result types: {ours}")
                err.diagnostic.attach_note(f"function result types: {theirs}")
                raise err

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_attribute(self.attributes["callee"])
        p.write("(")
        p.print_operands(self.operands)
        p.write(")")
        p.print_attr_dict(self.attributes, elided=("callee",))
        p.write(" : ")
        p.print_type(FunctionType(tuple(v.type for v in self.operands),
                                  tuple(r.type for r in self.results)))

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        callee = p.parse_symbol_name()
        operands = p.parse_operand_list("()")
        attrs = p.parse_optional_attr_dict()
        loc = p.current_location()
        ftype = p.parse_colon_type()
        if not isinstance(ftype, FunctionType):
            raise error(f"expected a function type, got '{ftype}'", loc)
        values = p.resolve_operands(operands, list(ftype.inputs))
        attrs["callee"] = SymbolRefAttr(callee)
        return cls.build(args=values, attributes=attrs, result_types=list(ftype.results),
                         location=p.location)


__all__ = ["EXAMPLE", "CallOp", "FuncOp", "ReturnOp"]
