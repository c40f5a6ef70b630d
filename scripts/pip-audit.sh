#!/usr/bin/env bash
# Check the installed Python dependencies (.venv) for known vulnerabilities with pip-audit.
#
# Runs wherever a vulnerability database answers: PyPI's vulnerability data first, then OSV.
# Where neither answers (no internet, or a package mirror that serves downloads but no
# vulnerability data, as on the development machines), it prints one "pip-audit: skipped: ..."
# line and succeeds. Known vulnerabilities fail the run (exit 1); a finding that does not apply
# can be waived in scripts/pip-audit-ignore.txt (one ID per line, with the reason).
#
#   bash scripts/pip-audit.sh          # after scripts/test.sh has created .venv
set -euo pipefail
cd "$(dirname "$0")/.."
TOOL=${PIP_AUDIT_VENV:-.venv-audit}   # pip-audit lives in its own venv, so the audit does not include pip-audit itself
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ ! -x .venv/bin/python ]; then
  echo "pip-audit: skipped: .venv does not exist (run scripts/test.sh first)"
  exit 0
fi
if ! { [ -x "$TOOL/bin/pip-audit" ] || { python3 -m venv "$TOOL" && "$TOOL/bin/pip" install -q pip-audit; } ; } >"$WORK/install.log" 2>&1; then
  echo "pip-audit: skipped: pip-audit could not be installed ($(tail -n 1 "$WORK/install.log"))"
  exit 0
fi
.venv/bin/python -m pip freeze --exclude-editable --disable-pip-version-check 2>/dev/null | grep -v '^her2-cds' >"$WORK/requirements.txt"
IGNORES=()
if [ -f scripts/pip-audit-ignore.txt ]; then
  while read -r id _; do IGNORES+=(--ignore-vuln "$id"); done < <(grep -Ev '^\s*(#|$)' scripts/pip-audit-ignore.txt)
fi

unreachable=()
for service in pypi osv; do
  report="$WORK/$service.json"
  "$TOOL/bin/pip-audit" -r "$WORK/requirements.txt" --no-deps --disable-pip --progress-spinner off --timeout 15 \
    -s "$service" -f json -o "$report" ${IGNORES[@]+"${IGNORES[@]}"} >"$WORK/$service.log" 2>&1 || true
  verdict=$("$TOOL/bin/python" - "$report" "$service" <<'PY'
import json, sys
path, service = sys.argv[1], sys.argv[2]
try:
    deps = json.load(open(path))["dependencies"]
except (OSError, ValueError, KeyError):
    print("unreachable network error"); sys.exit()
audited = [d for d in deps if not d.get("skip_reason")]
if not audited:
    print(f"unreachable answered for none of {len(deps)} packages"); sys.exit()
found = [(d["name"], d["version"], v["id"], ",".join(v.get("fix_versions") or []) or "no fix")
         for d in audited for v in d.get("vulns") or []]
if found:
    print(f"vulnerable {len(found)} known vulnerabilities in {len({f[0] for f in found})} of {len(audited)} packages ({service}):")
    for name, version, vid, fix in found:
        print(f"  {name} {version}: {vid} (fixed in: {fix})")
else:
    skipped = len(deps) - len(audited)
    print(f"clean {len(audited)} packages audited against {service}, no known vulnerabilities"
          + (f" ({skipped} not in its database)" if skipped else ""))
PY
)
  case "$verdict" in
    clean*) echo "pip-audit: ${verdict#clean }"; exit 0 ;;
    vulnerable*) echo "pip-audit: FAILED: ${verdict#vulnerable }"; exit 1 ;;
    *) unreachable+=("$service: ${verdict#unreachable }") ;;
  esac
done
echo "pip-audit: skipped: no vulnerability database reachable from this machine ($(IFS=';'; echo "${unreachable[*]}" | sed 's/;/; /g'))"
