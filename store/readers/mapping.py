"""A site's column-mapping file (`sangao roster import --mapping site.yaml`): maps the site's own
headers, value labels and file/sheet names onto the interchange. Example:

```yaml
columns:                 # site header → interchange field; `table.field` when ambiguous
  档案号: patient_id
  血压值: visits.bp       # "150/90" in one cell
  收缩压mmHg: visits.sbp
values:                  # per field (or per kind: bool, sex) : site label → interchange value
  sex: {"1": M, "2": F}
  smoker: {吸烟: true, 不吸烟: false}
  conditions: {高血压病: hypertension}
tables:                  # file stem or sheet name → table
  随访记录表: visits
```

Unknown keys, tables or fields are D031 errors with the line in the mapping file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from pathways.errors import Problem, SangaoError
from store.readers.aliases import TABLES, normalize_header, normalize_value
from store.validation import did_you_mean

_FIELD_KINDS = sorted({spec.kind for fields in TABLES.values() for spec in fields.values()} | {"bool", "sex"})


@dataclass
class Mapping:
    columns: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # header → (table, field)
    values: dict[str, dict[str, object]] = field(default_factory=dict)  # field/kind → label → value
    tables: dict[str, str] = field(default_factory=dict)  # name → table


def load_mapping(path: Path) -> Mapping:
    name = str(path)
    try:
        doc = YAML(typ="rt").load(path.read_text(encoding="utf-8-sig"))
    except (OSError, YAMLError, UnicodeDecodeError) as exc:
        raise SangaoError.one("D031", f"cannot read the mapping file: {exc}", file=name) from None
    problems: list[Problem] = []
    mapping = Mapping()

    def where(node: CommentedMap, key) -> dict:
        line, col = node.lc.key(key)
        return {"file": name, "line": line + 1, "column": col + 1}

    if doc is None:
        return mapping
    if not isinstance(doc, CommentedMap):
        raise SangaoError.one(
            "D031", "the mapping file must be a mapping with columns/values/tables", file=name
        )
    all_fields = sorted({f for fields in TABLES.values() for f in fields})
    for key in doc:
        if key not in ("columns", "values", "tables"):
            problems.append(
                Problem(
                    "D031",
                    f"unknown section {key!r}",
                    **where(doc, key),
                    hint=did_you_mean(key, ["columns", "values", "tables"])
                    or "sections: columns, values, tables",
                )
            )
    for header, target in (doc.get("columns") or {}).items():
        table, _, fld = str(target).rpartition(".")
        table = table or None
        if table is not None and table not in TABLES:
            problems.append(
                Problem(
                    "D031",
                    f"column {header!r}: unknown table {table!r}",
                    **where(doc["columns"], header),
                    hint=did_you_mean(table, list(TABLES)) or f"tables: {', '.join(TABLES)}",
                )
            )
        elif fld not in (TABLES[table] if table else all_fields):
            choices = list(TABLES[table]) if table else all_fields
            problems.append(
                Problem(
                    "D031",
                    f"column {header!r}: unknown field {target!r}",
                    **where(doc["columns"], header),
                    hint=did_you_mean(fld, choices) or "see `sangao roster import --help`",
                )
            )
        else:
            mapping.columns[normalize_header(header)] = (table, fld)
    for key, labels in (doc.get("values") or {}).items():
        if key not in all_fields and key not in _FIELD_KINDS:
            problems.append(
                Problem(
                    "D031",
                    f"values: unknown field {key!r}",
                    **where(doc["values"], key),
                    hint=did_you_mean(key, all_fields + _FIELD_KINDS),
                )
            )
            continue
        if not isinstance(labels, dict):
            problems.append(
                Problem("D031", f"values.{key} must map labels to values", **where(doc["values"], key))
            )
            continue
        mapping.values[str(key)] = {normalize_value(str(k)): v for k, v in labels.items()}
    for stem, table in (doc.get("tables") or {}).items():
        if table not in TABLES:
            problems.append(
                Problem(
                    "D031",
                    f"tables: unknown table {table!r} for {stem!r}",
                    **where(doc["tables"], stem),
                    hint=did_you_mean(table, list(TABLES)) or f"tables: {', '.join(TABLES)}",
                )
            )
        else:
            mapping.tables[normalize_header(stem)] = str(table)
    if problems:
        raise SangaoError(problems)
    return mapping
