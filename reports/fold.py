"""Chinese (and English) text broken into lines for a terminal of a given width. Rich breaks lines
at spaces only, so it cuts a Chinese sentence anywhere, a number or a field name included: here a
run of Latin letters, digits and signs (a field name, a number, a path) and a quoted value stay
whole, and so does a Chinese word of up to _WORD characters between spaces or punctuation; a longer
Chinese run breaks between its characters. Closing punctuation never starts a line and opening
punctuation never ends one."""

from __future__ import annotations

import re
from functools import cache

from rich.cells import cell_len

_LETTERS = "\u2e80-\u2fff\u3040-\u9fff\uf900-\ufaff"
_PUNCT = "\u3000-\u303f\uff00-\uffef"
_CLOSING = set("，。、；：！？）」』》〉】”’,.;:!?)]")
_OPENING = set("（「『《〈【“‘([")
_WORD = 6


@cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """(a token: spaces, a quoted value, a Chinese punctuation mark or a run of anything else; a
    path, file name, field name or decimal number; one Chinese letter or a run of others; a
    letter), compiled when first needed (not at every start of the command line)."""
    return (
        re.compile(rf"\s+|'[^'\n]{{0,40}}'|[{_PUNCT}]|[^\s{_PUNCT}]+"),
        re.compile(r"[/\\]|\.[A-Za-z0-9]{1,5}(?![A-Za-z0-9])"),
        re.compile(rf"[{_LETTERS}]|[^{_LETTERS}]+"),
        re.compile(rf"[{_LETTERS}]"),
    )


def _pieces(text: str) -> list[tuple[str, str]]:
    """(the space before, a piece no line breaks inside) of `text`."""
    token, whole, split, letter = _patterns()
    tokens: list[tuple[str, str]] = []
    space = ""
    for found in token.finditer(text):
        run = found.group()
        if run.isspace():
            space += run
            continue
        parts = [run] if whole.search(run) or run[0] == "'" else split.findall(run)
        for part in parts:
            tokens.append((space, part))
            space = ""
    # a short Chinese word stays whole
    merged: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        j = i
        while j < len(tokens) and letter.fullmatch(tokens[j][1]) and (j == i or not tokens[j][0]):
            j += 1
        if 1 < j - i <= _WORD:
            merged.append((tokens[i][0], "".join(t for _, t in tokens[i:j])))
        else:  # a longer run breaks anywhere between its letters
            merged.extend(tokens[i : max(j, i + 1)])
        i = max(j, i + 1)
    pieces: list[tuple[str, str]] = []
    for space, piece in merged:
        if pieces and not space and (piece[0] in _CLOSING or pieces[-1][1][-1] in _OPENING):
            pieces[-1] = (pieces[-1][0], pieces[-1][1] + piece)
        else:
            pieces.append((space, piece))
    return pieces


def fold(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    """`text` in lines of at most `width` cells, the first starting with `first`, the others with
    `rest` (a hanging indent); a line break in `text` is kept, and a piece longer than a line has
    a line of its own."""
    lines: list[str] = []
    for n, paragraph in enumerate(text.split("\n")):
        line, empty = (first if n == 0 else rest), True
        for space, piece in _pieces(paragraph):
            if not empty and cell_len(line) + cell_len(space) + cell_len(piece) > width:
                lines.append(line)
                line = rest + piece
            else:
                line += ("" if empty else space) + piece
            empty = False
        lines.append(line)
    return lines
