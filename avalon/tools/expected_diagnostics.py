"""``--verify-diagnostics``: match emitted diagnostics against ``expected-*`` comments.

Annotations look like ``// expected-error @+1 {{message}}``; the severity is ``error``,
``warning``, ``note`` or ``remark``; the optional target is ``@+N`` / ``@-N`` (relative line),
``@above`` / ``@below`` (the nearest line that is not itself an annotation) or absent (the
annotation's own line). A diagnostic matches when severity and line agree and the message
contains the expected text. Every diagnostic must be expected and every expectation met.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from avalon.ir.diagnostics import Diagnostic, Severity
from avalon.ir.location import FileLineColLoc

_ANNOTATION = re.compile(
    r"expected-(?P<sev>error|warning|note|remark)\s*"
    r"(?:@(?P<target>[+-]\d+|above|below))?\s*\{\{(?P<msg>.*?)\}\}")


@dataclass
class Expectation:
    """One ``expected-*`` annotation and the line it refers to."""

    severity: Severity
    message: str
    line: int
    annotation_line: int
    annotation_col: int
    matched: bool = False


def parse_expectations(text: str, first_line: int = 1) -> list[Expectation]:
    """Collect annotations from ``text`` whose first line is line ``first_line`` of the file."""
    lines = text.split("\n")
    is_annotation = [bool(_ANNOTATION.search(line)) for line in lines]
    found = []
    for idx, line in enumerate(lines):
        for m in _ANNOTATION.finditer(line):
            target = m.group("target")
            if target is None:
                tidx = idx
            elif target == "above":
                tidx = idx - 1
                while tidx > 0 and is_annotation[tidx]:
                    tidx -= 1
            elif target == "below":
                tidx = idx + 1
                while tidx < len(lines) - 1 and is_annotation[tidx]:
                    tidx += 1
            else:
                tidx = idx + int(target)
            found.append(Expectation(Severity(m.group("sev")), m.group("msg").strip(),
                                     tidx + first_line, idx + first_line, m.start() + 1))
    return found


def flatten(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics with their attached notes listed after them, as separate entries."""
    out = []
    for diag in diagnostics:
        out.append(diag)
        out.extend(flatten(diag.notes))
    return out


def check(diagnostics: Iterable[Diagnostic], expectations: list[Expectation],
          filename: str) -> list[Diagnostic]:
    """Problems to report: unexpected diagnostics and expectations never produced."""
    problems = []
    for diag in flatten(diagnostics):
        flc = diag.location.file_line_col()
        match = None
        if flc is not None and flc.filename == filename:
            for exp in expectations:
                if (not exp.matched and exp.severity is diag.severity
                        and exp.line == flc.line and exp.message in diag.message):
                    match = exp
                    break
        if match is not None:
            match.matched = True
        else:
            problems.append(Diagnostic(Severity.ERROR,
                                       f"unexpected {diag.severity.value}: {diag.message}",
                                       diag.location))
    for exp in expectations:
        if not exp.matched:
            problems.append(Diagnostic(
                Severity.ERROR,
                f'expected {exp.severity.value} "{exp.message}" was not produced',
                FileLineColLoc(filename, exp.annotation_line, exp.annotation_col)))
    return problems
