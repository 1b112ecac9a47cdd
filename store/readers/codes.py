"""Value maps: a coded cell (a label, a code, `code.label`, a 0/1 option column) → an interchange
value. The national forms' codes are data (store/data/national_codes.yaml); a site's --mapping
`values:` overrides them; the generic tables of store/readers/aliases.py (VALUE_LABELS) come last.

Lookup order for a field `fld` of kind `kind` in a file of form `form` (hypertension / diabetes /
None): site map of the field, site map of the kind, the national form's map, the national map of
the field, the generic map of the field, the generic map of the kind. A field with a national code
list takes digit codes only from the site and the national lists, never from the generic yes/no
table (a 0/1 system's "1" is the form's 无).

`lookup` returns MISSING when no map knows the value (the caller refuses the cell and the summary
counts it), and None for a known option with no interchange field (dropped and counted).
"""

from __future__ import annotations

import functools
import re
from importlib import resources

from ruamel.yaml import YAML

from store.readers.aliases import VALUE_LABELS, normalize_header, normalize_value

MISSING = object()

# `2.控制不满意`, `1、男`: a code, then a label that starts with a letter (not `1,200`: no label)
# `2.控制不满意`, `2 控制不满意`, `2控制不满意`: a code and its label. Digits run straight into an
# ASCII letter (`1e309`, `2b`) are no code: read as code 1, 1e309 in 吸烟 once meant a smoker.
_CODE_LABEL = re.compile(r"^(-?\d+)(?:[.、:：\s]+|(?=[^\x00-\x7f]))([^\W\d_].*)$")
_BRACKET = re.compile(r"^(.+?)\(.*\)$")


@functools.cache
def national() -> dict:
    text = resources.files("store").joinpath("data/national_codes.yaml").read_text(encoding="utf-8")
    doc = YAML(typ="safe").load(text)

    def norm(values: dict) -> dict[str, dict[str, object]]:
        return {
            fld: {normalize_value(str(k)): v for k, v in labels.items()} for fld, labels in values.items()
        }

    forms = {
        name: {
            "condition": spec["condition"],
            "names": [normalize_header(n) for n in spec.get("names", [])],
            "headers": {normalize_header(h) for h in spec.get("headers", [])},
            "values": norm(spec.get("values", {})),
        }
        for name, spec in doc["forms"].items()
    }
    any_form: dict[str, dict[str, object]] = {}
    for fld in doc.get("labels_any_form", []):
        for spec in forms.values():
            for key, value in spec["values"].get(fld, {}).items():
                if not key.lstrip("-").isdigit():
                    any_form.setdefault(fld, {})[key] = value
    return {
        "values": {**norm(doc["values"]), **norm(doc.get("units", {}))},
        "forms": forms,
        "any_form": any_form,
        "not_imported": {normalize_header(h) for h in doc.get("not_imported", [])},
    }


def form_names() -> list[str]:
    return list(national()["forms"])


def form_condition(form: str) -> str | None:
    return national()["forms"][form]["condition"]


def form_from_name(name: str) -> str | None:
    key = normalize_header(name)
    for form, spec in national()["forms"].items():
        if any(n in key for n in spec["names"]):
            return form
    return None


def form_from_headers(headers: list[str]) -> str | None:
    keys = {normalize_header(h) for h in headers}
    for form, spec in national()["forms"].items():
        if spec["headers"] & keys:
            return form
    return None


def is_not_imported(header: str) -> bool:
    return normalize_header(header) in national()["not_imported"]


def _maps(fld: str, kind: str, form: str | None, site: dict[str, dict[str, object]]):
    nat = national()
    form_map = nat["forms"][form]["values"].get(fld) if form else nat["any_form"].get(fld)
    national_maps = [m for m in (form_map, nat["values"].get(fld)) if m]
    # a field with a national list (or a form whose lists are unknown) never falls back on generic
    # digit codes
    coded = bool(national_maps) or fld in nat["any_form"]
    return (
        site.get(fld),
        site.get(kind),
        national_maps,
        coded,
        (VALUE_LABELS.get(fld), VALUE_LABELS.get(kind)),
    )


def lookup(fld: str, kind: str, text: str, form: str | None, site: dict[str, dict[str, object]]):
    """The interchange value of one coded cell (or one part of a multi-select cell)."""
    key = normalize_value(text)
    site_fld, site_kind, national_maps, coded, generic = _maps(fld, kind, form, site)
    candidates = [key]
    if m := _CODE_LABEL.match(key):
        candidates += [m[2], m[1]]  # `2.控制不满意`: the label, then the code
    if m := _BRACKET.match(key):
        candidates.append(m[1])  # `减弱(左侧)`
    for candidate in candidates:
        is_code = candidate.lstrip("-").isdigit()
        for labels in (site_fld, site_kind, *national_maps, *(() if coded and is_code else generic)):
            if labels and candidate in labels:
                return labels[candidate]
    return MISSING


def known(fld: str, kind: str, form: str | None, site: dict[str, dict[str, object]]) -> list[str]:
    """Every label a value of the field may take (for did-you-mean hints)."""
    site_fld, site_kind, national_maps, _, generic = _maps(fld, kind, form, site)
    out: list[str] = []
    for labels in (site_fld, site_kind, *national_maps, *generic):
        out += [k for k in labels or () if k not in out]
    return out
