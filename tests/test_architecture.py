"""Architecture rules of docs/architecture.md §1: imports point one way, one module touches durable_rules,
only store/ touches SQL, only cli.py reads the clock, and our common package names load from here."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pathways", "guidelines", "engine", "reports", "store")
# who may import whom (besides itself and the standard library / third parties)
ALLOWED = {
    "pathways": set(),
    "guidelines": {"pathways"},
    "engine": {"guidelines", "pathways"},
    "reports": {"engine", "guidelines", "pathways", "store"},
    "store": {"guidelines", "pathways"},
}


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield package, path


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize(("package", "path"), list(_modules()), ids=lambda v: str(v).rsplit("/main/", 1)[-1])
def test_imports_point_one_way(package, path):
    ours = {name.split(".")[0] for name in _imports(path)} & (set(PACKAGES) | {"cli"})
    forbidden = ours - ALLOWED[package] - {package}
    assert not forbidden, f"{path.relative_to(ROOT)} imports {sorted(forbidden)}"


def test_only_the_durable_runtime_imports_durable():
    offenders = [
        str(path.relative_to(ROOT))
        for _, path in _modules()
        if any(name == "durable" or name.startswith("durable.") for name in _imports(path))
    ]
    assert offenders in ([], ["engine/durable_runtime.py"])


def test_only_store_imports_sql_libraries():
    offenders = [
        str(path.relative_to(ROOT))
        for package, path in _modules()
        if package != "store"
        and any(name.split(".")[0] in ("sqlmodel", "sqlalchemy", "psycopg") for name in _imports(path))
    ]
    assert offenders == []


def _reads_clock(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("today", "now", "utcnow") and isinstance(
            node.value, ast.Name | ast.Attribute
        ):
            base = node.value.id if isinstance(node.value, ast.Name) else node.value.attr
            if base in ("date", "datetime", "time"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        if isinstance(node, ast.Attribute) and node.attr == "environ":
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} (environment)")
    return found


def test_nothing_below_the_cli_reads_the_clock_or_environment():
    offenders = [hit for _, path in _modules() for hit in _reads_clock(path)]
    assert offenders == []


def test_cli_reads_the_clock_in_one_place():
    hits = _reads_clock(ROOT / "cli.py")
    assert len([h for h in hits if "environment" not in h]) == 1


@pytest.mark.parametrize("name", ["engine", "reports", "cli", "store", "pathways", "guidelines"])
def test_common_package_names_load_from_this_repository(name):
    module = __import__(name)
    assert Path(module.__file__).resolve().is_relative_to(ROOT)
