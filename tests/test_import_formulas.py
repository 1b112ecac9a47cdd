"""XLSX formula cells (store/readers/sheets.py `Uncached`, cells.py): a formula with no saved value
(a workbook written by a program, never saved in Excel) is never read as empty; a formula whose
value the workbook holds is read as that value."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import date

from typer.testing import CliRunner

import cli
from store.exporter import export_jsonl
from store.importer import import_files

AS_OF = "2026-11-30"


def _workbook(path, patients, visits):
    """A 患者 and a 随访 sheet, as openpyxl writes them: a formula cell gets no saved value."""
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "患者"
    for row in patients:
        sheet.append(row)
    sheet = workbook.create_sheet("随访")
    for row in visits:
        sheet.append(row)
    workbook.save(path)
    return path


_PATIENTS = [["患者编号", "姓名", "性别", "出生日期", "管理病种", "建档日期"],
             ["p1", '="张"&"三"', "男", "1958-03-02", "高血压", "2021-05-10"],
             ["p2", "李四", "女", "1960-07-01", "高血压", "2021-05-10"],
             ["p3", "王五", "男", "1955-01-20", "=D2", "2021-05-10"]]
_VISITS = [["患者编号", "随访日期", "收缩压", "舒张压"],
           ["p1", "2026-10-01", "=A1+1", "90"],
           ["p2", "2026-10-02", "150", "92"]]


def _stored(tmp_path, url):
    out = io.StringIO()
    export_jsonl(url, out)
    return {r["patient_id"]: r for r in map(json.loads, out.getvalue().splitlines())}


def test_a_formula_with_no_saved_value_refuses_its_row_in_a_field_sangao_reasons_on(tmp_path):
    path = _workbook(tmp_path / "花名册.xlsx", _PATIENTS, _VISITS)
    url = f"sqlite:///{tmp_path / 'x.db'}"
    report = import_files([path], url, date.fromisoformat(AS_OF))
    assert [(p.code, p.file, p.line, p.column) for p in report.rejects] == [
        ("D019", f"{path}[随访]", 2, "收缩压"),
        ("D019", f"{path}[患者]", 4, "管理病种"),
    ]
    assert "C2" in report.rejects[0].message and "formula" in report.rejects[0].message
    assert "Excel" in report.rejects[0].hint and "CSV" in report.rejects[0].hint
    stored = _stored(tmp_path, url)
    assert sorted(stored) == ["p1", "p2"]  # p3's programme is never guessed from a blank
    assert stored["p1"].get("visits", []) == []  # the visit is refused, never stored without its BP
    assert [(v["date"], v["sbp"], v["dbp"]) for v in stored["p2"]["visits"]] == [("2026-10-02", 150, 92)]


def test_a_formula_with_no_saved_value_in_the_name_keeps_the_row_and_is_reported(tmp_path):
    path = _workbook(tmp_path / "花名册.xlsx", _PATIENTS, _VISITS)
    url = f"sqlite:///{tmp_path / 'x.db'}"
    report = import_files([path], url, date.fromisoformat(AS_OF))
    found = [p for p in report.findings if p.code == "D116"]
    assert [(p.file, p.line, p.column, p.fields["n"], p.fields["ref"]) for p in found] == [
        (f"{path}[患者]", 2, "姓名", 1, "B2")]
    assert _stored(tmp_path, url)["p1"].get("name") is None  # blank, not the formula text


def _save_values(path, saved: dict[str, dict[str, str]]):
    """The workbook with a saved value in the <v> of each formula cell named in `saved` (sheet part
    → cell → value), as Excel writes it on saving: text typed t="str" (openpyxl writes <v/>)."""
    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    for part, cells in saved.items():
        text = parts[part].decode()
        for ref, value in cells.items():
            typed = "" if re.fullmatch(r"-?[0-9.]+", value) else ' t="str"'
            text, n = re.subn(rf'<c r="{ref}"([^>]*)>(<f>[^<]*</f>)<v ?/>',
                              rf'<c r="{ref}"{typed}\g<1>>\g<2><v>{value}</v>', text)
            assert n == 1, ref
        parts[part] = text.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for part, data in parts.items():
            archive.writestr(part, data)


def test_formulas_whose_values_are_saved_import_those_values_unchanged(tmp_path):
    patients = [*_PATIENTS[:2], ["p2", '=IF(1>2,"x","")', "女", "1960-07-01", "高血压", "2021-05-10"]]
    visits = [["患者编号", "随访日期", "收缩压", "舒张压"],
              ["p1", "2026-10-01", "=140+10", "=A1"],
              ["p2", "2026-10-02", "150", "92"]]
    path = _workbook(tmp_path / "花名册.xlsx", patients, visits)
    # p2's name: a formula whose saved value is the empty string (typed as text), blank as in Excel
    _save_values(path, {"xl/worksheets/sheet1.xml": {"B2": "张三", "B3": ""},
                        "xl/worksheets/sheet2.xml": {"C2": "150", "D2": "88"}})
    url = f"sqlite:///{tmp_path / 'x.db'}"
    report = import_files([path], url, date.fromisoformat(AS_OF))
    assert report.rejects == []
    assert [p.code for p in report.findings if p.code in ("D019", "D116")] == []
    stored = _stored(tmp_path, url)
    assert (stored["p1"]["name"], stored["p2"].get("name")) == ("张三", None)
    assert [(v["sbp"], v["dbp"]) for v in stored["p1"]["visits"]] == [(150, 88)]


def test_the_refusal_names_the_cell_in_chinese_by_default_and_in_english_with_lang_en(tmp_path):
    path = _workbook(tmp_path / "花名册.xlsx", _PATIENTS[:3], _VISITS)
    args = ["roster", "import", str(path), "--db", str(tmp_path / "x.db"), "--as-of", AS_OF]
    zh = CliRunner().invoke(cli.app, args, terminal_width=80)
    en = CliRunner().invoke(cli.app, [*args, "--lang", "en"], terminal_width=80)
    assert zh.exit_code == en.exit_code == 1
    zh_text, en_text = "".join(zh.output.split()), " ".join(en.output.split())  # lines wrapped at 80
    assert "D019×1visits.sbp：单元格C2是公式，但工作簿中没有保存它的值" in zh_text
    assert "随访]:2:收缩压" in zh_text and "用Excel或WPS打开该工作簿并保存" in zh_text
    assert "列姓名：1个单元格是公式但没有保存的值（首个在B2）" in zh_text
    assert "visits.sbp: cell C2 holds a formula with no saved value" in en_text
    assert "column 姓名: 1 cells hold a formula with no saved value (first at B2)" in en_text


def test_a_shared_formula_in_prefixed_xml_without_cell_references_is_found_at_its_cell(tmp_path):
    """Writers differ: a namespace prefix (<x:c>), cells without `r`, a shared formula whose later
    cells carry only <f t="shared" si="0"/>."""
    path = _workbook(tmp_path / "花名册.xlsx", _PATIENTS[:3], [["患者编号"]])

    def text(value):
        return f'<x:c t="inlineStr"><x:is><x:t>{value}</x:t></x:is></x:c>'

    rows = [
        "".join(map(text, ["患者编号", "随访日期", "收缩压", "舒张压"])),
        text("p1") + text("2026-10-01") + '<x:c><x:f t="shared" ref="C2:C3" si="0">140+10</x:f>'
        "<x:v>150</x:v></x:c><x:c><x:v>90</x:v></x:c>",
        text("p2") + text("2026-10-02") + '<x:c><x:f t="shared" si="0"/></x:c><x:c><x:v>92</x:v></x:c>',
    ]
    sheet = ('<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             "<x:sheetData>" + "".join(f'<x:row r="{n}">{r}</x:row>' for n, r in enumerate(rows, 1))
             + "</x:sheetData></x:worksheet>")
    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    parts["xl/worksheets/sheet2.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for part, data in parts.items():
            archive.writestr(part, data)
    url = f"sqlite:///{tmp_path / 'x.db'}"
    report = import_files([path], url, date.fromisoformat(AS_OF))
    assert [(p.code, p.file, p.line, p.column, p.fields["ref"]) for p in report.rejects] == [
        ("D019", f"{path}[随访]", 3, "收缩压", "C3")]
    stored = _stored(tmp_path, url)
    assert [(v["sbp"], v["dbp"]) for v in stored["p1"]["visits"]] == [(150, 90)]
    assert stored["p2"].get("visits", []) == []


def test_inspect_proposes_no_value_map_for_a_formula_with_no_saved_value(tmp_path):
    from store.inspect import inspect_files

    patients = [["患者编号", "性别", "出生日期", "管理病种", "建档日期"],
                ["p1", "男", "1958-03-02", "高血压", "2021-05-10"],
                ["p2", "=B2", "1958-03-02", "高血压", "2021-05-10"]]
    path = _workbook(tmp_path / "花名册.xlsx", patients, [["患者编号"]])
    result = inspect_files([path])
    sex = next(c for t in result.tables for c in t.columns if c.header == "性别")
    assert dict(sex.seen) == {"男": 1} and result.unmapped == 0  # never an empty "" to map
