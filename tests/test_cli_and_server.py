"""`her2-cds call` output, and the service under its real WSGI server (gunicorn) on loopback."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests

from cds_service.cli import main, render_cards
from tests.conftest import free_port, load_request

pytestmark = pytest.mark.slow  # servers, processes, fuzzing, PostgreSQL or the FHIR server


def test_call_prints_cards_in_process(capsys):
    assert main(["call", "crc-ihc3-positive"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "her2-patient-view -> HTTP 200" in captured.err  # stdout is the answer only
    assert "[1] INFO · her2-status · HER2-positive (colorectal): HERACLES, TRIUMPH tissue, harmonized 10% criterion met" in out
    assert "Option: Pertuzumab + trastuzumab" in out
    assert "link: NCT04704661" in out


def test_call_order_fixture_shows_delete_suggestion(capsys):
    assert main(["call", "crc-ihc3-positive-cetuximab-sign"]) == 0
    out = capsys.readouterr().out
    assert "WARNING · order-warning · Anti-EGFR antibody ordered for HER2-positive colorectal cancer" in out
    assert "suggestion: delete MedicationRequest/draft-cetuximab" in out


def test_render_no_cards():
    assert render_cards([]) == "No cards (nothing to say for this request)."



def test_serve_under_gunicorn_and_call_over_http(capsys, tmp_path):
    port = free_port()
    env = dict(os.environ, HER2CDS_WORKERS="1", PORT=str(port))
    env.pop("DATABASE_URL", None)  # the default SQLite file, in the working directory: a temporary one
    proc = subprocess.Popen([sys.executable, "-m", "cds_service.cli", "serve", "--host", "127.0.0.1"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or no worker has accepted yet
                time.sleep(0.2)
        else:
            raise AssertionError("server did not start")
        response = requests.post(f"{base}/cds-services/her2-patient-view", json=load_request("gastric-ihc3"), timeout=10)
        assert response.status_code == 200
        assert response.json()["cards"][0]["extension"]["her2cds"]["status"] == "positive"
        assert main(["call", "gastric-ihc2-no-ish", "--url", base]) == 0
        assert "IHC 2+ (equivocal): order reflex ISH" in capsys.readouterr().out
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert b"NO TRUSTED ISSUERS CONFIGURED" in err
    assert b"Booting worker" in err
