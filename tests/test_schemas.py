"""The JSON Schemas an editor uses (guidelines/jsonschema.py, shipped in guidelines/schemas/): they
are what the code generates, every YAML file of every shipped set names its schema on its first
line and validates against it with a real JSON Schema validator, and they catch a mistake."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from guidelines.draft import derive_outputs
from guidelines.jsonschema import MODELINE, schema_name, schemas
from guidelines.loader import load_draft

ROOT = Path(__file__).resolve().parents[1] / "guidelines"
SCHEMAS = ROOT / "schemas"
SET_FILES = sorted(
    path
    for manifest in ROOT.glob("**/set.yaml")
    for path in manifest.parent.glob("*.yaml")
)


def _json_like(node):
    """What an editor's YAML language server sees: YAML 1.2 has no date type, dates are text."""
    if isinstance(node, dict):
        return {str(k): _json_like(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_json_like(v) for v in node]
    if isinstance(node, dt.date):
        return node.isoformat()
    return node


def _load(path: Path):
    yaml = YAML(typ="safe")
    yaml.version = (1, 2)
    return _json_like(yaml.load(path.read_text(encoding="utf-8")))


def _validator(name: str) -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def test_the_shipped_schemas_are_what_the_code_generates_for_the_national_default_set() -> None:
    derived = [name for e in load_draft("national-default").derive for name in derive_outputs(e.value)]
    for name, schema in schemas(derived).items():
        assert json.loads((SCHEMAS / name).read_text(encoding="utf-8")) == schema, name


def test_there_are_rule_cases_and_manifest_files_to_check() -> None:
    kinds = {schema_name(p) for p in SET_FILES}
    assert kinds == {"guideline-file.schema.json", "cases-file.schema.json", "set.schema.json"}
    assert len(SET_FILES) > 30


@pytest.mark.parametrize("path", SET_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_yaml_file_names_its_schema_and_validates_against_it(path: Path) -> None:
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    assert first.startswith(MODELINE)
    target = (path.parent / first.removeprefix(MODELINE)).resolve()
    assert target == (SCHEMAS / schema_name(path)).resolve()
    validator = _validator(schema_name(path))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(_load(path))]
    assert errors == []


def test_the_schemas_catch_an_unknown_key_a_misspelt_fact_and_a_bad_date() -> None:
    manifest = {"set": "x", "version": "1", "policy_status": "local-definition", "extend": "national-default"}
    assert not _validator("set.schema.json").is_valid(manifest)
    source = {"doc": "PD", "clause": "c", "verification": "PD"}
    when = {"fact": "latest_sbpp", "gte": 140}
    rule = {"id": "x.y", "color": "red", "explain": "e", "source": source, "when": when}
    assert not _validator("guideline-file.schema.json").is_valid({"guideline": "x", "rules": [rule]})
    rule["when"]["fact"] = "latest_sbp"
    assert _validator("guideline-file.schema.json").is_valid({"guideline": "x", "rules": [rule]})
    cases = {"guideline": "x", "as_of": "2026-13-01", "cases": {"a": {"expect": {"color": "red"}}}}
    assert not _validator("cases-file.schema.json").is_valid(cases)
    cases["as_of"] = "2026-12-01"
    assert _validator("cases-file.schema.json").is_valid(cases)


# ---- guidelines new --------------------------------------------------------------------------------


def _check_and_test(folder: Path):
    from engine.cases_runner import run_set_cases
    from engine.parallel import AssessOptions, build_assessor
    from guidelines.loader import load_set

    load_set(folder)  # raises on any problem
    return run_set_cases(build_assessor(AssessOptions(str(folder), dt.date(2026, 1, 1), "python")))


@pytest.mark.parametrize("extends", [None, "national-default", "folder"])
def test_a_new_set_or_overlay_passes_check_and_test_and_its_files_validate(extends, tmp_path: Path) -> None:
    from guidelines.scaffold import new_set

    if extends == "folder":
        new_set(tmp_path / "province", "national-default")
        extends = str(tmp_path / "province")
    folder = tmp_path / "county" / "my-county"
    written = new_set(folder, extends)
    report = _check_and_test(folder)
    assert report.runs and report.failed == [] and report.stale == [] and report.coverage == []
    if extends is not None:
        assert any(r.base is not None for r in report.runs)
        manifest = (folder / "set.yaml").read_text(encoding="utf-8")
        assert "extends: ../../province\n" in manifest or "extends: national-default\n" in manifest
    yaml_files = [p for p in written if p.suffix == ".yaml"]
    assert yaml_files
    for path in yaml_files:
        first = path.read_text(encoding="utf-8").split("\n", 1)[0]
        schema = json.loads((path.parent / first.removeprefix(MODELINE)).read_text(encoding="utf-8"))
        assert list(jsonschema.Draft7Validator(schema).iter_errors(_load(path))) == [], path.name


def test_new_refuses_a_folder_that_holds_files(tmp_path: Path) -> None:
    from guidelines.scaffold import new_set
    from pathways.errors import SangaoError

    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(SangaoError) as exc:
        new_set(tmp_path / "taken", "national-default")
    assert [p.code for p in exc.value.problems] == ["G113"]
    assert (tmp_path / "taken" / "notes.txt").read_text(encoding="utf-8") == "mine"
