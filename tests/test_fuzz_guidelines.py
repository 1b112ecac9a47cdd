"""Fuzzing guideline sets and their cases files: a small set of its own (set.yaml and one
guideline file, so thousands load quickly) whose files are structures of the language's keys or
real files with YAML's sharp edges spliced in. Each set loads or fails with located problems; each
cases file loads or fails the same way."""

from __future__ import annotations

import pytest
from fuzz_support import assert_located, fuzz_settings, scratch, tried
from fuzz_yaml import documents
from hypothesis import given

from pathways.errors import SangaoError

FOLDER = scratch("guidelines")
SET_YAML = 'set: fuzz\nversion: "1"\npolicy_status: local-definition\n'
GUIDELINE = """guideline: body
title: 体重与腰围 BMI and waist
parameters:
  bmi_obese_min:
    value: 28.0
    unit: kg/m2
    source: {doc: S30, clause: WS/T 428-2013, verification: V2}
derive:
  - classification: bmi_category
    description: BMI category.
    from: bmi
rules:
  - id: body.obese
    color: yellow
    when:
      all:
        - {fact: bmi, gte: {param: bmi_obese_min}}
        - {fact: in_hypertension, eq: true}
    explain: BMI {bmi}
    source: {doc: S30, clause: x, verification: V2}
"""
CASES = """guideline: body
as_of: 2026-11-30
patient:
  sex: M
  birth_date: 1966-03-02
  conditions: [hypertension]
  enrolled_on: 2023-02-01
cases:
  bmi_18_5_is_normal:
    given: {visits: [{date: 2026-10-01, sbp: 128, dbp: 78, weight_kg: 74, height_cm: 200}]}
    expect: {facts: {bmi: 18.5, bmi_category: normal}, color: blue, reasons: [a.b]}
"""
GUIDELINE_KEYS = ["guideline", "title", "parameters", "derive", "rules", "screenings", "colors", "value",
                  "unit", "source", "doc", "clause", "verification", "id", "color", "when", "all", "any",
                  "not", "fact", "eq", "gte", "lt", "param", "known", "explain", "classification", "from",
                  "table", "count"]
CASE_KEYS = ["guideline", "as_of", "patient", "cases", "given", "expect", "facts", "color", "reasons", "sex",
             "birth_date", "conditions", "enrolled_on", "visits", "labs", "date", "sbp", "next_follow_up",
             "note"]
WARNINGS = pytest.mark.filterwarnings("ignore::ruamel.yaml.error.ReusedAnchorWarning")


@WARNINGS
@fuzz_settings(800)
@given(documents(GUIDELINE_KEYS, GUIDELINE, fixed={"guideline": "body"}),
       documents(["set", "version"], SET_YAML))
def test_a_fuzzed_guideline_set_loads_or_fails_with_located_problems(guideline_text, set_text):
    from guidelines.loader import load_set

    tried("guideline YAML")
    folder = FOLDER / "set"
    folder.mkdir(exist_ok=True)
    (folder / "set.yaml").write_text(set_text if len(set_text) % 4 == 0 else SET_YAML, encoding="utf-8",
                                     errors="surrogatepass")
    (folder / "body.yaml").write_text(guideline_text, encoding="utf-8", errors="surrogatepass")
    try:
        load_set(folder)
    except SangaoError as error:
        assert_located(error, "set.yaml", "body.yaml", "set")


@WARNINGS
@fuzz_settings(800)
@given(documents(CASE_KEYS, CASES, fixed={"guideline": "body"}))
def test_a_fuzzed_cases_file_loads_or_fails_with_located_problems(text):
    from guidelines.cases_file import load_case_file

    tried("cases")
    path = FOLDER / "body.cases.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_case_file(path, "body")
    except SangaoError as error:
        assert_located(error, "body.cases.yaml")


def _mutation_run(path_name: str, count: int, seed_text: str, keys: list[str], check) -> None:
    from fuzz_mutate import Mutator, run
    from fuzz_yaml import YAML_JUNK

    mutator = Mutator(path_name, [*YAML_JUNK, *keys, "\n  ", ": ", "- ", "{param: x}", "{fact: sbp}"])
    seed = seed_text.encode("utf-8")
    run(path_name, count, lambda: mutator.mutate(seed, seed), check)


@WARNINGS
def test_thousands_of_damaged_guideline_files_load_or_fail_with_located_problems():
    from guidelines.loader import load_set

    folder = FOLDER / "mutated-set"
    folder.mkdir(exist_ok=True)
    (folder / "set.yaml").write_text(SET_YAML, encoding="utf-8")

    def check(data: bytes) -> None:
        (folder / "body.yaml").write_bytes(data)
        try:
            load_set(folder)
        except SangaoError as error:
            assert_located(error, "set.yaml", "body.yaml", "mutated-set")

    _mutation_run("guideline YAML", 9300, GUIDELINE, GUIDELINE_KEYS, check)


@WARNINGS
def test_thousands_of_damaged_cases_files_load_or_fail_with_located_problems():
    from guidelines.cases_file import load_case_file

    path = FOLDER / "mutated.cases.yaml"

    def check(data: bytes) -> None:
        path.write_bytes(data)
        try:
            load_case_file(path, "body")
        except SangaoError as error:
            assert_located(error, "mutated.cases.yaml")

    _mutation_run("cases", 9300, CASES, CASE_KEYS, check)
