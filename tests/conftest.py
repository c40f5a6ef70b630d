"""Shared test fixtures: the app on its default configuration and request helpers."""
from __future__ import annotations

import json
import os
import socket
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from cds_service.app import create_app
from cds_service.discovery import SERVICE_FOR_HOOK
from cds_service.knowledge import load_knowledge
from cds_service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    """A real PostgreSQL (pgserver: no root or Docker needed), as a SQLAlchemy psycopg 3 URL."""
    pgserver = pytest.importorskip("pgserver")
    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    yield server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    server.cleanup()


RUN_ARTEFACTS = ("*.sqlite3", "*.sqlite3-*", "*.migrate-lock", "*.db", "trial-status-overlay.json")


def run_artefacts() -> set[Path]:
    """Files a run of the service leaves behind, in the checkout and in the packaged knowledge folder."""
    places = (ROOT, ROOT / "cards", ROOT / "cds_service")
    return {path for place in places for pattern in RUN_ARTEFACTS for path in place.glob(pattern)}


@pytest.fixture(scope="session", autouse=True)
def _work_in_a_temporary_directory(tmp_path_factory):
    """The default SQLite file is created in the working directory: keep it out of the checkout, and
    fail the run if any test (or a process it starts) writes run artefacts into it after all."""
    before = run_artefacts()
    previous = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(previous)
    left = sorted(str(path.relative_to(ROOT)) for path in run_artefacts() - before)
    assert not left, f"tests wrote run artefacts into the checkout: {left}"


@pytest.fixture(scope="session")
def knowledge():
    return load_knowledge()


@pytest.fixture(scope="session")
def app():
    return create_app(Settings.from_env({}))


@pytest.fixture()
def client(app):
    return app.test_client()


def load_request(name: str) -> dict:
    return json.loads((FIXTURES / "requests" / f"{name}.json").read_text(encoding="utf-8"))


def call(client, request: dict) -> tuple[int, Any]:
    """POST a hook request to the service for its hook; (status, JSON body)."""
    response = client.post(f"/cds-services/{SERVICE_FOR_HOOK[request['hook']]}", json=request)
    return response.status_code, response.get_json()


def by_topic(cards: list[dict], topic: str) -> list[dict]:
    return [c for c in cards if c["source"]["topic"]["code"] == topic]


def status_ext(cards: list[dict], tumour: str | None = None) -> dict:
    cards = [c["extension"]["her2cds"] for c in by_topic(cards, "her2-status")]
    if tumour:
        cards = [c for c in cards if c["tumorType"] == tumour]
    assert len(cards) == 1, cards
    return cards[0]


def answer_json(handler: BaseHTTPRequestHandler, body: dict, content_type: str = "application/fhir+json") -> None:
    """Answer 200 with a JSON body from a test HTTP server's handler."""
    data = json.dumps(body).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
