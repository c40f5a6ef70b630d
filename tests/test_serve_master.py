"""`her2-cds serve`'s gunicorn master: it must not import the HTTP libraries (they keep references
to ssl that gevent cannot patch in the workers: MonkeyPatchWarning, gevent issue 1016), and its
log lines are JSON lines like the service's (README, "Logs")."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import ROOT, free_port

# Runs `her2-cds serve` up to the point where gunicorn would start its master loop, then reports
# what the master has imported: every module, and those holding ssl.SSLContext itself (what makes
# gevent warn; `import ssl` alone, as asyncio does, is harmless).
MASTER_PROBE = """
import json, sys
from cds_service import cli, server

def run(self):
    ssl = sys.modules.get("ssl")
    holders = sorted(name for name, module in list(sys.modules.items())
                     if ssl is not None and name not in ("ssl", "_ssl")
                     and any(value is ssl.SSLContext for value in list(getattr(module, "__dict__", {}).values())))
    print(json.dumps({"modules": sorted(sys.modules), "ssl_context_holders": holders}))

server.Server.run = run
sys.exit(cli.main(["serve", "--port", sys.argv[1]]))
"""


def _env(tmp_path) -> dict:
    return dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3", HER2CDS_LOG_LEVEL="INFO",
                PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))


@pytest.mark.slow
def test_serve_master_imports_no_http_library_before_the_fork(tmp_path):
    result = subprocess.run([sys.executable, "-c", MASTER_PROBE, str(free_port())], capture_output=True, text=True,
                            cwd=ROOT, env=_env(tmp_path), timeout=120)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.splitlines()[-1])
    assert probe["ssl_context_holders"] == []
    imported = {name.split(".")[0] for name in probe["modules"]}
    assert not imported & {"requests", "urllib3", "aiohttp", "jwt", "flask"}, imported & {"requests", "urllib3", "aiohttp", "jwt", "flask"}


@pytest.mark.slow
def test_serve_logs_json_lines_and_no_monkey_patch_warning(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cds_service.cli", "serve", "--port", str(port)], cwd=ROOT,
                            env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert "MonkeyPatchWarning" not in err, err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]  # every line is JSON
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert any(line["logger"] == "gunicorn.error" and line["message"].startswith("Listening at: ") for line in lines)
    assert any(line["logger"] == "her2cds" and "HER2CDS_PSEUDONYM_KEY is not set" in line["message"] for line in lines)
