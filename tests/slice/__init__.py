"""A small real guideline slice for the engine's tests, and a helper building `GuidelineSet`s from dicts.

The YAML files here follow pathway-defaults.md (hypertension urgent list, BP target and control, a
risk-factor count with a decision table, two screening items). guidelines/loader.py is someone else's;
these tests build sets directly with `GuidelineFile.model_validate`, so they stay independent of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from guidelines.model import GuidelineSet, Origin
from guidelines.schema import Colors, GuidelineFile, Manifest, Screenings

HERE = Path(__file__).parent
SLICE_FILES = ("hypertension.yaml", "lipids.yaml", "screenings.yaml")
DEFAULT_COLORS = {
    "red": {"tier": "county", "severity": 3, "follow_up_days": 14},
    "yellow": {"tier": "township", "severity": 2, "follow_up_days": 30},
    "blue": {"tier": "village", "severity": 1, "follow_up_days": 90},
}


def read_slice_dicts() -> dict[str, dict[str, Any]]:
    yaml = YAML(typ="safe", pure=True)
    return {name: yaml.load((HERE / name).read_text(encoding="utf-8")) for name in SLICE_FILES}


def build_set(files: dict[str, dict[str, Any]], name: str = "slice") -> GuidelineSet:
    """Merge guideline-file dicts (file name → content) into a GuidelineSet, recording origins."""
    parsed = {fname: GuidelineFile.model_validate(d) for fname, d in files.items()}
    sources, parameters, vocabulary, derive, rules, origin = {}, {}, {}, [], [], {}
    screenings, colors = None, None
    for fname, gf in parsed.items():
        sources.update(gf.sources)
        parameters.update(gf.parameters)
        vocabulary.update(gf.vocabulary)
        for p in gf.parameters:
            origin[f"parameters.{p}"] = Origin(fname, 1)
        for e in gf.derive:
            derive.append(e)
            eid = getattr(e, "classification", None) or getattr(e, "table", None) or e.count
            origin[f"derive.{eid}"] = Origin(fname, 1)
        for r in gf.rules:
            rules.append(r)
            origin[f"rules.{r.id}"] = Origin(fname, 1)
        if gf.screenings is not None:
            screenings = gf.screenings
            for c in gf.screenings.complications:
                for item in c.items:
                    origin[f"screenings.{item.kind}"] = Origin(fname, 1)
        colors = gf.colors or colors
    return GuidelineSet(
        name=name,
        version="test",
        policy_status="local-definition",
        path=HERE,
        manifest=Manifest(set=name, version="test", policy_status="local-definition"),
        sources=sources,
        parameters=parameters,
        vocabulary=vocabulary,
        derive=derive,
        rules=rules,
        screenings=screenings
        or Screenings(
            look_ahead_days=90,
            complications=[
                {
                    "id": "chd",
                    "name": "冠心病",
                    "items": [
                        {
                            "kind": "ecg",
                            "interval_months": 12,
                            "first_due_days": 90,
                            "source": {"doc": "PD", "clause": "5", "verification": "PD"},
                        }
                    ],
                }
            ],
        ),
        colors=colors or Colors.model_validate(DEFAULT_COLORS),
        origin=origin,
    )


def slice_set() -> GuidelineSet:
    return build_set(read_slice_dicts())


def base_facts(**overrides: Any) -> dict[str, Any]:
    """A hypertension patient's base facts with every fact the slice reads; override by keyword."""
    facts: dict[str, Any] = {
        "age_years": 58,
        "sex": "F",
        "in_hypertension": True,
        "in_diabetes": False,
        "in_dyslipidemia": False,
        "smoker": False,
        "pregnant": False,
        "breastfeeding": False,
        "history_chd": False,
        "history_heart_failure": False,
        "visit_sbp": 146,
        "visit_dbp": 88,
        "visit_symptoms": frozenset(),
        "latest_sbp": 146,
        "latest_dbp": 88,
        "latest_hdl_c": 1.3,
        "latest_uacr": 12.0,
    }
    facts.update(overrides)
    return facts
