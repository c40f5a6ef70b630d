"""The command line for an operator: `--version`, one-line errors with a non-zero exit status for
the usual mistakes (never a traceback), progress on long commands."""
from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

from cds_service.cli import main
from tests.conftest import free_port


def one_error_line(capsys) -> str:
    """The command's stderr must end with exactly one error line and hold no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("her2-cds: error: ")]
    assert len(lines) == 1 and err.rstrip().endswith(lines[0]), err
    return lines[0]


def test_version_names_the_package_and_the_knowledge(capsys, knowledge):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"her2-cds {metadata.version('her2-cds')} (knowledge {knowledge.version_label})"


def test_call_to_a_service_that_is_down(capsys):
    base = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert main(["call", "gastric-ihc3", "--url", base]) == 1
    assert one_error_line(capsys) == f"her2-cds: error: cannot reach the service at {base}: Connection refused"


def test_db_upgrade_with_an_unreachable_database_hides_the_password(monkeypatch, capsys):
    port = free_port()
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://her2cds:s3cret@127.0.0.1:{port}/her2cds")
    assert main(["db", "upgrade"]) == 1
    line = one_error_line(capsys)
    assert line.startswith(f"her2-cds: error: database postgresql+psycopg://her2cds:***@127.0.0.1:{port}/her2cds cannot be used")
    assert "s3cret" not in line and "Connection refused" in line


@pytest.mark.parametrize("url", ["not a url", "nosuchdialect://host/db"])
def test_db_upgrade_with_a_bad_database_url(monkeypatch, capsys, url):
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["db", "upgrade"]) == 2
    assert one_error_line(capsys).startswith("her2-cds: error: DATABASE_URL is not a usable SQLAlchemy URL")


def test_db_upgrade_says_which_database_it_upgrades(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/db.sqlite3")
    assert main(["db", "upgrade"]) == 0
    captured = capsys.readouterr()
    assert f"her2-cds: upgrading sqlite:///{tmp_path}/db.sqlite3 to revision" in captured.err
    assert "database schema is at the newest revision" in captured.out


@pytest.mark.parametrize("command", [["call", "gastric-ihc3"], ["db", "upgrade"], ["trials", "import", "x.json"],
                                     ["knowledge", "report"]])
def test_bad_settings_are_one_line(monkeypatch, capsys, command):
    monkeypatch.setenv("HER2CDS_FHIR_BUDGET_S", "three")
    assert main(command) == 2
    line = one_error_line(capsys)
    assert line.startswith("her2-cds: error: configuration: ") and "HER2CDS_FHIR_BUDGET_S" in line and "'three'" in line


def test_serve_refuses_an_unsafe_start_in_one_line(capsys):
    """The start-up check (cds_service.startup.preflight) runs before anything listens."""
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err.strip()  # the serve path words its own line (cds_service/cli.py::_serve)
    assert "\n" not in err and "Traceback" not in err and "refusing to listen on 0.0.0.0 without trusted issuers" in err


def test_unreadable_trusted_issuers_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/db.sqlite3")
    monkeypatch.setenv("HER2CDS_TRUSTED_ISSUERS_FILE", str(tmp_path / "missing.json"))
    monkeypatch.setenv("HER2CDS_PUBLIC_BASE_URL", "https://cds.example.org")
    monkeypatch.setenv("HER2CDS_PSEUDONYM_KEY", "key")
    assert main(["call", "gastric-ihc3"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("her2-cds: error: configuration: HER2CDS_TRUSTED_ISSUERS_FILE") and "missing.json" in line


def test_unknown_fixture(capsys):
    assert main(["call", "no-such-fixture"]) == 1
    assert one_error_line(capsys).startswith("her2-cds: error: no fixture 'no-such-fixture'; available: crc-")


def test_knowledge_report_shows_progress_on_stderr(tmp_path, capsys):
    out = tmp_path / "report.md"
    assert main(["knowledge", "report", "--output", str(out)]) == 0
    captured = capsys.readouterr()
    progress = [line for line in captured.err.splitlines() if line.startswith("her2-cds: running fixture ")]
    assert progress and progress[-1].startswith(f"her2-cds: running fixture {len(progress)}/{len(progress)}: ")
    assert captured.out.strip() == f"wrote {out}"


def test_report_to_an_unwritable_place(tmp_path, capsys):
    assert main(["knowledge", "report", "--output", str(tmp_path / "no" / "such" / "dir.md")]) == 1
    assert one_error_line(capsys).endswith("dir.md: No such file or directory")


@pytest.mark.slow
def test_operator_sees_one_line_from_the_installed_command(tmp_path):
    """The real entry point, as an operator's shell runs it."""
    base = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run([sys.executable, "-m", "cds_service.cli", "call", "gastric-ihc3", "--url", base],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == f"her2-cds: error: cannot reach the service at {base}: Connection refused"
