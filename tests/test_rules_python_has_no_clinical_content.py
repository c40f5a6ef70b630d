"""The Python rule modules hold no clinical figure, drug name, criterion code, trial or rule id:
those live in cards/*.yaml, the one place a rule is changed (and changing it changes behaviour)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

RULE_MODULES = sorted([*(ROOT / "cds_service" / "rules").glob("*.py")] + [
    ROOT / "cds_service" / name for name in ("assessment.py", "orders.py", "card_builder.py", "medications.py", "engine.py")])
# Numbers that are not clinical, each with its reason (module, name): value.
ALLOWED_NUMBERS = {
    ("card_builder.py", "SUMMARY_MAX_CHARS"): 140,  # CDS Hooks 2.0: summary "<140 characters"
    ("card_builder.py", "SUMMARY_CUT"): 136,  # where a longer summary is cut
    ("card_builder.py", "SUMMARY_RESULTS"): 2,  # results named in a status summary (wording)
    ("functions.py", "PERCENT"): 100,  # relative clonality is written in % ("... x 100")
}
FIGURE_IN_TEXT = re.compile(r"\d+(\.\d+)?\s*%|\b\d+\s+of\s+\d+\b|\b\d+\.\d+\b|[<>≤≥]=?\s*\d")


def _numbers(path: Path) -> list[tuple[int, object]]:
    """Numeric literals other than 0 and 1, outside the allowed named constants, index/slice bounds
    (`parts[-2:]`) and keyword arguments such as `indent=2`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    allowed_nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if ALLOWED_NUMBERS.get((path.name, node.targets[0].id)) == getattr(node.value, "value", None):
                allowed_nodes.add(id(node.value))
        structural = [node.slice] if isinstance(node, ast.Subscript) else []
        structural += [k.value for k in node.keywords] if isinstance(node, ast.Call) else []
        for part in structural:
            allowed_nodes |= {id(n) for n in ast.walk(part) if isinstance(n, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value not in (0, 1)
            and id(node) not in allowed_nodes]


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.lineno, node.value) for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]


@pytest.mark.parametrize("path", RULE_MODULES, ids=lambda p: p.name)
def test_no_numeric_clinical_literal(path):
    assert _numbers(path) == []
    assert [(line, text) for line, text in _strings(path) if FIGURE_IN_TEXT.search(text)
            and not text.startswith(("^", "%", "{"))] == []


def _clinical_names(knowledge) -> set[str]:
    drugs = knowledge.drugs
    names = {d["id"] for d in drugs["drugs"]} | {n for d in drugs["drugs"] for n in d["names"]}
    names |= {n for c in drugs["combinations"] for n in c["names"]}
    names |= {c["code"] for tumour in ("colorectal", "gastric") for c in knowledge.rules.criteria(tumour)}
    names |= {t["nct"] for t in knowledge.trials} | {"TRIUMPH", "DESTINY", "MOUNTAINEER", "KEYNOTE", "HELOISE", "JACOB", "GATSBY"}
    return names | set(knowledge.rules.rules)


@pytest.mark.parametrize("path", RULE_MODULES, ids=lambda p: p.name)
def test_no_drug_name_criterion_trial_or_rule_id(path, knowledge):
    text = path.read_text(encoding="utf-8")
    found = sorted(name for name in _clinical_names(knowledge)
                   if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE))
    assert found == []


def test_the_checks_catch_what_they_look_for(tmp_path, knowledge):
    sample = tmp_path / "sample.py"
    sample.write_text('LIMIT = 2.0\ndef f(x):\n    return "lost in 11 of 16" if x >= 30 else "trastuzumab"\n', encoding="utf-8")
    assert [value for _, value in _numbers(sample)] == [2.0, 30]
    assert [text for _, text in _strings(sample) if FIGURE_IN_TEXT.search(text)] == ["lost in 11 of 16"]
    assert "trastuzumab" in {n for n in _clinical_names(knowledge) if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", sample.read_text())}
