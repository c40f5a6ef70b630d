"""Draft orders (order-select / order-sign) -> the warnings and test suggestions they trigger.

The rules are in cards/warnings.yaml and cards/testing.yaml; this module gives them the facts about
the draft orders and collects the rules that fire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .assessment import Assessment, LabRequest, TestDue, test_due
from .facts import Facts
from .fhir_read import ParsedResources, iter_resources, medication_order_as_request, validate_resource
from .knowledge import Knowledge
from .medications import DrugMatcher, MedicationUse, TestOrder, read_medication, read_test_order


@dataclass
class DraftOrders:
    """The orders a hook speaks about, reduced to drugs and HER2 tests."""

    medications: list[MedicationUse] = field(default_factory=list)
    tests: list[TestOrder] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_draft_orders(
    context: dict, selected_only: bool, parsed: ParsedResources, matcher: DrugMatcher, knowledge: Knowledge
) -> DraftOrders:
    """Orders in context.draftOrders (for order-select: the selected ones, when given)."""
    orders = DraftOrders()
    selections = context.get("selections")
    wanted = {s for s in selections if isinstance(s, str)} if selected_only and isinstance(selections, list) else None
    for resource in iter_resources(context.get("draftOrders")):  # dicts only
        ref = f"{resource.get('resourceType')}/{resource.get('id', '?')}"  # as the client names it
        if resource.get("resourceType") == "MedicationOrder":
            resource = medication_order_as_request(resource)
        rtype = resource.get("resourceType")
        if rtype not in ("MedicationRequest", "ServiceRequest"):
            continue
        if wanted and ref not in wanted:
            continue
        if isinstance(resource.get("status"), str) and resource["status"] in knowledge.drugs["statuses"]["draft_order_ignored"]:
            continue
        valid, problem = validate_resource(resource)
        if problem:  # read leniently anyway: clients send slightly-off orders (interface.md)
            orders.notes.append(problem.replace("; not used", "; read as far as possible"))
        resource = valid or resource
        if rtype == "MedicationRequest":
            use = read_medication(resource, parsed, matcher, ref)
            if use.drugs:
                orders.medications.append(use)
        else:
            test = read_test_order(resource, knowledge)
            if test:
                orders.tests.append(test)
    return orders


@dataclass
class Warning:
    """One warning card to build: code, the orders it concerns, evidence lines, tests to offer."""

    code: str
    indicator: str
    title: str
    orders: list[MedicationUse]
    evidence: list[dict]
    detail: list[str]
    tests: list[str] = field(default_factory=list)
    test_reason: str = ""
    rules: list[str] = field(default_factory=list)
    requests: list[LabRequest] = field(default_factory=list)  # what to ask the laboratory (settling rule)
    safety: list[dict] = field(default_factory=list)  # safety statements for the ordered drugs
    rule_lines: int = 0  # how many lines of `detail` the rule's own text makes (before the settling reason)


def _by_class(matcher: DrugMatcher, drugs: set[str]) -> dict[str, list[str]]:
    """Every drug class (drugs.yaml) -> the drugs of that class among `drugs`."""
    return {c: sorted(matcher.of_class(drugs, c)) for c in matcher.all_classes}


def order_facts(knowledge: Knowledge, matcher: DrugMatcher, facts: Facts, use: MedicationUse, orders: DraftOrders) -> dict[str, Any]:
    """The facts about one draft medication order (vocabulary: order_drugs, ordered.*, in_use.*)."""
    in_use_statuses = knowledge.drugs["statuses"]["in_use"]
    in_use = {d for u in facts.history if u.status in in_use_statuses for d in u.drugs}
    in_use |= {d for u in orders.medications for d in u.drugs}
    return {"order_drugs": sorted(use.drugs), "order_high_dose": use.high_dose,
            "ordered": _by_class(matcher, set(use.drugs)), "in_use": _by_class(matcher, in_use)}


def draft_facts(matcher: DrugMatcher, orders: DraftOrders) -> dict[str, Any]:
    """The facts about all draft orders together (vocabulary: draft_orders.*, draft_tests)."""
    texts = {c: [u.text for u in orders.medications if matcher.of_class(set(u.drugs), c)] for c in matcher.all_classes}
    texts["systemic"] = [u.text for u in orders.medications if matcher.is_systemic(set(u.drugs))]
    return {"draft_orders": texts, "draft_tests": list(dict.fromkeys(t.kind for t in orders.tests))}


def order_warnings(
    knowledge: Knowledge, matcher: DrugMatcher, facts: Facts, assessments: list[Assessment], orders: DraftOrders
) -> list[Warning]:
    """Every warning rule (cards/warnings.yaml) the draft orders fire, one card per (code, identical drugs)."""
    book = knowledge.rules
    found: dict[tuple, Warning] = {}
    for a in assessments:
        assert a.evaluation is not None
        for use in orders.medications:
            order_ev = a.evaluation.child(order_facts(knowledge, matcher, facts, use, orders))
            for rule in order_ev.fired(book.of("warnings", "warnings")):  # the evaluation keeps each rule to its scope
                ev = order_ev.child({"params": rule.get("params") or {}})  # the rule's own lists, for its text
                rules = ev.produced_by(rule)
                # One card per warning and drug set (or, grouped, one for all the orders forming it).
                key = (rule["code"], rule["indicator"]) if rule["group"] == "all-orders" else (rule["code"], use.drugs, rule["indicator"])
                safety = book.safety_for(use.drugs, a.tumour_type)
                if key in found:
                    merged = found[key]
                    merged.orders.append(use)
                    if rule["group"] == "all-orders":  # one card for all the orders: its text names every drug
                        drugs = {d for u in merged.orders for d in u.drugs}
                        every = ev.child({"order_drugs": sorted(drugs), "ordered": _by_class(matcher, drugs)})
                        lines = [text for line in rule["detail"] if (text := every.text(line))]
                        merged.detail[:merged.rule_lines] = lines
                        merged.rule_lines = len(lines)
                    merged.safety += [s for s in safety if s not in merged.safety]
                    merged.rules += [r for r in rules + [s["id"] for s in safety] if r not in merged.rules]
                    continue
                evidence = [e for e in rule["evidence"] if ev.holds(e.get("when"))]
                warning = Warning(rule["code"], rule["indicator"], ev.text(rule["title"]), [use], evidence,
                                  [text for line in rule["detail"] if (text := ev.text(line))], rules=rules)
                warning.rule_lines = len(warning.detail)
                settling = ev.first(book.of("testing", "settling")) if rule["settling_test"] else None
                if settling is not None:  # the test that would settle the HER2 question
                    warning.tests, warning.test_reason = list(settling["tests"]), settling["reason"]
                    warning.detail.append(settling["reason"])
                    warning.rules += ev.produced_by(settling)
                    if settling["laboratory"]:
                        warning.requests = list(a.lab_requests)
                        warning.rules += [r.rule["id"] for r in a.lab_requests if r.rule["id"] not in warning.rules]
                warning.safety = safety
                warning.rules += [s["id"] for s in safety]
                found[key] = warning
    return list(found.values())


def order_tests(matcher: DrugMatcher, assessments: list[Assessment], orders: DraftOrders) -> list[TestDue]:
    """Testing suggestions the draft orders make due (cards/testing.yaml, order_rules), each with its
    warning code and the safety statements of the drugs ordered (a warning on those orders)."""
    out: list[TestDue] = []
    drugs = {d for u in orders.medications for d in u.drugs}
    for a in assessments:
        assert a.evaluation is not None
        ev = a.evaluation.child(draft_facts(matcher, orders))
        safety = ev.book.safety_for(drugs, a.tumour_type)
        for rule in ev.fired(ev.book.of("testing", "order_rules")):
            due = test_due(a, ev, rule)
            due.warning, due.safety = rule["code"], safety
            due.rules += [s["id"] for s in safety if s["id"] not in due.rules]
            if due not in out:  # the same test due for both tumour types is one card
                out.append(due)
    return out
