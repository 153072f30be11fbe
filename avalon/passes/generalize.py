"""The ``generalize`` pass: rewrite named tensor ops into ``tensor.generic``.

Fusion, tiling and lowering are written once, against ``tensor.generic``; this pass feeds them.
Each named op knows its own generic form (``to_generic``), so the pass only decides *which* ops
to rewrite: every op that has a generic form, or the ones named by the ``ops`` option.
"""

from __future__ import annotations

from avalon.ir.builder import Builder
from avalon.ir.core import Operation
from avalon.ir.dialects import tensor as T
from avalon.passes.pass_base import ListOption, Pass
from avalon.passes.registry import register_pass


def generalizable_op_names() -> list[str]:
    """Names of the tensor ops that can have a generic form (some only for some element
    types: integer ``tensor.exp`` has none, for example)."""
    return sorted(cls.name for cls in T.GENERALIZABLE)


def generalize_ops(root: Operation, names: set[str] | None = None) -> int:
    """Replace every named op under ``root`` (restricted to ``names`` when given) by its
    ``tensor.generic`` form; returns how many were replaced. Ops without a generic form for
    their operand types are left as they are."""
    count = 0
    for op in list(root.walk_ops()):
        if op is root or op.parent is None or not isinstance(op, T.GENERALIZABLE):
            continue
        if names is not None and op.name not in names:
            continue
        generic = T.generalize(op, Builder.before(op))
        if generic is None:
            continue
        op.replace_all_uses_with(generic)
        op.erase()
        count += 1
    return count


@register_pass
class Generalize(Pass):
    """Rewrite named tensor ops (elementwise, broadcast, transpose, slice, reduce, matmul...)
    into tensor.generic.

    An op whose element type has no scalar form (e.g. ``tensor.exp`` on integers) and ops with
    no generic form at all (``tensor.reshape``, ``tensor.conv``...) are left alone. The generic
    reads fresh ``tensor.empty`` destinations (elementwise and data movement) or constant
    identity-filled ones (reductions, matmul).
    """

    name = "generalize"
    op_name = "func.func"
    ops = ListOption(str, [], "only rewrite ops with these names (e.g. tensor.add); "
                              "empty: every op that has a generic form")

    def run(self, op: Operation) -> None:
        names: set[str] | None = None
        if self.ops:
            known = set(generalizable_op_names())
            unknown = sorted(set(self.ops) - known)
            if unknown:
                raise self.fail(
                    "generalize: no generic form for " + ", ".join(f"'{n}'" for n in unknown)
                    + "; ops with one: " + ", ".join(sorted(known)), op)
            names = set(self.ops)
        self.count("num-generalized", "named ops rewritten to tensor.generic").add(
            generalize_ops(op, names))
