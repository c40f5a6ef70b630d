"""scripts/pip-audit.sh reads pip-audit's JSON report right: clean, vulnerable, or no database.

The vulnerability databases are not reachable from the development machines, so pip-audit is
replaced here by a script that writes the report a real run would write (pip-audit's JSON format).
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # runs the script (pip freeze) in a subprocess

REPORTS = {
    "clean": {"dependencies": [{"name": "flask", "version": "3.1.3", "vulns": []},
                               {"name": "private-lib", "version": "1.0", "skip_reason": "Dependency not found on PyPI"}]},
    "vulnerable": {"dependencies": [{"name": "flask", "version": "0.12", "vulns": [
        {"id": "PYSEC-2019-179", "fix_versions": ["1.0"], "aliases": [], "description": "..."}]}]},
    "no-database": {"dependencies": [{"name": "flask", "version": "3.1.3", "skip_reason": "Dependency not found on PyPI"}]},
}


@pytest.fixture()
def fake_tool(tmp_path):
    def make(report: dict | None) -> dict:
        tool = tmp_path / "tool"
        (tool / "bin").mkdir(parents=True, exist_ok=True)
        (tool / "bin" / "python").symlink_to(sys.executable)
        write = f"json.dump({report!r}, open(sys.argv[sys.argv.index('-o') + 1], 'w'))" if report else "sys.exit(1)"
        script = tool / "bin" / "pip-audit"
        script.write_text(f"#!{sys.executable}\nimport json, sys\n{write}\n")
        script.chmod(0o755)
        return dict(os.environ, PIP_AUDIT_VENV=str(tool))
    return make


def run(env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "scripts/pip-audit.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "python").exists(), reason="needs the project's .venv")
@pytest.mark.parametrize("case, code, line", [
    ("clean", 0, "pip-audit: 1 packages audited against pypi, no known vulnerabilities (1 not in its database)"),
    ("vulnerable", 1, "pip-audit: FAILED: 1 known vulnerabilities in 1 of 1 packages (pypi):"),
    ("no-database", 0, "pip-audit: skipped: no vulnerability database reachable from this machine "
                       "(pypi: answered for none of 1 packages; osv: answered for none of 1 packages)"),
    ("network-error", 0, "pip-audit: skipped: no vulnerability database reachable from this machine "
                         "(pypi: network error; osv: network error)"),
])
def test_verdicts(fake_tool, case, code, line):
    result = run(fake_tool(REPORTS.get(case)))
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == line
    if case == "vulnerable":
        assert "flask 0.12: PYSEC-2019-179 (fixed in: 1.0)" in result.stdout
