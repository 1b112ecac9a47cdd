"""A site's column-mapping file (`sangao roster import --mapping site.yaml`): maps the site's own
headers, value labels and file/sheet names onto the interchange. Example:

```yaml
columns:                 # site header → interchange field; `table.field` when ambiguous
  档案号: patient_id
  备注: ignore            # (or null) a column not to read, even one the reader recognises
  血压-左侧-LEFTHEIGHT: visits.sbp_left   # a header with its system code: that column only
  血压值: visits.bp       # "150/90" in one cell
  收缩压mmHg: visits.sbp
values:                  # per field (or per kind: bool, sex) : site label → interchange value
  sex: {"1": M, "2": F}
  smoker: {吸烟: true, 不吸烟: false}
  conditions: {高血压病: hypertension, 老年人: null}   # null: a known label with no field
tables:                  # file stem or sheet name → table
  随访记录表: visits
form: hypertension       # the national form of flat visit files (or {file stem: form}): sets the
                         # conditions of their patients and which symptom codes apply
defaults:                # patient fields a flat export lacks
  conditions: [hypertension]
  enrolled_on: first_visit   # or a date; default: a column, else the first visit
bp_arm: higher           # two-arm blood pressure: left, right or higher (by systolic)
role: events             # or {file stem: register|events}: a register (person file) says who is
                         # enrolled; an events file (follow-ups, health checks) only adds dated rows
                         # to people already registered. Default: a file with a patients table is a
                         # register, a flat visit export (no patients table) is an events file.
id_salt: county-370202   # optional: mixed into the patient_id derived from the resident ID
```

Unknown keys, tables or fields are D031 errors with the line in the mapping file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from guidelines.yaml_source import load_yaml
from pathways.errors import Problem, SangaoError
from store.readers.aliases import TABLES, header_key, normalize_header, normalize_value
from store.validation import did_you_mean

_FIELD_KINDS = sorted({spec.kind for fields in TABLES.values() for spec in fields.values()} | {"bool", "sex"})


SECTIONS = ["columns", "values", "tables", "form", "defaults", "bp_arm", "id_salt", "role"]
BP_ARMS = ("left", "right", "higher")
ROLES = ("register", "events")
IGNORE = "ignore"
# A concentration (mg/L) is not the albumin/creatinine ratio (mg/g): never taken as uacr.
REFUSED_AS = {"尿微量白蛋白": "uacr", "尿微量白蛋白浓度": "uacr", "尿白蛋白": "uacr", "malb": "uacr"}


@dataclass
class Mapping:
    # header_key(header) → (table, field); (None, None): ignore the column
    columns: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    values: dict[str, dict[str, object]] = field(default_factory=dict)  # field/kind → label → value
    tables: dict[str, str] = field(default_factory=dict)  # name → table
    form: str | dict[str, str] | None = None  # national form of flat visit files (or by file stem)
    defaults: dict[str, object] = field(default_factory=dict)  # patient fields a flat export lacks
    bp_arm: str | None = None  # left | right | higher
    id_salt: str = ""
    role: str | dict[str, str] | None = None  # register | events (or by file stem)

    def column(self, header: str) -> tuple[str | None, str | None] | None:
        """The entry for a header: by its full key (with a system code), else without the code."""
        entry = self.columns.get(header_key(header))
        return entry if entry is not None else self.columns.get(normalize_header(header))

    def role_for(self, stem: str) -> str | None:
        if isinstance(self.role, dict):
            return self.role.get(normalize_header(stem))
        return self.role

    def form_for(self, stem: str) -> str | None:
        if isinstance(self.form, dict):
            return self.form.get(normalize_header(stem))
        return self.form


def load_mapping(path: Path) -> Mapping:
    name = str(path)
    try:
        doc = load_yaml(YAML(typ="rt"), path.read_text(encoding="utf-8-sig"))
    except (OSError, YAMLError, UnicodeDecodeError) as exc:
        raise SangaoError.of("D031", variant="unreadable", file=name, reason=str(exc)) from None
    except RecursionError:  # the YAML parser recurses per nesting level
        raise SangaoError.of("D031", variant="deep", file=name) from None
    problems: list[Problem] = []
    mapping = Mapping()

    def where(node: CommentedMap, key) -> dict:
        line, col = node.lc.key(key)
        return {"file": name, "line": line + 1, "column": col + 1}

    if doc is None:
        return mapping
    if not isinstance(doc, CommentedMap):
        raise SangaoError.of("D031", variant="not_mapping", file=name)
    all_fields = sorted({f for fields in TABLES.values() for f in fields})
    for key in doc:
        if key not in SECTIONS:
            problems.append(
                Problem.of(
                    "D031", variant="section", key=key,
                    **where(doc, key),
                    hint=did_you_mean(key, SECTIONS) or f"sections: {', '.join(SECTIONS)}",
                )
            )
    for header, target in _section(doc, "columns", problems, where).items():
        if target is None or target == IGNORE:
            mapping.columns[header_key(header)] = (None, None)
            continue
        table, _, fld = str(target).rpartition(".")
        table = table or None
        if REFUSED_AS.get(normalize_header(header)) == fld:
            problems.append(
                Problem.of("D031", variant="albumin", header=header, field=fld,
                           **where(doc["columns"], header))
            )
        elif table is not None and table not in TABLES:
            problems.append(
                Problem.of(
                    "D031", variant="column_table", header=header, table=table,
                    **where(doc["columns"], header),
                    hint=did_you_mean(table, list(TABLES)) or f"tables: {', '.join(TABLES)}",
                )
            )
        elif fld not in (TABLES[table] if table else all_fields):
            choices = list(TABLES[table]) if table else all_fields
            problems.append(
                Problem.of(
                    "D031", variant="column_field", header=header, target=target,
                    **where(doc["columns"], header),
                    hint=did_you_mean(fld, choices) or "see `sangao roster import --help`",
                )
            )
        else:
            mapping.columns[header_key(header)] = (table, fld)
    for key, labels in _section(doc, "values", problems, where).items():
        if key not in all_fields and key not in _FIELD_KINDS:
            problems.append(
                Problem.of(
                    "D031", variant="values_field", key=key,
                    **where(doc["values"], key),
                    hint=did_you_mean(key, all_fields + _FIELD_KINDS),
                )
            )
            continue
        if not isinstance(labels, dict):
            problems.append(
                Problem.of("D031", variant="values_labels", key=key, **where(doc["values"], key))
            )
            continue
        mapping.values[str(key)] = {
            normalize_value(str(k)): (list(v) if isinstance(v, list) else v) for k, v in labels.items()
        }
    for stem, table in _section(doc, "tables", problems, where).items():
        if not isinstance(table, str) or table not in TABLES:
            problems.append(
                Problem.of(
                    "D031", variant="tables_table", table=table, stem=stem,
                    **where(doc["tables"], stem),
                    hint=did_you_mean(table, list(TABLES)) or f"tables: {', '.join(TABLES)}",
                )
            )
        else:
            mapping.tables[normalize_header(stem)] = str(table)
    _load_flat_sections(doc, mapping, problems, where)
    if problems:
        raise SangaoError(problems)
    return mapping


def _section(doc: CommentedMap, key: str, problems: list[Problem], where) -> dict:
    """The section `key` of the file as a mapping ({} when absent); a list or a value where a
    mapping belongs is a D031 problem (and the section is skipped)."""
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(Problem.of("D031", variant="section_kind", key=key, kind=type(value).__name__,
                                   **where(doc, key)))
        return {}
    return value


def _load_flat_sections(doc: CommentedMap, mapping: Mapping, problems: list[Problem], where) -> None:
    from store.readers.codes import form_names

    forms = form_names()
    if "form" in doc:
        mapping.form = _one_or_by_stem(
            doc, "form", forms, problems, where,
            lambda name: {
                "variant": "form", "name": name,
                "hint": did_you_mean(str(name), forms) or f"forms: {', '.join(forms)}",
            },
        )
    defaults = _section(doc, "defaults", problems, where)
    for key, value in defaults.items():
        if key not in TABLES["patients"] or key in ("patient_id", "id_number", "name", "birth_date"):
            problems.append(
                Problem.of(
                    "D031", variant="default", key=key,
                    **where(defaults, key),
                    hint=did_you_mean(str(key), ["conditions", "enrolled_on", "team", "institution"])
                    or "defaults: conditions, enrolled_on, team, institution, region, urban",
                )
            )
        elif key == "conditions":
            values = value if isinstance(value, list) else [value]
            from pathways.vocab import Condition

            bad = [v for v in values if not isinstance(v, str) or v not in {c.value for c in Condition}]
            if bad:
                problems.append(
                    Problem.of("D031", variant="condition", value=bad[0], **where(defaults, key))
                )
            else:
                mapping.defaults["conditions"] = list(values)
        elif key == "enrolled_on" and value != "first_visit":
            from store.readers.aliases import CellError, parse_date

            try:
                mapping.defaults["enrolled_on"] = parse_date(value)
            except CellError as exc:
                problems.append(
                    Problem.of("D031", variant="enrolled_on", reason=exc.message, **where(defaults, key))
                )
        else:
            mapping.defaults[str(key)] = value
    if "bp_arm" in doc:
        if not isinstance(doc["bp_arm"], str) or doc["bp_arm"] not in BP_ARMS:
            problems.append(
                Problem.of("D031", variant="bp_arm", value=doc["bp_arm"], **where(doc, "bp_arm"))
            )
        else:
            mapping.bp_arm = doc["bp_arm"]
    if "id_salt" in doc:
        mapping.id_salt = str(doc["id_salt"])
    if "role" in doc:
        mapping.role = _one_or_by_stem(
            doc, "role", ROLES, problems, where,
            lambda name: {"variant": "role", "name": name},
        )


def _one_or_by_stem(doc: CommentedMap, key: str, allowed, problems: list[Problem], where, refuse):
    """A section that is one value for every file (`form: diabetes`) or one per file stem
    (`form: {高血压随访: hypertension}`): the value or {stem: value}; a value not `allowed` is a
    D031 at its line (`refuse(value)` gives its variant and fields)."""
    section = doc[key]
    entries = section.items() if isinstance(section, dict) else [(None, section)]
    by_stem: dict[str, str] = {}
    for stem, name in entries:
        if name not in allowed:
            node, at = (section, stem) if stem is not None else (doc, key)
            problems.append(Problem.of("D031", **refuse(name), **where(node, at)))
        elif stem is not None:
            by_stem[normalize_header(stem)] = name
    if isinstance(section, dict):
        return by_stem
    return section if section in allowed else None
