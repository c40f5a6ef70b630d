"""`her2-cds knowledge report`: every rule with its source quote and the fixtures that exercise it.

The scenario column is computed: each fixture request is run through the service in-process and
the cards it returns are indexed by criterion, regimen, trial, warning and test suggestion.
"""
from __future__ import annotations

import html
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .discovery import SERVICE_FOR_HOOK
from .knowledge import Knowledge, default_fixtures_dir
from .settings import Settings


@dataclass
class Entry:
    section: str
    key: str
    title: str
    rule: list[str]
    sources: list[dict]
    scenarios: list[str] = field(default_factory=list)


def scenario_index(knowledge: Knowledge, progress: Callable[[str], None] | None = None) -> dict[str, list[str]]:
    """Rule key -> fixture scenarios whose cards show that rule at work. `progress` hears one line per fixture."""
    from .app import create_app

    tmp = Path(tempfile.mkdtemp(prefix="her2cds-report-"))
    client = create_app(Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp}/report.sqlite3",
                                           "HER2CDS_LOG_LEVEL": "ERROR",
                                           "HER2CDS_TRIAL_OVERLAY": str(tmp / "none.json")})).test_client()
    index: dict[str, list[str]] = {}
    titles = {s["title"]: s["id"] for s in knowledge.testing["suggestions"]}

    def add(key: str, text: str) -> None:
        index.setdefault(key, [])
        if text not in index[key]:
            index[key].append(text)

    paths = sorted((default_fixtures_dir() / "requests").glob("*.json"))
    for number, path in enumerate(paths, 1):
        if progress:
            progress(f"running fixture {number}/{len(paths)}: {path.stem}")
        request = json.loads(path.read_text(encoding="utf-8"))
        cards = client.post(f"/cds-services/{SERVICE_FOR_HOOK[request['hook']]}", json=request).get_json()["cards"]
        name = path.stem
        for card in cards:
            ext = (card.get("extension") or {}).get("her2cds", {})
            topic = card["source"]["topic"]["code"]
            if topic == "her2-status":
                for cid in ext.get("criteriaMet", []):
                    add(f"criterion:{cid}", f"{name} (met)")
                for cid in ext.get("criteriaNotMet", []):
                    add(f"criterion:{cid}", f"{name} (not met)")
                add(f"status:{ext['tumorType']}:{ext['status']}", name)
                definition = {"low": "her2_low", "equivocal": "equivocal"}.get(ext["status"])
                if definition:
                    add(f"definition:{ext['tumorType']}:{definition}", name)
                if "ToGA showed no survival benefit" in card["detail"]:
                    add("definition:gastric:ish_positive_low_ihc", name)
                if "RAS:" in card["detail"] or "RAS status" in card["detail"]:
                    add("definition:ras", name)
                for cut in knowledge.cutoffs["cutoffs"]:
                    if f"{cut['cutoff']:g} ({cut['trial']}" in card["detail"]:
                        add(f"cutoff:{cut['measurement']}:{cut['cutoff']}", name)
                for note in knowledge.notes.values():
                    if note["text"] in card["detail"]:
                        add(f"note:{note['id']}", name)
            elif topic == "her2-therapy":
                add(f"therapy:{'+'.join(ext['regimen'])}", name)
            elif topic == "her2-trials":
                for nct in ext.get("trials", []):
                    add(f"trial:{nct}", name)
            elif topic == "order-warning":
                add(f"warning:{ext['warning']}", name)
            elif topic == "her2-testing" and card["summary"] in titles:
                add(f"test:{titles[card['summary']]}", name)
            elif topic == "out-of-scope":
                add("scope", name)
    return index


def _arms(arms: list[dict]) -> list[str]:
    lines = []
    for arm in arms:
        conditions = ", ".join(f"{k} {' '.join(f'{op} {v}' for op, v in spec.items() if op not in ('note', 'missing_note'))}"
                               for k, spec in arm["all"].items())
        lines.append(f"{arm['label']} [{conditions}]")
    return lines


def entries(knowledge: Knowledge) -> list[Entry]:
    """Every criterion, definition, cut-off, therapy, note, warning, test and trial."""
    out: list[Entry] = []
    for doc in (knowledge.crc, knowledge.gastric):
        ttype = doc["tumor_type"]
        for c in doc["criteria"]:
            arm_sources = [a["source"] for a in c["arms"] if "source" in a]
            out.append(Entry(f"Criteria ({ttype})", f"criterion:{c['id']}", f"{c['id']}: {c['label']}",
                             [f"basis: {c['basis']}; met when any of:"] + _arms(c["arms"]), [c["source"], *arm_sources]))
        for key in ("her2_low", "equivocal", "ish_positive_low_ihc"):
            if key in doc:
                rule = doc[key]
                out.append(Entry(f"Definitions ({ttype})", f"definition:{ttype}:{key}", rule["label"], _arms(rule["arms"]),
                                 [rule["source"]]))
    ras = knowledge.crc["ras"]
    out.append(Entry("Definitions (colorectal)", "definition:ras", "RAS wild-type for the blood criterion",
                     [f"genes {', '.join(ras['genes'])}; codons {', '.join(map(str, ras['codons']))}; "
                      f"relative clonality ≤ {ras['relative_clonality_max_percent']}%"], [ras["source"], ras["formula_source"]]))
    for cut in knowledge.cutoffs["cutoffs"]:
        out.append(Entry("Copy-number cut-offs (CRC Table 2)", f"cutoff:{cut['measurement']}:{cut['cutoff']}",
                         f"{cut['trial']}: {knowledge.cutoffs['measurements'][cut['measurement']]} ≥ {cut['cutoff']:g}",
                         [cut["result"]], [cut["source"]]))
    for t in knowledge.therapies:
        out.append(Entry(f"Therapies ({t['tumor_type']})", f"therapy:{'+'.join(t['regimen'])}", t["title"],
                         [f"line: {t['line']}; evidence basis: {', '.join(t['basis'])}"] + [e["text"] for e in t["evidence"]]
                         + [t["population"]["text"]], [e["source"] for e in t["evidence"]] + [t["population"]["source"]]))
    for note in knowledge.notes.values():
        out.append(Entry("Evidence notes", f"note:{note['id']}", note["id"], [note["text"]], [note["source"]]))
    for w in knowledge.warnings.values():
        evidence = list(w.get("evidence", [])) + [t for a in w.get("agents", []) for t in a["trials"]]
        evidence += w.get("first_line", {}).get("evidence", [])
        out.append(Entry("Order warnings", f"warning:{w['code']}", f"{w['code']}: {w['title']}", [e["text"] for e in evidence],
                         [e["source"] for e in evidence]))
    for s in knowledge.testing["suggestions"]:
        out.append(Entry("Test suggestions", f"test:{s['id']}", s["title"], [s["reason"], "tests: " + ", ".join(s["tests"])],
                         s["sources"]))
    for t in knowledge.trials:
        out.append(Entry("Trials", f"trial:{t['nct']}", f"{t['nct']} {t['name']} (phase {t['phase']})",
                         [f"{t['regimen']}; tumour types: {', '.join(t['tumor_types'])}; line: {t['line']}",
                          f"status in source: {t['status_words']} ({t['status_class']})",
                          f"HER2 criterion: {t['her2']['text']}"], [t["source"]]))
    return out


def other_citations(knowledge: Knowledge, items: list[Entry]) -> list[Entry]:
    """Every citation in the knowledge files not already shown above, so nothing is left out."""
    shown = {(s["file"], s["section"], s["quote"]) for item in items for s in item.sources}
    from .knowledge import iter_sources

    extra = []
    for name, doc in knowledge.raw.items():
        for where, src in iter_sources(doc):
            if (src["file"], src["section"], src["quote"]) not in shown:
                shown.add((src["file"], src["section"], src["quote"]))
                extra.append(Entry("Other cited statements", f"{name}:{where}", f"{name}.yaml {where}", [], [src]))
    return extra


def build(knowledge: Knowledge, progress: Callable[[str], None] | None = None) -> list[Entry]:
    index = scenario_index(knowledge, progress)
    items = entries(knowledge)
    items += other_citations(knowledge, items)
    for item in items:
        item.scenarios = index.get(item.key, [])
    return items


def _cite(src: dict) -> str:
    return f"{src['file']}, {src['section']}: “{src['quote']}”"


def render_markdown(knowledge: Knowledge, items: list[Entry]) -> str:
    lines = ["# HER2 CDS knowledge report", "",
             f"Knowledge version **{knowledge.version_label}** (content hash of the files in `cards/`).", "",
             "Sources: " + "; ".join(f"`{d['file']}` {d['label']} ({d['date_label']})" for d in knowledge.documents.values()),
             "", "Each entry: the rule as the service applies it, its verbatim source quotes, and the fixture "
             "scenarios whose cards show it (computed by running every fixture).", ""]
    section = None
    for item in items:
        if item.section != section:
            section = item.section
            lines += [f"## {section}", ""]
        lines.append(f"### {item.title}")
        lines += [f"- {r}" for r in item.rule]
        lines += [f"- Source: {_cite(s)}" for s in item.sources]
        lines.append("- Exercised by: " + (", ".join(item.scenarios) if item.scenarios else "_no fixture scenario_"))
        lines.append("")
    return "\n".join(lines)


def render_html(knowledge: Knowledge, items: list[Entry]) -> str:
    e = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>HER2 CDS knowledge report</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}h3{margin-bottom:.2em}"
             ".src{color:#444}.none{color:#a00}</style></head><body>",
             "<h1>HER2 CDS knowledge report</h1>",
             f"<p>Knowledge version <b>{e(knowledge.version_label)}</b>.</p><ul>"]
    parts += [f"<li><code>{e(d['file'])}</code> {e(d['label'])} ({e(d['date_label'])})</li>" for d in knowledge.documents.values()]
    parts.append("</ul>")
    section = None
    for item in items:
        if item.section != section:
            section = item.section
            parts.append(f"<h2>{e(section)}</h2>")
        parts.append(f"<h3>{e(item.title)}</h3><ul>")
        parts += [f"<li>{e(r)}</li>" for r in item.rule]
        parts += [f"<li class='src'>Source: {e(_cite(s))}</li>" for s in item.sources]
        scen = ", ".join(e(s) for s in item.scenarios) if item.scenarios else "<span class='none'>no fixture scenario</span>"
        parts.append(f"<li>Exercised by: {scen}</li></ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
