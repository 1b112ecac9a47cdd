"""Helpers shared by the storage tests: write records as a JSONL roster, read the database back."""

from __future__ import annotations

import io
import json

from store.exporter import export_jsonl


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def export(db_url) -> list[dict]:
    out = io.StringIO()
    export_jsonl(db_url, out)
    return [json.loads(line) for line in out.getvalue().split("\n") if line]
