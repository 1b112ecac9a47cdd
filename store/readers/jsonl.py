"""JSONL reader: one interchange record per line (interchange.md §1). Streams the file line by
line; a line that is not JSON, not an object, or repeats a key is rejected with its line number
(JSON parsers silently keep the last of two equal keys).

Fast path: the reader hands the line itself to store/importer.py, which decodes it with msgspec
(store/fast_json.py) or pydantic's JSON parser and checks for repeated keys by comparing the keys
written in the line (`keys_written`) with the keys the record ended up with. Only a line that fails
that check or validation is parsed here in Python, with a hook that names the repeated key
(`parse_line`).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator

from pathways.errors import Problem
from store.readers import Item, Source, detect_encoding


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _pairs_without_duplicates(pairs: list[tuple[str, object]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def read_jsonl(source: Source) -> Iterator[Item]:
    path = source.paths[0]
    name = str(path)
    encoding = detect_encoding(path)
    source.encodings[name] = encoding
    source.rows_read[name] = 0
    if encoding in UTF8:
        for number, line in utf8_lines(source):
            yield line_item(name, number, line)
        return
    with open(path, encoding=encoding, newline="") as f:
        source.fraction = _position(f.buffer, path)  # the byte position, a read-ahead chunk early
        for number, text in enumerate(f, start=1):
            line = text.strip()
            if not line:
                continue
            source.rows_read[name] += 1
            yield line_item(name, number, line)


UTF8 = ("utf-8", "utf-8-sig")


def utf8_lines(source: Source) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of every non-blank line of a UTF-8 JSONL source, without a BOM and the
    whitespace around it, counted in `source.rows_read` (which `read_jsonl` has set to 0). The lines
    stay bytes: both JSON parsers read UTF-8 directly, and a str would be decoded here only to be
    encoded again inside them (`Item.raw` is filled when a line is rejected). Also the import
    pipeline's worker's reader (store/import_pipeline.py), which makes no `Item` for a clean line."""
    path = source.paths[0]
    name = str(path)
    counts = source.rows_read
    with open(path, "rb") as f:
        source.fraction = _position(f, path)
        for number, data in enumerate(f, start=1):
            line = data.strip()
            if not line:
                continue
            if number == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8) :].strip()
            counts[name] += 1
            yield number, line


def _position(f, path):
    """The share of the file read so far (its position over its size)."""
    size = max(1, path.stat().st_size)
    return lambda: min(1.0, f.tell() / size) if not f.closed else 1.0


def _locator(name: str, number: int):
    return lambda _loc: (name, number, None)


def line_item(name: str, number: int, line: str | bytes) -> Item:
    """The `Item` of a JSONL line."""
    raw = line if isinstance(line, str) else ""  # bytes: decoded by raw_text() if ever needed
    return Item(file=name, line=number, data=None, raw=raw, locate=_locator(name, number), json_text=line)


def raw_text(item: Item) -> str:
    """The line as text for the reject file (a UTF-8 line is carried as bytes until then)."""
    if not item.raw and isinstance(item.json_text, bytes):
        item.raw = item.json_text.decode("utf-8")
    return item.raw


def keys_written(text: str | bytes) -> int:
    """An upper bound of the keys written in a JSONL line, for the repeated-key check: every key of
    every object is followed by exactly one colon (JSON whitespace between them or not), and the
    other colons sit inside string values. So the count equals the keys the decoded record was given
    (distinct fields) only when no key repeats and no string value holds a colon; anything else
    takes the slow path, which names a repeated key (`parse_line`). One pass of `count` over the
    line, a microsecond for a 2 kB record."""
    return text.count(b":" if isinstance(text, bytes) else ":")


def parse_line(item: Item) -> Item:
    """The slow path: parse `item.json_text` into `item.data`, or set the D001/D002/D003 problem."""
    name, number, line = item.file, item.line, item.json_text or item.raw
    raw_text(item)
    if isinstance(line, bytes):  # json.loads guesses UTF-16/32 from NUL bytes; the file is UTF-8
        line = item.raw
    item.json_text = None
    try:
        data = json.loads(line, object_pairs_hook=_pairs_without_duplicates)
    except _DuplicateKey as exc:
        item.problems.append(Problem.of("D002", file=name, line=number, key=repr(exc.key)))
        return item
    except json.JSONDecodeError as exc:
        item.problems.append(Problem.of("D001", file=name, line=number, reason=exc.msg, at=exc.colno))
        return item
    except RecursionError:  # json's decoder recurses per nesting level
        item.problems.append(Problem.of("D001", variant="deep", file=name, line=number))
        return item
    if _has_lone_surrogate(data):  # an escaped lone surrogate (\ud800) decodes but is not text
        item.problems.append(Problem.of("D001", variant="surrogate", file=name, line=number))
        return item
    if not isinstance(data, dict):
        item.problems.append(Problem.of("D003", file=name, line=number, kind=type(data).__name__))
        return item
    item.data = data
    pid = data.get("patient_id")
    item.patient_id = pid if isinstance(pid, str) else None
    return item


def _has_lone_surrogate(data) -> bool:
    """True when a decoded string (key or value) holds a lone surrogate, which no text encoding
    can write (the database, the terminal and the reject file would each fail on it)."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except RecursionError:  # nesting json.loads accepted but dumps does not: let validation reject it
        return False
    return False
