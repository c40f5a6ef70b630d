#!/usr/bin/env bash
# Install the service with its test extras into .venv and run the whole test suite.
# Extra arguments go to pytest. Under CI (CI=true) the seed-quote check is mandatory.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
if [ "${CI:-}" = "true" ]; then export HER2CDS_REQUIRE_SEEDS=1; fi
exec .venv/bin/python -m pytest "$@"
