"""Load a guideline set folder into a validated `GuidelineSet` (guidelines/model.py), or raise
`SangaoError` with every problem at file:line:col.

Stages: read each file strictly (guidelines/yaml_source.py; G codes), validate it against
guidelines/schema.py, merge the files of a set and then an overlay over its base (`extends:`),
run the whole-set checks (guidelines/checks/; C codes), drop unverified rules unless asked.
When a file fails its G checks the whole-set checks are skipped: they would report the holes the
broken file leaves. A broken set never loads.

Overlays (docs/guideline-language.md §1): parameters override by name (a unit given must equal the
base's), rules and derive entries with an existing id replace it in place, `remove_rules` drops,
`screenings` and `colors` replace whole; anything new is added. `GuidelineSet.origin` remembers
the file and line each parameter, rule, derive entry and screening item came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from guidelines.checks import check_draft
from guidelines.draft import Draft, Entry, derive_id
from guidelines.model import GuidelineSet, Origin
from guidelines.schema import Classification, DecisionTable, GuidelineFile, Manifest
from guidelines.sets import MANIFEST, package_sets_dir, resolve_set
from guidelines.yaml_source import (
    SourceFile,
    did_you_mean,
    display_path,
    locate,
    plain,
    read_yaml,
    validation_problems,
)
from pathways.errors import Problem, SangaoError

DEFAULT_SET = "national-default"
def base_folders(path_or_name: str | Path) -> list[Path]:
    """The folders of the sets `path_or_name` extends, nearest first (empty for a base set). Reads
    only the manifests; a broken one ends the chain (loading the set reports it)."""
    folder = resolve_set(path_or_name)
    seen = {folder.resolve()}
    out: list[Path] = []
    while True:
        try:
            doc = read_yaml(folder / MANIFEST).doc
        except SangaoError:
            return out
        extends = doc.get("extends") if isinstance(doc, dict) else None
        if not isinstance(extends, str):
            return out
        folder = resolve_set(extends, relative_to=folder)
        if folder.resolve() in seen or not (folder / MANIFEST).is_file():
            return out
        seen.add(folder.resolve())
        out.append(folder)


def load_set(path_or_name: str | Path = DEFAULT_SET, include_unverified: bool | None = None) -> GuidelineSet:
    """Load, merge, check. `include_unverified` None: the manifest decides (rules tagged U)."""
    return load_with_draft(path_or_name, include_unverified)[0]


def load_with_draft(
    path_or_name: str | Path = DEFAULT_SET, include_unverified: bool | None = None
) -> tuple[GuidelineSet, Draft]:
    """The set and the merged draft it came from (file count, positions: `guidelines check|effective`)."""
    folder = resolve_set(path_or_name)
    draft, problems = _load_layers(folder, seen=())
    if problems or draft is None:
        raise SangaoError(
            _sorted(problems) or [Problem.of("G100", variant="did_not_load", file=display_path(folder))]
        )
    problems = check_draft(draft)
    if problems:
        raise SangaoError(problems)
    return _build(draft, folder, include_unverified), draft


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(
        problems, key=lambda p: (p.file or "", p.line or 0, p.column if isinstance(p.column, int) else 0)
    )


def load_default(include_unverified: bool | None = None) -> GuidelineSet:
    """The packaged `national-default` set."""
    return load_set(package_sets_dir() / DEFAULT_SET, include_unverified)


def check_set(
    path_or_name: str | Path = DEFAULT_SET, include_unverified: bool | None = None
) -> list[Problem]:
    """Every problem of a set (empty when it loads)."""
    try:
        load_set(path_or_name, include_unverified)
    except SangaoError as exc:
        return exc.problems
    return []


# ---- reading ---------------------------------------------------------------------------------


@dataclass
class _File:
    src: SourceFile
    model: GuidelineFile


def _validate(src: SourceFile, model: type[BaseModel]) -> tuple[Any, list[Problem]]:
    if src.doc is None:
        return None, [Problem.of("G110", file=src.display, line=1, column=1, first=_first_key(model))]
    if not isinstance(src.doc, dict):
        return None, [src.problem_of("G110", variant="not_mapping", first=_first_key(model))]
    data = plain(src.doc)
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, validation_problems(src, model, exc, data)


def _first_key(model: type[BaseModel]) -> str:
    return next(iter(model.model_fields))


def _read(path: Path, model: type[BaseModel]) -> tuple[SourceFile | None, Any, list[Problem]]:
    try:
        src = read_yaml(path)
    except SangaoError as exc:
        return None, None, exc.problems
    value, problems = _validate(src, model)
    return src, value, problems


def _set_files(folder: Path, manifest: Manifest, msrc: SourceFile) -> tuple[list[Path], list[Problem]]:
    if manifest.files is None:
        paths = sorted(
            p for p in folder.glob("*.yaml") if p.name != MANIFEST and not p.name.endswith(".cases.yaml")
        )
        return paths, []
    problems = []
    paths = []
    for i, name in enumerate(manifest.files):
        path = folder / name
        if path.is_file():
            paths.append(path)
        else:
            beside = ", ".join(sorted(p.name for p in folder.glob("*.yaml")))
            problems.append(msrc.problem_of("G109", ("files", i), name=name, beside=beside))
    return paths, problems


def _load_layers(folder: Path, seen: tuple[Path, ...]) -> tuple[Draft | None, list[Problem]]:
    """The merged draft of the set at `folder` and, below it, every set it extends."""
    mpath = folder / MANIFEST
    if not mpath.is_file():
        where = display_path(folder)
        if not folder.is_dir():
            names = sorted(p.name for p in package_sets_dir().iterdir() if (p / MANIFEST).is_file())
            packaged = ", ".join(names) or "none"
            return None, [Problem.of("G100", variant="no_folder", file=where, where=where, packaged=packaged)]
        return None, [Problem.of("G100", file=where, where=where)]
    msrc, manifest, problems = _read(mpath, Manifest)
    if manifest is None:
        return None, problems
    base: Draft | None = None
    if manifest.extends is not None:
        base_folder = resolve_set(manifest.extends, relative_to=folder)
        if base_folder.resolve() in seen or base_folder.resolve() == folder.resolve():
            return None, [msrc.problem_of("G108", ("extends",), extends=manifest.extends)]
        if not (base_folder / MANIFEST).is_file():
            return None, [msrc.problem_of("G108", ("extends",), variant="missing", extends=manifest.extends)]
        base, base_problems = _load_layers(base_folder, (*seen, folder.resolve()))
        problems += base_problems
    paths, file_problems = _set_files(folder, manifest, msrc)
    problems += file_problems
    files: list[_File] = []
    for path in paths:
        src, model, p = _read(path, GuidelineFile)
        problems += p
        if model is not None:
            files.append(_File(src, model))
    if problems:
        return None, problems
    layer, layer_problems = _merge_layer(manifest, msrc, files)
    if base is None:
        for f in files:
            for i, rid in enumerate(f.model.remove_rules):
                layer_problems.append(
                    f.src.problem_of(
                        "C123", ("remove_rules", i), context="at remove_rules", variant="no_base", rule=rid
                    )
                )
        return layer, layer_problems
    merged, overlay_problems = _overlay(base, layer, files)
    return merged, layer_problems + overlay_problems


def _derive_label(d: Any) -> str:
    key = (
        "classification"
        if isinstance(d, Classification)
        else "table"
        if isinstance(d, DecisionTable)
        else "count"
    )
    return f"{type(d).__name__}({key}='{derive_id(d)}')"


def _merge_layer(manifest: Manifest, msrc: SourceFile, files: list[_File]) -> tuple[Draft, list[Problem]]:
    """The files of one set folder; names must be unique across them (C101)."""
    draft = Draft(manifest=manifest, manifest_src=msrc, file_count=len(files))
    problems: list[Problem] = []
    names: dict[str, Entry] = {}  # every name space the language shares: parameters, derived facts, ids

    what_zh = {"parameter": "参数", "derive id": "派生项 id", "rule id": "规则 id", "rule alias": "规则别名"}

    def claim(name: str, e: Entry, what: str, sub: tuple = ()) -> None:
        first = names.get(name)
        if first is None:
            names[name] = e
            return
        file, line, _ = first.line
        problems.append(
            e.problem_of("C101", sub, at_key=True, what=what, what_zh=what_zh[what], name=name,
                         at=f"{file}:{line}")
        )

    for f in files:
        m, src = f.model, f.src
        for name, doc in m.sources.items():
            e = Entry(doc, src, ("sources", name), f"SourceDoc(name='{name}')")
            if name in draft.sources:
                file, line, _ = draft.sources[name].line
                problems.append(e.problem_of("C101", at_key=True, variant="source", name=name,
                                             at=f"{file}:{line}"))
            draft.sources[name] = e
        for name, p in m.parameters.items():
            e = Entry(p, src, ("parameters", name), f"Parameter(name='{name}')")
            claim(name, e, "parameter")
            draft.parameters.setdefault(name, e)
        for list_name, codes in m.vocabulary.items():
            target = draft.vocabulary.setdefault(list_name, {})
            for code, sc in codes.items():
                e = Entry(sc, src, ("vocabulary", list_name, code), f"{list_name}(code='{code}')")
                if code in target:
                    file, line, _ = target[code].line
                    problems.append(
                        e.problem_of(
                            "C101", at_key=True, variant="code", list_name=list_name, name=code,
                                at=f"{file}:{line}"
                        )
                    )
                target.setdefault(code, e)
        for i, d in enumerate(m.derive):
            e = Entry(d, src, ("derive", i), _derive_label(d))
            claim(derive_id(d), e, "derive id")
            draft.derive.append(e)
        for i, r in enumerate(m.rules):
            e = Entry(r, src, ("rules", i), f"Rule(id='{r.id}')")
            claim(r.id, e, "rule id", ("id",))
            for k, alias in enumerate(r.aliases):
                claim(alias, e, "rule alias", ("aliases", k))
            draft.rules.append(e)
        for section in ("screenings", "colors"):
            value = getattr(m, section)
            if value is None:
                continue
            e = Entry(value, src, (section,), section)
            existing = getattr(draft, section)
            if existing is not None:
                file, line, _ = existing.line
                problems.append(
                    e.problem_of("C101", at_key=True, variant="section", section=section, at=f"{file}:{line}")
                )
            else:
                setattr(draft, section, e)
    return draft, problems


def _overlay(base: Draft, layer: Draft, files: list[_File]) -> tuple[Draft, list[Problem]]:
    problems: list[Problem] = []
    merged = Draft(
        manifest=layer.manifest,
        manifest_src=layer.manifest_src,
        sources={**base.sources, **layer.sources},
        parameters=dict(base.parameters),
        vocabulary={k: dict(v) for k, v in base.vocabulary.items()},
        derive=list(base.derive),
        rules=list(base.rules),
        screenings=layer.screenings or base.screenings,
        colors=layer.colors or base.colors,
        file_count=base.file_count + layer.file_count,
    )
    for name, e in layer.parameters.items():
        old = merged.parameters.get(name)
        if old is None:
            merged.parameters[name] = e
            continue
        given = e.value.model_fields_set
        if "unit" in given and e.value.unit != old.value.unit:
            problems.append(
                e.problem_of(
                    "C122", ("unit",), name=name, base_unit=old.value.unit, unit=e.value.unit,
                    **({} if old.value.unit else {"variant": "no_unit"}),
                )
            )
        value = old.value.model_copy(update={k: getattr(e.value, k) for k in given})
        merged.parameters[name] = Entry(value, e.src, e.loc, e.label)
    for list_name, codes in layer.vocabulary.items():
        merged.vocabulary.setdefault(list_name, {}).update(codes)
    for f in files:
        for i, rid in enumerate(f.model.remove_rules):
            before = len(merged.rules)
            merged.rules = [r for r in merged.rules if r.value.id != rid]
            if len(merged.rules) == before:
                e = Entry(rid, f.src, ("remove_rules", i), "remove_rules")
                ids = [r.value.id for r in base.rules]
                close = did_you_mean(rid, ids)
                problems.append(
                    e.problem_of("C123", rule=rid, **({"variant": "close", "close": close} if close else {}))
                )
    for e in layer.rules:
        idx = next((i for i, r in enumerate(merged.rules) if r.value.id == e.value.id), None)
        if idx is None:
            merged.rules.append(e)
        else:
            merged.rules[idx] = e
    for e in layer.derive:
        idx = next((i for i, d in enumerate(merged.derive) if derive_id(d.value) == derive_id(e.value)), None)
        if idx is None:
            merged.derive.append(e)
        else:
            merged.derive[idx] = e
    return merged, problems


# ---- the result ------------------------------------------------------------------------------


def _origin(e: Entry, sub: tuple = ()) -> Origin:
    line, col = locate(e.src.doc, e.loc + sub, at_key=True)
    return Origin(e.src.display, line, col)


def _build(d: Draft, folder: Path, include_unverified: bool | None) -> GuidelineSet:
    keep_u = d.manifest.include_unverified if include_unverified is None else include_unverified
    rules = [e for e in d.rules if keep_u or e.value.source.verification != "U"]
    origin: dict[str, Origin] = {}
    for name, e in d.parameters.items():
        origin[f"parameters.{name}"] = _origin(e)
    for e in rules:
        origin[f"rules.{e.value.id}"] = _origin(e)
    for e in d.derive:
        origin[f"derive.{derive_id(e.value)}"] = _origin(e)
    if d.screenings is None or d.colors is None:  # C125/C126 stop a set earlier; never reached
        raise SangaoError.of("C126", file=d.manifest_src.display)
    for ci, comp in enumerate(d.screenings.value.complications):
        for ii, item in enumerate(comp.items):
            origin.setdefault(
                f"screenings.{item.kind}", _origin(d.screenings, ("complications", ci, "items", ii))
            )
    return GuidelineSet(
        name=d.manifest.set,
        version=d.manifest.version,
        policy_status=d.manifest.policy_status,
        path=folder,
        manifest=d.manifest,
        sources={k: e.value for k, e in d.sources.items()},
        parameters={k: e.value for k, e in d.parameters.items()},
        vocabulary={k: {c: e.value for c, e in v.items()} for k, v in d.vocabulary.items()},
        derive=[e.value for e in d.derive],
        rules=[e.value for e in rules],
        screenings=d.screenings.value,
        colors=d.colors.value,
        origin=origin,
    )


def load_draft(path_or_name: str | Path = DEFAULT_SET) -> Draft:
    """The merged set before the whole-set checks (for tools that print it: `guidelines effective`)."""
    draft, problems = _load_layers(resolve_set(path_or_name), seen=())
    if problems or draft is None:
        raise SangaoError(problems)
    return draft


def effective_lines(
    path_or_name: str | Path = DEFAULT_SET, include_unverified: bool | None = None, lang: str = "zh"
) -> list[str]:
    """The effective set as text: every parameter with value, unit and origin file:line, every rule
    id with colour and origin, every derive entry and screening item with origin; headings in
    Chinese or English."""
    zh = lang == "zh"
    gset, draft = load_with_draft(path_or_name, include_unverified)

    def where(key: str) -> str:
        o = gset.origin.get(key)
        return f"{o.file}:{o.line}" if o else "?"

    def show(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(show(x) for x in v) + "]"
        return str(v)

    if gset.manifest.extends:
        extends = f"（继承 {gset.manifest.extends}）" if zh else f" (extends {gset.manifest.extends})"
    else:
        extends = ""
    out = [f"{gset.name} {gset.version}{extends}{'：' if zh else ': '}{gset.policy_status}"]
    out.append(f"参数（{len(gset.parameters)}）：" if zh else f"parameters ({len(gset.parameters)}):")
    rows = [
        (name, show(p.value), p.unit or "", where(f"parameters.{name}"))
        for name, p in gset.parameters.items()
    ]
    out += _aligned(rows)
    dropped = len(draft.rules) - len(gset.rules)
    if zh:
        out.append(f"规则（{len(gset.rules)}" + (f"；{dropped} 条未核实未载入" if dropped else "") + "）：")
    else:
        left_out = f"; {dropped} unverified left out" if dropped else ""
        out.append(f"rules ({len(gset.rules)}{left_out}):")
    out += _aligned([(r.id, r.color, r.source.verification, where(f"rules.{r.id}")) for r in gset.rules])
    out.append(f"派生项（{len(gset.derive)}）：" if zh else f"derive ({len(gset.derive)}):")
    out += _aligned([(derive_id(d), type(d).__name__, where(f"derive.{derive_id(d)}")) for d in gset.derive])
    items = [
        (item.kind, comp.id, where(f"screenings.{item.kind}"))
        for comp in gset.screenings.complications
        for item in comp.items
    ]
    out.append(f"筛查项目（{len(items)}）：" if zh else f"screenings ({len(items)}):")
    out += _aligned(items)
    return out


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows
    ]
