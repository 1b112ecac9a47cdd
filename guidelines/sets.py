"""Where a guideline set's folder is: a path, or the name of a set shipped in the package.

Kept apart from guidelines/loader.py (which parses and checks sets) so that finding a set's files,
as engine/set_cache.py does to key its cache, imports nothing heavy.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

MANIFEST = "set.yaml"


def package_sets_dir() -> Path:
    """The folder holding the sets shipped as package data (a real folder: installs are unzipped)."""
    return Path(str(resources.files("guidelines")))


def resolve_set(path_or_name: str | Path, relative_to: Path | None = None) -> Path:
    """A folder (absolute, or relative to `relative_to` / the working directory) or a packaged set name."""
    candidate = Path(path_or_name)
    if relative_to is not None and not candidate.is_absolute():
        local = relative_to / candidate
        looks_like_path = "/" in str(path_or_name) or str(path_or_name).startswith(".")
        if (looks_like_path or not (package_sets_dir() / candidate / MANIFEST).is_file()) and local.is_dir():
            return local
    elif candidate.is_dir():
        return candidate
    packaged = package_sets_dir() / str(path_or_name)
    if (packaged / MANIFEST).is_file():
        return packaged
    return candidate if relative_to is None else relative_to / candidate
