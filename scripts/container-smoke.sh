#!/usr/bin/env bash
# Container smoke test: build the image and run it as docs/deploy.md says (read-only root file
# system, non-root), then check health, discovery, a hook call with a fixture, JWT mode (trusted
# issuer with an inline JWKS, a signed call, a replay refused) and that a SIGTERM in the first 2 s
# ends the container cleanly within 10 s. Everything listens on 127.0.0.1 only.
#
#   scripts/container-smoke.sh              docker or podman, whichever answers
# Environment:
#   CONTAINER_ENGINE       docker or podman (default: the first that answers `info`)
#   BASE_IMAGE             base image for the build (default: the Dockerfile's pinned python:3.11-slim)
#   CONTAINER_ENGINE_ARGS  global engine flags (e.g. "--runtime runc" where crun cannot run)
#   CONTAINER_RUN_ARGS     extra flags for build and run (e.g. "--ulimit nofile=20000:20000")
#   IMAGE                  tag to build (default her2-cds:smoke)
# Prints "skipped: no container engine" and exits 0 where there is none. Needs the project's .venv
# (bash scripts/test.sh makes it) for signing the JWT.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE="${IMAGE:-her2-cds:smoke}"

engine="${CONTAINER_ENGINE:-}"
if [ -z "$engine" ]; then
  for candidate in docker podman; do
    if command -v "$candidate" >/dev/null && "$candidate" info >/dev/null 2>&1; then engine="$candidate"; break; fi
  done
fi
if [ -z "$engine" ]; then
  echo "skipped: no container engine"
  exit 0
fi
read -r -a engine_args <<< "${CONTAINER_ENGINE_ARGS:-}"
read -r -a run_args <<< "${CONTAINER_RUN_ARGS:-}"
E() { "$engine" "${engine_args[@]}" "$@"; }
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3

work="$(mktemp -d)"
started=()
cleanup() {
  for cid in "${started[@]}"; do E rm -f "$cid" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
http() {  # http METHOD URL [BODY-FILE] [TOKEN] -> prints "STATUS BODY"
  "$PY" - "$@" <<'EOF'
import sys, urllib.request, urllib.error
method, url = sys.argv[1], sys.argv[2]
body = open(sys.argv[3], "rb").read() if len(sys.argv) > 3 and sys.argv[3] else None
headers = {"Content-Type": "application/json"} if body else {}
if len(sys.argv) > 4:
    headers["Authorization"] = "Bearer " + sys.argv[4]
try:
    with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method, headers=headers), timeout=30) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
except OSError as e:
    print(0, type(e).__name__)
EOF
}
wait_ready() {  # wait_ready BASE CID
  for _ in $(seq 1 120); do
    [ "$(http GET "$1/healthz/ready" | cut -d' ' -f1)" = 200 ] && return 0
    [ "$(E inspect -f '{{.State.Running}}' "$2")" = true ] || { E logs "$2" >&2; fail "container exited during start-up"; }
    sleep 0.5
  done
  E logs "$2" >&2
  fail "not ready after 60 s"
}
# As documented: read-only root file system, a tmpfs for /tmp, non-root (the image's user), the
# database on a volume (here: the image's /data volume, anonymous), published on loopback only.
run() {  # run PORT [extra run flags...] -> container id
  local port="$1"; shift
  E run -d --read-only --tmpfs /tmp:rw,size=64m -p "127.0.0.1:$port:8080" "${run_args[@]}" "$@" "$IMAGE"
}

echo "engine: $engine ${engine_args[*]} ($("$engine" --version))"
build=(build -t "$IMAGE")
[ -n "${BASE_IMAGE:-}" ] && build+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
E "${build[@]}" "${run_args[@]}" . > "$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; fail "image build"; }
ok "image built${BASE_IMAGE:+ on $BASE_IMAGE}"

# ---------------------------------------------------------------- unsigned local mode
port="$(free_port)"
base="http://127.0.0.1:$port"
cid="$(run "$port" -e HER2CDS_ALLOW_UNSIGNED=1)"
started+=("$cid")
wait_ready "$base" "$cid"
ok "ready with a read-only root file system"
[ "$(E exec "$cid" id -u)" = 10001 ] || fail "runs as uid $(E exec "$cid" id -u), not 10001"
E exec "$cid" sh -c 'touch /usr/local/lib/x 2>/dev/null || touch /home/cds/x 2>/dev/null' && fail "root file system is writable"
ok "non-root (uid 10001), root file system not writable"
[ "$(E exec "$cid" cat /proc/1/comm)" = tini ] || fail "PID 1 is $(E exec "$cid" cat /proc/1/comm), not tini"
ok "tini is PID 1"
read -r status body <<< "$(http GET "$base/healthz")"
[ "$status" = 200 ] && [[ "$body" == *'"database":"ok"'* ]] || fail "/healthz: $status $body"
ok "/healthz 200, database ok"
read -r status body <<< "$(http GET "$base/cds-services")"
[ "$status" = 200 ] && [[ "$body" == *her2-patient-view* && "$body" == *her2-order-select* && "$body" == *her2-order-sign* ]] \
  || fail "discovery: $status ${body:0:200}"
ok "discovery lists the three services"
read -r status body <<< "$(http POST "$base/cds-services/her2-patient-view" fixtures/requests/crc-ihc3-positive.json)"
[ "$status" = 200 ] && [[ "$body" == *'"status":"positive"'* ]] || fail "hook call: $status ${body:0:300}"
ok "patient-view with fixture crc-ihc3-positive: HER2-positive card"
E logs "$cid" > "$work/unsigned.log" 2>&1
grep -E '"level": "ERROR"|\[ERROR\]|Traceback' "$work/unsigned.log" >&2 && fail "errors logged at start"
ok "no ERROR in the log"
t0=$(date +%s)
E stop -t 10 "$cid" >/dev/null
code="$(E inspect -f '{{.State.ExitCode}}' "$cid")"
[ "$code" = 0 ] && [ $(( $(date +%s) - t0 )) -lt 10 ] || fail "graceful stop: exit $code after $(( $(date +%s) - t0 )) s"
ok "docker/podman stop: exit 0 in $(( $(date +%s) - t0 )) s"

# ---------------------------------------------------------------- JWT mode
port="$(free_port)"
base="http://127.0.0.1:$port"
public="https://cds.example.org"
mkdir -p "$work/issuers"
"$PY" - "$work" "$public/cds-services/her2-patient-view" <<'EOF'
import json, sys, time, uuid
from pathlib import Path
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
work, aud = Path(sys.argv[1]), sys.argv[2]
key = ec.generate_private_key(ec.SECP384R1())
jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"kid": "k1", "alg": "ES384", "use": "sig"}
iss = "https://ehr.example.org"
(work / "issuers" / "trusted-issuers.json").write_text(json.dumps([{"iss": iss, "jwks": {"keys": [jwk]}, "fhir_servers": []}]))
now = int(time.time())
claims = {"iss": iss, "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), "sub": "ehr"}
(work / "token").write_text(jwt.encode(claims, key, algorithm="ES384", headers={"kid": "k1"}))
EOF
chmod 755 "$work" "$work/issuers"; chmod 644 "$work/issuers/trusted-issuers.json"
cid="$(run "$port" -v "$work/issuers:/etc/her2-cds/issuers:ro" \
  -e HER2CDS_TRUSTED_ISSUERS_FILE=/etc/her2-cds/issuers/trusted-issuers.json \
  -e HER2CDS_PUBLIC_BASE_URL="$public" -e HER2CDS_PSEUDONYM_KEY=smoke-test-key)"
started+=("$cid")
wait_ready "$base" "$cid"
read -r status body <<< "$(http GET "$base/healthz")"
[[ "$body" == *'"authentication":"jwt"'* ]] || fail "JWT mode not on: $body"
read -r status body <<< "$(http POST "$base/cds-services/her2-patient-view" fixtures/requests/crc-ihc3-positive.json)"
[ "$status" = 401 ] || fail "unsigned call in JWT mode: $status"
token="$(cat "$work/token")"
read -r status body <<< "$(http POST "$base/cds-services/her2-patient-view" fixtures/requests/crc-ihc3-positive.json "$token")"
[ "$status" = 200 ] && [[ "$body" == *'"status":"positive"'* ]] || fail "signed call: $status ${body:0:300}"
read -r status body <<< "$(http POST "$base/cds-services/her2-patient-view" fixtures/requests/crc-ihc3-positive.json "$token")"
[ "$status" = 401 ] && [[ "$body" == *replayed-jti* ]] || fail "replayed token: $status ${body:0:200}"
ok "JWT mode: unsigned 401, signed ES384 call 200, replay 401 replayed-jti"
E stop -t 10 "$cid" >/dev/null

# ---------------------------------------------------------------- SIGTERM in the first seconds
cid="$(run "$(free_port)" -e HER2CDS_ALLOW_UNSIGNED=1)"
started+=("$cid")
sleep 1
t0=$(date +%s%N)
E kill --signal TERM "$cid" >/dev/null
for _ in $(seq 1 100); do
  [ "$(E inspect -f '{{.State.Running}}' "$cid")" = true ] || break
  sleep 0.1
done
elapsed_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(E inspect -f '{{.State.Running}}' "$cid")" = false ] || fail "still running 10 s after an early SIGTERM"
code="$(E inspect -f '{{.State.ExitCode}}' "$cid")"
[ "$code" = 0 ] || fail "early SIGTERM: exit status $code"
ok "SIGTERM 1 s after start: exited with status 0 after ${elapsed_ms} ms"
echo "container smoke: all checks passed"
