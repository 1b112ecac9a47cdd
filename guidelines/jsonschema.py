"""Draft-07 JSON Schemas of the three kinds of file in a guideline set, for editors: a guideline
file, a `*.cases.yaml` file and `set.yaml` (`sangao guidelines schema --write DIR`). They give
completion of keys and of fact names, and checking as the author types. Fact names are an enum: the
base facts of pathways/facts.py plus the derived facts the caller passes (a set's `derive` outputs).
The loader stays the judge: the schema cannot see units, parameters or other files.

Each shipped YAML file names its schema on its first line, the modeline the YAML language server
(VS Code's YAML extension, Neovim, Helix, JetBrains) follows: `# yaml-language-server: $schema=…`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from guidelines.cases_file import SUFFIX, CaseFileDoc
from guidelines.schema import GuidelineFile, Manifest
from pathways.facts import FACTS

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
_FACT_FIELDS = {"Compare": "fact", "FactRef": "fact", "TableInput": "fact"}


def guideline_file_schema(derived_facts: Iterable[str] = ()) -> dict[str, Any]:
    schema = GuidelineFile.model_json_schema(by_alias=True, ref_template="#/definitions/{model}")
    definitions = schema.pop("$defs", {})
    names = sorted({*FACTS, *derived_facts})
    for model, field in _FACT_FIELDS.items():
        prop = definitions.get(model, {}).get("properties", {}).get(field)
        if prop is None:
            continue
        description = prop.get("description", "a fact name (`sangao guidelines schema` lists them)")
        enum = {"type": "string", "enum": names}
        if "anyOf" in prop:  # optional: string or null
            prop["anyOf"] = [enum if alt.get("type") == "string" else alt for alt in prop["anyOf"]]
        else:
            prop.update(enum)
        prop["description"] = description
    schema_id = f"urn:sangao:schema:{GUIDELINE_FILE}"
    return {"$schema": DRAFT_07, "$id": schema_id, **schema, "definitions": definitions}


def _model_schema(model: Any, name: str) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, ref_template="#/definitions/{model}")
    definitions = schema.pop("$defs", {})
    out = {"$schema": DRAFT_07, "$id": f"urn:sangao:schema:{name}", **schema}
    if definitions:
        out["definitions"] = definitions
    return out


GUIDELINE_FILE = "guideline-file.schema.json"
CASES_FILE = "cases-file.schema.json"
SET_FILE = "set.schema.json"
MODELINE = "# yaml-language-server: $schema="


def schemas(derived_facts: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """File name → schema, for the three kinds of file of a set."""
    return {
        GUIDELINE_FILE: guideline_file_schema(derived_facts),
        CASES_FILE: _model_schema(CaseFileDoc, CASES_FILE),
        SET_FILE: _model_schema(Manifest, SET_FILE),
    }


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def schema_json(derived_facts: Iterable[str] = ()) -> str:
    return dumps(guideline_file_schema(derived_facts)).rstrip("\n")


def write_schemas(folder: Path, derived_facts: Iterable[str] = ()) -> list[Path]:
    """Write the three schemas into `folder` (created); the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas(derived_facts).items():
        path = folder / name
        path.write_text(dumps(schema), encoding="utf-8")
        written.append(path)
    return written


def schema_name(path: Path) -> str:
    """Which schema a YAML file of a set follows."""
    if path.name == "set.yaml":
        return SET_FILE
    if path.name.endswith(SUFFIX):
        return CASES_FILE
    return GUIDELINE_FILE


def modeline(path: Path, schema_folder: Path) -> str:
    """The first line that points an editor at the file's schema (a path relative to the file)."""
    rel = os.path.relpath(schema_folder / schema_name(path), path.parent)
    return MODELINE + Path(rel).as_posix()


def add_modeline(path: Path, schema_folder: Path) -> bool:
    """Put the modeline on the first line of `path` (replacing an older one); True if it changed."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    line = modeline(path, schema_folder)
    if lines and lines[0].startswith(MODELINE):
        if lines[0] == line:
            return False
        lines[0] = line
    else:
        lines.insert(0, line)
    path.write_text("\n".join(lines), encoding="utf-8")
    return True
