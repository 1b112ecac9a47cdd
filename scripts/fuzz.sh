#!/usr/bin/env bash
# The long fuzz run: every tests/test_fuzz_*.py suite with SANGAO_FUZZ_SCALE times the CI inputs
# (default 13: at least 10,000 inputs per input path), a random seed (not the CI profile's fixed
# one) and failures shrunk to a minimal example. The counts per path are printed at the end.
#   scripts/fuzz.sh            # about 13 times the CI run (some 40 minutes on two cores)
#   SANGAO_FUZZ_SCALE=50 scripts/fuzz.sh -x
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { python3.11 -m venv .venv && .venv/bin/pip install -q -e '.[test]'; }
export SANGAO_FUZZ_SCALE="${SANGAO_FUZZ_SCALE:-13}" SANGAO_FUZZ_SHRINK=1
unset CI  # the default Hypothesis profile: a new random seed each run
exec .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_fuzz_*.py "$@"
