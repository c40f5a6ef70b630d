"""Knowledge files: schema-valid, and every quoted figure occurs verbatim in its seed document."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from cds_service.app import create_app
from cds_service.knowledge import (
    KnowledgeError,
    default_knowledge_dir,
    iter_sources,
    load_knowledge,
    normalise_quote_text,
    seed_text_variants,
)
from cds_service.rules.models import FILE_MODELS, schema_text
from cds_service.settings import Settings
from tests import fhir_builders as b
from tests.conftest import call, status_ext


@pytest.fixture(scope="module")
def sources_dir(knowledge) -> Path:
    """HER2CDS_SOURCES_DIR (CI sets it): unset skips the quote check; set but without the texts fails."""
    folder = Settings.from_env().sources_dir
    if folder is None:
        pytest.skip("quote check skipped: HER2CDS_SOURCES_DIR is not set (the folder with the source review texts)")
    missing = [doc["file"] for doc in knowledge.documents.values() if not (folder / doc["file"]).is_file()]
    assert not missing, f"HER2CDS_SOURCES_DIR={folder} lacks the source review texts {missing}"
    return folder


def _all_sources(knowledge):
    return [(name, where, src) for name, doc in knowledge.raw.items() for where, src in iter_sources(doc)]


def test_every_entry_has_a_source(knowledge):
    sources = _all_sources(knowledge)
    assert len(sources) > 80
    for therapy in knowledge.therapies:
        assert therapy["evidence"] and therapy["population"]["source"]
    for trial in knowledge.trials:
        assert trial["source"]["quote"]


def test_quotes_occur_verbatim_in_the_seeds(knowledge, sources_dir):
    texts = {p.name: seed_text_variants(p.read_text(encoding="utf-8")) for p in sources_dir.glob("*.txt")}
    good = "the ORR was 9.7% and the median PFS was 4.1 months"  # first: the check catches a drifted figure
    assert any(good in t for t in texts["000_d8ef51a1045be4cf.txt"])
    assert not any(good.replace("9.7%", "19.7%") in t for t in texts["000_d8ef51a1045be4cf.txt"])
    missing = []
    for name, where, src in _all_sources(knowledge):
        quote = normalise_quote_text(src["quote"])
        if not any(quote in variant for variant in texts[src["file"]]):
            missing.append(f"{name}:{where}: {quote}")
    assert not missing, "\n".join(missing)


def test_trial_status_classes_follow_the_source_words(knowledge):
    inactive = {t["nct"] for t in knowledge.trials if t["status_class"] == "active-not-recruiting"}
    assert inactive == {"NCT03365882", "NCT04744831", "NCT04460456"}
    for trial in knowledge.trials:
        words = trial["status_words"].lower()
        if trial["status_class"] == "recruiting":
            assert "recruiting" in words and "not" not in words
        if trial["status_class"] == "not-yet-recruiting":
            assert words == "not yet recruiting"


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "cards"
    shutil.copytree(default_knowledge_dir(), target)
    return target


def test_schema_violation_is_rejected_at_load(tmp_path):
    cards = _copy(tmp_path)
    data = yaml.safe_load((cards / "copy-number-cutoffs.yaml").read_text())
    data["cutoffs"][0]["cutoff"] = "nine"
    (cards / "copy-number-cutoffs.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(KnowledgeError, match="copy-number-cutoffs.yaml"):
        load_knowledge(cards)


def test_entry_without_source_is_rejected(tmp_path):
    cards = _copy(tmp_path)
    data = yaml.safe_load((cards / "trials.yaml").read_text())
    del data["trials"][0]["source"]
    (cards / "trials.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(KnowledgeError, match="source"):
        load_knowledge(cards)


def test_overlong_quote_is_rejected(tmp_path):
    cards = _copy(tmp_path)
    data = yaml.safe_load((cards / "evidence-notes.yaml").read_text())
    data["notes"][0]["source"]["quote"] = " ".join(["word"] * 26)
    (cards / "evidence-notes.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(KnowledgeError, match="26 words"):
        load_knowledge(cards)


def test_version_is_a_content_hash(tmp_path, knowledge):
    cards = _copy(tmp_path)
    assert load_knowledge(cards).version == knowledge.version
    with (cards / "trials.yaml").open("a") as fh:
        fh.write("\n# edited\n")
    assert load_knowledge(cards).version != knowledge.version


# ---------------------------------------------------------------- typed models and generated schemas
def test_committed_schemas_are_generated_from_the_models():
    for name in FILE_MODELS:
        committed = (default_knowledge_dir() / "schema" / f"{name}.schema.json").read_text(encoding="utf-8")
        assert committed == schema_text(name), f"{name}.schema.json is stale: run python -m cds_service.rules.models"


def test_every_knowledge_file_meets_its_committed_schema():
    for name in FILE_MODELS:
        schema = json.loads((default_knowledge_dir() / "schema" / f"{name}.schema.json").read_text(encoding="utf-8"))
        data = yaml.safe_load((default_knowledge_dir() / f"{name}.yaml").read_text(encoding="utf-8"))
        assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) == [], name


def _edit(tmp_path, name, change):
    cards = _copy(tmp_path)
    data = yaml.safe_load((cards / f"{name}.yaml").read_text(encoding="utf-8"))
    change(data)
    (cards / f"{name}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return cards


def _rule(data, key, rule_id):
    return next(r for r in data[key] if r["id"] == rule_id)


@pytest.mark.parametrize("name, change, message", [
    ("evidence-notes", lambda d: d["notes"][0].update(when={"ihc_scor": {"eq": "1+"}}), "unknown fact 'ihc_scor'"),
    ("statements", lambda d: d["missing"][1].update(text="no {ihc_scroe}"), "template names unknown fact 'ihc_scroe'"),
    ("warnings", lambda d: d["warnings"][-1].update(unless={"rule": "crc.warning.nothing"}), "unknown rule 'crc.warning.nothing'"),
    ("evidence-notes", lambda d: d["notes"][0].update(id="crc.warning.her2-low-tdxd"), "kind 'warning' in the id"),
    ("evidence-notes", lambda d: d["notes"][0].pop("source"), "no citation"),
    ("crc-criteria", lambda d: d["definitions"][2].update(function="no_such_function"), "no rule function named"),
    ("crc-criteria", lambda d: d["criteria"][1]["arms"][3]["all"]["ish_ratio"].update(ge={"threshold": "common.threshold.nope"}),
     "unknown threshold common.threshold.nope"),
    ("evidence-notes", lambda d: d["notes"][1].update(id=d["notes"][0]["id"]), "duplicate rule id"),
    ("testing", lambda d: d["rules"][0].update(suggestion="no-such-card"), "unknown suggestion"),
])
def test_rule_book_mistakes_are_refused_at_load(tmp_path, name, change, message):
    with pytest.raises(KnowledgeError, match=re.escape(message)):
        load_knowledge(_edit(tmp_path, name, change))


def _cards(cards_dir, request):
    app = create_app(Settings.from_env({"HER2CDS_KNOWLEDGE_DIR": str(cards_dir), "DATABASE_URL": "sqlite://"}))
    code, body = call(app.test_client(), request)
    assert code == 200
    return body["cards"]


def _gastric_order(drug):
    return b.hook_request("order-sign", "k", [b.patient("k"), b.gastric("k"), b.ihc("k", "3+")], [b.draft_order("k", drug, mid="d")])


def test_failed_gastric_agents_are_read_from_the_yaml(tmp_path):
    def swap(data):
        _rule(data, "warnings", "gc.warning.lapatinib-failed")["when"] = {"order_drugs": {"contains": "tucatinib"}}
    edited = _edit(tmp_path, "warnings", swap)
    codes = [c["extension"]["her2cds"].get("warning") for c in _cards(edited, _gastric_order("Tukysa"))]
    assert "failed-agent-gastric" in codes
    assert "failed-agent-gastric" not in [c["extension"]["her2cds"].get("warning") for c in _cards(edited, _gastric_order("Tykerb"))]


def test_drug_classes_are_read_from_the_yaml(tmp_path):
    def drop(data):
        next(d for d in data["drugs"] if d["id"] == "panitumumab")["classes"] = ["chemotherapy"]
    request = b.hook_request("order-sign", "k", [b.patient("k"), b.crc("k"), b.ihc("k", "3+", 80)],
                             [b.draft_order("k", "Vectibix", mid="v")])
    assert "anti-egfr-her2-positive" in [c["extension"]["her2cds"].get("warning") for c in _cards(default_knowledge_dir(), request)]
    edited = _cards(_edit(tmp_path, "drugs", drop), request)
    assert "anti-egfr-her2-positive" not in [c["extension"]["her2cds"].get("warning") for c in edited]


def test_the_shared_ish_threshold_is_read_from_the_yaml(tmp_path):
    edited = _edit(tmp_path, "thresholds", lambda d: d["thresholds"][0].update(value=2.5))
    request = b.hook_request("patient-view", "k", [b.patient("k"), b.crc("k"), b.ihc("k", "1+"), b.ish("k", 2.3)])
    assert status_ext(_cards(edited, request))["status"] == "low"  # 2.3 < 2.5 in the edited file
