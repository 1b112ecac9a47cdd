"""The synthetic roster generator (pathways/synthetic.py) and `sangao roster generate`.

A module-scoped roster of 5,000 patients carries the population checks (validity, dates,
prevalence bands, the situations the demo must exercise); small rosters carry determinism.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathways import resident_id
from pathways.models import Patient
from pathways.synthetic import (
    CSV_LABELS,
    CSV_TABLES,
    DISTRICTS,
    NEW_COMPLICATION_CODES,
    NEW_COMPLICATION_CODES_DM,
    SHOWCASE,
    SURNAMES,
    generate_jsonl,
    generate_roster,
)

AS_OF = date(2026, 11, 30)
SEED = 20261130
N = 5000
AREA_CODES = {d[0] for d in DISTRICTS}
URGENT_SYMPTOMS = {
    "altered_consciousness", "severe_headache", "dizziness", "nausea", "vomiting", "blurred_vision",
    "eye_pain", "palpitations", "chest_tightness", "chest_pain", "dyspnea", "orthopnea",
    "altered_behaviour", "acetone_breath", "sweating", "poor_appetite", "polyuria_polydipsia",
    "abdominal_pain", "kussmaul_breathing", "flushed_skin", "ketoacidosis_signs", "sudden_vision_loss",
}


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return list(generate_jsonl(N, SEED, AS_OF))


@pytest.fixture(scope="module")
def patients(lines) -> list[Patient]:
    return [Patient.model_validate_json(line) for line in lines]


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _share(patients, predicate) -> float:
    return sum(1 for p in patients if predicate(p)) / len(patients)


def _has(p: Patient, *conditions: str) -> bool:
    return all(c in p.conditions for c in conditions)


# ---- determinism ---------------------------------------------------------------------------------


def test_the_same_seed_and_date_give_byte_identical_jsonl():
    assert list(generate_jsonl(300, 7, AS_OF)) == list(generate_jsonl(300, 7, AS_OF))


def test_a_different_seed_gives_a_different_roster():
    first = list(generate_jsonl(50, 7, AS_OF))
    other = list(generate_jsonl(50, 8, AS_OF))
    assert sum(a != b for a, b in zip(first, other, strict=True)) == 50


def test_a_different_as_of_moves_the_roster_in_time():
    earlier = [json.loads(line) for line in generate_jsonl(50, 7, AS_OF - timedelta(days=365))]
    assert max(v["date"] for p in earlier for v in p.get("visits", ())) <= "2025-11-30"


def test_a_short_roster_is_the_start_of_a_longer_one_with_the_same_seed():
    assert list(generate_jsonl(40, 7, AS_OF)) == list(generate_jsonl(400, 7, AS_OF))[:40]


def test_the_roster_is_generated_lazily_one_patient_at_a_time():
    stream = generate_roster(10**9, 7, AS_OF)  # would never finish if it built the list first
    assert next(stream).patient_id.endswith("-000001")


def test_zero_patients_give_an_empty_roster_and_a_negative_count_is_refused():
    assert list(generate_jsonl(0, 7, AS_OF)) == []
    with pytest.raises(ValueError, match="zero or more, not -1"):
        list(generate_jsonl(-1, 7, AS_OF))


# ---- validity ------------------------------------------------------------------------------------


def test_every_generated_line_validates_fully_against_the_patient_model(lines, patients):
    # Every line validated from JSON (the fixture); on a sample, the Python-object route agrees
    # and nothing is lost in a dump.
    assert len(patients) == N
    for line, patient in zip(lines[:1000], patients[:1000], strict=True):
        assert Patient.model_validate(json.loads(line)) == patient
        assert Patient.model_validate_json(patient.model_dump_json()) == patient


def test_generate_roster_yields_the_patients_of_the_jsonl_lines():
    lines = list(generate_jsonl(30, 7, AS_OF))
    assert list(generate_roster(30, 7, AS_OF)) == [Patient.model_validate_json(line) for line in lines]


def test_lines_use_interchange_names_in_model_order_and_omit_unknown_values(lines):
    order = list(Patient.model_fields)
    for line in lines[:500]:
        record = json.loads(line)
        keys = list(record)
        assert keys == sorted(keys, key=order.index)
        assert None not in record.values()


def test_patient_ids_are_an_area_code_and_the_sequence_number(patients):
    for k, p in enumerate(patients):
        area, seq = p.patient_id.split("-")
        assert area in AREA_CODES
        assert seq == f"{k + 1:06d}"


def test_every_resident_id_is_valid_unique_and_agrees_with_birth_date_and_sex(patients):
    ids = [p.id_number for p in patients]
    assert len(set(ids)) == len(ids)
    for p in patients:
        assert resident_id.problem(p.id_number) is None, p.patient_id
        assert p.id_number[:6] in AREA_CODES
        assert resident_id.birth_date(p.id_number) == p.birth_date
        assert resident_id.sex(p.id_number) == p.sex


def test_most_resident_ids_carry_the_area_code_of_the_patient_id(patients):
    assert 0.8 < _share(patients, lambda p: p.id_number[:6] == p.patient_id[:6]) < 0.95


def test_names_are_a_common_surname_and_one_or_two_given_characters(patients):
    surnames = sorted((s for s, _ in SURNAMES), key=len, reverse=True)
    for p in patients:
        surname = next(s for s in surnames if p.name.startswith(s))
        assert 1 <= len(p.name) - len(surname) <= 2
    top = Counter(p.name[0] for p in patients).most_common(4)
    assert {s for s, _ in top} == {"王", "张", "李", "刘"}


def test_teams_and_institutions_name_a_shandong_district_and_township(patients):
    districts = {d[1] for d in DISTRICTS}
    for p in patients:
        district, team = p.team.split("-")
        assert district in districts
        assert re.fullmatch(r"家医团队\d\d", team)
        if p.urban:
            assert p.institution.endswith("街道社区卫生服务中心")
        else:
            assert p.institution.endswith("镇卫生院")
    assert 0.15 < _share(patients, lambda p: not p.urban) < 0.5


# ---- dates ---------------------------------------------------------------------------------------


def _record_dates(p: Patient):
    """(what, date) of every dated event after enrolment."""
    yield from (("visit", v.date) for v in p.visits)
    yield from (("lab", x.date) for x in p.labs)
    yield from (("screening", s.date) for s in p.screenings)
    for f in p.referrals:
        yield "referral", f.date
        if f.returned_on is not None:
            yield "referral return", f.returned_on


def test_everyone_is_at_least_35_at_enrolment_and_enrolled_by_as_of(patients):
    for p in patients:
        assert _age(p.birth_date, p.enrolled_on) >= 35, p.patient_id
        assert p.enrolled_on <= AS_OF


def test_visits_labs_screenings_and_referrals_fall_between_enrolment_and_as_of(patients):
    for p in patients:
        for what, day in _record_dates(p):
            assert p.enrolled_on <= day <= AS_OF, (p.patient_id, what, day)


def test_history_is_dated_after_birth_and_by_as_of(patients):
    for p in patients:
        for item in p.history:
            if item.date is not None:
                assert p.birth_date < item.date <= AS_OF, (p.patient_id, item)


def test_nothing_happens_on_or_after_death_or_after_moving_out(patients):
    for p in patients:
        assert p.deceased_on is None or p.moved_out_on is None
        for what, day in _record_dates(p):
            assert p.deceased_on is None or day < p.deceased_on, (p.patient_id, what, day)
            assert p.moved_out_on is None or day <= p.moved_out_on, (p.patient_id, what, day)
        for item in p.history:
            assert p.deceased_on is None or item.date is None or item.date < p.deceased_on
        if p.deceased_on:
            assert p.enrolled_on < p.deceased_on <= AS_OF
        if p.moved_out_on:
            assert p.enrolled_on < p.moved_out_on <= AS_OF


def test_visits_are_in_date_order_about_a_quarter_apart(patients):
    gaps = []
    for p in patients:
        days = [v.date for v in p.visits]
        assert days == sorted(set(days)), p.patient_id
        gaps += [(b - a).days for a, b in zip(days, days[1:], strict=False)]
    assert 80 <= statistics.median(gaps) <= 100
    assert min(gaps) >= 28


def test_history_of_visits_reaches_back_a_few_years_at_most(patients):
    first = min(v.date for p in patients for v in p.visits)
    assert AS_OF - timedelta(days=3 * 366) <= first


def test_enrolment_dates_spread_over_years_with_some_in_the_last_90_days(patients):
    years = Counter(p.enrolled_on.year for p in patients)
    assert len(years) >= 9
    assert 0.03 < _share(patients, lambda p: (AS_OF - p.enrolled_on).days < 90) < 0.1


# ---- population ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("combination", "low", "high"),
    [
        (("hypertension",), 0.55, 0.65),
        (("diabetes",), 0.2, 0.3),
        (("dyslipidemia",), 0.4, 0.6),
        (("hypertension", "dyslipidemia"), 0.15, 0.3),
        (("hypertension", "diabetes"), 0.1, 0.2),
        (("hypertension", "diabetes", "dyslipidemia"), 0.04, 0.1),
    ],
    ids=lambda v: "+".join(v) if isinstance(v, tuple) else str(v),
)
def test_prevalence_of_each_condition_and_combination_falls_in_a_sensible_band(patients, combination, low,
                                                                              high):
    assert low <= _share(patients, lambda p: _has(p, *combination)) <= high


def test_conditions_are_listed_in_programme_order(patients):
    order = ["hypertension", "diabetes", "dyslipidemia"]
    for p in patients:
        assert list(p.conditions) == sorted(p.conditions, key=order.index)


def test_ages_are_mostly_35_to_85_around_the_early_sixties(patients):
    ages = [_age(p.birth_date, AS_OF) for p in patients]
    assert min(ages) >= 35
    assert sum(35 <= a <= 85 for a in ages) / len(ages) > 0.95
    assert 58 <= statistics.median(ages) <= 68


def test_men_smoke_far_more_than_women_and_some_smoking_is_unknown(patients):
    def rate(sex):
        known = [p for p in patients if p.sex == sex and p.smoker is not None]
        return _share(known, lambda p: p.smoker)

    assert rate("M") > 0.3
    assert rate("F") < 0.08
    assert 0.05 < _share(patients, lambda p: p.smoker is None) < 0.15


def test_complications_are_commoner_with_age_and_with_diabetes(patients):
    cvd = {"chd", "mi", "acs", "pci_cabg", "stroke", "hemorrhagic_stroke", "tia", "pad", "heart_failure"}

    def has_cvd(p):
        return any(h.code in cvd for h in p.history)

    old = [p for p in patients if _age(p.birth_date, AS_OF) >= 70]
    young = [p for p in patients if _age(p.birth_date, AS_OF) < 55]
    assert _share(old, has_cvd) > 2 * _share(young, has_cvd)
    with_dm = [p for p in patients if _has(p, "diabetes")]
    without = [p for p in patients if not _has(p, "diabetes")]
    assert _share(with_dm, has_cvd) > 1.3 * _share(without, has_cvd)


def test_retinopathy_and_neuropathy_are_recorded_only_for_diabetes(patients):
    for p in patients:
        if any(h.code in ("retinopathy", "neuropathy") for h in p.history):
            assert _has(p, "diabetes"), p.patient_id


def test_blood_pressure_of_hypertension_patients_is_controlled_in_about_half(patients):
    latest = [p.visits[-1] for p in patients if _has(p, "hypertension") and p.visits]
    controlled = sum(v.sbp < 140 and v.dbp < 90 for v in latest) / len(latest)
    assert 0.3 < controlled < 0.7
    assert all(v.dbp < v.sbp for p in patients for v in p.visits)


def test_fasting_glucose_is_recorded_for_diabetes_and_centres_near_seven(patients):
    readings = [v.fpg for p in patients for v in p.visits if v.fpg is not None]
    assert all(_has(p, "diabetes") for p in patients if any(v.fpg is not None for v in p.visits))
    assert 6.5 <= statistics.median(readings) <= 8.5


def test_labs_are_roughly_yearly_with_hba1c_only_for_diabetes(patients):
    settled = [p for p in patients if (AS_OF - p.enrolled_on).days > 365 and not p.deceased_on
               and not p.moved_out_on]
    assert _share(settled, lambda p: len(p.labs) >= 1) > 0.95
    for p in patients:
        assert all(lab.hba1c is None for lab in p.labs) or _has(p, "diabetes")
    ldl = [lab.ldl_c for p in patients for lab in p.labs]
    assert 2.3 <= statistics.median(ldl) <= 3.6
    creatinine = [lab.creatinine for p in patients for lab in p.labs if lab.creatinine is not None]
    assert 55 <= statistics.median(creatinine) <= 95


def test_every_screening_kind_occurs_with_grades_and_values_where_they_belong(patients):
    kinds = Counter(s.kind.value for p in patients for s in p.screenings)
    assert set(kinds) == {"ecg", "stroke_risk", "carotid_us", "uacr", "egfr", "fundus", "neuropathy", "abi",
                          "foot_pulse"}
    for p in patients:
        for s in p.screenings:
            assert (s.grade is not None) == (s.kind == "fundus")
            assert (s.value is not None) == (s.kind in ("abi", "uacr", "egfr"))
            if s.kind in ("fundus", "neuropathy", "abi", "foot_pulse"):
                assert _has(p, "diabetes")
            if s.kind == "fundus":
                assert (s.grade == "no_dr") == (s.result == "normal")


# ---- situations the demo must exercise -----------------------------------------------------------


def _latest_visit_is_urgent(p: Patient) -> bool:
    if not p.visits or (AS_OF - p.visits[-1].date).days > 90:
        return False
    v = p.visits[-1]
    return (v.sbp >= 180 or (v.fpg is not None and (v.fpg >= 16.7 or v.fpg <= 3.9))
            or bool(set(v.symptoms) & URGENT_SYMPTOMS))


def _is_lost_to_follow_up(p: Patient) -> bool:
    alive_here = p.deceased_on is None and p.moved_out_on is None
    last = p.visits[-1].date if p.visits else p.enrolled_on
    return alive_here and (AS_OF - last).days > 183


def _ecg_is_overdue(p: Patient) -> bool:
    ecgs = [s.date for s in p.screenings if s.kind == "ecg"]
    return bool(ecgs) and (AS_OF - max(ecgs)).days > 365


SITUATIONS = {
    "urgent_bp": lambda p: _latest_visit_is_urgent(p) and p.visits[-1].sbp >= 180,
    "hypoglycaemia": lambda p: _latest_visit_is_urgent(p) and (p.visits[-1].fpg or 99) <= 3.9,
    "hyperglycaemia": lambda p: _latest_visit_is_urgent(p) and (p.visits[-1].fpg or 0) >= 16.7,
    "urgent_symptom": lambda p: _latest_visit_is_urgent(p) and bool(p.visits[-1].symptoms),
    "lost": _is_lost_to_follow_up,
    "recent": lambda p: (AS_OF - p.enrolled_on).days < 90,
    "deceased": lambda p: p.deceased_on is not None,
    "moved_out": lambda p: p.moved_out_on is not None,
    "never_screened": lambda p: not p.screenings,
    "overdue_screening": _ecg_is_overdue,
    "referral_pending": lambda p: any(f.returned_on is None for f in p.referrals),
}
MORE_SITUATIONS = {
    "referral_returned": lambda p: any(f.returned_on is not None for f in p.referrals),
    "adverse_reaction_at_latest_visit": lambda p: bool(p.visits) and p.visits[-1].adverse_reaction,
    "new_complication": lambda p: any(v.new_complication for v in p.visits),
    "recent_acs": lambda p: any(h.code == "acs" and h.date and (AS_OF - h.date).days <= 365
                                for h in p.history),
    "abi_below_0_5": lambda p: any(s.kind == "abi" and s.value < 0.5 for s in p.screenings),
    "severe_retinopathy_grade": lambda p: any(s.grade in ("severe_npdr", "pdr") for s in p.screenings),
    "uacr_above_300": lambda p: any((lab.uacr or 0) > 300 for lab in p.labs),
    "tachycardia": lambda p: any((v.heart_rate or 0) > 100 for v in p.visits),
    "fever": lambda p: any((v.temperature or 0) > 39 for v in p.visits),
    "pregnant": lambda p: p.pregnant is True,
    "fh": lambda p: any(h.code == "fh" for h in p.history),
}


def test_showcase_names_every_situation_the_tests_check():
    assert set(SHOWCASE) == set(SITUATIONS)


@pytest.mark.parametrize("situation", sorted(SITUATIONS | MORE_SITUATIONS))
def test_a_5000_patient_roster_has_patients_in_each_situation(patients, situation):
    count = sum(1 for p in patients if (SITUATIONS | MORE_SITUATIONS)[situation](p))
    assert count >= 3, f"{situation}: {count} patients"


@pytest.mark.parametrize("situation", SHOWCASE)
def test_even_a_tiny_roster_shows_each_situation_in_its_own_patient(situation):
    for seed in range(20):
        tiny = list(generate_roster(len(SHOWCASE), seed, AS_OF))
        assert SITUATIONS[situation](tiny[SHOWCASE.index(situation)]), f"seed {seed}"


def test_rare_situations_stay_rare(patients):
    assert _share(patients, _latest_visit_is_urgent) < 0.05
    assert 0.04 < _share(patients, _is_lost_to_follow_up) < 0.15
    assert _share(patients, SITUATIONS["deceased"]) < 0.03
    assert 0.05 < _share(patients, SITUATIONS["never_screened"]) < 0.2


def test_labs_and_screenings_do_not_pile_up_on_the_as_of_date(patients):
    days = [x.date for p in patients for x in (*p.labs, *p.screenings)]
    assert sum(d == AS_OF for d in days) / len(days) < 0.01


# ---- the roster readers and the command --------------------------------------------------------


def test_generated_jsonl_reads_back_through_the_roster_reader_without_findings(tmp_path):
    import store

    path = tmp_path / "roster.jsonl"
    path.write_text("".join(line + "\n" for line in generate_jsonl(300, 5, AS_OF)), encoding="utf-8")
    problems = []
    read = list(store.read_roster(path, as_of=AS_OF, on_problem=problems.append))
    assert [p.render() for p in problems] == []
    assert read == list(generate_roster(300, 5, AS_OF))


def test_generated_lines_are_already_in_the_canonical_form_that_roster_export_writes(lines, patients):
    # So generate → import → export gives back the same bytes.
    from store.exporter import record_json

    for line, patient in zip(lines[:2000], patients[:2000], strict=True):
        assert json.dumps(record_json(patient), ensure_ascii=False, separators=(",", ":")) == line


def test_every_csv_header_and_label_is_one_the_tabular_reader_knows():
    from store.readers.aliases import TABLES, VALUE_LABELS, normalize_header, normalize_value

    for table, columns in CSV_TABLES.items():
        for field, header in columns:
            aliases = {normalize_header(a) for a in TABLES[table][field].aliases}
            assert normalize_header(header) in aliases, header
    for field, labels in CSV_LABELS.items():
        for value, label in labels.items():
            assert VALUE_LABELS[field].get(normalize_value(label)) == value, (field, label)


def _cli(*args: str):
    from typer.testing import CliRunner

    import cli

    return CliRunner().invoke(cli.app, ["roster", "generate", *args])


def test_roster_generate_writes_the_jsonl_roster_to_standard_output():
    result = _cli("--patients", "25", "--seed", "4", "--as-of", "2026-11-30")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == list(generate_jsonl(25, 4, AS_OF))


def test_roster_generate_writes_identical_files_for_the_same_arguments(tmp_path):
    for name in ("a.jsonl", "b.jsonl"):
        result = _cli("-n", "40", "--seed", "4", "--as-of", "2026-11-30", "--out", str(tmp_path / name))
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert len((tmp_path / "a.jsonl").read_bytes().splitlines()) == 40


def test_roster_generate_csv_tables_import_as_the_same_patients(tmp_path):
    from store.importer import iter_items
    from store.readers import group_sources

    result = _cli("-n", "60", "--seed", "4", "--as-of", "2026-11-30", "--format", "csv",
                  "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    paths = sorted(tmp_path.glob("*.csv"))
    assert [p.name for p in paths] == ["history.csv", "labs.csv", "patients.csv", "referrals.csv",
                                       "screenings.csv", "visits.csv"]
    header = paths[2].read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.startswith("患者编号,身份证号,姓名,本人电话,性别,出生日期")
    (source,) = group_sources(paths)
    read, problems = [], []
    for _item, patient, rejects, findings in iter_items(source, None, AS_OF):
        problems += rejects + findings
        read.append(patient)
    assert [p.render() for p in problems] == []
    assert read == list(generate_roster(60, 4, AS_OF))


def test_a_new_complication_at_a_visit_enters_the_history_dated_that_visit(patients):
    seen = 0
    for p in patients:
        dated = {h.date for h in p.history}
        possible = set(NEW_COMPLICATION_CODES + (NEW_COMPLICATION_CODES_DM if _has(p, "diabetes") else ()))
        for v in p.visits:
            if v.new_complication:
                seen += 1
                assert v.date in dated or possible <= {h.code for h in p.history}, p.patient_id
    assert seen >= 10


def test_random_glucose_is_recorded_now_and_then_for_diabetes_only(patients):
    with_random = [p for p in patients if any(v.random_glucose is not None for v in p.visits)]
    assert len(with_random) >= 10
    assert all(_has(p, "diabetes") for p in with_random)


@pytest.mark.parametrize("as_of", [date(2028, 2, 29), date(2020, 1, 1), date(2031, 12, 31)], ids=str)
def test_dates_keep_their_order_at_other_as_of_dates(as_of):
    for p in generate_roster(400, 3, as_of):
        assert _age(p.birth_date, p.enrolled_on) >= 35
        assert p.enrolled_on <= as_of
        end = p.deceased_on - timedelta(days=1) if p.deceased_on else p.moved_out_on or as_of
        for what, day in _record_dates(p):
            assert p.enrolled_on <= day <= end, (p.patient_id, what, day)
        assert all(h.date is None or p.birth_date < h.date <= end for h in p.history)
        assert resident_id.problem(p.id_number) is None


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**64), as_of=st.dates(date(2000, 1, 1), date(2060, 12, 31)))
def test_any_seed_and_as_of_give_valid_patients_with_ordered_dates(seed, as_of):
    for p in generate_roster(15, seed, as_of):
        assert _age(p.birth_date, p.enrolled_on) >= 35
        end = p.deceased_on - timedelta(days=1) if p.deceased_on else p.moved_out_on or as_of
        assert all(p.enrolled_on <= day <= end for _, day in _record_dates(p)), p.patient_id
        assert resident_id.problem(p.id_number) is None
        assert resident_id.birth_date(p.id_number) == p.birth_date


def _unboxed(output: str) -> str:
    """Rich's error box wraps long messages: drop the frame and rejoin the words."""
    return " ".join(output.replace("│", " ").split())


def test_roster_generate_refuses_a_directory_as_the_jsonl_file_and_creates_missing_folders(tmp_path):
    result = _cli("-n", "2", "--as-of", "2026-11-30", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "是文件夹；请给出文件名" in _unboxed(result.output).replace(" ", "")
    nested = tmp_path / "new" / "roster.jsonl"
    assert _cli("-n", "2", "--as-of", "2026-11-30", "--out", str(nested)).exit_code == 0
    assert len(nested.read_text(encoding="utf-8").splitlines()) == 2


def test_roster_generate_csv_refuses_a_file_as_its_directory(tmp_path):
    (tmp_path / "x.csv").write_text("", encoding="utf-8")
    result = _cli("-n", "2", "--as-of", "2026-11-30", "--format", "csv", "--out", str(tmp_path / "x.csv"))
    assert result.exit_code == 2
    assert "是文件；csv需要一个文件夹存放各表" in _unboxed(result.output).replace(" ", "")
