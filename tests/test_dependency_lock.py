"""The dependency lock (requirements.lock, made by scripts/lock.sh) covers pyproject's runtime
dependencies with hash-pinned versions that satisfy them; the build lock covers the build system."""
from __future__ import annotations

import re
import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
TARGET = {"python_version": "3.11", "python_full_version": "3.11.0", "sys_platform": "linux", "platform_system": "Linux",
          "implementation_name": "cpython", "platform_python_implementation": "CPython", "os_name": "posix",
          "platform_machine": "x86_64"}  # the image: python:3.11-slim on Linux


def pins(lock: str) -> dict[str, tuple[Version, list[str]]]:
    """name -> (version, hashes) for every pinned requirement of a `pip-compile`-style lock file."""
    text = (ROOT / lock).read_text()
    out = {}
    for block in re.split(r"\n(?=\S)", text):
        first = block.split("\\", 1)[0].strip()
        if not first or first.startswith("#"):
            continue
        requirement = Requirement(first)
        if requirement.marker is not None and not requirement.marker.evaluate(TARGET):
            continue
        [spec] = list(requirement.specifier)
        assert spec.operator == "==", f"{lock}: {first} is not pinned"
        out[canonicalize_name(requirement.name)] = (Version(spec.version), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return out


def test_every_pin_carries_a_hash():
    for lock in ("requirements.lock", "requirements-build.lock"):
        locked = pins(lock)
        assert locked and all(hashes for _, hashes in locked.values()), lock


def test_lock_covers_the_runtime_dependencies_and_their_extras():
    locked = pins("requirements.lock")
    for line in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is not in requirements.lock: run scripts/lock.sh"
        assert requirement.specifier.contains(locked[name][0], prereleases=True), f"{line} vs locked {locked[name][0]}"
        for extra in requirement.extras:  # e.g. psycopg[binary] -> psycopg-binary
            for dep in map(Requirement, metadata.requires(requirement.name) or []):
                if dep.marker and dep.marker.evaluate({**TARGET, "extra": extra}) and not dep.marker.evaluate({**TARGET, "extra": ""}):
                    assert canonicalize_name(dep.name) in locked, f"{requirement.name}[{extra}] needs {dep.name}"


def test_lock_matches_what_the_tests_run_on():
    """scripts/test.sh installs the lock first: the suite tests the versions the image ships."""
    for name, (version, _) in pins("requirements.lock").items():
        assert Version(metadata.version(name)) == version, f"{name}: installed {metadata.version(name)}, locked {version}"


def test_build_lock_covers_the_build_system():
    locked = pins("requirements-build.lock")
    for line in PYPROJECT["build-system"]["requires"]:
        requirement = Requirement(line)
        assert requirement.specifier.contains(locked[canonicalize_name(requirement.name)][0]), line
