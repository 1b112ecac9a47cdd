"""`sangao guidelines new NAME [--extends SET]`: start a guideline set or an overlay that passes
`guidelines check` and `guidelines test` as created, with the JSON Schemas of its files in
NAME/schemas/ and the modeline that points an editor at them on the first line of every file.

A new base set starts as a copy of the packaged national-default set (every rule needs its
derivations, colours and screenings; a copy is the honest start). An overlay starts with a
manifest that extends SET, an empty `local.yaml` with commented examples and one starter case.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from guidelines.draft import derive_outputs
from guidelines.jsonschema import add_modeline, write_schemas
from guidelines.loader import DEFAULT_SET, MANIFEST, load_draft, package_sets_dir, resolve_set
from guidelines.yaml_source import display_path
from pathways.errors import SangaoError

_OVERLAY_MANIFEST = """\
# An overlay on {extends}: the files of this folder say only what changes; everything else comes
# from {extends} unchanged (docs/authors-guide.md §4). Check and test it with
#   sangao guidelines check {folder}
#   sangao guidelines test  {folder}
set: {name}
version: "0.1"
policy_status: local-definition
description: {name}（在 {extends} 上的本地调整）
extends: {extends}
"""

_LOCAL = """\
# What this overlay changes. Examples (remove the # to use one):
#
# parameters:
#   follow_up_yellow_days:            # an existing parameter: a new value, same unit
#     value: 21
#     source: {doc: PD, clause: 本地实施方案, verification: PD}
#
# remove_rules: [lipid.ldl_above_target]   # drop a rule of the base set by id
guideline: local
title: 本地调整 Local adjustments
"""

_LOCAL_CASES = """\
# Cases of what this overlay changes, each beside what the base set would do (write it in a note).
# `sangao guidelines test` also runs every case of the base set against this overlay: confirm the
# ones your change moves under `expected_changes:` (`--draft-changes` prints them).
guideline: local
as_of: 2026-11-30
patient: {sex: F, birth_date: 1971-04-12, conditions: [hypertension], enrolled_on: 2023-02-01}
cases:
  starter_patient_is_55:
    note: a starting point that checks the case itself; replace it with cases of your change
    expect: {facts: {age_years: 55}}
"""


def new_set(folder: Path, extends: str | None = None) -> list[Path]:
    """Create the set or overlay at `folder` (which must not exist or be empty); the files written."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise SangaoError.of("G113", file=display_path(folder))
    name = folder.name
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if extends is None:
        base = package_sets_dir() / DEFAULT_SET
        for path in sorted(base.glob("*.yaml")):
            target = folder / path.name
            text = path.read_text(encoding="utf-8")
            if path.name == MANIFEST:
                text = re.sub(r"(?m)^set: .*$", f"set: {name}", text, count=1)
                text = re.sub(r'(?m)^version: .*$', 'version: "0.1"', text, count=1)
            target.write_text(text, encoding="utf-8")
            written.append(target)
    else:
        base_folder = resolve_set(extends)
        if not (base_folder / MANIFEST).is_file():
            raise SangaoError.of("G108", variant="missing", extends=extends, file=display_path(folder))
        named = "/" not in extends and not extends.startswith(".") and not Path(extends).is_absolute()
        packaged = named and base_folder.resolve() == (package_sets_dir() / extends).resolve()
        # a folder is written relative to the new set, as `extends:` reads it
        ref = extends if packaged else Path(os.path.relpath(base_folder.resolve(),
                                                            folder.resolve())).as_posix()
        files = {
            MANIFEST: _OVERLAY_MANIFEST.format(name=name, extends=ref, folder=display_path(folder)),
            "local.yaml": _LOCAL,
            "local.cases.yaml": _LOCAL_CASES,
        }
        for file_name, text in files.items():
            (folder / file_name).write_text(text, encoding="utf-8")
            written.append(folder / file_name)
    derived = [n for e in load_draft(folder).derive for n in derive_outputs(e.value)]
    for path in written:
        add_modeline(path, folder / "schemas")
    return written + write_schemas(folder / "schemas", derived)
