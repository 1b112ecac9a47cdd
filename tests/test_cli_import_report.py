"""`sangao roster import`'s report of bad rows reads well on an 80-column terminal
(reports/import_view.py, reports/fold.py): a long message goes on under its first line, indented,
broken between words or Chinese characters but never inside a field name, a number, a quoted value
or a file name; a problem reported per column has its place on one line and its message below."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
from rich.cells import cell_len
from rich.console import Console

import store
from reports.fold import fold
from reports.import_view import print_import_report
from tests.roster_files import record


def _report(tmp_path, lang: str) -> list[str]:
    jsonl = tmp_path / "roster.jsonl"
    rows = [
        record(patient_id="p4", id_number="370202195803021235"),  # wrong check digit
        record(patient_id="p5", visits=[{"date": "2026-11-01", "sbp": 150, "symptoms": ["chest_pian"]}]),
        record(patient_id="p6", visits=[{"date": "2026-11-01", "sbp": 950, "dbp": 90}]),  # kept, flagged
    ]
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    csv = tmp_path / "visits.csv"
    csv.write_text("患者编号,身份证号,姓名,性别,出生日期,疾病,建档日期,收缩压,舒张压,随访日期\n"
                   "q1,370202195803021236,张三,男,1958-03-02,高血压,2021-05-10,15o,90,2026-11-01\n",
                   encoding="utf-8")
    report = store.import_files([jsonl, csv], f"sqlite:///{tmp_path / 'r.db'}", date(2026, 11, 30))
    out = io.StringIO()
    terminal = Console(file=out, width=80, force_terminal=True, color_system=None)
    print_import_report(report, None, terminal, lang)
    lines = out.getvalue().splitlines()
    assert all(cell_len(line) <= 80 for line in lines), "\n".join(lines)
    return lines


def _block(lines: list[str], first: str) -> list[str]:
    """The lines of one code: its first line and those indented under it."""
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("    ")), len(lines))
    return lines[start:end]


def test_the_chinese_import_report_wraps_under_each_message_at_80_columns(tmp_path):
    lines = _report(tmp_path, "zh")
    assert _block(lines, "  D020") == [
        "  D020 ×1  身份证号 '370202********1235' 有误：校验码为 5，应为 6（GB 11643）；",
        "           有一位数字录错了",
        "      位于 roster.jsonl:1（患者 p4）",
        "      提示：请按居民身份证更正，或留空",
    ]
    assert _block(lines, "  D018") == [
        "  D018 ×1  未知症状代码 'chest_pian'",
        "      位于 roster.jsonl:2（患者 p5）",
        "      提示：是否应为 'chest_pain'？症状代码见 `sangao guidelines effective` 和",
        "            vocabulary.yaml",
    ]
    assert _block(lines, "  D108") == ["  D108  visits.csv:1:疾病",
                                       "        列 疾病 在随访表中未识别；未读取"]
    assert "拒绝：3" in lines and "发现（记录保留）：2" in lines


def test_the_english_import_report_wraps_under_each_message_at_80_columns(tmp_path):
    lines = _report(tmp_path, "en")
    assert _block(lines, "  D020") == [
        "  D020 ×1  id_number '370202********1235' check digit is 5 but should be 6 (GB",
        "           11643); a digit was mistyped",
        "      at roster.jsonl:1  (patient p4)",
        "      hint: correct the resident ID from the patient's card, or leave the cell",
        "            empty",
    ]
    assert _block(lines, "  D108") == ["  D108  visits.csv:1:疾病",
                                       "        column '疾病' not recognised in the visits table; ignored"]


@pytest.mark.parametrize(("text", "width", "lines"), [
    # a long Chinese run breaks between characters; a number, a field name and a file name do not
    ("请按居民身份证更正，或留空。文件 县医院/随访记录2026.xlsx 第 12 行 visits[0].sbp：不是数字",
     32, ["请按居民身份证更正，或留空。文件", "  县医院/随访记录2026.xlsx 第 12",
          "  行 visits[0].sbp：不是数字"]),
    # closing punctuation stays with the word before it, opening with the one after
    ("收缩压须在 50–300 之间（'950'）。", 20, ["收缩压须在 50–300", "  之间（'950'）。"]),
    ("一二三四五六七八九十", 9, ["一二三四", "  五六七", "  八九十"]),
    ("first\nsecond line", 80, ["first", "  second line"]),
])
def test_text_is_folded_between_words_never_inside_one(text, width, lines):
    assert fold(text, width, "", "  ") == lines
