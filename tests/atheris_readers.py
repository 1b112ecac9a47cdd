"""Coverage-guided fuzzing (atheris, libFuzzer) of the JSONL and CSV readers: run by scripts/fuzz.sh
where atheris is installed (`pip install atheris`), not by CI. The first byte of an input chooses
the reader, the rest is the file. The contract is the Hypothesis suites' (tests/fuzz_support.py):
every row imported or rejected with its reason, or a located SangaoError; anything else is a crash
that libFuzzer saves as crash-<hash> in the current folder.

    .venv/bin/python tests/atheris_readers.py 20000          # inputs to try
    .venv/bin/python tests/atheris_readers.py 0 crash-1a2b…  # replay a saved input
"""

from __future__ import annotations

import atexit
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["store", "pathways"]):
    from fuzz_support import assert_nothing_dropped, scratch

    import store.importer  # noqa: F401  (instrumented before fuzz_support imports it lazily)
    import store.readers.jsonl  # noqa: F401
    import store.readers.sheets  # noqa: F401

FOLDER = scratch("atheris")
NAMES = ["roster.jsonl", "患者.csv", "随访.csv"]
tried = 0
SEEDS = [
    ("roster.jsonl", '{"patient_id": "p1", "sex": "M", "birth_date": "1958-03-02", '
                     '"conditions": ["hypertension"], "enrolled_on": "2021-05-10", '
                     '"visits": [{"date": "2026-03-05", "sbp": 150, "dbp": 90}]}\n'),
    ("患者.csv", "患者编号,身份证号,性别,出生日期,管理病种,建档日期\n"
                 "p1,370202195803021236,男,1958-03-02,高血压,2021-05-10\n"),
    ("随访.csv", "患者编号,随访日期,收缩压,舒张压,血压\np1,2026-03-05,150,90,150/90\n"),
]


def one_input(data: bytes) -> None:
    global tried
    if not data:
        return
    tried += 1
    path = FOLDER / NAMES[data[0] % len(NAMES)]
    path.write_bytes(data[1:])
    try:
        assert_nothing_dropped([path])
    finally:
        path.unlink()


def main() -> None:
    runs = sys.argv[1] if len(sys.argv) > 1 else "20000"
    corpus = FOLDER / "corpus"  # valid files to start from (libFuzzer adds what reaches new code)
    corpus.mkdir()
    for number, (kind, text) in enumerate(SEEDS):
        (corpus / f"seed-{number}").write_bytes(bytes([NAMES.index(kind)]) + text.encode("utf-8"))
    extra = sys.argv[2:] or [str(corpus)]
    args = [sys.argv[0], f"-runs={runs}", "-max_len=2048", *extra]
    atheris.Setup(args, one_input)
    # libFuzzer ends the process itself (no `finally`): the count is printed at exit
    atexit.register(lambda: print(f"fuzz: atheris jsonl+csv: {tried:,} inputs tried", file=sys.stderr))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
