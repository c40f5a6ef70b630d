"""`her2-cds knowledge report`: every rule with its id, kind, condition, citations and the fixtures
that exercise it.

The fixture column is computed: each fixture request is run through the service in-process and
every card's `extension.her2cds.rules` (the ids of the rules that produced it) is read; card text
is never searched.
"""
from __future__ import annotations

import html
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .discovery import SERVICE_FOR_HOOK
from .knowledge import Knowledge, default_fixtures_dir, iter_sources
from .rules.book import RULE_LISTS, RuleBook, scope_of
from .rules.vocabulary import NAMESPACES, VOCABULARY
from .settings import Settings

SCOPE_NAMES = {"crc": "colorectal", "gc": "gastric/GEJ", "common": "both tumour types"}
SECTIONS = {
    "threshold": "Shared thresholds", "criterion": "Criteria", "definition": "Definitions", "status": "Status ladder (first match wins)",
    "contradiction": "Contradictions stated", "missing": "Missing pieces stated", "finding": "Findings stated",
    "scope": "Scope", "headline": "Named in the status card's summary", "cutoff": "Copy-number cut-offs (CRC Table 2)",
    "note": "Evidence notes", "therapy": "Therapies",
    "safety": "Safety statements", "therapy-note": "Therapy caveats", "therapy-gap": "Therapies not shown",
    "trial-offer": "Which trials are offered", "trial-note": "Notes beside a trial",
    "trial-exclusion": "Matching trials not offered (first match wins)", "trial": "Trials",
    "warning": "Order warnings", "test": "Test suggestions (chart)", "order-test": "Test suggestions (draft orders)",
    "settling-test": "Test offered with a HER2-drug warning (first match wins)",
    "lab-request": "What the laboratory is asked for (results on file without score, ratio, specimen or value)",
}


@dataclass
class Entry:
    id: str
    kind: str
    file: str
    title: str
    rule: dict
    sources: list[dict]
    fixtures: list[str] = field(default_factory=list)
    used_by: list[str] = field(default_factory=list)  # thresholds: the rules that use them

    @property
    def scope(self) -> str:
        return scope_of(self.id)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "scope": SCOPE_NAMES.get(self.scope, self.scope),
                "file": f"cards/{self.file}.yaml", "title": self.title,
                "condition": RuleBook.condition(self.rule), "unless": self.rule.get("unless"),
                "source": self.sources[0] if self.sources else None, "sources": self.sources,
                "policy": self.rule.get("policy"), "fixtures": self.fixtures, "usedBy": self.used_by,
                "rule": {k: v for k, v in self.rule.items() if v not in (None, [], {}) and k != "id"}}


def fixture_index(progress: Callable[[str], None] | None = None) -> dict[str, list[str]]:
    """Rule id -> the fixture requests whose cards name it. `progress` hears one line per fixture."""
    from .app import create_app

    tmp = Path(tempfile.mkdtemp(prefix="her2cds-report-"))
    client = create_app(Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp}/report.sqlite3",
                                           "HER2CDS_LOG_LEVEL": "ERROR"})).test_client()  # a new database: no registry overlay
    index: dict[str, list[str]] = {}
    paths = sorted((default_fixtures_dir() / "requests").glob("*.json"))
    for number, path in enumerate(paths, 1):
        if progress:
            progress(f"running fixture {number}/{len(paths)}: {path.stem}")
        request = json.loads(path.read_text(encoding="utf-8"))
        cards = client.post(f"/cds-services/{SERVICE_FOR_HOOK[request['hook']]}", json=request).get_json()["cards"]
        for card in cards:
            for rule_id in card.get("extension", {}).get("her2cds", {}).get("rules", []):
                names = index.setdefault(rule_id, [])
                if path.stem not in names:
                    names.append(path.stem)
    return index


def _title(rule: dict) -> str:
    for key in ("title", "label", "name", "code", "reason"):
        if isinstance(rule.get(key), str):
            return f"{rule['nct']} {rule[key]}" if key == "name" and rule.get("nct") else rule[key]
    text = rule.get("text")
    if isinstance(text, list):
        text = "".join(part["text"] for part in text)
    return text if isinstance(text, str) else rule["id"]


def entries(knowledge: Knowledge) -> list[Entry]:
    """Every rule of the rule book, in the order of the knowledge files."""
    book = knowledge.rules
    out = []
    for (name, key), kind in RULE_LISTS.items():
        for rule in book.of(name, key):
            sources = [src for _, src in iter_sources(rule)]
            out.append(Entry(rule["id"], kind, name, _title(rule), rule, sources, used_by=book.threshold_users.get(rule["id"], [])))
    return out


def other_citations(knowledge: Knowledge, items: list[Entry]) -> list[dict[str, Any]]:
    """Every citation in the knowledge files outside the rules (documents, drugs, test cards ...)."""
    shown = {(s["file"], s["section"], s["quote"]) for item in items for s in item.sources}
    extra = []
    for name, doc in knowledge.raw.items():
        for where, src in iter_sources(doc):
            if (src["file"], src["section"], src["quote"]) not in shown:
                shown.add((src["file"], src["section"], src["quote"]))
                extra.append({"where": f"cards/{name}.yaml {where}", "source": src})
    return extra


def build(knowledge: Knowledge, progress: Callable[[str], None] | None = None) -> list[Entry]:
    index = fixture_index(progress)
    items = entries(knowledge)
    for item in items:
        item.fixtures = index.get(item.id, [])
        if item.kind == "threshold":  # exercised through the rules that use it
            item.fixtures = sorted({f for user in item.used_by for f in index.get(user, [])})
    return items


def render_json(knowledge: Knowledge, items: list[Entry]) -> str:
    body = {"knowledgeVersion": knowledge.version_label,
            "sources": [{k: d[k] for k in ("file", "key", "label", "date_label")} for d in knowledge.documents.values()],
            "rules": [item.as_json() for item in items],
            "otherCitations": other_citations(knowledge, items)}
    return json.dumps(body, indent=2, ensure_ascii=False)


def condition_text(node: Any) -> str:
    """A condition in one line: `ihc_score eq 3+ and (ihc_percent_cells gt 50)`."""
    if not node:
        return "always"
    if isinstance(node, list):
        return " and ".join(condition_text(c) for c in node)
    parts = []
    for key, value in node.items():
        if key in ("label", "source", "sources"):
            continue
        if key == "all":
            parts.append(f"({condition_text(value)})")
        elif key == "any":
            parts.append("(" + " or ".join(condition_text(c) for c in value) + ")")
        elif key == "not":
            parts.append(f"not ({condition_text(value)})")
        elif key == "unknown":
            parts.append(f"cannot tell ({condition_text(value)})")
        elif key == "rule":
            parts.append(f"[{value}]")
        elif key == "undecided":
            parts.append(f"cannot be applied: {value}")
        else:
            tests = [f"{op} {json.dumps(ref, ensure_ascii=False)}" for op, ref in value.items()
                     if op not in ("note", "missing_note", "if_missing")]
            missing = f" (if missing: {value['if_missing']})" if value.get("if_missing") else ""
            parts.append(f"{key} " + ", ".join(tests) + missing)
    return " and ".join(parts)


def _lines(item: Entry) -> list[str]:
    rule = item.rule
    lines = [f"scope: {SCOPE_NAMES.get(item.scope, item.scope)}; file: cards/{item.file}.yaml"]
    if rule.get("function"):
        lines.append(f"named function `{rule['function']}` with {json.dumps(rule.get('params'), ensure_ascii=False)}")
    if "arms" in rule:
        lines += [f"arm: {arm['label']} [{condition_text(arm['all'])}]" for arm in rule["arms"]]
    elif not rule.get("function") and item.kind != "threshold":
        lines.append(f"when: {condition_text(rule.get('when'))}")
    if rule.get("unless"):
        lines.append(f"unless: {condition_text(rule['unless'])}")
    for key in ("status", "code", "value", "cutoff", "higher_group", "suggestion", "tests", "regimen", "status_words"):
        if rule.get(key) not in (None, []):
            lines.append(f"{key}: {rule[key] if not isinstance(rule[key], list) else ', '.join(map(str, rule[key]))}")
    if isinstance(rule.get("text"), str) and rule["text"] != item.title:
        lines.append(f"text: {rule['text']}")
    lines += [e["text"] for e in rule.get("evidence") or []]
    if rule.get("policy"):
        lines.append(f"service policy (not from the sources): {rule['policy']}")
    if item.used_by:
        lines.append("used by: " + ", ".join(item.used_by))
    return lines


def facts_glossary() -> list[tuple[str, str]]:
    """The vocabulary of conditions and templates (cds_service/rules/vocabulary.py)."""
    return list(VOCABULARY.items()) + [(f"{name}.…", text) for name, text in NAMESPACES.items()]


def _cite(src: dict) -> str:
    return f"{src['file']}, {src['section']}: “{src['quote']}”"


def render_markdown(knowledge: Knowledge, items: list[Entry]) -> str:
    lines = ["# HER2 CDS knowledge report", "",
             f"Knowledge version **{knowledge.version_label}** (content hash of the files in `cards/`).", "",
             "Sources: " + "; ".join(f"`{d['file']}` {d['label']} ({d['date_label']})" for d in knowledge.documents.values()),
             "", "Each rule: its id (as on the cards, `extension.her2cds.rules`), its condition as the service applies it, "
             "its verbatim source quotes, and the fixtures whose cards name it (computed by running every fixture).", ""]
    kind = None
    for item in items:
        if item.kind != kind:
            kind = item.kind
            lines += [f"## {SECTIONS[kind]}", ""]
        lines.append(f"### `{item.id}` {item.title}")
        lines += [f"- {r}" for r in _lines(item)]
        lines += [f"- Source: {_cite(s)}" for s in item.sources]
        lines.append("- Exercised by: " + (", ".join(item.fixtures) if item.fixtures else "_no fixture scenario_"))
        lines.append("")
    lines += ["## Other cited statements", ""]
    lines += [f"- {c['where']}: {_cite(c['source'])}" for c in other_citations(knowledge, items)]
    lines += ["", "## Facts a condition can test", ""]
    lines += [f"- `{name}`: {text}" for name, text in facts_glossary()]
    return "\n".join(lines) + "\n"


def render_html(knowledge: Knowledge, items: list[Entry]) -> str:
    e = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>HER2 CDS knowledge report</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}h3{margin-bottom:.2em}"
             ".src{color:#444}.none{color:#a00}code{background:#eee}</style></head><body>",
             "<h1>HER2 CDS knowledge report</h1>",
             f"<p>Knowledge version <b>{e(knowledge.version_label)}</b>.</p><ul>"]
    parts += [f"<li><code>{e(d['file'])}</code> {e(d['label'])} ({e(d['date_label'])})</li>" for d in knowledge.documents.values()]
    parts.append("</ul>")
    kind = None
    for item in items:
        if item.kind != kind:
            kind = item.kind
            parts.append(f"<h2>{e(SECTIONS[kind])}</h2>")
        parts.append(f"<h3 id='{e(item.id)}'><code>{e(item.id)}</code> {e(item.title)}</h3><ul>")
        parts += [f"<li>{e(r)}</li>" for r in _lines(item)]
        parts += [f"<li class='src'>Source: {e(_cite(s))}</li>" for s in item.sources]
        fixtures = ", ".join(e(s) for s in item.fixtures) if item.fixtures else "<span class='none'>no fixture scenario</span>"
        parts.append(f"<li>Exercised by: {fixtures}</li></ul>")
    parts.append("<h2>Other cited statements</h2><ul>")
    parts += [f"<li class='src'>{e(c['where'])}: {e(_cite(c['source']))}</li>" for c in other_citations(knowledge, items)]
    parts.append("</ul><h2>Facts a condition can test</h2><ul>")
    parts += [f"<li><code>{e(name)}</code>: {e(text)}</li>" for name, text in facts_glossary()]
    parts.append("</ul></body></html>")
    return "\n".join(parts)
