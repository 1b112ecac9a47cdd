"""Crash logs: when sangao itself breaks (exit 3), the scrubbed traceback is written to a log file
in an owner-only folder (0700; each log 0600), and logs older than a number of days are removed at
the next start. The folder is given by cli.py (it reads $XDG_STATE_HOME).
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path


def write_crash_log(folder: Path, exc: BaseException) -> str:
    """A new log in `folder` (created owner-only) with the traceback of `exc`; returns its path."""
    from pathways.scrub import scrubbed_traceback

    # a log names files and code, never patients, but it stays out of a shared /tmp all the same
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    fd, path = tempfile.mkstemp(prefix="sangao-crash-", suffix=".log", dir=folder)  # mode 0600
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        # No locals, no bound SQL parameters, and every message scrubbed of values that could be a
        # patient's (names, IDs, phones, quoted data): the log is for finding the bug in sangao.
        f.write(scrubbed_traceback(exc))
    return path


def sweep_crash_logs(folder: Path, now: datetime, days: int) -> None:
    """Remove the logs in `folder` older than `days` (quiet when it cannot)."""
    if not folder.is_dir():
        return
    cutoff = now.timestamp() - days * 86400
    for log in folder.glob("sangao-crash-*.log"):
        try:
            if log.stat().st_mtime < cutoff:
                log.unlink()
        except OSError:
            pass
