"""The ``inline`` pass: replace calls by the bodies of their callees.

The inliner works through traits only, so any dialect's calls and functions qualify: a call is
an op with the CallLike trait and a ``callee`` symbol reference; a callee is a FunctionLike
symbol whose body is a single block ending in a ReturnLike terminator. Functions are visited
callees-first along the call graph, so one visit inlines whole call chains; functions in a
recursive strongly connected component (including a function calling itself) are never
inlined, which is what keeps recursion finite. Private callees that were inlined and are no
longer referenced anywhere are erased afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from avalon.ir.attributes import SymbolRefAttr
from avalon.ir.core import Operation, Value, WalkOrder
from avalon.ir.location import CallSiteLoc
from avalon.ir.symbols import (
    get_visibility,
    lookup_symbol_ref,
    symbol_name,
    symbol_table_cache,
    symbol_uses,
    walk_symbol_tables,
)
from avalon.ir.traits import CallLike, FunctionLike, ReturnLike
from avalon.passes.pass_base import Option, Pass
from avalon.passes.registry import register_pass
from avalon.passes.symbol_dce import resolve_symbol_path


@dataclass
class CallGraph:
    """Calls under a root, their resolved callees and enclosing functions, and the edges."""

    calls: list[tuple[Operation, Operation | None, Operation | None]] = field(
        default_factory=list)  # (call, caller function or None, callee or None)
    functions: list[Operation] = field(default_factory=list)
    edges: dict[Operation, list[Operation]] = field(default_factory=dict)

    def recursive_functions(self) -> set[Operation]:
        """Functions on a call-graph cycle (an SCC with several nodes or a self-call)."""
        out: set[Operation] = set()
        for scc in self.sccs():
            if len(scc) > 1 or scc[0] in self.edges.get(scc[0], ()):
                out.update(scc)
        return out

    def sccs(self) -> list[list[Operation]]:
        """Strongly connected components, callees before callers (Tarjan, iterative)."""
        index: dict[Operation, int] = {}
        low: dict[Operation, int] = {}
        on_stack: set[Operation] = set()
        stack: list[Operation] = []
        out: list[list[Operation]] = []
        counter = 0
        for start in self.functions:
            if start in index:
                continue
            work: list[tuple[Operation, int]] = [(start, 0)]
            while work:
                node, i = work.pop()
                if i == 0:
                    index[node] = low[node] = counter
                    counter += 1
                    stack.append(node)
                    on_stack.add(node)
                succs = self.edges.get(node, [])
                if i < len(succs):
                    work.append((node, i + 1))
                    nxt = succs[i]
                    if nxt not in index:
                        work.append((nxt, 0))
                    elif nxt in on_stack:
                        low[node] = min(low[node], index[nxt])
                    continue
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w is node:
                            break
                    out.append(comp)
        return out


def _callee_ref(call: Operation) -> SymbolRefAttr | None:
    ref = call.attributes.get("callee")
    return ref if isinstance(ref, SymbolRefAttr) else None


def _enclosing_function(op: Operation) -> Operation | None:
    """The nearest named function around ``op`` (anonymous function-likes are looked
    through, so a call inside one still counts as a call from the function holding it)."""
    for anc in op.ancestors():
        if anc.has_trait(FunctionLike) and symbol_name(anc) is not None:
            return anc
    return None


def build_call_graph(root: Operation) -> CallGraph:
    """Calls and functions under ``root``; callees resolve from each call's symbol table."""
    graph = CallGraph()
    for op in root.walk_ops(WalkOrder.PRE):
        if op.has_trait(FunctionLike) and symbol_name(op) is not None:
            graph.functions.append(op)
            graph.edges.setdefault(op, [])
        if op.has_trait(CallLike):
            ref = _callee_ref(op)
            callee = lookup_symbol_ref(op, ref) if ref is not None else None
            if callee is not None and not callee.has_trait(FunctionLike):
                callee = None
            caller = _enclosing_function(op)
            graph.calls.append((op, caller, callee))
            if caller is not None and callee is not None:
                graph.edges.setdefault(caller, []).append(callee)
    return graph


def _inlinable_body(callee: Operation) -> bool:
    if len(callee.regions) != 1 or len(callee.regions[0].blocks) != 1:
        return False
    term = callee.regions[0].blocks[0].last_op
    return term is not None and term.has_trait(ReturnLike)


def _types_match(call: Operation, callee: Operation) -> bool:
    block = callee.regions[0].blocks[0]
    ret = block.last_op
    return (list(call.operand_types) == block.arg_types
            and call.result_types == list(ret.operand_types))


def inline_call(call: Operation, callee: Operation) -> None:
    """Clone ``callee``'s single-block body before ``call`` and replace the call by it.
    Cloned ops get call-site locations (callee location at the call's location)."""
    block = callee.regions[0].blocks[0]
    mapping: dict = dict(zip(block.args, call.operands))
    dest = call.parent
    for op in block.ops:
        if op is block.last_op:
            break
        new = op.clone(mapping)
        for nested in new.walk_ops():
            nested.location = CallSiteLoc(nested.location, call.location)
        dest.insert_before(new, call)
    results: list[Value] = [mapping.get(v, v) for v in block.last_op.operands]
    call.replace_all_uses_with(results)
    call.erase()


@dataclass
class InlineResult:
    calls: int = 0
    erased_callees: int = 0


def _referenced(root: Operation) -> set[Operation]:
    """Every symbol op that some reference anywhere in ``root``'s top-level op resolves to."""
    top = root
    while top.parent_op is not None:
        top = top.parent_op
    found: set[Operation] = set()
    scopes = {top: None}
    scopes.update((t, None) for t in walk_symbol_tables(top))
    for scope in scopes:
        for use in symbol_uses(scope):
            found.update(resolve_symbol_path(use.user, use.ref))
    return found


def inline_calls(root: Operation, *, inline_public: bool = False,
                 erase_callees: bool = True) -> InlineResult:
    """Inline every eligible call under ``root``; see the module docstring for the rules."""
    with symbol_table_cache():
        graph = build_call_graph(root)
    recursive = graph.recursive_functions()
    position = {f: i for i, f in enumerate(f for scc in graph.sccs() for f in scc)}
    calls = sorted(graph.calls, key=lambda c: position.get(c[1], len(position)))
    result = InlineResult()
    inlined: dict[Operation, None] = {}
    for call, _caller, callee in calls:
        if callee is None or callee in recursive or call.parent is None:
            continue
        if get_visibility(callee) != "private" and not inline_public:
            continue
        if not _inlinable_body(callee) or not _types_match(call, callee):
            continue
        inline_call(call, callee)
        inlined[callee] = None
        result.calls += 1
    if erase_callees:
        candidates = [f for f in inlined if get_visibility(f) == "private"
                      and root.is_ancestor(f)]
        while candidates:
            with symbol_table_cache():
                live = _referenced(root)
            dead = [f for f in candidates if f not in live and not f.has_uses]
            if not dead:
                break
            for f in dead:
                f.erase()
                result.erased_callees += 1
            candidates = [f for f in candidates if f not in dead]
    return result


@register_pass
class Inline(Pass):
    """Inline calls to private single-block functions; drop callees left unreferenced."""

    name = "inline"
    inline_public = Option(bool, False, "also inline calls to public functions")
    erase_callees = Option(bool, True,
                           "erase inlined private callees that are no longer referenced")

    def run(self, op: Operation) -> None:
        result = inline_calls(op, inline_public=self.inline_public,
                              erase_callees=self.erase_callees)
        self.count("num-inlined-calls", "calls replaced by the callee's body").add(result.calls)
        self.count("num-erased-callees", "inlined callees erased").add(result.erased_callees)
