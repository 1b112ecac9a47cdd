"""The roster formats come from one registry (store/readers/formats.py): a file's suffix chooses the
format and its reader, and the `roster import` help lists every registered format."""

from pathlib import Path

import pytest
from typer.main import get_command

import cli
from pathways.errors import SangaoError
from reports.help_text import command_help
from store.readers import Item, Source, group_sources, read_source
from store.readers import formats as registry


def test_every_registered_format_and_suffix_is_listed_in_the_import_help_in_both_languages():
    for lang in ("zh", "en"):
        text = command_help("roster import", lang)
        for fmt in registry.FORMATS:
            assert fmt.describe(lang) in text
            for suffix in fmt.suffixes:
                assert suffix in text
    shown = get_command(cli.app).commands["roster"].commands["import"].help
    assert "（.jsonl、.ndjson、.json）" in shown or "(.jsonl, .ndjson, .json)" in shown


def test_a_format_added_to_the_registry_appears_in_the_help_and_reads_its_files(monkeypatch, tmp_path):
    def read_lines(source: Source, mapping, register):
        for path in source.paths:
            yield Item(file=path.name, line=1, data={"text": path.read_text(encoding="utf-8")})

    tsv = registry.Format("tsv", (".tsv",), read_lines, "制表符分隔文本", "tab-separated text")
    monkeypatch.setattr(registry, "FORMATS", (*registry.FORMATS, tsv))
    monkeypatch.setitem(registry.BY_NAME, "tsv", tsv)
    monkeypatch.setitem(registry.BY_SUFFIX, ".tsv", tsv)

    assert "制表符分隔文本（.tsv）" in command_help("roster import", "zh")
    assert "or tab-separated text (.tsv)" in command_help("roster import", "en")
    (tmp_path / "a.TSV").write_text("患者编号\t性别", encoding="utf-8")
    [source] = group_sources([tmp_path / "a.TSV"])
    assert source.kind == "tsv"
    assert [item.data for item in read_source(source)] == [{"text": "患者编号\t性别"}]


def test_suffixes_choose_the_format_whatever_their_case_and_csv_files_of_a_folder_form_one_set(tmp_path):
    names = ["a.jsonl", "b.NDJSON", "c.json", "d.xlsx", "e.XLSM", "f.xls", "g.zip", "h.csv", "i.CSV"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    sources = group_sources([tmp_path / n for n in names])
    assert [(s.kind, [p.name for p in s.paths]) for s in sources] == [
        ("jsonl", ["a.jsonl"]), ("jsonl", ["b.NDJSON"]), ("jsonl", ["c.json"]), ("xlsx", ["d.xlsx"]),
        ("xlsx", ["e.XLSM"]), ("xls", ["f.xls"]), ("zip", ["g.zip"]), ("csv", ["h.csv", "i.CSV"]),
    ]


def test_a_suffix_no_format_claims_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "roster.txt"
    path.write_text("", encoding="utf-8")
    with pytest.raises(SangaoError) as caught:
        group_sources([Path(path)])
    [problem] = caught.value.problems
    assert problem.code == "D030" and problem.file == str(path)
    assert "'roster.txt'" in problem.render("en")
