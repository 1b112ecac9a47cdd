#!/usr/bin/env bash
# The long fuzz run: every tests/test_fuzz_*.py suite with SANGAO_FUZZ_SCALE times the CI inputs
# (default 13: some 130,000 inputs per input path; CI tries at least 10,000 each), a random seed (not the CI profile's fixed
# one) and failures shrunk to a minimal example. The counts per path are printed at the end, then
# atheris runs on the JSONL and CSV readers where it is installed.
#   scripts/fuzz.sh            # about 13 times the CI run (an hour or more on two cores)
#   SANGAO_FUZZ_SCALE=50 scripts/fuzz.sh -x
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { python3.11 -m venv .venv && .venv/bin/pip install -q -e '.[test]'; }
export SANGAO_FUZZ_SCALE="${SANGAO_FUZZ_SCALE:-13}" SANGAO_FUZZ_SHRINK=1
# The mutation suites (tests/fuzz_mutate.py) take a new seed too; a failure names it, and
# SANGAO_FUZZ_SEED=<seed> scripts/fuzz.sh replays the same inputs.
export SANGAO_FUZZ_SEED="${SANGAO_FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
echo "fuzz: SANGAO_FUZZ_SEED=$SANGAO_FUZZ_SEED SANGAO_FUZZ_SCALE=$SANGAO_FUZZ_SCALE"
unset CI  # the default Hypothesis profile: a new random seed each run
.venv/bin/python -m pytest -q -p no:cacheprovider tests/test_fuzz_*.py "$@"
# atheris (coverage-guided, libFuzzer) on the JSONL and CSV readers, where it installs.
if .venv/bin/python -c "import atheris" 2>/dev/null; then
  .venv/bin/python tests/atheris_readers.py "${SANGAO_ATHERIS_RUNS:-20000}"
else
  echo "fuzz: atheris is not installed (pip install -e '.[fuzz]'): the coverage-guided run is skipped"
fi
