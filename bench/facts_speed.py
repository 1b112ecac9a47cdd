"""Speed of pathways.facts.compute_facts on synthetic patients: prints patients/s and facts/s.

    .venv/bin/python bench/facts_speed.py [N_PATIENTS] [VISITS_PER_PATIENT]

Records are validated once (as the roster reader does); only compute_facts is timed.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date, timedelta

from pathways.facts import FACTS, compute_facts
from pathways.models import HistoryItem, Lab, Patient, Screening, Visit
from pathways.vocab import HistoryCode, ScreeningKind

AS_OF = date(2026, 11, 30)
PARAMS = {
    "control_window_days": 90,
    "consecutive_window_days": 180,
    "lab_window_days": 365,
    "egfr_equation": "ckd_epi_2021",
}
SYMPTOMS = frozenset({"chest_pain", "severe_headache", "dizziness", "palpitations"})


def synthetic_patient(rng: random.Random, n: int, visits: int) -> Patient:
    start = AS_OF - timedelta(days=90 * visits + rng.randint(0, 60))
    vs = [
        Visit(
            date=start + timedelta(days=90 * i + rng.randint(0, 20)),
            sbp=rng.randint(110, 190),
            dbp=rng.randint(60, 115),
            heart_rate=rng.randint(55, 110),
            fpg=round(rng.uniform(4, 17), 1),
            weight_kg=round(rng.uniform(45, 100), 1),
            height_cm=rng.choice([None, 158, 166, 172]),
            waist_cm=rng.randint(70, 110),
            symptoms=tuple(rng.sample(sorted(SYMPTOMS), rng.randint(0, 1))),
            adverse_reaction=rng.choice([None, False, True]),
            new_complication=False,
        )
        for i in range(visits)
    ]
    rng.shuffle(vs)  # records need not arrive in date order
    labs = [
        Lab(
            date=start + timedelta(days=365 * i),
            tc=round(rng.uniform(3, 8), 2),
            ldl_c=round(rng.uniform(1.2, 5.5), 2),
            hdl_c=round(rng.uniform(0.7, 2), 2),
            tg=round(rng.uniform(0.6, 4), 2),
            hba1c=round(rng.uniform(5, 11), 1),
            creatinine=rng.randint(45, 200),
            uacr=rng.randint(3, 400),
        )
        for i in range(max(1, visits // 4))
    ]
    screenings = [
        Screening(
            date=start + timedelta(days=rng.randint(0, 90 * visits)),
            kind=rng.choice(list(ScreeningKind)),
            result=rng.choice(["normal", "abnormal"]),
        )
        for _ in range(rng.randint(2, 8))
    ]
    history = tuple(HistoryItem(code=c, date=start) for c in rng.sample(list(HistoryCode), rng.randint(0, 3)))
    return Patient(
        patient_id=f"b{n}",
        sex=rng.choice("MF"),
        birth_date=date(rng.randint(1935, 1985), 1, 1) + timedelta(days=rng.randint(0, 364)),
        conditions=("hypertension", "diabetes"),
        enrolled_on=start,
        smoker=rng.choice([None, True, False]),
        history=history,
        visits=tuple(vs),
        labs=tuple(labs),
        screenings=tuple(screenings),
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    visits = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    rng = random.Random(20261130)
    patients = [synthetic_patient(rng, i, visits) for i in range(n)]
    compute_facts(patients[0], AS_OF, PARAMS, SYMPTOMS)  # warm up imports
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for p in patients:
            compute_facts(p, AS_OF, PARAMS, SYMPTOMS)
        best = min(best, time.perf_counter() - start)
    rate = n / best
    print(
        f"{n} patients x {visits} visits: best of 3 {best:.3f} s; {rate:,.0f} patients/s; "
        f"{rate * len(FACTS):,.0f} facts/s ({len(FACTS)} facts each); "
        f"100,000 patients ≈ {100_000 / rate:.1f} s"
    )


if __name__ == "__main__":
    main()
