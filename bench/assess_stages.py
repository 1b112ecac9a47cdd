"""Microseconds per patient of each stage of `sangao assess --format jsonl`, in one process.

    .venv/bin/python bench/assess_stages.py                    # 20,000 patients of /tmp/hp-bench
    .venv/bin/python bench/assess_stages.py --roster R -n 20000 --profile

Stages as engine/parallel.py `assess_range` runs them: decode (store/fast_json.py `decode_record`),
facts, rules, compose, encode, and the line written from kept texts (`line`, as str, and `line_bytes`,
as UTF-8; engine/assess_json.py); then the same range end to end through `assess_range`, the hand-written
evaluator (bench/hand_written.py) on the same lines, and the floor: decoding the lines and encoding the
finished output data with nothing in between. Best of --repeat runs, CPU time of this process (steadier
than wall time on a shared machine). `--profile` prints the top functions of one `assess_range` by
own time. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

AS_OF = date(2026, 11, 30)


def best(fn, repeat: int) -> tuple[float, object]:
    """(least CPU seconds of `repeat` runs, the last result)."""
    times = []
    out = None
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        start = time.process_time()
        out = fn()
        times.append(time.process_time() - start)
        gc.enable()
    return min(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--roster", type=Path, default=Path("/tmp/hp-bench/roster-100000.jsonl"))
    ap.add_argument("-n", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()

    from hand_written import assess_line

    from engine.assess import json_line
    from engine.parallel import AssessOptions, assess_range, build_assessor
    from store import fast_json
    from store.roster_source import jsonl_source

    with open(args.roster, "rb") as f:
        lines = [line for _, line in zip(range(args.n), f, strict=False)]
    n = len(lines)
    head = Path("/tmp") / f"assess-stages-{n}.jsonl"
    head.write_bytes(b"".join(lines))
    source = jsonl_source(head, chunk_bytes=1 << 40)
    assessor = build_assessor(AssessOptions("national-default", AS_OF, provisional_calendar=True))
    as_of = AS_OF
    decode = fast_json.decode_record
    rows = []
    # before any stage has filled the memos with these patients: what a run over patients never seen
    # before costs a patient (the rows below repeat the same patients, so their memos hit)
    first_pass, _ = best(lambda: assess_range(assessor, as_of, source, source.ranges[0]), 1)

    t, records = best(lambda: [decode(line) for line in lines], args.repeat)
    rows.append(("decode", t))
    live = [r for r in records if assessor.is_assessed(r, as_of)]
    t, facts = best(lambda: [assessor.facts(r, as_of) for r in live], args.repeat)
    rows.append(("facts", t))
    outcome = assessor.evaluator.outcome
    t, outcomes = best(lambda: [outcome(dict(f)) for f in facts], args.repeat)
    t_copy, _ = best(lambda: [dict(f) for f in facts], args.repeat)
    rows.append(("rules", t - t_copy))
    compose = assessor._compose
    t, data = best(lambda: [compose(r, as_of, *o) for r, o in zip(live, outcomes, strict=True)], args.repeat)
    rows.append(("compose", t))
    t, encoded = best(lambda: [json_line(d) for d in data], args.repeat)
    rows.append(("encode", t))
    line = assessor.line
    t, _ = best(lambda: [line(r, as_of, *o) for r, o in zip(live, outcomes, strict=True)], args.repeat)
    rows.append(("line (compose+encode)", t))
    line_bytes = assessor.line_bytes  # the same line as UTF-8 (engine/assess_json.py), what a file holds
    t, _ = best(lambda: [line_bytes(r, as_of, *o) for r, o in zip(live, outcomes, strict=True)], args.repeat)
    rows.append(("line_bytes", t))
    stages = sum(t for name, t in rows if name in ("decode", "facts", "rules", "line (compose+encode)"))
    rows.append(("sum of stages", stages))
    t, _ = best(lambda: assess_range(assessor, as_of, source, source.ranges[0]), args.repeat)
    rows.append(("assess_range", t))
    rows.append(("assess_range, 1st pass", first_pass))
    calendar = assessor.calendar
    text_lines = [line.decode() for line in lines]
    working_day = calendar.next_working_day
    t, _ = best(lambda: [assess_line(line, as_of, working_day) for line in text_lines], args.repeat)
    rows.append(("hand-written", t))
    hand = t
    t, _ = best(lambda: ([decode(line) for line in lines], [json_line(d) for d in data]), args.repeat)
    rows.append(("floor: decode+encode", t))

    print(f"{n:,} lines, {len(live):,} assessed; CPU µs per line, best of {args.repeat}")
    for name, t in rows:
        print(f"  {name:<22} {t / n * 1e6:7.1f} µs   {hand / t:5.2f}× hand")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        assess_range(assessor, as_of, source, source.ranges[0])
        prof.disable()
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(25)
        print(s.getvalue())
    del encoded
    return 0


if __name__ == "__main__":
    sys.exit(main())
