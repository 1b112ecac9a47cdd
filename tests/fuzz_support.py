"""Shared by the fuzz suites (tests/test_fuzz_*.py): how many inputs each may try, the count of
inputs each path tried (printed at the end of the session by tests/conftest.py), and the contract
every input must keep: it is read (every row imported or rejected, none dropped) or it fails with a
located SangaoError (exit 1), never another exception.

Budgets are examples per test under the `ci` Hypothesis profile (derandomized: the same inputs on
every run); SANGAO_FUZZ_SCALE multiplies them (scripts/fuzz.sh runs a longer, random search).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings

from pathways.errors import SangaoError

TRIED: Counter = Counter()  # path → inputs tried this session
AS_OF = date(2026, 11, 30)
SCALE = float(os.environ.get("SANGAO_FUZZ_SCALE", "1"))
SHRINK = os.environ.get("SANGAO_FUZZ_SHRINK") == "1"


def fuzz_settings(examples: int) -> settings:
    """Settings of one fuzz test: `examples` inputs (times SANGAO_FUZZ_SCALE), no deadline (the
    machine is shared), no example database (CI starts clean)."""
    phases = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
    if SHRINK:  # shrinking a failure can take minutes: scripts/fuzz.sh does it, CI reports it as found
        phases.append(Phase.shrink)
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, database=None,
                    phases=phases, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                          HealthCheck.filter_too_much])


def tried(path: str) -> None:
    TRIED[path] += 1


def scratch(name: str) -> Path:
    """A private folder for one suite's files (Hypothesis runs many inputs per test function, so
    pytest's per-test tmp_path is not used), in memory where the system has /dev/shm: rewriting a
    file on a disk file system costs milliseconds (ext4 flushes a truncated file), which would be
    most of a fuzz run. The folder sits alone in a private parent, so a suite that checks that nothing
    was written beside it (zip-slip) sees no other process's files."""
    shm = Path("/dev/shm")
    where = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix=f"sangao-fuzz-{name}-", dir=where)) / "work"
    folder.mkdir()
    atexit.register(shutil.rmtree, folder.parent, ignore_errors=True)
    return folder


def assert_located(error: SangaoError, *names: str) -> None:
    """Every problem of a file-level error names one of the files given."""
    assert error.problems, "a SangaoError with no problem"
    for problem in error.problems:
        assert problem.file, f"{problem.code} names no file: {problem.message}"
        assert any(n in problem.file for n in names), (problem.file, names)
        problem.render("zh")
        problem.render("en")


def read_all(paths: list[Path], mapping=None) -> tuple[int, int, dict[str, int]]:
    """Read and validate every item of `paths` as the importer does, without a database: returns
    (units imported, units rejected, rows read per file). Raises SangaoError for a whole-file
    problem. Checks on the way that each item is a patient or carries its reasons."""
    from store.importer import iter_items
    from store.readers import group_sources

    imported = rejected = 0
    rows: dict[str, int] = {}
    for source in group_sources(paths):
        for item, patient, problems, _findings in iter_items(source, mapping, AS_OF):
            units = 1 + len(item.rows)
            if patient is None:
                assert problems, f"{item.file}:{item.line} dropped without a reason"
                for p in problems:
                    assert p.file and p.line is not None, p
                    p.render("zh")
                rejected += units
            else:
                imported += units
        rows.update(source.rows_read)
    return imported, rejected, rows


def assert_nothing_dropped(paths: list[Path], mapping=None) -> None:
    """The contract: a located error naming the file, or every row read imported or rejected."""
    try:
        imported, rejected, rows = read_all(paths, mapping)
    except SangaoError as error:
        assert_located(error, *(p.name for p in paths))
        return
    assert imported + rejected == sum(rows.values()), (imported, rejected, rows)
