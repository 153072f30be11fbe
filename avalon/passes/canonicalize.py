"""The ``canonicalize`` pass: folders plus every registered op's canonicalization patterns."""

from __future__ import annotations

from avalon.ir.core import OP_REGISTRY, Operation
from avalon.ir.diagnostics import DiagnosticError
from avalon.ir.patterns import RewritePattern
from avalon.passes.pass_base import ListOption, Option, Pass, PassFailure
from avalon.passes.registry import register_pass
from avalon.passes.rewrite import FrozenPatternSet, GreedyRewriteDriver


def canonicalization_patterns(enable: list[str] | None = None,
                              disable: list[str] | None = None) -> list[RewritePattern]:
    """The canonicalization patterns of every registered op, filtered by pattern class name
    (``enable`` empty or None means all)."""
    patterns: list[RewritePattern] = []
    seen: set[tuple[type, str | None]] = set()
    for cls in list(OP_REGISTRY.values()):
        for p in cls.get_canonicalization_patterns():
            inst = p() if isinstance(p, type) else p
            key = (type(inst), inst.root_name)  # one pattern class may serve many ops
            if key in seen:
                continue
            seen.add(key)
            name = type(inst).__name__
            if enable and name not in enable:
                continue
            if disable and name in disable:
                continue
            patterns.append(inst)
    return patterns


@register_pass
class Canonicalize(Pass):
    """Fold ops, erase dead ones and apply canonicalization patterns to a fixed point.

    Constants are uniqued and hoisted to the entry block of the enclosing isolated region.
    Fails with a located error if the IR keeps changing for ``max-iterations`` sweeps.
    """

    name = "canonicalize"
    max_iterations = Option(int, 10, "sweeps over the IR before giving up on convergence")
    max_num_rewrites = Option(int, -1, "stop after this many pattern rewrites (-1: no limit)")
    top_down = Option(bool, True, "visit ops in pre-order (true) or post-order (false)")
    enable_patterns = ListOption(str, [], "only use patterns with these class names")
    disable_patterns = ListOption(str, [], "never use patterns with these class names")

    def run(self, op: Operation) -> None:
        patterns = FrozenPatternSet(canonicalization_patterns(
            self.enable_patterns, self.disable_patterns))
        limit = self.max_num_rewrites
        driver = GreedyRewriteDriver(
            op, patterns, max_iterations=self.max_iterations,
            max_rewrites=None if limit < 0 else limit, top_down=self.top_down)
        try:
            driver.run()
        except DiagnosticError as err:
            if isinstance(err, PassFailure):
                raise
            raise PassFailure(err.diagnostic) from None
        finally:
            self.count("num-folded", "ops folded").add(driver.stats.folded)
            self.count("num-rewrites", "successful pattern rewrites").add(
                driver.stats.rewrites)
            self.count("num-erased", "dead or duplicate ops erased").add(driver.stats.erased)
