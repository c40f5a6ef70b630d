#!/usr/bin/env bash
# Regenerate the dependency locks from pyproject.toml, pinned with sha256 hashes (uv pip compile):
#   requirements.lock        the runtime dependencies ([project].dependencies, with every transitive one)
#   requirements-build.lock  what building the wheel needs ([build-system].requires)
# The container image installs from these with pip's hash checking; tests/test_container.py checks that
# the lock covers pyproject's runtime dependencies. Run after changing a dependency or to take updates.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
venv=".venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/uv" --version 2>/dev/null | grep -q "^uv $UV_VERSION"; then
  "$venv/bin/python" -m pip install -q "uv==$UV_VERSION"
fi
common=(--universal --python-version 3.11 --generate-hashes --custom-compile-command "bash scripts/lock.sh" --quiet)
"$venv/bin/uv" pip compile "${common[@]}" pyproject.toml -o requirements.lock
"$venv/bin/python" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
  | "$venv/bin/uv" pip compile "${common[@]}" - -o requirements-build.lock
echo "wrote requirements.lock and requirements-build.lock"
