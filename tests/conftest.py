"""Shared test fixtures: the app on its default configuration and request helpers."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cds_service.app import create_app
from cds_service.knowledge import load_knowledge
from cds_service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SEEDS = ROOT.parent / "shared" / "seeds"
SERVICE_FOR_HOOK = {"patient-view": "her2-patient-view", "order-select": "her2-order-select", "order-sign": "her2-order-sign"}


@pytest.fixture(scope="session", autouse=True)
def _work_in_a_temporary_directory(tmp_path_factory):
    """The default SQLite file is created in the working directory: keep it out of the checkout."""
    previous = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(previous)


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
