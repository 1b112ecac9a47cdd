"""Draft-07 JSON Schema of a guideline file (`sangao guidelines schema`), for editors: completion of
keys and of fact names, and checking as the author types. Fact names are an enum: the base facts of
pathways/facts.py plus the derived facts the caller passes (a set's `derive` outputs). The loader
stays the judge: the schema cannot see units, parameters or other files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from guidelines.schema import GuidelineFile
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
    return {
        "$schema": DRAFT_07,
        "$id": "https://sangao.example/schema/guideline-file.json",
        **schema,
        "definitions": definitions,
    }


def schema_json(derived_facts: Iterable[str] = ()) -> str:
    return json.dumps(guideline_file_schema(derived_facts), ensure_ascii=False, indent=2, sort_keys=True)
