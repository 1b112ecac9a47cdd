"""Patients per second of `compute_facts + Evaluator.evaluate`, per backend, on a generated roster.

    .venv/bin/python bench/assess_bench.py                       # 100,000 patients (python), 2,000 (durable)
    .venv/bin/python bench/assess_bench.py --patients 20000 --durable-patients 1000 --profile

Sets: the engine's test slice (tests/slice/) and, when it loads, national-default. Beside the backends,
the slice's rules hand-written as one plain Python function (`slice_by_hand`) give the ceiling; the script
checks that it fires the same rules and derives the same facts as the engine on every patient.
`--profile` prints where durable_rules spends its time (cProfile, top functions by own time).
Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from slice import slice_set  # noqa: E402

from engine.evaluate import Evaluator  # noqa: E402
from pathways.facts import compute_facts  # noqa: E402
from pathways.synthetic import generate_roster  # noqa: E402

HTN_SYMPTOMS = frozenset({"altered_consciousness", "severe_headache", "dizziness", "chest_pain"})
# the slice's numbers, written by hand on purpose: this function is the speed ceiling, not the product
_URGENT_SBP, _URGENT_DBP, _PREG_SBP, _PREG_DBP, _ELDERLY, _HDL_LOW, _UACR = 180, 110, 140, 90, 65, 1.0, 30


def slice_by_hand(f: dict) -> tuple[tuple[str, ...], dict, dict]:
    """tests/slice/ written out by hand: (fired rule ids, derived facts, screening (eligible, months)).
    Same three-valued semantics as the engine (a missing input leaves an outcome unknown when it could
    change it), checked against the engine on every benchmarked patient."""
    get = f.get
    htn, dm, age, uacr = get("in_hypertension"), get("in_diabetes"), get("age_years"), get("latest_uacr")
    # bp_target: age >= 65 → 150/90; comorbidity → 130/80; otherwise 140/90
    if age is not None and age >= _ELDERLY:
        tsbp, tdbp = 150, 90
    elif age is None:
        tsbp = tdbp = None
    else:
        chd, hf = get("history_chd"), get("history_heart_failure")
        if dm is True or chd is True or hf is True or (uacr is not None and uacr >= _UACR):
            tsbp, tdbp = 130, 80
        elif dm is None or chd is None or hf is None or uacr is None:
            tsbp = tdbp = None
        else:
            tsbp, tdbp = 140, 90
    # bp_control
    sbp = get("latest_sbp")
    if htn is False:
        control = "not_enrolled"
    elif htn is None:
        control = None
    elif sbp is None:
        control = "no_data"
    else:
        dbp = get("latest_dbp")
        if tsbp is not None and dbp is not None and sbp < tsbp and dbp < tdbp:
            control = "controlled"
        elif (tsbp is None or sbp < tsbp) and (dbp is None or tdbp is None or dbp < tdbp):
            control = None
        else:
            control = "uncontrolled"
    # risk_factor_count: a range [lo, hi]
    smoker, hdl, sex = get("smoker"), get("latest_hdl_c"), get("sex")
    lo = (smoker is True) + (hdl is not None and hdl < _HDL_LOW)
    hi = (smoker is not False) + (hdl is None or hdl < _HDL_LOW)
    if age is not None and sex is not None:
        old = age >= (45 if sex == "M" else 55 if sex == "F" else 999)
        lo += old
        hi += old
    else:
        hi += age is None or age >= 45
    # risk_cell (unique): decided when every possible row agrees
    if htn is True:
        band = "low" if hi == 0 else "medium" if lo >= 1 and hi <= 2 else "high" if lo >= 3 else "unknown"
    elif htn is False:
        band = "low" if hi <= 2 else "medium" if lo >= 3 else "unknown"
    else:
        band = "low" if hi == 0 else "medium" if lo == hi == 3 else "unknown"
    fired = []
    if htn is True:
        vsbp, vdbp = get("visit_sbp"), get("visit_dbp")
        if (vsbp is not None and vsbp >= _URGENT_SBP) or (vdbp is not None and vdbp >= _URGENT_DBP):
            fired.append("htn.urgent_bp")
        symptoms = get("visit_symptoms")
        if symptoms and not HTN_SYMPTOMS.isdisjoint(symptoms):
            fired.append("htn.urgent_symptom")
        if (get("pregnant") is True or get("breastfeeding") is True) and (
            (vsbp is not None and vsbp >= _PREG_SBP) or (vdbp is not None and vdbp >= _PREG_DBP)
        ):
            fired.append("htn.urgent_pregnancy")
    if control == "uncontrolled":
        fired.append("htn.uncontrolled")
    elif control == "no_data":
        fired.append("htn.no_data")
    if lo >= 2:
        fired.append("lipid.many_risk_factors")
    if band == "high":
        fired.append("lipid.high_risk_band")
    enrolled = htn is True or dm is True or get("in_dyslipidemia") is True
    screening = {
        "ecg": (enrolled, 12),
        "uacr": (enrolled, 6 if uacr is not None and uacr >= _UACR else 12),
        "fundus": (dm is True, 12),
    }
    derived = {
        "bp_target_sbp": tsbp,
        "bp_target_dbp": tdbp,
        "bp_control": control,
        "risk_factor_count": lo if lo == hi else None,
        "risk_band": band,
    }
    return tuple(fired), derived, screening


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f} patients/s"


REPEAT = 3


def timed(fn, items) -> tuple[list, float]:
    """Results and the best of REPEAT wall times (the machine may be shared)."""
    best = float("inf")
    for _ in range(REPEAT):
        start = time.perf_counter()
        out = [fn(x) for x in items]
        best = min(best, time.perf_counter() - start)
    return out, best


def bench_set(
    label: str, gset, patients: list, n_python: int, n_durable: int, as_of: date, ceiling: bool, profile: bool
) -> None:
    params = {k: v.value for k, v in gset.parameters.items()}
    facts, t_facts = timed(lambda p: compute_facts(p, as_of, params), patients[:n_python])
    print(f"\n== {label}: {len(gset.rules)} rules, {len(gset.derive)} derive entries")
    print(f"compute_facts alone           {rate(n_python, t_facts)}  ({n_python:,} patients)")
    python = Evaluator(gset, "python")
    evs, t_py = timed(python.evaluate, facts)
    print(f"python evaluate alone         {rate(n_python, t_py)}")
    print(f"compute_facts + python        {rate(n_python, t_facts + t_py)}")
    if ceiling:
        hand, t_hand = timed(slice_by_hand, facts)
        print(f"hand-written rules alone      {rate(n_python, t_hand)}")
        print(f"compute_facts + hand-written  {rate(n_python, t_facts + t_hand)}   (ceiling)")
        print(
            f"python / ceiling              {(t_facts + t_hand) / (t_facts + t_py):>10.2f}   "
            f"(evaluate alone: {t_hand / t_py:.2f})"
        )
        mismatches = 0
        for ev, (fired, derived, screening) in zip(evs, hand, strict=True):
            same = (
                ev.fired == fired
                and all(ev.facts[k] == v for k, v in derived.items())
                and all(
                    (ev.screening[k].eligible, ev.screening[k].interval_months) == v
                    for k, v in screening.items()
                )
            )
            mismatches += not same
        print(f"hand-written vs engine        {mismatches} patients differ")
    durable = Evaluator(gset, "durable")
    sub = facts[:n_durable]
    devs, t_du = timed(durable.evaluate, sub)
    t_facts_sub = t_facts * n_durable / n_python
    print(f"durable evaluate alone        {rate(n_durable, t_du)}  ({n_durable:,} patients)")
    print(f"compute_facts + durable       {rate(n_durable, t_facts_sub + t_du)}")
    differ = sum(a.fired != b.fired or a.facts != b.facts for a, b in zip(evs, devs, strict=False))
    print(f"durable vs python             {differ} patients differ")
    per_layer = Evaluator(gset, "durable", durable_by_file=False)
    _, t_layer = timed(per_layer.evaluate, sub)
    print(f"durable, rulesets per layer   {rate(n_durable, t_layer)}  (not per programme file)")
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        for fct in sub:
            durable.evaluate(fct)
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
        print("-- where durable's time goes (cProfile, own time) --")
        print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:4000])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000, help="patients for python and the ceiling")
    ap.add_argument("--durable-patients", type=int, default=2_000, help="patients for durable (slow)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 30))
    ap.add_argument("--profile", action="store_true", help="cProfile durable's evaluation")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs per timing")
    args = ap.parse_args()
    global REPEAT
    REPEAT = args.repeat
    start = time.perf_counter()
    patients = list(generate_roster(args.patients, args.seed, args.as_of))
    print(
        f"roster: {args.patients:,} synthetic patients (seed {args.seed}, as of {args.as_of}) "
        f"generated in {time.perf_counter() - start:.1f} s"
    )
    n_durable = min(args.durable_patients, args.patients)
    bench_set(
        "slice (tests/slice)", slice_set(), patients, args.patients, n_durable, args.as_of, True, args.profile
    )
    try:
        from guidelines.loader import load_default

        nd = load_default()
    except Exception as exc:  # the content is someone else's and may be mid-edit: report, go on
        print(f"\n== national-default: not loaded ({type(exc).__name__}: {str(exc)[:200]})")
        return
    bench_set("national-default", nd, patients, args.patients, n_durable, args.as_of, False, args.profile)


if __name__ == "__main__":
    main()
