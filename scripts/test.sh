#!/usr/bin/env bash
# The README's test command: set up .venv (if needed) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
set +e
# The project's lint (pyproject.toml [tool.ruff]); pytest runs whatever it says, and either failing
# fails the script.
.venv/bin/python -m ruff check .
lint=$?
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 0 ] && [ "$lint" -ne 0 ]; then
  echo "ruff check found problems (above)"
  rc=1
fi
# pytest exits 5 when it collected nothing: that is a failure of the suite, not a pass.
exit $rc
