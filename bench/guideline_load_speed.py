"""Speed of loading and checking a guideline set: prints milliseconds per stage.

    .venv/bin/python bench/guideline_load_speed.py [SET]      (default: national-default)

Stages: parse (ruamel round-trip, YAML 1.2), validate + merge + whole-set checks, and a repeated
load (parsed trees are reused by file text, guidelines/yaml_source.py).
"""

from __future__ import annotations

import sys
import time

from guidelines import yaml_source
from guidelines.checks import check_draft
from guidelines.loader import load_draft, load_set, resolve_set


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "national-default"
    folder = resolve_set(name)
    files = sorted(p for p in folder.glob("*.yaml") if not p.name.endswith(".cases.yaml"))
    lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in files)

    yaml_source._PARSED.clear()
    start = time.perf_counter()
    for p in files:
        yaml_source.read_yaml(p)
    parse = _ms(start)

    start = time.perf_counter()
    draft = load_draft(name)
    merge = _ms(start)
    start = time.perf_counter()
    problems = check_draft(draft)
    checks = _ms(start)

    yaml_source._PARSED.clear()
    start = time.perf_counter()
    load_set(name)
    cold = _ms(start)
    start = time.perf_counter()
    for _ in range(10):
        load_set(name)
    warm = _ms(start) / 10

    print(f"{name}: {len(files)} files, {lines} lines, {len(problems)} problems")
    print(f"parse (ruamel rt)          {parse:8.1f} ms")
    print(f"validate + merge (parsed)  {merge:8.1f} ms")
    print(f"whole-set checks           {checks:8.1f} ms")
    print(f"load_set, cold             {cold:8.1f} ms")
    print(f"load_set, warm             {warm:8.1f} ms")


if __name__ == "__main__":
    main()
