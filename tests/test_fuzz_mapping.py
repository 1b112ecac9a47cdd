"""Fuzzing the site mapping file (`roster import --mapping`): structures of its own keys and the
documented example with YAML's sharp edges spliced in. Each loads or is a located D031 error."""

from __future__ import annotations

import pytest
from fuzz_support import assert_located, fuzz_settings, scratch, tried
from fuzz_yaml import documents
from hypothesis import given

from pathways.errors import SangaoError
from store.readers.mapping import Mapping, load_mapping

FOLDER = scratch("mapping")
EXAMPLE = """columns:
  档案号: patient_id
  血压值: visits.bp
  收缩压mmHg: visits.sbp
values:
  sex: {"1": M, "2": F}
  smoker: {吸烟: true, 不吸烟: false}
  conditions: {高血压病: hypertension}
tables:
  随访记录表: visits
form: hypertension
defaults:
  conditions: [hypertension]
  enrolled_on: first_visit
bp_arm: higher
id_salt: county-370202
"""
KEYS = ["columns", "values", "tables", "form", "defaults", "bp_arm", "id_salt", "sex", "smoker", "conditions",
        "patient_id", "visits.bp", "enrolled_on", "hypertension", "higher", "visits", "first_visit"]


@pytest.mark.filterwarnings("ignore::ruamel.yaml.error.ReusedAnchorWarning")  # YAML allows it; last wins
@fuzz_settings(1200)
@given(documents(KEYS, EXAMPLE))
def test_a_fuzzed_mapping_file_loads_or_is_a_located_error(text):
    tried("mapping")
    path = FOLDER / "site.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        mapping = load_mapping(path)
    except SangaoError as error:
        assert_located(error, "site.yaml")
        return
    assert isinstance(mapping, Mapping)


@pytest.mark.filterwarnings("ignore::ruamel.yaml.error.ReusedAnchorWarning")
def test_thousands_of_damaged_mapping_files_load_or_are_located_errors():
    from fuzz_mutate import Mutator, run
    from fuzz_yaml import YAML_JUNK

    mutator = Mutator("mapping", [*YAML_JUNK, *KEYS, "\n  ", ": ", "- "])
    seed = EXAMPLE.encode("utf-8")
    path = FOLDER / "mutated.yaml"

    def check(data: bytes) -> None:
        path.write_bytes(data)
        try:
            mapping = load_mapping(path)
        except SangaoError as error:
            assert_located(error, "mutated.yaml")
            return
        assert isinstance(mapping, Mapping)

    run("mapping", 8900, lambda: mutator.mutate(seed, seed), check)
