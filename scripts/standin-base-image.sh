#!/usr/bin/env bash
# Make a local stand-in for the base image python:3.11-slim from Debian bookworm packages, for a
# machine that reaches Debian's package archive and PyPI but no container registry (as the
# development machines of this project). Debian bookworm ships Python 3.11. Needs root, debootstrap
# and podman or docker. Then: BASE_IMAGE=localhost/python-3.11-slim-standin:bookworm scripts/container-smoke.sh
#   usage: scripts/standin-base-image.sh [TAG]
set -euo pipefail
tag="${1:-localhost/python-3.11-slim-standin:bookworm}"
engine="${CONTAINER_ENGINE:-$(command -v podman || command -v docker)}"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates bookworm "$root" >/dev/null
# Look like python:3.11-slim: `python` on PATH, pip allowed to install into the system interpreter.
ln -sf /usr/bin/python3 "$root/usr/local/bin/python"
rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
# Certificate authorities this host added locally (e.g. a TLS-inspecting proxy's) are trusted inside too.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates >/dev/null
fi
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
tar -C "$root" -c . | "$engine" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' - "$tag" >/dev/null
echo "$tag"
