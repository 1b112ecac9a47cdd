"""Text that may have carried a patient's data, made safe for a log: exception messages (a driver's
error can quote a row's values; a parser's can quote a cell) and the traceback of an internal error.

What is removed: quoted literals, bound-parameter lists, PostgreSQL's `Key (…)=(…)` details, runs of
Chinese characters (names, addresses), runs of four or more digits (resident IDs, phones, dates) and
e-mail-like words. What stays: exception types, file names and line numbers of the code, and the
shape of the message, which is what finding a bug in sangao needs.
"""

from __future__ import annotations

import re
import traceback

_RULES = (
    (re.compile(r"\[parameters: .*?\]( \(Background on)?", re.S), r"[parameters hidden]\1"),
    (re.compile(r"=\((?:[^()]|\([^()]*\))*\)"), "=(…)"),
    (re.compile(r"'(?:[^'\\\n]|\\.)*'"), "'…'"),
    (re.compile(r'"(?:[^"\\\n]|\\.)*"'), '"…"'),
    (re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+"), "＊"),
    (re.compile(r"\S+@\S+"), "…@…"),
    (re.compile(r"[0-9][0-9Xx\-/:. ]{2,}[0-9Xx]"), "#"),
)


def scrub(text: str) -> str:
    """`text` with every value that could be a patient's replaced by a placeholder."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def scrubbed_traceback(exc: BaseException) -> str:
    """The traceback of `exc` (and the exceptions it was raised from) without locals and with every
    message scrubbed; frames (file, line, function, source line) are kept as they are."""
    te = traceback.TracebackException.from_exception(exc, capture_locals=False)
    seen: set[int] = set()
    stack = [te]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current._str = scrub(current._str or "")  # the message line (3.11/3.12 keep it here)
        if getattr(current, "__notes__", None):
            current.__notes__ = [scrub(str(n)) for n in current.__notes__]
        for name in ("text", "filename"):  # a SyntaxError's source text could be a data line
            if getattr(current, name, None) and current.exc_type is not None \
                    and issubclass(current.exc_type, SyntaxError):
                setattr(current, name, scrub(getattr(current, name)))
        stack += [current.__cause__, current.__context__, *(getattr(current, "exceptions", None) or [])]
    return "".join(te.format())
