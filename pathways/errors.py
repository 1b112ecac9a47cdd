"""The project's error types. A `Problem` is one finding with a place; `SangaoError` carries one or
more problems the user can fix (exit 1). Codes carry a stage prefix and are never reused:
D roster data, G guideline file, C whole guideline set, T cases, R run time.

Every code is registered once in pathways/codes/ with Chinese and English templates. A problem
built with `Problem.of(code, **fields)` renders in either language (`render("zh")` is the default a
user sees); one built with a literal `message` renders that text (older sites, being moved over).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    code: str                      # e.g. "D012", "G104"
    message: str                   # what is wrong
    file: str | None = None
    line: int | None = None        # 1-based
    column: int | str | None = None  # 1-based number, or a column/field name for tabular input
    hint: str | None = None        # what would be right
    context: str | None = None     # e.g. "Rule(id='htn.urgent_bp') > when > any[0]", or a source excerpt
    fields: dict[str, Any] | None = field(default=None, compare=False)  # template fields (Problem.of)

    @classmethod
    def of(cls, code: str, *, file: str | None = None, line: int | None = None,
           column: int | str | None = None, context: str | None = None, hint: str | None = None,
           **fields: Any) -> Problem:
        """A problem whose message comes from the registered templates of `code` (English stored in
        `message`, so logs and older readers keep working; `render("zh")` uses the Chinese one)."""
        from pathways.codes import lookup

        entry = lookup(code)
        if entry is None:
            raise KeyError(f"{code} is not registered in pathways/codes/")
        # Templates may name the place too ({file}, {line}, {column}).
        fields = {"file": file, "line": line, "column": column, **fields}
        return cls(code, entry.message("en", fields), file, line, column,
                   hint if hint is not None else entry.hint("en", fields), context, fields)

    def text(self, lang: str = "zh") -> str:
        """The message in `lang` (zh or en)."""
        if self.fields is None or lang == "en":
            return self.message
        from pathways.codes import lookup

        entry = lookup(self.code)
        return entry.message("zh", self.fields) if entry else self.message

    def hint_text(self, lang: str = "zh") -> str | None:
        if self.fields is None or lang == "en":
            return self.hint
        from pathways.codes import lookup

        entry = lookup(self.code)
        return (entry.hint("zh", self.fields) or self.hint) if entry else self.hint

    def location(self) -> str:
        parts = [p for p in (self.file, self.line, self.column) if p is not None]
        return ":".join(str(p) for p in parts)

    def render(self, lang: str = "zh") -> str:
        where = self.location()
        message = self.text(lang)
        text = f"{where}: {self.code} {message}" if where else f"{self.code} {message}"
        if self.context:
            text += "\n  " + self.context.replace("\n", "\n  ")
        hint = self.hint_text(lang)
        if hint:
            label = "提示" if lang == "zh" and self.fields is not None else "hint"
            text += f"\n  {label}: {hint}"
        return text


@dataclass
class SangaoError(Exception):
    """A problem the user can fix; rendered by cli.main and exit status 1."""

    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def one(cls, code: str, message: str, **where) -> SangaoError:
        return cls([Problem(code, message, **where)])

    @classmethod
    def of(cls, code: str, **where_and_fields) -> SangaoError:
        """One registered problem (see Problem.of)."""
        return cls([Problem.of(code, **where_and_fields)])

    def __str__(self) -> str:
        return self.render("en")

    def render(self, lang: str = "zh") -> str:
        return "\n".join(p.render(lang) for p in self.problems)
