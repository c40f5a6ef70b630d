"""`her2-cds knowledge report`: every rule by id with its citations and the fixtures whose cards
name it (read from extension.her2cds.rules, never from card text); md, html and json."""
from __future__ import annotations

import html
import json

import pytest

from cds_service.cli import main
from cds_service.knowledge import iter_sources
from cds_service.report import build, render_html, render_markdown
from tests.conftest import FIXTURES, call, load_request


@pytest.fixture(scope="module")
def items(knowledge):
    return build(knowledge)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The json report as the CLI writes it."""
    path = tmp_path_factory.mktemp("report") / "report.json"
    assert main(["knowledge", "report", "--format", "json", "--output", str(path)]) == 0
    return json.loads(path.read_text(encoding="utf-8"))


def _fixture_cards(client):
    for path in sorted((FIXTURES / "requests").glob("*.json")):
        code, body = call(client, load_request(path.stem))
        assert code == 200
        yield path.stem, body["cards"]


def test_every_card_of_every_fixture_names_its_rules_and_the_report_lists_them(client, report):
    listed = {rule["id"] for rule in report["rules"]}
    for name, cards in _fixture_cards(client):
        for card in cards:
            ids = card["extension"]["her2cds"]["rules"]
            assert ids and len(ids) == len(set(ids)), (name, card["summary"])
            assert set(ids) <= listed, (name, set(ids) - listed)
            for rule_id in ids:
                assert name in next(r["fixtures"] for r in report["rules"] if r["id"] == rule_id)


def test_json_report_shape(report, knowledge):
    assert report["knowledgeVersion"] == knowledge.version_label
    ids = [rule["id"] for rule in report["rules"]]
    assert len(ids) == len(set(ids)) == len(knowledge.rules.rules)
    for rule in report["rules"]:
        assert {"id", "kind", "source", "sources", "fixtures", "condition"} <= rule.keys()
        assert rule["id"].split(".")[1] == rule["kind"]
        assert rule["source"] or rule["policy"], rule["id"]
    by_id = {rule["id"]: rule for rule in report["rules"]}
    assert by_id["crc.criterion.heracles"]["source"]["quote"].startswith("a 3+ HER2 score in more than 50%")
    assert "crc-ihc3-positive" in by_id["crc.criterion.heracles"]["fixtures"]
    assert "crc-ihc3-positive-cetuximab-sign" in by_id["crc.warning.anti-egfr-later-line"]["fixtures"]
    assert by_id["common.threshold.ish-ratio-amplified"]["usedBy"]  # which rules a shared threshold changes


def test_trials_never_offered_are_exercised_by_no_fixture(report, knowledge):
    never = {t["id"] for t in knowledge.rules.of("trials", "trials") if t["status_class"] in ("active-not-recruiting", "not-stated")}
    assert never and all(not r["fixtures"] for r in report["rules"] if r["id"] in never)


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_md_and_html_are_indexed_by_rule_id_with_every_quote(knowledge, items, fmt):
    text = render_markdown(knowledge, items) if fmt == "md" else render_html(knowledge, items)
    escape = (lambda s: s) if fmt == "md" else html.escape
    assert knowledge.version_label in text
    for rule_id in knowledge.rules.rules:
        assert (f"`{rule_id}`" if fmt == "md" else f"id='{rule_id}'") in text
    for name, doc in knowledge.raw.items():
        for _, src in iter_sources(doc):
            assert escape(src["quote"]) in text, (name, src["quote"])

