"""engine/set_cache.py: the loaded set and calendar come back from the cache folder, equal to a fresh
load, and a changed guideline file makes a new cache entry instead of the old one being read."""

import marshal
import shutil
from datetime import date

from engine.parallel import AssessOptions, build_assessor
from engine.set_cache import cache_key, load_cached
from guidelines.loader import load_set, package_sets_dir

YEARS = (2026, 2027)


def test_a_cached_set_and_calendar_equal_a_fresh_load(tmp_path):
    first = load_cached("national-default", YEARS, True, tmp_path)
    (entry,) = tmp_path.glob("set-*.pickle")
    again = load_cached("national-default", YEARS, True, tmp_path)
    assert again[0] == first[0] == load_set("national-default")
    assert again[1].next_working_day(date(2026, 10, 1)) == first[1].next_working_day(date(2026, 10, 1))
    assert list(tmp_path.glob("set-*.pickle")) == [entry]


def test_an_edited_guideline_file_changes_the_key(tmp_path):
    folder = tmp_path / "my-set"
    shutil.copytree(package_sets_dir() / "national-default", folder)
    before = cache_key(str(folder), YEARS, True)
    assert cache_key(str(folder), YEARS, True) == before
    rules = folder / "hypertension.yaml"
    rules.write_text(rules.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert cache_key(str(folder), YEARS, True) != before
    assert cache_key(str(folder), YEARS, False) != cache_key(str(folder), YEARS, True)


def test_an_unreadable_cache_entry_is_loaded_afresh_and_rewritten(tmp_path):
    key = cache_key("national-default", YEARS, True)
    (tmp_path / f"set-{key}.pickle").write_bytes(b"not a pickle")
    options = AssessOptions(
        "national-default", date(2026, 11, 30), provisional_calendar=True, cache_dir=str(tmp_path)
    )
    assessor = build_assessor(options)
    assert assessor.gset.name == "national-default"
    assert load_cached("national-default", YEARS, True, tmp_path)[0] == assessor.gset


def test_the_program_function_is_compiled_once_and_then_read_back_from_the_cache(tmp_path):
    from engine.set_cache import code_cache

    compile_source = code_cache(tmp_path)
    source = "def run(x):\n    return x * 2\n"
    first = compile_source(source, "<t>")
    (entry,) = tmp_path.glob("code-*.marshal")
    namespace: dict = {}
    exec(compile_source(source, "<t>"), namespace)  # noqa: S102
    assert namespace["run"](21) == 42
    # what is read is the file: planted code comes back for that source
    entry.write_bytes(marshal.dumps(compile("def run(x):\n    return -x\n", "<t>", "exec")))
    exec(compile_source(source, "<t>"), namespace)  # noqa: S102
    assert namespace["run"](21) == -21
    compile_source("def run(x):\n    return x * 3\n", "<t>")
    assert len(list(tmp_path.glob("code-*.marshal"))) == 2  # another source: another entry
    entry.write_bytes(b"damaged")
    assert compile_source(source, "<t>") == first  # compiled afresh and written again
    assert entry.read_bytes() != b"damaged"


def test_an_assessor_built_with_the_code_cache_writes_the_same_lines(tmp_path):
    from pathways.synthetic import generate_roster

    as_of = date(2026, 11, 30)
    cached = AssessOptions("national-default", as_of, provisional_calendar=True, cache_dir=str(tmp_path))
    plain = AssessOptions("national-default", as_of, provisional_calendar=True)
    build_assessor(cached)  # writes the cache
    assert list(tmp_path.glob("code-*.marshal"))
    warm, cold = build_assessor(cached), build_assessor(plain)
    for patient in generate_roster(40, 5, as_of):
        if cold.is_assessed(patient, as_of):
            assert warm.assess_line(patient, as_of) == cold.assess_line(patient, as_of)


def test_the_compiled_set_comes_back_from_the_cache_equal_to_a_fresh_compile_and_is_read_from_it(tmp_path):
    from engine.compile import compile_set
    from engine.set_cache import load_program

    gset, _ = load_cached("national-default", YEARS, True, tmp_path)
    first = load_program(gset, "national-default", tmp_path)
    (entry,) = tmp_path.glob("program-*.pickle")
    again = load_program(gset, "national-default", tmp_path)
    assert again == first == compile_set(load_set("national-default"))
    entry.write_bytes(b"not a pickle")  # damaged: compiled again and rewritten
    assert load_program(gset, "national-default", tmp_path) == first
    assert list(tmp_path.glob("program-*.pickle")) == [entry] and entry.read_bytes() != b"not a pickle"


def test_an_assessor_built_from_the_cache_assesses_as_one_built_afresh(tmp_path):
    from pathways.synthetic import generate_jsonl
    from store import fast_json

    options = AssessOptions("national-default", date(2026, 11, 30), provisional_calendar=True)
    fresh = build_assessor(options)
    cached = dict(vars(options), cache_dir=str(tmp_path))
    build_assessor(AssessOptions(**cached))  # fills the cache
    warm = build_assessor(AssessOptions(**cached))
    for line in generate_jsonl(60, 5, options.as_of):
        record = fast_json.decode_record(line.encode())
        if fresh.is_assessed(record, options.as_of):
            assert warm.assess_line(record, options.as_of) == fresh.assess_line(record, options.as_of)


def test_the_symptom_codes_are_kept_in_the_cache_folder_and_read_back_equal_to_a_fresh_parse(tmp_path):
    import pickle

    from store import validation

    parsed = validation._parse_symptoms(validation._vocabulary_text())
    validation.keep_symptom_codes(tmp_path)
    (entry,) = tmp_path.glob("symptoms-*.pickle")
    assert pickle.loads(entry.read_bytes()) == parsed and "chest_pain" in parsed
    # what is read is the file (keyed by the vocabulary's bytes): a planted set comes back
    entry.write_bytes(pickle.dumps(frozenset({"planted"})))
    validation.keep_symptom_codes(tmp_path)
    assert validation._KEPT_SYMPTOMS[validation._vocabulary_text()] == {"planted"}
    # damaged, or not a set of codes: parsed afresh and rewritten
    for bad in (b"not a pickle", pickle.dumps(["chest_pain"])):
        entry.write_bytes(bad)
        validation.keep_symptom_codes(tmp_path)
        assert validation._KEPT_SYMPTOMS[validation._vocabulary_text()] == parsed
        assert pickle.loads(entry.read_bytes()) == parsed
    assert validation.symptom_codes() == parsed
