#!/usr/bin/env bash
# Mutation testing (docs/testing.md): mutmut over the rule engine and assessment modules (config in
# pyproject.toml [tool.mutmut]), then every number of the knowledge files moved by -30% and +30%.
# CPU-heavy: runs under nice with MUTATION_CHILDREN workers (default 2). Needs .venv (scripts/test.sh).
#   bash scripts/mutation.sh            # both
#   bash scripts/mutation.sh engine     # mutmut only
#   bash scripts/mutation.sh knowledge  # knowledge files only
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "no .venv: run bash scripts/test.sh first" >&2; exit 2; }
what="${1:-all}"
status=0
if [ "$what" = all ] || [ "$what" = engine ]; then
  .venv/bin/python -m pip install -q "mutmut==3.8.1"
  rm -rf mutants
  nice -n 15 .venv/bin/mutmut run --max-children "${MUTATION_CHILDREN:-2}" >/dev/null 2>&1 || true
  .venv/bin/python - <<'PY' || status=1
import json, pathlib, collections
codes = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 35: "suspicious",
         36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", None: "not checked"}
by_status, survivors = collections.Counter(), []
for meta in sorted(pathlib.Path("mutants").rglob("*.meta")):
    for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
        status = codes.get(code, "killed" if code else "survived")
        by_status[status] += 1
        if status in ("survived", "no tests", "suspicious", "not checked"):
            survivors.append(f"{status}: {name}")
total = sum(by_status.values())
killed = by_status["killed"] + by_status["timeout"]
print(f"engine mutants: {total}; " + ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())))
print(f"engine mutation score: {100 * killed / total:.1f}% killed (timeouts count as killed)")
print("\n".join(survivors))
print("inspect one with: .venv/bin/mutmut show <name>")
raise SystemExit(0 if killed / total >= 0.9 else 1)
PY
fi
if [ "$what" = all ] || [ "$what" = knowledge ]; then
  nice -n 15 .venv/bin/python scripts/knowledge_mutation.py || status=1
fi
exit $status
