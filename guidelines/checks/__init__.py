"""Whole-set checks (C codes) on a merged guideline set, before it becomes a `GuidelineSet`.

guidelines/loader.py reads and validates each file (G codes), merges overlays into a `Draft`
(guidelines/draft.py) whose entries remember the file and node they came from, and calls
`check_draft()`; every problem found here names the file:line:col of the node at fault (the
overlay's, when an overlay brought it). Each module of this package is one concern, a function
from the draft to its problems; `PASSES` lists them in the order they run. Messages come from
pathways/codes/guideline.py (Chinese and English).

Codes (never reuse one):
  C101 duplicate name or id          C102 unknown fact            C103 unknown parameter
  C104 measure parameter missing     C105 unit mismatch           C106 type mismatch
  C107 has_any on a non-set fact     C108 code not in vocabulary  C109 derive cycle
  C110 classification `otherwise`    C111 decision-table gap      C112 decision-table overlap
  C113 row names an undeclared input C114 output not declared     C115 condition never true
  C116 parameter folds to false      C117 contradicting colours   C118 explain shows an unread fact
  C119 explain names an unknown fact C120 unknown source.doc      C121 required output missing
  C122 overlay changes a unit        C123 remove_rules: no such id C124 value not among the declared values
  C125 no colors                     C126 no screenings           C127 unknown screening kind
  C128 explain is not a valid template  C129 table row value outside the input's domain
  C130 referral to an unknown tier      C131 a table input's domain lacks values its fact can take
  C132 parameter value not among its options  C133 a measure parameter Python cannot use
  C134 value outside its plausible range      C135 …that another unit explains (the likely value)
  G111 comparison without exactly one left side   G112 comparison without exactly one operator
"""

from __future__ import annotations

from collections.abc import Callable

from guidelines.checks import (
    comparisons,
    cycles,
    names,
    never_true,
    outputs,
    parameters,
    plausible,
    references,
    required,
    rules,
    screenings,
    tables,
)
from guidelines.checks.context import Context
from guidelines.draft import Draft
from pathways.errors import Problem

# Every pass, in the order it runs (problems at the same place keep this order).
PASSES: tuple[Callable[[Context], None], ...] = (
    required.check,      # C104 C121 C125 C126
    parameters.check,    # C132 C133 C105
    references.check,    # C120 C103 C105
    comparisons.check,   # G111 G112 C102 C103 C105-C108 C115 C124
    outputs.check,       # C114 C106 C124 C110
    tables.check,        # C102 C106 C113 C129 C131 C111 C112
    never_true.check,    # C115 C116
    names.check,         # C101
    cycles.check,        # C109
    rules.check,         # C130 C128 C119 C118 C117
    screenings.check,    # C127
    plausible.check,     # C134 C135
)


def check_draft(draft: Draft) -> list[Problem]:
    """Every whole-set problem, in file/line order."""
    ctx = Context(draft)
    for check in PASSES:
        check(ctx)
    return sorted(
        ctx.problems, key=lambda p: (p.file or "", p.line or 0, p.column if isinstance(p.column, int) else 0)
    )
