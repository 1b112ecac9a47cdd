"""The private folder for temporary files that hold patient data: members extracted from a zip
archive (store/readers/sheets.py) and child rows parked on disk during a join
(store/readers/spill.py).

Each process has one folder, `<tmp>/sangao-<uid>/<pid>`, owner-only (0700, its parent too), made
on first use and removed at exit. A process killed with `kill -9` (or a power cut) cannot remove
its own: `sweep()`, run at every start of the command line, removes the folders of processes that
are no longer running, so extracted IDs and names do not stay in /tmp.
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
from pathlib import Path

_mine: dict[int, Path] = {}  # pid → this process's folder (a forked worker makes its own)


def root() -> Path:
    """`<tmp>/sangao-<uid>`, the parent of every process's folder."""
    return Path(tempfile.gettempdir()) / f"sangao-{os.getuid()}"


def _private_root() -> Path | None:
    """The root, made 0700 if new; None when it exists but is not ours alone (another user made
    it, or it is a link): then a folder of a random name is used, still private, not swept."""
    folder = root()
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return None
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(folder, 0o700)
    return folder


def folder() -> Path:
    """This process's private folder (made 0700 on first use, removed at exit)."""
    pid = os.getpid()
    if pid in _mine:
        return _mine[pid]
    parent = _private_root()
    if parent is None:
        mine = Path(tempfile.mkdtemp(prefix="sangao-"))  # 0700
    else:
        mine = parent / str(pid)
        shutil.rmtree(mine, ignore_errors=True)  # a dead process's folder under a reused pid
        mine.mkdir(mode=0o700)
    _mine[pid] = mine
    atexit.register(_remove, pid, mine)
    return mine


def temporary_directory(prefix: str) -> tempfile.TemporaryDirectory:
    """A TemporaryDirectory inside this process's private folder."""
    return tempfile.TemporaryDirectory(prefix=prefix, dir=folder())


def _remove(pid: int, mine: Path) -> None:
    if os.getpid() == pid:  # a forked child inherits the exit hook, not the folder
        shutil.rmtree(mine, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as someone else
        return True
    return True


def sweep() -> list[Path]:
    """Remove the folders of processes that are gone; returns those removed. Quiet when it cannot."""
    parent = root()
    removed = []
    try:
        entries = list(parent.iterdir()) if parent.is_dir() and not parent.is_symlink() else []
    except OSError:
        return removed
    for entry in entries:
        if entry.name.isdigit() and int(entry.name) != os.getpid() and not _running(int(entry.name)):
            shutil.rmtree(entry, ignore_errors=True)
            if not entry.exists():
                removed.append(entry)
    return removed
