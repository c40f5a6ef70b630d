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
#   IMAGE                  tag to build (default: her2-cds-smoke:<pid>-<random>, unique to this run)
#   KEEP_IMAGE=1           keep the image (and its build stages) afterwards; by default this run's
#                          image, build-stage images and containers are removed, whatever the outcome
# Before building, one throwaway container probes the engine: where the sandbox refuses podman's
# default resource limits ("setrlimit ... Operation not permitted") the run uses the host's hard
# limits, and where crun refuses the cgroup layout ("cgroups in hybrid mode") it uses runc; each
# adaptation is printed. Prints "skipped: no container engine" and exits 0 where there is none.
# Needs the project's .venv (bash scripts/test.sh makes it) for signing the JWT.
set -euo pipefail
cd "$(dirname "$0")/.."

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
run_id="$$-$RANDOM"
IMAGE="${IMAGE:-her2-cds-smoke:$run_id}"  # never another run's (or anyone's) tag
label="her2cds.smoke=$run_id"             # on the image and, with podman, on its build stages
read -r -a engine_args <<< "${CONTAINER_ENGINE_ARGS:-}"
read -r -a run_args <<< "${CONTAINER_RUN_ARGS:-}"
E() { "$engine" "${engine_args[@]}" "$@"; }
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3

work="$(mktemp -d)"
built=0
# Every container is created with --cidfile, so one that was created but failed to start (left
# "Created") is removed too; then this run's image and build stages unless KEEP_IMAGE=1.
cleanup() {
  for cidfile in "$work"/cid.*; do
    [ -s "$cidfile" ] && E rm -f "$(cat "$cidfile")" >/dev/null 2>&1 || true
  done
  if [ "$built" = 1 ] && [ "${KEEP_IMAGE:-0}" != 1 ]; then
    E rmi -f "$IMAGE" >/dev/null 2>&1 || true
    for id in $(E images -a -q --filter "label=$label" 2>/dev/null | sort -u); do E rmi -f "$id" >/dev/null 2>&1 || true; done
    echo "removed image $IMAGE and its build stages (KEEP_IMAGE=1 keeps them)"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
cidfile() { mktemp -u "$work/cid.XXXXXX"; }  # a name only: the engine creates the file
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
  E run -d --cidfile "$(cidfile)" --read-only --tmpfs /tmp:rw,size=64m -p "127.0.0.1:$port:8080" "${run_args[@]}" "${limits[@]}" "$@" "$IMAGE"
}
# Adapt to a sandbox that refuses the engine's defaults (docs/deploy.md, "Smoke test of the image").
limits=()  # --ulimit flags found by the probe, used for build and run
probe() {  # probe IMAGE: run `true` in a throwaway container; adapt the flags to what the engine says
  local image="$1" attempt message nofile nproc
  nofile="$(ulimit -Hn)"; nproc="$(ulimit -Hu)"
  for attempt in 1 2 3 4 5 6 7 8; do
    message="$(E run --rm --cidfile "$(cidfile)" "${run_args[@]}" "${limits[@]}" "$image" true 2>&1 >/dev/null)" && break
    if [[ "$message" == *"hybrid mode"* ]] && command -v runc >/dev/null && [[ " ${engine_args[*]} " != *" --runtime "* ]]; then
      engine_args+=(--runtime runc)
      echo "sandbox: crun refuses this host's cgroup layout; using --runtime runc"
    elif [[ "$message" == *[Rr][Ll][Ii][Mm][Ii][Tt]* ]] && [[ " ${run_args[*]} " != *" --ulimit "* ]] && [ "$nproc" != unlimited ]; then
      # Without CAP_SYS_RESOURCE no limit can be raised: start at the host's hard limits and halve
      # the one the runtime names until it is accepted.
      if [ "${#limits[@]}" -gt 0 ]; then
        [[ "$message" == *NPROC* || "$message" == *"type 6"* ]] && nproc=$(( nproc / 2 ))
        [[ "$message" == *NOFILE* || "$message" == *"type 7"* ]] && nofile=$(( nofile / 2 ))
      fi
      limits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
    else
      echo "probe of $image failed: $message" >&2
      break  # not a sandbox limit we know: the build or the first run will say what is wrong
    fi
  done
  [ "${#limits[@]}" -eq 0 ] || echo "sandbox: the engine may not raise resource limits here; using ${limits[*]}"
}

echo "engine: $engine ${engine_args[*]} ($("$engine" --version))"
base="${BASE_IMAGE:-$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile | head -1)}"
probe "$base"
build=(build -t "$IMAGE" --label "$label")
[ -n "${BASE_IMAGE:-}" ] && build+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
built=1
E "${build[@]}" "${run_args[@]}" "${limits[@]}" . > "$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; fail "image build"; }
ok "image $IMAGE built${BASE_IMAGE:+ on $BASE_IMAGE}"

# ---------------------------------------------------------------- unsigned local mode
port="$(free_port)"
base="http://127.0.0.1:$port"
cid="$(run "$port" -e HER2CDS_ALLOW_UNSIGNED=1)"
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
