"""The command line for an operator: `--version`, one-line errors with a non-zero exit status for
the usual mistakes (never a traceback), progress on long commands."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from importlib import metadata

import pytest

from cds_service.cli import main
from tests import fhir_builders as b
from tests.conftest import FIXTURES, free_port

pytestmark = pytest.mark.slow  # operator CLI end to end: subprocesses, throwaway databases, ports


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


@pytest.mark.parametrize("command", [["knowledge", "report"], ["feedback", "report"]])
def test_report_to_an_unwritable_place_is_refused_before_any_work(tmp_path, capsys, monkeypatch, command):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/db.sqlite3")
    target = tmp_path / "no" / "such" / "dir.md"
    assert main([*command, "--output", str(target)]) == 2
    captured = capsys.readouterr()
    assert "running fixture" not in captured.err  # said before the fixtures run
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert lines == [f"her2-cds: error: cannot write {target}: the directory {target.parent} does not exist"]
    assert not (tmp_path / "db.sqlite3").exists()


# ---------------------------------------------------------------- a first hour without friction (issue 18)


@pytest.mark.parametrize("content, message", [
    ("nope", "not JSON (Expecting value at line 1, column 1)"),
    ("[]", 'not a CDS Hooks request (a JSON object with "hook", "context" and "prefetch")'),
    ('{"resourceType": "Bundle", "type": "collection", "entry": []}',
     "not a CDS Hooks request (a JSON object with \"hook\", \"context\" and \"prefetch\"); for a patient's Bundle use "
     "--patient-bundle FILE --hook HOOK"),
])
def test_call_with_a_file_that_is_not_a_request(tmp_path, capsys, content, message):
    path = tmp_path / "bad.req"
    path.write_text(content)
    assert main(["call", str(path)]) == 2
    assert one_error_line(capsys) == f"her2-cds: error: {path}: {message}"


def test_call_url_without_a_scheme(capsys):
    assert main(["call", "gastric-ihc3", "--url", "localhost:8080"]) == 2
    assert one_error_line(capsys) == ("her2-cds: error: --url 'localhost:8080' is not a base URL: give it with http:// "
                                      "or https://, e.g. --url http://127.0.0.1:8080")


def test_call_json_prints_only_json_on_stdout(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["call", "gastric-ihc3", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["cards"]
    assert "her2-patient-view -> HTTP 200" in captured.err


def test_in_process_call_never_writes_to_database_url(tmp_path, monkeypatch, capsys):
    """Trial calls must not reach the audit trail or the governance report."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/records.sqlite3")
    assert main(["call", "crc-ihc3-positive-cetuximab-sign"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither DATABASE_URL nor the default file
    capsys.readouterr()
    assert main(["feedback", "report", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["rules"] == []


def test_call_with_a_patient_bundle_gives_the_fixture_request_cards(tmp_path, monkeypatch, capsys):
    """fixtures/patients/NAME.json (a Bundle) made into a request as an EHR would prefetch it gives
    the same cards as the fixture's own request."""
    monkeypatch.chdir(tmp_path)
    for name in ("crc-genomics-report-plasma", "gastric-ish-panel", "crc-narrative-her2-report"):
        assert main(["call", name, "--json"]) == 0
        expected = json.loads(capsys.readouterr().out)["cards"]
        assert main(["call", "--patient-bundle", str(FIXTURES / "patients" / f"{name}.json"), "--json"]) == 0
        got = json.loads(capsys.readouterr().out)["cards"]
        assert [(c["summary"], c["extension"]) for c in got] == [(c["summary"], c["extension"]) for c in expected], name


def test_patient_bundle_order_hook_sends_its_drafts_and_names_what_no_key_carries(tmp_path, capsys):
    patient = b.patient("p1")
    resources = [patient, b.crc("p1"), b.liver_mets("p1"), b.ihc("p1", "3+", 80),
                 b.draft_order("p1", "cetuximab", "318341"),
                 b.observation("p1", b.loinc("8302-2", "Body height"), valueQuantity={"value": 170})]
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(b.collection(resources)))
    assert main(["call", "--patient-bundle", str(path), "--hook", "order-sign", "--json"]) == 0
    captured = capsys.readouterr()
    cards = json.loads(captured.out)["cards"]
    assert any(c["extension"]["her2cds"].get("warning") == "anti-egfr-her2-positive" for c in cards)
    [note] = [line for line in captured.err.splitlines() if line.startswith("her2-cds: not sent")]
    assert note.endswith(f"Observation/{resources[-1]['id']}")


def test_patient_bundle_without_one_patient(tmp_path, capsys):
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(b.collection([b.crc("p1")])))
    assert main(["call", "--patient-bundle", str(path)]) == 2
    assert one_error_line(capsys) == f"her2-cds: error: {path}: the Bundle must hold exactly one Patient with an id (found 0)"


@pytest.mark.parametrize("url, message", [
    ("mysql://u:pw@db.example/cds", "DATABASE_URL names a mysql database, whose driver (MySQLdb) is not installed: "
                                    "the service stores its records in SQLite (sqlite:///FILE) or PostgreSQL "
                                    "(postgresql+psycopg://USER:PASSWORD@HOST/DB)"),
    ("sqlite:////nonexistent/dir/x.sqlite3", "DATABASE_URL: the directory of the SQLite file does not exist (/nonexistent/dir)"),
])
@pytest.mark.parametrize("command", [["db", "upgrade"], ["feedback", "report"], ["trials", "import", "x.json"]])
def test_database_url_the_service_cannot_use(monkeypatch, capsys, url, message, command):
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(command) == 2
    line = one_error_line(capsys)
    assert line == f"her2-cds: error: {message}" and "pw" not in line


def test_serve_with_an_unreachable_database_is_one_line_before_anything_starts(tmp_path, monkeypatch, capsys):
    port = free_port()
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://her2cds:s3cret@127.0.0.1:{port}/her2cds")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    assert main(["serve", "--port", str(free_port())]) == 1
    line = one_error_line(capsys)
    assert line.startswith(f"her2-cds: error: database postgresql+psycopg://her2cds:***@127.0.0.1:{port}/her2cds cannot be used: ")
    assert "s3cret" not in line and "Connection refused" in line


def test_serve_on_a_port_in_use_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/db.sqlite3")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    assert one_error_line(capsys) == (f"her2-cds: error: cannot listen on 127.0.0.1:{port}: Address already in use "
                                      "(another server is listening there: stop it or choose --port)")


@pytest.mark.parametrize("command", [["call", "gastric-ihc3"], ["serve"]])
def test_bad_settings_have_the_one_error_prefix(monkeypatch, capsys, command):
    monkeypatch.setenv("HER2CDS_TIMEOUT_S", "soon")
    assert main(command) == 2
    line = one_error_line(capsys)
    assert line.startswith("her2-cds: error: configuration: HER2CDS_TIMEOUT_S: ") and "invalid configuration" not in line


@pytest.mark.slow
def test_report_into_a_closed_pipe_ends_quietly(tmp_path):
    """`her2-cds knowledge report --format json | head -1`: no error line, no traceback."""
    script = (f"{sys.executable} -m cds_service.cli knowledge report --format json | head -1; "
              "echo \"status=${PIPESTATUS[0]}\"")
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.stdout.splitlines() == ["{", "status=141"]
    assert "error" not in result.stderr and "Traceback" not in result.stderr, result.stderr


@pytest.mark.slow
def test_operator_sees_one_line_from_the_installed_command(tmp_path):
    """The real entry point, as an operator's shell runs it."""
    base = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run([sys.executable, "-m", "cds_service.cli", "call", "gastric-ihc3", "--url", base],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == f"her2-cds: error: cannot reach the service at {base}: Connection refused"
