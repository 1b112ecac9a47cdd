"""The import report speaks the user's language: every message of a JSONL record's problems (types,
missing and unknown fields, resident ID, symptom codes) in Chinese by default and in English with
`--lang en` (pathways/codes/roster.py holds both templates)."""

from __future__ import annotations

import json
import re

from roster_files import record
from typer.testing import CliRunner

import cli


def _bad_roster(tmp_path):
    lines = [
        record(patient_id="p1", visits=[{"date": "2026-11-01", "sbp": "高", "dbp": 90}]),  # wrong type
        record(patient_id="p2", enrolled_on=None),  # missing field
        record(patient_id="p3", visits=[{"date": "2026-11-01", "spb": 150, "dbp": 90}]),  # unknown key
        record(patient_id="p4", id_number="370202195803021235"),  # wrong check digit
        record(patient_id="p5", visits=[{"date": "2026-11-01", "sbp": 150, "symptoms": ["chest_pian"]}]),
    ]
    path = tmp_path / "roster.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    return path


def _import(tmp_path, *lang):
    args = ["roster", "import", str(_bad_roster(tmp_path)), "--db", str(tmp_path / "t.db"),
            "--as-of", "2026-11-30", *lang]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 1, result.output
    return re.sub(r"\n *", " ", result.output)  # lines wrap at 80 columns, indented under the first


def test_the_import_report_of_a_bad_jsonl_file_is_chinese_by_default(tmp_path):
    out = _import(tmp_path)
    assert "D015 ×1  visits[0].sbp：不是数字（'高'）" in out
    assert "请写纯数字，如 150 或 7.9，不加引号或单位" in out
    assert "D010 ×1  enrolled_on：缺少必填字段" in out
    assert "D011 ×1  visits[0].spb：未知字段 'spb'" in out
    assert "是否应为 'sbp'？" in out
    assert "D020 ×1  身份证号 '370202********1235' 有误：校验码为 5，应为 6（GB 11643）" in out
    assert "有一位数字录错了" in out
    assert "请按居民身份证更正，或留空" in out
    assert "D018 ×1  未知症状代码 'chest_pian'" in out
    assert "是否应为 'chest_pain'？症状代码见" in out
    for english in ("not a number", "required field", "unknown field", "check digit", "unknown symptom",
                    "did you mean"):
        assert english not in out


def test_the_import_report_of_a_bad_jsonl_file_is_english_with_lang_en(tmp_path):
    out = _import(tmp_path, "--lang", "en")
    assert "D015 ×1  visits[0].sbp: not a number ('高')" in out
    assert "D010 ×1  enrolled_on: required field missing" in out
    assert "D011 ×1  visits[0].spb: unknown field 'spb'" in out
    assert "did you mean 'sbp'?" in out
    assert "D020 ×1  id_number '370202********1235' check digit is 5 but should be 6 (GB 11643)" in out
    assert "D018 ×1  unknown symptom code 'chest_pian'" in out
    assert "did you mean 'chest_pain'?" in out
    assert "不是数字" not in out and "校验码" not in out
