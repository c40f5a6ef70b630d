"""Assessment -> CDS Hooks cards (summary, markdown detail, source, links, suggestions)."""
from __future__ import annotations

import re
import uuid
from typing import Any

from .assessment import Assessment, LabRequest, TestDue, TherapyOption
from .facts import NotUsedResult, Result, UnscoredResult
from .knowledge import Knowledge
from .rules.conditions import MET, NOT_MET
from .rules.vocabulary import NOT_TESTED_WITH_RESULTS, UNSCORED_LABEL, not_used_name
from .rules.vocabulary import date_text as _date

TOPIC_SYSTEM = "urn:her2-cds:topic"
TOPIC_DISPLAY = {
    "her2-status": "HER2 status", "her2-therapy": "HER2-targeted therapy", "her2-trials": "HER2 clinical trials",
    "her2-testing": "HER2 testing", "order-warning": "Order warning", "out-of-scope": "Outside the HER2 rules",
}
DOCUMENT_KEY = {"colorectal": "crc", "gastric": "gc"}
TUMOUR_LABEL = {"colorectal": "colorectal", "gastric": "gastric/GEJ"}
STATUS_LABEL = {"positive": "HER2-positive", "equivocal": "HER2 equivocal", "low": "HER2-low",
                "negative": "HER2-negative", "indeterminate": "HER2 indeterminate", "not-tested": "HER2 not tested"}


SUMMARY_MAX_CHARS = 140  # CDS Hooks 2.0: a card summary is "<140 characters"
SUMMARY_CUT = 136  # a longer summary is cut here and ends with "…"
SUMMARY_RESULTS = 2  # results named in a status card's summary


def _summary(text: str) -> str:
    """The text, or cut at the last word boundary before SUMMARY_CUT and ended with "…"."""
    if len(text) < SUMMARY_MAX_CHARS:
        return text
    return text[:SUMMARY_CUT + 1].rsplit(" ", 1)[0].rstrip(" ,;:(") + "…"


LOWER_WORD = re.compile(r"[a-z][a-z-]*\b")


def _sentence(text: str) -> str:
    """A detail line starts with a capital when its first word is all lower case (a generic drug name),
    never changing a name the order wrote with capitals (a regimen abbreviation)."""
    return text[:1].upper() + text[1:] if LOWER_WORD.match(text) else text


def describe(kind: str, r: Result) -> str:
    """A result in words, for the status card."""
    v = r.values
    if kind == "ihc":
        pct = f" in {v['percent_cells']:g}% of tumour cells" if "percent_cells" in v else " (% of cells not reported)"
        spec = f", {r.specimen} specimen" if r.specimen else ", specimen type not recorded"
        return f"IHC {v['score']}{pct if v['score'] not in ('0', 'indeterminate') else ''}{spec}"
    if kind == "ish":
        parts = []
        if "ratio" in v:
            parts.append(f"HER2/CEP17 ratio {v['ratio']:g}")
        if "copies_per_cell" in v:
            parts.append(f"{v['copies_per_cell']:g} HER2 copies per cell")
        if "percent_cells_amplified" in v:
            parts.append(f"{v['percent_cells_amplified']:g}% of cells amplified")
        method = f" ({v['method']})" if v.get("method") else ""
        return "ISH" + method + ": " + ", ".join(parts)
    if kind in ("ngs_tissue", "ngs_plasma", "qpcr"):
        label = {"ngs_tissue": "Tissue NGS", "ngs_plasma": "Plasma (ctDNA) NGS", "qpcr": "Tissue qPCR"}[kind]
        amp = {True: "ERBB2 amplified", False: "no ERBB2 amplification", None: "ERBB2 copy number"}[v.get("amplified")]
        if "copy_number" in v:  # "ERBB2 copy number 12", never "ERBB2 copy number, copy number 12"
            amp += f"{' ' if v.get('amplified') is None else ', copy number '}{v['copy_number']:g}"
        return f"{label}: {amp}"
    if kind == "apcn":
        return f"Adjusted plasma copy number (ApCN) {v['value']:g}"
    if kind == "ctdna_fraction":
        return f"ctDNA fraction {v['percent']:g}%"
    return kind


def describe_unscored(u: UnscoredResult) -> str:
    """A result on file without a usable value, in a few words: kind, date, the laboratory's call, what it lacks."""
    call = f" (laboratory: {u.interpretation})" if u.interpretation else ""
    return f"{UNSCORED_LABEL[u.kind]} {_date(u.when)}{call}: {u.lacks_text}"


def _reported(u: UnscoredResult | NotUsedResult) -> str:
    return f", reported '{u.reported}'" if u.reported else ""


def unscored_line(u: UnscoredResult, replaced: bool) -> str:
    """A status-card line: the test as the laboratory named it, date, resource, what it lacks, its call."""
    line = f"- {u.test} — {_date(u.when)}{_reported(u)}: {u.lacks_text}"
    if u.interpretation:
        line += f"; the laboratory's own call: **{u.interpretation}**"
    if u.derived_from:  # named by count, never by record id (decision 6.10)
        line += f"; derived from {len(u.derived_from)} other result(s) on file"
    return line + ("; a later scored result of its kind is used" if replaced else "")


def not_used_line(n: NotUsedResult) -> str:
    return f"- {n.test} — {_date(n.when)}{_reported(n)}: not used: {n.reason_text}"


class CardBuilder:
    """Builds cards with the knowledge's wording and citations."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.k = knowledge

    def source(self, topic: str, file: str, label: str | None = None) -> dict:
        doc = self.k.document(file)
        src: dict[str, Any] = {
            "label": f"{label or doc['label']} · knowledge {self.k.version_label}",
            "topic": {"system": TOPIC_SYSTEM, "code": topic, "display": TOPIC_DISPLAY[topic]},
        }
        if doc.get("url"):
            src["url"] = doc["url"]
        return src

    def card(self, topic: str, summary: str, detail: str, indicator: str = "info", *,
             file: str, rules: list[str], label: str | None = None, extension: dict | None = None) -> dict:
        """A card; `rules`: the ids of the knowledge rules that produced it (extension.her2cds.rules)."""
        card: dict[str, Any] = {
            "uuid": str(uuid.uuid4()),
            "summary": _summary(summary),
            "indicator": indicator,
            "detail": detail + f"\n\n_Knowledge version {self.k.version_label}._",
            "source": self.source(topic, file, label),
            "extension": {"her2cds": {**(extension or {}), "rules": list(dict.fromkeys(rules))}},
        }
        return card

    def file_for(self, tumour_type: str) -> str:
        return self.k.document_for(DOCUMENT_KEY[tumour_type])["file"]

    def cite(self, file: str, section: str) -> str:
        doc = self.k.document(file)
        return f"{doc['label']}, {section}"

    def cite_rule(self, rule: dict) -> str:
        """The citations of a rule (its `source` and `sources`), each once."""
        sources = ([rule["source"]] if rule.get("source") else []) + list(rule.get("sources") or [])
        return "; ".join(dict.fromkeys(self.cite(s["file"], s["section"]) for s in sources))

    def safety_lines(self, statements: list[dict]) -> list[str]:
        return [f"\n**Safety**: {s['text']} ({self.cite_rule(s)})" for s in statements]

    # ------------------------------------------------------------ status
    def status_card(self, a: Assessment, both_types: bool) -> dict:
        file = self.file_for(a.tumour_type)
        met = ", ".join(a.met_names) or "none"
        summary = f"{STATUS_LABEL[a.status]} ({TUMOUR_LABEL[a.tumour_type]})" + "".join(f", {h}" for h in a.headline)
        if a.status == "positive":
            summary += f": {met} met"
        elif a.results and a.open_unscored:  # the result without its value is named too, with the laboratory's call
            u = a.open_unscored[0]
            call = f"(laboratory: {u.interpretation})" if u.interpretation else f"({u.lacks_text})"  # what it lacks
            summary += f": {describe(*a.results[0])}; {UNSCORED_LABEL[u.kind]} {_date(u.when)} {call}"
        elif a.results:
            summary += ": " + "; ".join(describe(kind, r) for kind, r in a.results[:SUMMARY_RESULTS])
        elif a.unscored:
            summary += ": " + describe_unscored(a.unscored[0])
        elif a.not_used:  # never "not tested" with a HER2 result on file (6.11): every one is named
            summary = (f"No tumour HER2 test usable for the criteria ({TUMOUR_LABEL[a.tumour_type]}); on file, not used: "
                       + ", ".join(not_used_name(n) for n in a.not_used))
        elif a.missing:
            summary += f": {a.missing[0]}"
        label = NOT_TESTED_WITH_RESULTS if a.status == "not-tested" and a.not_used else STATUS_LABEL[a.status]
        lines = [f"**HER2 status for {TUMOUR_LABEL[a.tumour_type]} cancer: {label}**"
                 + (f" (basis: {', '.join(a.basis)})" if a.basis else "")]
        if both_types:
            lines.append("Both colorectal and gastric/GEJ cancer are on file: each is assessed with its own rules.")
        lines.append("\n**Results used** (most recent of each kind)")
        none = "- none with a usable score or ratio (see below)" if a.unscored or a.not_used else "- none on file"
        lines += [f"- {describe(kind, r)} — {_date(r.when)}" for kind, r in a.results] or [none]
        if a.ras is not None and (a.ras["lines"] or a.ras["mutant"]):
            lines += [f"- RAS: {x}" for x in a.ras["mutant"] + a.ras["lines"]]
        if a.unscored:
            lines.append("\n**On file, without a usable value** (the laboratory can complete them; not repeated)")
            lines += [unscored_line(u, u not in a.open_unscored) for u in a.unscored]
        if a.not_used:
            lines.append("\n**On file, not used** (no criterion of the sources; the status does not change)")
            lines += [not_used_line(n) for n in a.not_used]
        lines.append("\n**Criteria**")
        for c in a.criteria:
            if c.outcome.result == MET:
                text = f"- {c.name}: **met** — {c.outcome.arm}"
                if c.outcome.caveats:
                    text += " (" + "; ".join(c.outcome.caveats) + ")"
            elif c.outcome.result == NOT_MET:
                text = f"- {c.name}: not met"
            else:
                text = f"- {c.name}: cannot be applied — " + "; ".join(c.outcome.missing)
            lines.append(text)
        for title, items in (("Copy number against CRC Table 2 cut-offs (same kind of measurement only)", a.copy_number),
                             ("Discordant or contradictory results", a.contradictions), ("Missing", a.missing),
                             ("Notes", a.findings)):
            if items:
                lines.append(f"\n**{title}**")
                lines += [f"- {x}" for x in items]
        notes = [self.k.rules.rules[n] for n in dict.fromkeys(a.notes)]
        if notes:
            lines.append("\n**Evidence**")
            lines += [f"- {n['text']} ({self.cite_rule(n)})" for n in notes]
        if a.therapy_gaps:
            lines.append("\n**Therapy cards not shown**")
            lines += [f"- {x}" for x in a.therapy_gaps]
        criteria = self.k.rules.criteria(a.tumour_type)
        lines.append("\nCriteria: " + "; ".join(f"{c['name']} ({c['source']['section']})" for c in criteria) + ".")
        ext = {"tumorType": a.tumour_type, "status": a.status, "basis": a.basis,
               "criteriaMet": a.met, "criteriaNotMet": a.not_met, "criteriaUnknown": a.unknown}
        return self.card("her2-status", summary, "\n".join(lines), file=file, extension=ext, rules=a.status_rules)

    # ------------------------------------------------------------ therapy
    def therapy_card(self, a: Assessment, option: TherapyOption) -> dict:
        therapy, notes = option.therapy, option.notes
        file = self.file_for(a.tumour_type)
        lines = [f"**{therapy['title']}** for {STATUS_LABEL[a.status]} {TUMOUR_LABEL[a.tumour_type]} cancer."]
        lines += option.lead
        lines.append("\n**Evidence**")
        lines += [f"- {e['text']} ({self.cite(e['source']['file'], e['source']['section'])})" for e in therapy["evidence"]]
        lines.append(f"\n**Population studied**: {therapy['population']['text']}")
        lines += self.safety_lines(option.safety)
        if notes:
            lines.append("\n**For this patient**")
            lines += [f"- {n}" for n in notes]
        summary = f"Option: {therapy['title']}"
        return self.card("her2-therapy", summary, "\n".join(lines), file=file,
                         label=f"{self.k.document(file)['label']}: {therapy['title']}",
                         extension={"regimen": therapy["regimen"]}, rules=option.rules)

    # ------------------------------------------------------------ trials
    def trials_card(self, a: Assessment) -> dict:
        file = self.file_for(a.tumour_type)
        doc = self.k.document(file)
        overlay = a.overlay
        if overlay is None:
            lines = [f"Trials named in the {TUMOUR_LABEL[a.tumour_type]} source whose HER2 criterion this patient meets. "
                     f"Status as reported in the source ({doc['date_label']}); check the registry for current status."]
        else:
            lines = [f"Trials named in the {TUMOUR_LABEL[a.tumour_type]} source whose HER2 criterion this patient meets "
                     f"and that ClinicalTrials.gov lists as recruiting or not yet recruiting (registry status on {overlay.date})."]
            if overlay.stale:
                lines.append(f"**The registry status is {overlay.age_days:.0f} days old** (older than "
                             f"{overlay.max_age_days:g} days): refresh it (`her2-cds trials refresh`) or check the registry.")
        links = []
        for m in a.trials:
            t = m.trial
            if m.registry is not None:
                status = f"registry status on {overlay.date}: {m.registry['overallStatus']}"
                if m.registry.get("lastUpdatePostDate"):
                    status += f" (record last updated {m.registry['lastUpdatePostDate']})"
                link_status = f"{m.registry['overallStatus']}, registry {overlay.date}"
            else:
                src_doc = self.k.document(t["source"]["file"])
                status = t["status_words"]
                if t["status_class"] == "ongoing":
                    status = f"{status} per source; recruiting status not stated in source"
                status = f"{status}, as reported in {src_doc['label']}, {src_doc['date_label']}; check the registry"
                link_status = f"{t['status_words']}, as reported in source"
            extra = ("; " + "; ".join(n.rstrip(".") for n in m.notes)) if m.notes else ""
            criterion = t["her2"]["text"] if t["her2"]["given_in_source"] else "not given in the source"
            lines.append(f"- **{t['nct']}** {t['name']} (phase {t['phase']}): {t['regimen']}. HER2 criterion: "
                         f"{criterion} — met by {m.arm}. Status: {status}{extra}.")
            links.append({"label": _summary(f"{t['nct']} {t['name']} ({link_status})"),
                          "url": f"https://clinicaltrials.gov/study/{t['nct']}", "type": "absolute"})
        if a.trials_not_offered:
            lines.append("\n**Not offered** (the patient falls outside the population the source describes):")
            lines += [f"- {t['nct']} {t['name']}: {why}" for t, why in a.trials_not_offered]
        if a.trials_closed:
            lines.append("\n**Matching but not open in the registry:**")
            lines += [f"- {t['nct']} {t['name']}: {why}" for t, why in a.trials_closed]
        if a.trials_unassessable:
            lines.append("\n**Could not be assessed** (missing data):")
            lines += [f"- {t['nct']} {t['name']}: " + "; ".join(missing) for t, missing in a.trials_unassessable]
        if overlay is None:
            lines.append("\nTrials the source lists as active-not-recruiting, or names without any status, are not offered.")
        when = f"registry {overlay.date}" + (", STALE" if overlay.stale else "") if overlay else "source status, check registry"
        card = self.card("her2-trials", f"{len(a.trials)} HER2 trial(s) match ({TUMOUR_LABEL[a.tumour_type]}; {when})",
                         "\n".join(lines), file=file, extension={"trials": [m.trial["nct"] for m in a.trials]},
                         rules=a.trial_rules)
        card["links"] = links
        return card

    # ------------------------------------------------------------ testing
    def service_request(self, test_id: str, patient_id: str, reason: str) -> dict:
        test = self.k.testing["tests"][test_id]
        resource: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "order",
            "code": {"coding": [test["code"]], "text": test["label"]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "reasonCode": [{"text": reason}],
        }
        if test.get("note"):
            resource["note"] = [{"text": test["note"]}]
        return resource

    def communication_request(self, request: LabRequest, patient_id: str) -> dict:
        """A draft request to the laboratory for the value a result on file lacks."""
        u = request.result
        text = (f"HER2 result on file: {u.test} of {_date(u.when)}{_reported(u)}: {u.lacks_text}. "
                f"Please report {request.ask}.")
        return {
            "resourceType": "CommunicationRequest",
            "status": "draft",
            "subject": {"reference": f"Patient/{patient_id}"},
            "about": [{"reference": u.ref.split("#")[0]}],  # a contained result: its container
            "payload": [{"contentString": text}],
            "reasonCode": [{"text": request.why}],
        }

    def laboratory_suggestions(self, requests: list[LabRequest], patient_id: str) -> list[dict]:
        return [{
            "label": _summary(f"Ask the laboratory: {r.result.test} of {_date(r.result.when)}"),
            "uuid": str(uuid.uuid4()),
            "actions": [{"type": "create",
                         "description": f"Create a draft request to the laboratory about {r.result.test} of {_date(r.result.when)}",
                         "resource": self.communication_request(r, patient_id)}],
        } for r in requests]

    def own_sources(self, sources: list[dict], tumour: str | None) -> list[dict]:
        """The sources of the tumour type a card is for, when it has any (a shared rule cites both)."""
        own = [s for s in sources if tumour and s["file"] == self.file_for(tumour)]
        return own or sources

    def laboratory_card(self, due: TestDue, patient_id: str, indicator: str = "info") -> dict:
        """A her2-testing card whose suggestion asks the laboratory (no test is ordered)."""
        sug = self.k.suggestion(due.suggestion_id)
        requests = due.requests
        if len(requests) == 1:
            summary = f"{describe_unscored(requests[0].result)}: ask the laboratory"
        else:
            summary = f"{len(requests)} HER2 results on file lack a score, ratio or specimen: ask the laboratory"
        lines = [f"**{sug['title']}**", "", due.detail, ""]
        for r in requests:
            u = r.result
            call = f"; the laboratory's own call: {u.interpretation}" if u.interpretation else ""
            lines.append(f"- **{u.test}** — {_date(u.when)}{_reported(u)}: {u.lacks_text}{call}. "
                         f"Ask for {r.ask}. {r.why}")
        sources = self.own_sources([src for r in requests for src in ([r.rule["source"]] if r.rule.get("source") else r.rule["sources"])],
                                   due.tumour)
        cites = list(dict.fromkeys(self.cite(src["file"], src["section"]) for src in sources))
        lines += ["", sug["reason"], "\nSources: " + "; ".join(cites)]
        card = self.card("her2-testing", summary, "\n".join(lines), indicator, file=sources[0]["file"], rules=due.rules)
        card["suggestions"] = self.laboratory_suggestions(requests, patient_id)
        card["selectionBehavior"] = "any"
        return card

    def testing_card(self, due: TestDue, patient_id: str, indicator: str = "info", context: str | None = None) -> dict:
        sug = self.k.suggestion(due.suggestion_id)
        if sug["laboratory"]:
            return self.laboratory_card(due, patient_id, indicator)
        sources = self.own_sources(sug["sources"], due.tumour)
        file = sources[0]["file"]
        lines = [f"**{sug['title']}**", "", _sentence(due.detail), "", sug["reason"]]
        if context:
            lines += ["", context]
        lines += self.safety_lines(due.safety)
        lines.append("\nSources: " + "; ".join(self.cite(s["file"], s["section"]) for s in sources))
        card = self.card("her2-testing", sug["title"], "\n".join(lines), indicator, file=file, rules=due.rules,
                         extension={"warning": due.warning} if due.warning else None)
        card["suggestions"] = [{
            "label": f"Order {self.k.testing['tests'][t]['label']}",
            "uuid": str(uuid.uuid4()),
            "actions": [{"type": "create", "description": f"Create a draft order: {self.k.testing['tests'][t]['label']}",
                         "resource": self.service_request(t, patient_id, sug["reason"])}],
        } for t in sug["tests"]]
        card["selectionBehavior"] = "any"
        return card

    # ------------------------------------------------------------ order warnings
    def warning_card(self, w, patient_id: str) -> dict:
        """An order-warning card: evidence, override reasons, delete (and test) suggestions."""
        lines = [f"**{w.title}**", ""] + [_sentence(line) for line in w.detail]
        lines += [f"- Ask the laboratory for {r.ask} ({UNSCORED_LABEL[r.result.kind]} of {_date(r.result.when)})." for r in w.requests]
        lines += ["", "**Evidence**"]
        lines += [f"- {e['text']} ({self.cite(e['source']['file'], e['source']['section'])})" for e in w.evidence]
        lines += self.safety_lines(w.safety)
        orders = list(dict.fromkeys((u.ref, u.text) for u in w.orders))
        lines.append("\nOrder(s): " + ", ".join(u.text for u in w.orders))
        file = w.evidence[0]["source"]["file"]
        card = self.card("order-warning", w.title, "\n".join(lines), w.indicator, file=file,
                         extension={"warning": w.code}, rules=w.rules)
        if w.indicator == "info":
            return card
        suggestions = [{
            "label": f"Remove the draft order: {text}", "uuid": str(uuid.uuid4()), "isRecommended": False,
            "actions": [{"type": "delete", "description": f"Delete the draft order {text}", "resourceId": ref}],
        } for ref, text in orders]
        for test_id in w.tests:
            test = self.k.testing["tests"][test_id]
            suggestions.append({
                "label": f"Order {test['label']}", "uuid": str(uuid.uuid4()),
                "actions": [{"type": "create", "description": f"Create a draft order: {test['label']}",
                             "resource": self.service_request(test_id, patient_id, w.test_reason)}],
            })
        card["suggestions"] = suggestions + self.laboratory_suggestions(w.requests, patient_id)
        card["selectionBehavior"] = "any"
        card["overrideReasons"] = [{"system": "urn:her2-cds:override-reason", **r}
                                   for r in self.k.raw["warnings"]["override_reasons"]]
        return card

    # ------------------------------------------------------------ out of scope
    def out_of_scope_card(self, other: list[str], conditions_available: bool, unreadable: list[str] | None = None) -> dict:
        if unreadable:
            found = (f"{len(unreadable)} diagnosis record(s) could not be read, so the tumour type is unknown: "
                     + "; ".join(unreadable) + "." + (f" Readable diagnoses: {'; '.join(dict.fromkeys(other))}." if other else ""))
            summary = "HER2 rules not applied: diagnosis records could not be read"
        elif not conditions_available:
            found = "The patient's diagnoses could not be read (no Condition data from prefetch or the FHIR server)."
            summary = "HER2 rules not applied: diagnoses could not be read"
        elif other:
            found = "Diagnoses on file: " + "; ".join(dict.fromkeys(other)) + "."
            summary = "HER2 rules not applied: no colorectal or gastric/GEJ cancer on file"
        else:
            found = "No diagnosis is on file."
            summary = "HER2 rules not applied: no diagnosis on file"
        scope = self.k.rules.of("statements", "scope")
        detail = "\n\n".join([found] + [rule["text"] for rule in scope])
        return self.card("out-of-scope", summary, detail, file=self.file_for("colorectal"), label="HER2 CDS service scope",
                         rules=[rule["id"] for rule in scope])
