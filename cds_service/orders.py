"""Draft orders (order-select / order-sign) -> the warnings and test suggestions they trigger.

The rules are in cards/warnings.yaml and cards/testing.yaml; this module decides which apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .assessment import Assessment
from .facts import Facts
from .fhir_read import ParsedResources, iter_resources, medication_order_as_request, validate_resource
from .knowledge import Knowledge
from .medications import DrugMatcher, MedicationUse, TestOrder, read_medication, read_test_order

IGNORED_ORDER_STATUS = {"entered-in-error", "cancelled", "revoked", "completed", "stopped"}


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
    for resource in iter_resources(context.get("draftOrders")):
        if not isinstance(resource, dict):
            continue
        ref = f"{resource.get('resourceType')}/{resource.get('id', '?')}"  # as the client names it
        if resource.get("resourceType") == "MedicationOrder":
            resource = medication_order_as_request(resource)
        rtype = resource.get("resourceType")
        if rtype not in ("MedicationRequest", "ServiceRequest"):
            continue
        if wanted and ref not in wanted:
            continue
        if isinstance(resource.get("status"), str) and resource["status"] in IGNORED_ORDER_STATUS:
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


def _her2(matcher: DrugMatcher, use: MedicationUse) -> set[str]:
    return matcher.of_class(set(use.drugs), "her2-directed")


def _settling_tests(a: Assessment) -> tuple[list[str], str]:
    """Which test would settle the HER2 question for this assessment."""
    v = a.view
    if a.status == "equivocal":
        return ["ish"], "IHC 2+ without ISH: ISH settles it."
    if a.tumour_type == "gastric" and a.results_predate_trastuzumab:
        return ["ihc", "plasma-ngs"], "The HER2 result predates trastuzumab: re-test (new biopsy or ctDNA)."
    if v["ihc_score"] is None and v["ish_ratio"] is None:
        return ["ihc", "ish"], "No tissue HER2 IHC/ISH result on file: IHC (with ISH if 2+) settles it."
    if v["ihc_score"] is None:
        return ["ihc"], "ISH without IHC: the IHC score is needed."
    return [], "The HER2 results on file do not meet a positive criterion; no further test is indicated by the source."


def order_warnings(
    knowledge: Knowledge, matcher: DrugMatcher, facts: Facts, assessments: list[Assessment], orders: DraftOrders
) -> list[Warning]:
    """Every warning the draft orders trigger, one per (code, identical drugs)."""
    found: dict[tuple, Warning] = {}
    rules = knowledge.warnings

    def add(
        code: str,
        use: MedicationUse,
        indicator: str,
        detail: list[str],
        evidence: list[dict],
        title: str | None = None,
        tests: list[str] | None = None,
        test_reason: str = "",
    ) -> None:
        # One card per warning and drug set; dual blockade is one card for all the orders forming it.
        key = (code, indicator) if code == "ras-mutant-dual-blockade" else (code, use.drugs, indicator)
        if key in found:
            found[key].orders.append(use)
            return
        found[key] = Warning(code, indicator, title or rules[code]["title"], [use], evidence, detail, tests or [], test_reason)

    all_her2 = set(facts.active_her2_drugs)
    for use in orders.medications:
        all_her2 |= _her2(matcher, use)
    for a in assessments:
        for use in orders.medications:
            her2 = _her2(matcher, use)
            egfr = matcher.of_class(set(use.drugs), "anti-egfr")
            if a.tumour_type == "colorectal":
                _colorectal(a, use, her2, egfr, all_her2, facts, rules, add)
            else:
                _gastric(a, use, her2, facts, rules, add)
            if (
                her2
                and a.status != "positive"
                and not (a.tumour_type == "colorectal" and a.status == "low" and "trastuzumab deruxtecan" in her2)
            ):
                tests, reason = _settling_tests(a)
                add(
                    "her2-drug-without-positive",
                    use,
                    "warning",
                    [
                        f"{', '.join(sorted(her2))} ordered; HER2 status for {a.tumour_type} cancer is "
                        f"**{a.status}** ({', '.join(a.met) or 'no positive criterion met'}).",
                        reason,
                    ],
                    rules["her2-drug-without-positive"]["evidence"],
                    tests=tests,
                    test_reason=reason,
                )
    return list(found.values())


def _colorectal(a, use, her2, egfr, all_her2, facts, rules, add) -> None:
    rule = rules["anti-egfr-her2-positive"]
    if egfr and a.status == "positive":
        basis = ", ".join(a.basis)
        if facts.line == "later":
            add(
                "anti-egfr-her2-positive",
                use,
                "warning",
                [
                    f"{', '.join(sorted(egfr))} ordered for HER2-positive mCRC ({basis}; {', '.join(a.met)}) "
                    "in a later line (systemic therapy on file)."
                ],
                rule["evidence"],
            )
        else:
            add(
                "anti-egfr-her2-positive",
                use,
                "info",
                [
                    f"{', '.join(sorted(egfr))} ordered for HER2-positive mCRC ({basis}) with no prior systemic "
                    "therapy on file (first line). The HER2 effect on anti-EGFR benefit is weaker in first line."
                ],
                rule["first_line"]["evidence"],
                title=rule["first_line"]["title"],
            )
    if "trastuzumab deruxtecan" in her2 and a.status == "low":
        add(
            "tdxd-her2-low-crc",
            use,
            "warning",
            ["Trastuzumab deruxtecan ordered; HER2 status is **low** (" + describe_view(a.view) + ")."],
            rules["tdxd-her2-low-crc"]["evidence"],
        )
    if her2 and len(all_her2) >= 2 and a.ras and a.ras.mutant:
        add(
            "ras-mutant-dual-blockade",
            use,
            "warning",
            [f"Dual HER2 blockade ({', '.join(sorted(all_her2))}) with RAS mutation: " + "; ".join(a.ras.mutant) + "."],
            rules["ras-mutant-dual-blockade"]["evidence"],
        )


def _gastric(a, use, her2, facts, rules, add) -> None:
    rule = rules["failed-agent-gastric"]
    agents = {entry["match"]: entry["trials"] for entry in rule["agents"]}
    failed: list[tuple[str, list[dict]]] = []
    for drug in ("lapatinib", "pertuzumab", "trastuzumab emtansine"):
        if drug in her2:
            failed.append((drug, agents[drug]))
    if "trastuzumab" in her2 and use.high_dose:
        failed.append(("high-dose trastuzumab", agents["high-dose trastuzumab"]))
    elif "trastuzumab" in her2 and facts.trastuzumab_courses_ended:
        failed.append(("trastuzumab beyond progression", agents["trastuzumab beyond progression"]))
    for name, trials in failed:
        add(
            "failed-agent-gastric",
            use,
            "warning",
            [
                f"{name} ordered for gastric/GEJ cancer: this agent failed in gastric trials."
                + (" A completed trastuzumab course is on file." if name == "trastuzumab beyond progression" else "")
            ],
            trials,
            title=f"{name.capitalize()}: failed in gastric/GEJ cancer trials",
        )


def describe_view(view: dict[str, Any]) -> str:
    parts = []
    if view.get("ihc_score"):
        parts.append(f"IHC {view['ihc_score']}")
    if view.get("ish_ratio") is not None:
        parts.append(f"ISH ratio {view['ish_ratio']:g}")
    return ", ".join(parts) or "no IHC/ISH"


def order_tests(matcher: DrugMatcher, assessments: list[Assessment], orders: DraftOrders) -> list[tuple[str, str]]:
    """Testing suggestions the draft orders make due: (suggestion id, detail)."""
    out: list[tuple[str, str]] = []
    ordered_tests = {t.kind for t in orders.tests}
    oncology = [u for u in orders.medications if matcher.is_systemic(set(u.drugs))]
    her2_orders = [u for u in orders.medications if matcher.of_class(set(u.drugs), "her2-directed")]
    for a in assessments:
        if a.tumour_type == "gastric" and oncology and a.view["ihc_score"] is None and not ordered_tests:
            out.append(("gastric-test", f"{oncology[0].text} ordered for gastric/GEJ cancer with no HER2 IHC result on file."))
        # A HER2 drug ordered without a positive result already carries its settling test.
        if a.status == "equivocal" and oncology and not her2_orders and "ish" not in ordered_tests:
            out.append(("reflex-ish", "IHC 2+ with no ISH result on file."))
        if a.tumour_type == "gastric" and her2_orders and a.status == "positive" and a.results_predate_trastuzumab:
            out.append(
                (
                    "retest-after-trastuzumab",
                    f"{her2_orders[0].text} ordered after trastuzumab; the HER2 result on file predates trastuzumab.",
                )
            )
    return list(dict.fromkeys(out))
