"""Helpers shared by the storage tests: a minimal valid record, write records as a JSONL roster,
read the database back."""

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


VALID_MALE = "370202195803021236"  # born 1958-03-02, male


def record(**changes) -> dict:
    """A minimal valid record with `changes` (a value of None removes the field)."""
    base = {
        "patient_id": "p1",
        "id_number": VALID_MALE,
        "sex": "M",
        "birth_date": "1958-03-02",
        "conditions": ["hypertension"],
        "enrolled_on": "2021-05-10",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}
