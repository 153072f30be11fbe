"""Graphviz DOT views of IR dataflow, for ``avalon-opt --view-op-graph``.

Each function becomes one ``digraph``: ops are boxes labelled with their name, short
attributes and result types; block arguments are ellipses; an edge runs from the op (or
argument) defining a value to every op using it; ops with regions become clusters holding their
nested ops, and multi-block regions get a node per block with dashed successor edges.
"""

from __future__ import annotations

from avalon.ir.attributes import StringAttr
from avalon.ir.core import Block, BlockArgument, Operation, Value

MAX_ATTR_CHARS = 40


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _short(text: str) -> str:
    return text if len(text) <= MAX_ATTR_CHARS else text[:MAX_ATTR_CHARS - 3] + "..."


def _symbol(op: Operation) -> str | None:
    sym = op.attributes.get("sym_name")
    return sym.value if isinstance(sym, StringAttr) else None


class _DotWriter:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ids: dict[object, str] = {}
        self.edges: list[str] = []

    def node_id(self, key: object, prefix: str) -> str:
        nid = self.ids.get(key)
        if nid is None:
            nid = self.ids[key] = f"{prefix}{len(self.ids)}"
        return nid

    def value_source(self, value: Value) -> str | None:
        if isinstance(value, BlockArgument):
            return self.ids.get(value)
        return self.ids.get(value.owner)

    def op_label(self, op: Operation) -> str:
        parts = [op.name]
        for key, attr in op.attributes.items():
            if key == "sym_name":
                parts.append(f"@{_symbol(op)}")
            else:
                parts.append(_short(f"{key} = {attr}"))
        if op.results:
            parts.append(": " + ", ".join(str(r.type) for r in op.results))
        return "\n".join(parts)

    def block(self, block: Block, indent: str, label_block: bool) -> None:
        if label_block:
            index = block.parent.blocks.index(block) if block.parent is not None else 0
            bid = self.node_id(block, "b")
            self.lines.append(f"{indent}{bid} [label={_quote(f'^bb{index}')}, shape=point, "
                              f"xlabel={_quote(f'^bb{index}')}];")
        for arg in block.args:
            aid = self.node_id(arg, "a")
            self.lines.append(f"{indent}{aid} [label={_quote(f'arg{arg.index} : {arg.type}')}, "
                              "shape=ellipse];")
        for op in block.ops:
            self.op(op, indent)

    def op(self, op: Operation, indent: str) -> None:
        oid = self.node_id(op, "op")
        label = _quote(self.op_label(op))
        if op.regions:
            self.lines.append(f"{indent}subgraph cluster_{oid} {{")
            self.lines.append(f"{indent}  label={_quote(op.name)}; style=rounded;")
            self.lines.append(f"{indent}  {oid} [label={label}];")
            for region in op.regions:
                for block in region.blocks:
                    self.block(block, indent + "  ", len(region.blocks) > 1)
            self.lines.append(f"{indent}}}")
        else:
            self.lines.append(f"{indent}{oid} [label={label}];")
        for i, value in enumerate(op.operands):
            src = self.value_source(value)
            if src is not None:
                attrs = f' [label="{i}"]' if op.num_operands > 1 else ""
                self.edges.append(f"  {src} -> {oid}{attrs};")
        for succ in op.successors:
            self.edges.append(f"  {oid} -> {self.node_id(succ, 'b')} [style=dashed];")


def op_graph(op: Operation, name: str | None = None) -> str:
    """A DOT ``digraph`` of the dataflow inside ``op`` (typically a function)."""
    writer = _DotWriter()
    title = name or _symbol(op) or op.name
    for region in op.regions:
        for block in region.blocks:
            writer.block(block, "  ", len(region.blocks) > 1)
    head = [f"digraph {_quote(title)} {{", f"  label={_quote(op.name + ' @' + title)};",
            "  compound=true;", '  node [shape=box, fontname="monospace"];']
    return "\n".join(head + writer.lines + writer.edges + ["}"]) + "\n"


def function_graphs(root: Operation) -> list[tuple[str, str]]:
    """``(name, dot)`` for every symbol with a body directly inside ``root`` (a module's
    functions); the whole of ``root`` when it has none."""
    graphs = []
    for region in root.regions:
        for block in region.blocks:
            for op in block.ops:
                sym = _symbol(op)
                if sym is not None and op.regions:
                    graphs.append((sym, op_graph(op, sym)))
    if not graphs:
        name = _symbol(root) or root.name
        graphs.append((name, op_graph(root, name)))
    return graphs


def safe_filename(name: str) -> str:
    """A symbol name usable as a file name."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return cleaned.lstrip(".") or "graph"
