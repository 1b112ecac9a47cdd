"""The loaded guideline set and working-day calendar of `build_assessor`, kept on disk between runs.

Loading national-default (YAML parsing, schema validation, whole-set checks) and building the
calendar take most of a small run's start-up; their results are pickled into `cache_dir` (cli.py
passes it: the XDG cache folder, or a folder beside the database) under a key that changes whenever
anything they came from changes:
- the bytes of every file of the set's folder and of each set it `extends:`;
- for the calendar: the years asked for, `provisional`, the packaged `<year>.yaml` files, and the
  installed `chinese_calendar` and `holidays` packages (size and time of their __init__.py);
- the source files of guidelines/, pathways/ and engine/ (the models pickled, the compiler; sizes
  and times) and the Python version.
A cache file that cannot be read is ignored and written again; the cache is never required.

`load_program` keeps the set compiled (engine/compile.py `compile_set`) beside it, and
`code_cache(cache_dir)` keeps the compiled code of engine/evaluate.py's generated program function
beside it (marshal, keyed by the source and the Python version): compiling it is the other large part
of a small run's set-up.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import pickle
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import CodeType
from typing import Any

_EXTENDS = re.compile(rb"^extends:[ \t]*(.+?)[ \t]*(?:#.*)?$", re.MULTILINE)
_CODE_DIRS = ("guidelines", "pathways", "engine")


def _set_folders(folder: Path) -> list[Path]:
    """The set's folder and every folder it extends (read from set.yaml as text, loops cut)."""
    from guidelines.sets import MANIFEST, resolve_set

    folders: list[Path] = []
    while folder.resolve() not in folders:
        folders.append(folder.resolve())
        manifest = folder / MANIFEST
        match = _EXTENDS.search(manifest.read_bytes()) if manifest.is_file() else None
        if match is None:
            break
        folder = resolve_set(match.group(1).decode("utf-8").strip("'\""), relative_to=folder)
    return folders


def _digest_stats(h: Any, paths: list[Path]) -> None:
    """Code changes with its files' sizes and modification times (cheaper than reading it)."""
    for path in sorted(paths):
        st = path.stat()
        h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())


def _digest_files(h: Any, paths: list[Path]) -> None:
    for path in sorted(paths):
        h.update(str(path).encode() + b"\0")
        h.update(path.read_bytes() if path.is_file() else b"<none>")
        h.update(b"\0")


def cache_key(guidelines: str, years: tuple[int, ...], provisional: bool) -> str:
    """What a cached (set, calendar) pair depends on, as a hex digest."""
    from importlib.util import find_spec

    from guidelines.sets import resolve_set

    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(sys.version.encode())
    _digest_stats(h, [p for d in _CODE_DIRS for p in (root / d).glob("*.py")])
    for folder in _set_folders(resolve_set(guidelines)):
        _digest_files(h, [p for p in folder.rglob("*") if p.is_file()])
    h.update(repr((years, provisional)).encode())
    _digest_files(h, [root / "guidelines" / "calendars" / f"{y}.yaml" for y in years])
    for package in ("chinese_calendar", "holidays"):
        spec = find_spec(package)
        if spec is None or spec.origin is None:
            h.update(f"{package}=none".encode())
        else:
            _digest_stats(h, [Path(spec.origin)])  # an install rewrites its __init__.py
    return h.hexdigest()[:32]


def load_cached(guidelines: str, years: tuple[int, ...], provisional: bool, cache_dir: str | Path | None):
    """(GuidelineSet, WorkCalendar) from the cache, or loaded (and then cached) when missing. A hit
    imports neither the YAML loader nor the checks (a small run's start-up)."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"set-{cache_key(guidelines, years, provisional)}.pickle"
        try:
            return pickle.loads(path.read_bytes())  # noqa: S301 - our own file, keyed by its inputs
        except Exception:  # noqa: BLE001 - missing, truncated or stale: load afresh
            pass
    from guidelines.calendar_loader import load_calendar
    from guidelines.loader import load_set

    loaded = (load_set(guidelines), load_calendar(set(years), provisional=provisional))
    if path is not None:
        _write(path, pickle.dumps(loaded, protocol=pickle.HIGHEST_PROTOCOL))
    return loaded


def load_program(gset: Any, guidelines: str, cache_dir: str | Path):
    """engine/compile.py `compile_set(gset)` of the set `guidelines` as `load_cached` gave it, from
    `cache_dir` when an earlier run compiled the same set with the same code (keyed by the set's files
    and sangao's own code, as the set: compiling imports the set's checks, a tenth of a small run)."""
    from guidelines.sets import resolve_set

    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(sys.version.encode())
    _digest_stats(h, [p for d in _CODE_DIRS for p in (root / d).glob("*.py")])
    for folder in _set_folders(resolve_set(guidelines)):
        _digest_files(h, [p for p in folder.rglob("*") if p.is_file()])
    path = Path(cache_dir) / f"program-{h.hexdigest()[:32]}.pickle"
    try:
        return pickle.loads(path.read_bytes())  # noqa: S301 - our own file, keyed by its inputs
    except Exception:  # noqa: BLE001 - missing, truncated or stale: compile afresh
        pass
    from engine.compile import compile_set

    program = compile_set(gset)
    _write(path, pickle.dumps(program, protocol=pickle.HIGHEST_PROTOCOL))
    return program


def code_cache(cache_dir: str | Path) -> Callable[[str, str], CodeType]:
    """`compile_source(source, filename)` for engine/evaluate.py: the code object from `cache_dir` when
    an earlier run compiled the same source with the same Python, else compiled (and then kept)."""

    def compile_source(source: str, filename: str) -> CodeType:
        key = hashlib.sha256(f"{sys.version}\0{filename}\0{source}".encode()).hexdigest()[:32]
        path = Path(cache_dir) / f"code-{key}.marshal"
        try:
            return marshal.loads(path.read_bytes())
        except Exception:  # noqa: BLE001 - missing or damaged: compile afresh
            pass
        code = compile(source, filename, "exec")
        _write(path, marshal.dumps(code))
        return code

    return compile_source


def _write(path: Path, data: bytes) -> None:
    """Write whole or not at all (two runs at once each write their own file and rename it)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache folder: run without it
