"""Knowledge files and fixtures are found from an installed wheel (not only from a checkout)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # servers, processes, fuzzing, PostgreSQL or the FHIR server


def test_wheel_carries_knowledge_and_fixtures_and_runs_from_outside_the_checkout(tmp_path: Path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)], check=True, capture_output=True)
    [wheel] = list(dist.glob("her2_cds-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "cds_service/_cards/trials.yaml" in names
    assert "cds_service/_cards/schema/trials.schema.json" in names
    assert "cds_service/_fixtures/requests/crc-ihc3-positive.json" in names
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True, capture_output=True
    )
    deps = sysconfig.get_paths()["purelib"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), deps]))
    script = (
        "import cds_service, cds_service.knowledge as k; "
        "from cds_service.cli import main; "
        "assert '_cards' in str(k.default_knowledge_dir()), k.default_knowledge_dir(); "
        f"assert str(k.default_knowledge_dir()).startswith({str(target)!r}); "
        "raise SystemExit(main(['call', 'gastric-ihc3']))"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "HER2-positive (gastric/GEJ): ToGA met" in result.stdout
