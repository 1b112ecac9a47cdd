"""Strategies for the YAML fuzz suites (mapping files, guideline files, cases files): structures
written as JSON (which is YAML) and real files' text with YAML's sharp edges spliced in (anchors
and aliases, tags, tabs, NUL, BOM, document markers, deep nesting, duplicate keys)."""

from __future__ import annotations

import json

from hypothesis import strategies as st

YAML_JUNK = ["&a ", "*a", "*missing", "!!python/object/apply:os.system ['true']", "!!binary AAAA", "\t",
             "\x00", "? ", ": ", "- ", "{", "}", "[", "]", "'", '"', "%YAML 1.1\n", "---\n", "...\n",
             "\ufeff", "<<: *a\n", "\n  ", "#", "|", ">", "~", "null", "1e309", ".nan", "-.inf", "0o17",
             "0x1F", "2026-02-30", "yes", "no", "on", "\\", "\u2028", "\r", "!tag "]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                    st.text(max_size=12),
                    st.sampled_from(["2026-11-30", "hypertension", "M", "F", "yellow", "red", "sbp", "ldl_c",
                                     "V1", "PD", "visits.bp"]))


def structures(keys: list[str]):
    """Nested mappings and lists whose keys are mostly the format's own."""
    key = st.sampled_from(keys) | st.text(max_size=8)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(key, inner, max_size=4), max_leaves=12)


@st.composite
def mutated(draw, base: str) -> str:
    text = base
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "duplicate", "nest"]))
        if op == "insert":
            text = text[:at] + draw(st.sampled_from(YAML_JUNK) | st.text(max_size=4)) + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
        elif op == "duplicate":
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            text = "\n".join([*lines[: i + 1], lines[i], *lines[i + 1:]])
        else:
            # 600 levels overflow the parser's recursion (and take half a second): one in twenty
            n = 600 if draw(st.integers(0, 19)) == 0 else draw(st.sampled_from([2, 30, 120]))
            text = text[:at] + "[" * n + "]" * n + text[at:]
    return text


def documents(keys: list[str], base: str, fixed: dict | None = None):
    """A YAML document: a structure of the format's keys (as JSON), or the base text mutated."""
    def as_json(value) -> str:
        if fixed and isinstance(value, dict):
            value = {**fixed, **value}
        return json.dumps(value, ensure_ascii=False)

    return st.one_of(structures(keys).map(as_json), mutated(base))
