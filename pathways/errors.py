"""The project's error types. A `Problem` is one finding with a place; `SangaoError` carries one or
more problems the user can fix (exit 1). Codes carry a stage prefix and are never reused:
D roster data, G guideline file, C whole guideline set, T cases, R run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    code: str                      # e.g. "D012", "G104"
    message: str                   # what is wrong
    file: str | None = None
    line: int | None = None        # 1-based
    column: int | str | None = None  # 1-based number, or a column/field name for tabular input
    hint: str | None = None        # what would be right
    context: str | None = None     # e.g. "Rule(id='htn.urgent_bp') > when > any[0]", or a source excerpt

    def location(self) -> str:
        parts = [p for p in (self.file, self.line, self.column) if p is not None]
        return ":".join(str(p) for p in parts)

    def render(self) -> str:
        where = self.location()
        text = f"{where}: {self.code} {self.message}" if where else f"{self.code} {self.message}"
        if self.context:
            text += "\n  " + self.context.replace("\n", "\n  ")
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


@dataclass
class SangaoError(Exception):
    """A problem the user can fix; rendered by cli.main and exit status 1."""

    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def one(cls, code: str, message: str, **where) -> SangaoError:
        return cls([Problem(code, message, **where)])

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        return "\n".join(p.render() for p in self.problems)
