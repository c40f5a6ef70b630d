#!/usr/bin/env bash
# Install the service with its test extras into .venv and run the whole test suite.
# Needs Python 3.11 and Node.js (for the test FHIR server). Extra arguments go to pytest.
# The verbatim-quote check runs when HER2CDS_SOURCES_DIR names the folder with the source review texts
# (.ci/run sets it); without it that one test is skipped and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Runtime dependencies exactly as the image gets them (hash-checked lock), then the package and test tools.
.venv/bin/python -m pip install -q -r requirements.lock
.venv/bin/python -m pip install -q -e ".[test]"
# The real FHIR search engine the fallback tests run against (Medplum, pinned in package-lock.json).
npm ci --prefix tests/fhir_server --no-audit --no-fund --loglevel=error
bash scripts/pip-audit.sh   # known vulnerabilities fail the run; one "skipped" line where no database answers
# A temporary directory of this run's own: pytest's shared /tmp/pytest-of-$USER is pruned by every
# other pytest session of the same user, which breaks a run (PostgreSQL data directories vanish)
# when several suites run at once on one machine. Kept on failure for inspection.
basetemp="$(mktemp -d -t her2cds-pytest.XXXXXX)"
status=0
.venv/bin/python -m pytest --basetemp="$basetemp" "$@" || status=$?
if [ "$status" -eq 0 ]; then rm -rf "$basetemp"; else echo "test files kept in $basetemp"; fi
exit "$status"
