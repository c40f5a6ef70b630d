"""The rule book built from the knowledge: lists by scope, thresholds and criterion sets resolved,
every load-time check with its message; and the named rule functions on plain facts."""
from __future__ import annotations

import copy
from datetime import datetime

import pytest

from cds_service.facts import Facts, Result, Variant
from cds_service.medications import MedicationUse
from cds_service.rules.book import Evaluation, RuleBook, resolve_thresholds, threshold_references
from cds_service.rules.conditions import MET, NOT_MET, UNKNOWN
from cds_service.rules.functions import FUNCTIONS, relative_clonality
from cds_service.rules.vocabulary import patient_facts


@pytest.fixture(scope="module")
def raw(knowledge):
    return knowledge.raw


def fresh(raw, change=None):
    data = copy.deepcopy(raw)
    if change:
        change(data)
    return RuleBook(data)


def test_a_fresh_book_has_every_rule_once_and_no_problem(raw, knowledge):
    book = fresh(raw)
    assert book.problems == []
    assert set(book.rules) == set(knowledge.rules.rules) and len(book.rules) > 150
    assert book.kinds["crc.criterion.heracles"] == "criterion" and book.files["crc.criterion.heracles"] == "crc-criteria"
    assert book.kinds["gc.warning.lapatinib-failed"] == "warning" and book.files["gc.warning.lapatinib-failed"] == "warnings"


def test_thresholds_and_criterion_sets_are_resolved(raw):
    book = fresh(raw)
    triumph = book.rules["crc.criterion.triumph-tissue"]
    assert triumph["arms"][3]["all"]["ish_ratio"] == {"ge": 2.0}
    users = book.threshold_users["common.threshold.ish-ratio-amplified"]
    assert {"crc.criterion.triumph-tissue", "crc.definition.her2-low", "gc.criterion.toga",
            "crc.contradiction.ihc-low-ish-amplified", "common.trial.nct03929666"} <= set(users)
    assert "criterion set expressing_or_amplified (trials)" in users
    inline = book.rules["crc.trial.nct05356897"]["arms"]
    assert [arm["label"] for arm in inline][:2] == ["IHC 3+", "IHC 2+ with ISH ratio > 2.2"]
    by_set = book.rules["crc.trial.nct04278144"]["arms"]  # ref: expressing_or_amplified
    assert by_set[1]["all"]["ish_ratio"] == {"ge": 2.0}
    assert [(a["label"], a["all"]) for a in book.rules["gc.trial.nct03615326"]["arms"]] == [
        ("HER2-positive", {"status": {"eq": "positive"}})]


def test_threshold_helpers():
    node = {"a": {"ge": {"threshold": "t1"}}, "b": [{"lt": {"threshold": "t2"}}, {"eq": 3}], "c": {}}
    assert threshold_references(node) == {"t1", "t2"}
    assert threshold_references([]) == set() and threshold_references({}) == set() and threshold_references(5) == set()
    assert resolve_thresholds(node, {"t1": 2.0, "t2": 1.5}) == {"a": {"ge": 2.0}, "b": [{"lt": 1.5}, {"eq": 3}], "c": {}}


def test_lists_by_scope(raw):
    book = fresh(raw)
    crc = [r["id"] for r in book.of("statements", "missing", "colorectal")]
    gc = [r["id"] for r in book.of("statements", "missing", "gastric")]
    assert crc[0] == gc[0] == "common.missing.results-unreadable"
    assert all(not r.startswith("gc.") for r in crc) and all(not r.startswith("crc.") for r in gc)
    assert len(book.of("statements", "missing")) == len(set(crc) | set(gc))
    assert [c["code"] for c in book.criteria("colorectal")] == ["HERACLES", "TRIUMPH-tissue", "TRIUMPH-blood", "harmonized-10pct"]
    assert [c["code"] for c in book.criteria("gastric")] == ["ToGA"]
    assert book.status_ladder("gastric")[-1]["id"] == "gc.status.not-tested"
    assert book.classes_of(["cetuximab", "trastuzumab", "unknown-drug"]) == ["anti-egfr", "her2-directed"]


def _rule(data, name, key, rule_id):
    return next(r for r in data[name][key] if r["id"] == rule_id)


@pytest.mark.parametrize("change, problem", [
    (lambda d: _rule(d, "evidence-notes", "notes", "crc.note.her2-low-tdxd").update(id="crc-note"),
     "evidence-notes: crc-note: id must read <crc|gc|common>.<kind>.<name>"),
    (lambda d: _rule(d, "evidence-notes", "notes", "crc.note.her2-low-tdxd").update(id="crc.warning.x"),
     "evidence-notes: crc.warning.x: kind 'warning' in the id, but the rule is a note"),
    (lambda d: _rule(d, "evidence-notes", "notes", "crc.note.her2-low-tdxd").update(source=None),
     "evidence-notes: crc.note.her2-low-tdxd: no citation (source, sources, evidence) and no stated policy"),
    (lambda d: _rule(d, "evidence-notes", "notes", "crc.note.her2-low-tdxd").update(when={"stauts": {"eq": "low"}}),
     "evidence-notes: crc.note.her2-low-tdxd: unknown fact 'stauts'"),
    (lambda d: _rule(d, "warnings", "warnings", "common.warning.her2-drug-without-positive").update(unless={"stauts": {"eq": 1}}),
     "warnings: common.warning.her2-drug-without-positive: unknown fact 'stauts'"),
    (lambda d: _rule(d, "statements", "missing", "gc.missing.ihc")["text"][1].update(when={"ish_ration": {"present": True}}),
     "statements: gc.missing.ihc: unknown fact 'ish_ration'"),
    (lambda d: _rule(d, "evidence-notes", "notes", "crc.note.her2-low-tdxd").update(when={"rule": "crc.note.none"}),
     "evidence-notes: crc.note.her2-low-tdxd: refers to unknown rule 'crc.note.none'"),
    (lambda d: _rule(d, "statements", "missing", "crc.missing.ihc").update(text="no {ihc}"),
     "statements: crc.missing.ihc: template names unknown fact 'ihc'"),
    (lambda d: _rule(d, "warnings", "warnings", "crc.warning.tdxd-her2-low").update(detail=["{tissue_result}"]),
     "warnings: crc.warning.tdxd-her2-low: template names unknown fact 'tissue_result'"),
    (lambda d: _rule(d, "crc-criteria", "definitions", "crc.definition.ras-wild-type").update(function="nope"),
     "crc-criteria: crc.definition.ras-wild-type: no rule function named 'nope'"),
    (lambda d: _rule(d, "testing", "rules", "crc.test.reflex-ish").update(suggestion="nope"),
     "testing: crc.test.reflex-ish names unknown suggestion nope"),
    (lambda d: _rule(d, "testing", "order_rules", "crc.order-test.reflex-ish").update(suggestion="nope"),
     "testing: crc.order-test.reflex-ish names unknown suggestion nope"),
    (lambda d: _rule(d, "testing", "settling", "common.settling-test.equivocal").update(tests=["ish", "nope"]),
     "testing: common.settling-test.equivocal names unknown test nope"),
    (lambda d: _rule(d, "therapies", "caveats", "gc.therapy-note.confirm-her2-first").update(therapies=["gc.therapy.nope"]),
     "therapies: gc.therapy-note.confirm-her2-first names unknown therapy gc.therapy.nope"),
    (lambda d: _rule(d, "therapies", "caveats", "crc.therapy-note.ras-mutant").update(notes=["crc.status.positive"]),
     "therapies: crc.therapy-note.ras-mutant names unknown evidence note crc.status.positive"),
    (lambda d: _rule(d, "therapies", "safety", "common.safety.tdxd-ild").update(drugs=["trastuzumab deruxtecan", "nope"]),
     "therapies: common.safety.tdxd-ild names unknown drug nope"),
    (lambda d: _rule(d, "warnings", "warnings", "common.warning.her2-drug-without-positive")["evidence"][0].update(
        when={"nope_fact": {"eq": 1}}),
     "warnings: common.warning.her2-drug-without-positive: unknown fact 'nope_fact'"),
    (lambda d: _rule(d, "trials", "exclusions", "crc.trial-exclusion.nct05350917-population").update(trials=["crc.trial.nope"]),
     "trials: crc.trial-exclusion.nct05350917-population names unknown trial crc.trial.nope"),
    (lambda d: _rule(d, "crc-criteria", "criteria", "crc.criterion.triumph-tissue")["arms"][3]["all"]["ish_ratio"].update(
        ge={"threshold": "common.threshold.nope"}),
     "crc-criteria: crc.criterion.triumph-tissue uses unknown threshold common.threshold.nope"),
    (lambda d: d["evidence-notes"]["notes"].append(dict(d["evidence-notes"]["notes"][0])),
     "evidence-notes: duplicate rule id crc.note.her2-low-tdxd"),
])
def test_every_load_time_problem_is_named(raw, change, problem):
    assert fresh(raw, change).problems == [problem]


def test_several_problems_are_all_reported(raw):
    def two(data):
        _rule(data, "evidence-notes", "notes", "crc.note.her2-low-tdxd").update(when={"a_": {"eq": 1}, "rule": "x.y.z"})
        _rule(data, "statements", "missing", "crc.missing.ihc").update(text="{b_}")
    assert sorted(fresh(raw, two).problems) == ["evidence-notes: crc.note.her2-low-tdxd: refers to unknown rule 'x.y.z'",
                                                "evidence-notes: crc.note.her2-low-tdxd: unknown fact 'a_'",
                                                "statements: crc.missing.ihc: template names unknown fact 'b_'"]


# ---------------------------------------------------------------- named rule functions on plain facts
WHEN = datetime(2024, 4, 1)


def variant(gene, present=True, vaf=None, rc=None, origin="plasma", key="s1", when=WHEN, codon=12):
    return Variant(gene, present, f"p.G{codon}D" if present else None, codon if present else None, vaf, rc, origin, key, when,
                   f"Observation/{gene}")


def test_relative_clonality_in_one_plasma_sample():
    kras, top = variant("KRAS", vaf=3.1), variant("PIK3CA", vaf=10.0)
    other_sample = variant("BRAF", vaf=50.0, key="s2")
    tissue = variant("TP53", vaf=80.0, origin="tissue")
    assert relative_clonality(kras, [kras, top, other_sample, tissue]) == pytest.approx(31.0)
    assert relative_clonality(variant("KRAS", vaf=3.0, rc=12.0), []) == 12.0  # a reported RC is used as is
    assert relative_clonality(variant("KRAS"), [kras, top]) is None  # no allele fraction
    assert relative_clonality(variant("KRAS", vaf=3.0, key=None, when=None), [top]) is None  # the sample cannot be told


def test_without_a_specimen_the_sample_is_the_collection_date():
    kras = variant("KRAS", vaf=3.0, key=None)
    same_day, other_day = variant("PIK3CA", vaf=6.0, key=None), variant("BRAF", vaf=30.0, key=None, when=datetime(2024, 5, 1))
    assert relative_clonality(kras, [kras, same_day, other_day]) == pytest.approx(50.0)


def _evaluation(knowledge, facts, tumour="colorectal"):
    return Evaluation(knowledge.rules, tumour, patient_facts(facts, tumour, knowledge.rules.classes_of), facts)


RAS = {"genes": ["KRAS", "NRAS"], "codons": [12, 13, 59, 61, 117, 146], "relative_clonality_max_percent": 30, "trial": "TRIUMPH"}


@pytest.mark.parametrize("variants, result, mutant, in_plasma", [
    ([variant("KRAS", present=False), variant("NRAS", present=False)], MET, 0, False),
    ([variant("KRAS", rc=30), variant("NRAS", present=False)], MET, 0, False),
    ([variant("KRAS", rc=31), variant("NRAS", present=False)], NOT_MET, 1, True),
    ([variant("KRAS", origin="tissue"), variant("NRAS", present=False)], NOT_MET, 1, False),
    ([variant("KRAS", rc=90, codon=19), variant("NRAS", present=False)], MET, 0, False),
    ([variant("KRAS", rc=90, codon=None), variant("NRAS", present=False)], UNKNOWN, 0, False),
    ([variant("KRAS"), variant("NRAS", present=False)], UNKNOWN, 0, False),  # no allele fraction
    ([variant("KRAS", origin=None), variant("NRAS", present=False)], UNKNOWN, 0, False),
    ([variant("KRAS", present=False)], UNKNOWN, 0, False),  # NRAS untested
    ([variant("KRAS", origin="tissue"), variant("KRAS", rc=90, codon=None), variant("NRAS", present=False)], NOT_MET, 1, False),
])
def test_ras_status(knowledge, variants, result, mutant, in_plasma):
    derived = FUNCTIONS["ras_status"](_evaluation(knowledge, Facts(variants=variants)), **RAS)
    ras = derived.facts["ras"]
    assert derived.result == result and len(ras["mutant"]) == mutant and ras["mutant_in_plasma"] is in_plasma
    assert ras["wild_type"] is {MET: True, NOT_MET: False, UNKNOWN: None}[result]
    assert derived.shown is bool(ras["lines"] or ras["mutant"])
    assert ras["missing"] == (["no NRAS result"] if len(variants) == 1 else [])


def _use(drugs, start, status="completed"):
    return MedicationUse("MedicationRequest/m", frozenset(drugs), status, start, "x", False)


def _ihc(when):
    facts = Facts()
    facts.add(Result("ihc", "Observation/i", when, {"score": "3+"}))
    return facts


@pytest.mark.parametrize("result_when, uses, expected", [
    (datetime(2023, 1, 1), [_use({"trastuzumab"}, datetime(2023, 2, 1))], MET),
    (datetime(2023, 3, 1), [_use({"trastuzumab"}, datetime(2023, 2, 1))], NOT_MET),
    (datetime(2023, 2, 1), [_use({"trastuzumab"}, datetime(2023, 2, 1))], NOT_MET),  # same day: not older
    (datetime(2023, 1, 1), [_use({"trastuzumab"}, datetime(2023, 2, 1)), _use({"trastuzumab"}, datetime(2022, 12, 1))], NOT_MET),
    (datetime(2023, 1, 1), [_use({"trastuzumab"}, None)], UNKNOWN),
    (datetime(2023, 1, 1), [_use({"trastuzumab"}, None), _use({"trastuzumab"}, datetime(2023, 2, 1))], MET),
    (datetime(2023, 1, 1), [_use({"cisplatin"}, datetime(2023, 2, 1))], NOT_MET),
    (None, [_use({"trastuzumab"}, datetime(2023, 2, 1))], NOT_MET),
])
def test_results_predate_drug(knowledge, result_when, uses, expected):
    facts = _ihc(result_when)
    facts.history = uses
    derived = FUNCTIONS["results_predate_drug"](_evaluation(knowledge, facts, "gastric"), drugs=["trastuzumab"],
                                                result_kinds=["ihc", "ish"])
    assert derived.result == expected
    if expected == MET:
        assert derived.facts == {"results_predate": {"result_date": "2023-01-01", "drug_start": "2023-02-01"}}


def test_no_result_of_the_kinds_means_nothing_predates(knowledge):
    facts = Facts(history=[_use({"trastuzumab"}, datetime(2023, 2, 1))])
    assert FUNCTIONS["results_predate_drug"](_evaluation(knowledge, facts, "gastric"), drugs=["trastuzumab"],
                                             result_kinds=["ihc"]).result == NOT_MET


@pytest.mark.parametrize("statuses, expected", [
    (["completed"], MET), (["stopped", "completed"], MET), (["completed", "active"], NOT_MET), ([], NOT_MET),
])
def test_courses_ended(knowledge, statuses, expected):
    facts = Facts(history=[_use({"trastuzumab"}, WHEN, s) for s in statuses] + [_use({"cisplatin"}, WHEN, "active")])
    assert FUNCTIONS["courses_ended"](_evaluation(knowledge, facts, "gastric"), drugs=["trastuzumab"],
                                      ended_statuses=["completed", "stopped"]).result == expected


def test_result_recency(knowledge):
    facts = Facts(history=[_use({"trastuzumab"}, datetime(2023, 6, 1)), _use({"cetuximab"}, datetime(2022, 1, 1))])
    facts.add(Result("ihc", "Observation/a", datetime(2022, 1, 1), {"score": "0"}))
    facts.add(Result("ihc", "Observation/b", datetime(2023, 1, 1), {"score": "3+"}))
    facts.add(Result("apcn", "Observation/c", datetime(2023, 1, 1), {"value": 20.0}))
    derived = FUNCTIONS["result_recency"](_evaluation(knowledge, facts), stale_after_drug_class="her2-directed",
                                          stale_result_kinds=["ihc"])
    assert derived.result == MET and derived.shown
    assert derived.lines == ["2 IHC results on file; the most recent (2023-01-01) is used.",
                             "Possibly stale: the IHC result (2023-01-01) predates HER2-directed treatment started 2023-06-01."]
    quiet = FUNCTIONS["result_recency"](_evaluation(knowledge, Facts()), stale_after_drug_class="her2-directed", stale_result_kinds=[])
    assert quiet.result == NOT_MET and quiet.lines == [] and not quiet.shown


def test_ras_lines_say_what_was_found_for_each_variant(knowledge):
    variants = [variant("KRAS", present=False, origin=None, when=None),
                Variant("NRAS", True, None, None, None, 90.0, "plasma", "s1", WHEN, "Observation/n1"),
                variant("NRAS", rc=90, codon=19),
                variant("NRAS", codon=61, origin="tissue"),
                variant("NRAS", codon=12, vaf=None),
                variant("NRAS", rc=20),
                variant("NRAS", origin=None, rc=90)]
    ras = FUNCTIONS["ras_status"](_evaluation(knowledge, Facts(variants=variants)), **RAS).facts["ras"]
    assert ras["lines"] == [  # results are named by their date, never by a record id (decision 6.10)
        "KRAS wild-type (origin unknown, date not recorded)",
        "NRAS (change not given): codon not given is outside the TRIUMPH list (2024-04-01)",
        "NRAS p.G19D: codon 19 is outside the TRIUMPH list (2024-04-01)",
        "NRAS p.G12D in plasma: relative clonality cannot be computed (no allele fractions) (2024-04-01)",
        "NRAS p.G12D in plasma, relative clonality 20% (≤ 30%: counts as wild-type for TRIUMPH) (2024-04-01)",
        "NRAS p.G12D: specimen (tissue or plasma) cannot be told; not used (2024-04-01)"]
    assert ras["mutant"] == ["NRAS p.G61D in tissue on 2024-04-01"]
    assert ras["headline"] == ["NRAS p.G61D, tissue"]
    plasma = FUNCTIONS["ras_status"](_evaluation(knowledge, Facts(variants=[variant("KRAS", rc=31.4)])), **RAS).facts["ras"]
    assert plasma["mutant"] == ["KRAS p.G12D in plasma on 2024-04-01, relative clonality 31% (> 30%)"]
    assert plasma["headline"] == ["KRAS p.G12D, plasma, clonality 31%"]
    assert not any("Observation/" in line for line in ras["lines"] + ras["mutant"] + plasma["mutant"])


def test_a_mutant_stays_mutant_whatever_follows(knowledge):
    for later in (variant("KRAS", rc=90, codon=None), variant("KRAS"), variant("KRAS", origin=None), variant("KRAS", present=False)):
        facts = Facts(variants=[variant("KRAS", origin="tissue"), later, variant("NRAS", present=False)])
        assert FUNCTIONS["ras_status"](_evaluation(knowledge, facts), **RAS).result == NOT_MET
    unknown_then_mutant = Facts(variants=[variant("KRAS"), variant("KRAS", rc=90), variant("NRAS", present=False)])
    assert FUNCTIONS["ras_status"](_evaluation(knowledge, unknown_then_mutant), **RAS).result == NOT_MET


def test_rule_references_carry_what_is_missing_and_a_child_evaluates_functions(knowledge):
    facts = Facts()
    facts.add(Result("ngs_plasma", "Observation/p", WHEN, {"amplified": True}, origin="plasma"))
    ev = _evaluation(knowledge, facts)
    outcome = ev.check({"rule": "crc.criterion.triumph-blood"})
    assert outcome.result == UNKNOWN and outcome.missing == ["no RAS status: the blood criterion cannot be applied"]
    gastric = Facts(history=[_use({"trastuzumab"}, WHEN, "completed")])
    child = _evaluation(knowledge, gastric, "gastric").child({"order_drugs": ["trastuzumab"]})
    assert child.outcome("gc.definition.trastuzumab-courses-ended").met
    assert child.outcome("gc.warning.trastuzumab-beyond-progression-failed").met
    assert set(child.derived) == {"gc.definition.trastuzumab-courses-ended"}


def test_templates_see_local_names(knowledge):
    ev = _evaluation(knowledge, Facts())
    assert ev.text("{therapy.title} / {note}", therapy={"title": "T"}, note="N") == "T / N"
    assert ev.text("{line}") == "first"


def _overlay(trials, missing=()):
    from cds_service.trial_registry import Overlay

    return Overlay(datetime(2026, 11, 1, tzinfo=__import__("datetime").UTC), trials, frozenset(missing), 30)


@pytest.mark.parametrize("overlay, expected", [
    (None, (True, None, None)),
    (_overlay({"NCT05253651": {"overallStatus": "RECRUITING"}}), (True, {"overallStatus": "RECRUITING"}, None)),
    (_overlay({"NCT05253651": {"overallStatus": "NOT_YET_RECRUITING"}}), (True, {"overallStatus": "NOT_YET_RECRUITING"}, None)),
    (_overlay({"NCT05253651": {"overallStatus": "COMPLETED"}}),
     (False, {"overallStatus": "COMPLETED"}, "registry status COMPLETED on 2026-11-01")),
    (_overlay({}, missing=["NCT05253651"]), (False, None, "not found in the registry")),
    (_overlay({}), (False, None, "no registry status in the overlay")),
])
def test_whether_a_trial_is_offered(knowledge, overlay, expected):
    from cds_service.assessment import _offered

    trial = knowledge.rules.rules["crc.trial.nct05253651"]
    assert _offered(trial, ["recruiting"], overlay) == expected
    assert _offered(trial, ["ongoing"], None)[0] is False


@pytest.mark.parametrize("state, found, worse", [
    (True, True, True), (True, None, None), (None, True, None), (None, None, None),
    (True, False, False), (False, True, False), (None, False, False), (False, None, False),
])
def test_a_gene_is_as_bad_as_its_worst_finding(state, found, worse):
    from cds_service.rules.functions import _worse

    assert _worse(state, found) is worse


def test_the_status_ladder_must_end_with_a_rule_that_always_holds(raw):
    book = fresh(raw, lambda d: d["gastric-criteria"]["status"][-1].update(when={"line": {"eq": "first"}}))
    assert book.problems == ["gastric-criteria: the status ladder must end with a rule without a condition (it always holds)"]


def test_an_exception_makes_a_rule_not_met(knowledge):
    facts = Facts()
    facts.add(Result("ihc", "Observation/i", WHEN, {"score": "1+"}))
    ev = _evaluation(knowledge, facts)
    ev.facts["status"] = "low"
    child = ev.child({"ordered": {"her2-directed": ["trastuzumab deruxtecan"]}})
    assert child.outcome("crc.warning.tdxd-her2-low").met
    assert child.outcome("common.warning.her2-drug-without-positive").result == NOT_MET  # unless the T-DXd rule holds


def test_lookup_of_dotted_and_indexed_facts(knowledge):
    ev = _evaluation(knowledge, Facts())
    ev.facts.update({"one": ["a"], "empty": [], "nested": {"k": {"x": 1}}})
    assert ev.lookup("one.0") == "a" and ev.lookup("one.1") is None and ev.lookup("empty.0") is None
    assert ev.lookup("nested.k.x") == 1 and ev.lookup("nested.k.y") is None and ev.lookup("one.x") is None
    assert ev.lookup("line.0") is None  # not a list or mapping


def test_wild_type_then_mutant_of_one_gene(knowledge):
    facts = Facts(variants=[variant("KRAS", present=False), variant("KRAS", origin="tissue"), variant("NRAS", present=False)])
    derived = FUNCTIONS["ras_status"](_evaluation(knowledge, facts), **RAS)
    assert derived.result == NOT_MET
    assert derived.facts["ras"]["lines"][0] == "KRAS wild-type (plasma, 2024-04-01)"


def test_result_recency_reads_every_kind_and_a_same_day_start_is_not_stale(knowledge):
    facts = Facts(history=[_use({"trastuzumab"}, datetime(2023, 1, 1))])
    facts.add(Result("ihc", "Observation/a", datetime(2023, 1, 1), {"score": "3+"}))
    for day in (1, 2):
        facts.add(Result("apcn", f"Observation/c{day}", datetime(2022, 5, day), {"value": 20.0}))
    derived = FUNCTIONS["result_recency"](_evaluation(knowledge, facts), stale_after_drug_class="her2-directed",
                                          stale_result_kinds=["ihc"])
    assert derived.lines == ["2 ApCN results on file; the most recent (2022-05-02) is used."]


# ---------------------------------------------------------------- issue #15 rule functions on plain facts

def _plasma(when, amplified=True, history=()):
    facts = Facts(history=list(history))
    facts.add(Result("ngs_plasma", "Observation/p", when, {"amplified": amplified}, origin="plasma"))
    return facts


AFTER = {"drugs": ["trastuzumab"], "result_kind": "ngs_plasma"}


@pytest.mark.parametrize("facts, result, retest", [
    (_plasma(datetime(2024, 5, 1), True, [_use({"trastuzumab"}, datetime(2023, 2, 1))]), MET,
     {"date": "2024-05-01", "drug_last": "2023-02-01", "amplified": True}),
    (_plasma(datetime(2024, 5, 1), False, [_use({"trastuzumab"}, datetime(2023, 2, 1)), _use({"trastuzumab"}, datetime(2023, 9, 1))]),
     MET, {"date": "2024-05-01", "drug_last": "2023-09-01", "amplified": False}),  # the last course counts
    (_plasma(datetime(2023, 2, 1), True, [_use({"trastuzumab"}, datetime(2023, 2, 1))]), NOT_MET, None),  # same day
    (_plasma(datetime(2023, 1, 1), True, [_use({"trastuzumab"}, datetime(2023, 2, 1))]), NOT_MET, None),
    (_plasma(datetime(2024, 5, 1), True, [_use({"pertuzumab"}, datetime(2023, 2, 1))]), NOT_MET, None),  # not the drug
    (_plasma(datetime(2024, 5, 1), True, [_use({"trastuzumab"}, None)]), UNKNOWN, None),  # no start date
    (_plasma(None, True, [_use({"trastuzumab"}, datetime(2023, 2, 1))]), UNKNOWN, None),  # undated result
    (Facts(history=[_use({"trastuzumab"}, datetime(2023, 2, 1))]), NOT_MET, None),  # no plasma result
])
def test_result_after_drug(knowledge, facts, result, retest):
    derived = FUNCTIONS["result_after_drug"](_evaluation(knowledge, facts, "gastric"), **AFTER)
    assert derived.result == result and derived.facts.get("retest") == retest


CALLS = {"kinds": ["ihc", "ish", "ngs_tissue", "ngs_plasma"], "ihc_calls": {"0": "negative", "1+": "negative", "2+": "equivocal",
         "3+": "positive"}, "ish_ratio_amplified": 2.0}


def _results(*items):
    facts = Facts()
    for kind, day, values in items:
        facts.add(Result(kind, f"Observation/{kind}{day}", datetime(2024, 1, day) if day else None, values))
    return facts


@pytest.mark.parametrize("facts, lines", [
    (_results(("ihc", 1, {"score": "3+"}), ("ihc", 2, {"score": "1+"})),
     ["Discordant IHC results: IHC 3+ (2024-01-01) disagrees with the most recent, IHC 1+ (2024-01-02), which sets the status."]),
    (_results(("ihc", 1, {"score": "0"}), ("ihc", 2, {"score": "1+"})), []),
    (_results(("ihc", 1, {"score": "3+"}), ("ihc", 2, {"score": "indeterminate"})), []),  # no call for the latest
    (_results(("ihc", 1, {"score": "indeterminate"}), ("ihc", 2, {"score": "1+"})), []),  # nor for the earlier one
    (_results(("ihc", 1, {"score": "3+"}), ("ihc", 2, {"score": "2+"}), ("ihc", 3, {"score": "2+"})),
     ["Discordant IHC results: IHC 3+ (2024-01-01) disagrees with the most recent, IHC 2+ (2024-01-03), which sets the status."]),
    (_results(("ish", 1, {"ratio": 2.0}), ("ish", 2, {"ratio": 1.99})),
     ["Discordant ISH results: ISH ratio 2 (2024-01-01) disagrees with the most recent, ISH ratio 1.99 (2024-01-02), "
      "which sets the status."]),
    (_results(("ish", 1, {"ratio": 2.0}), ("ish", 2, {"ratio": 2.5})), []),
    (_results(("ish", 1, {"copies_per_cell": 7}), ("ish", 2, {"ratio": 1.5})), []),  # a copies-only ISH has no call
    (_results(("ngs_plasma", 1, {"amplified": False}), ("ngs_plasma", 2, {"amplified": True})),
     ["Discordant plasma NGS results: plasma NGS: no ERBB2 amplification (2024-01-01) disagrees with the most recent, "
      "plasma NGS: ERBB2 amplified (2024-01-02), which sets the status."]),
    (_results(("ngs_tissue", 1, {"amplified": None, "copy_number": 9}), ("ngs_tissue", 2, {"amplified": True})), []),
    (_results(("ihc", 1, {"score": "3+"})), []),
    (_results(("apcn", 1, {"value": 30}), ("apcn", 2, {"value": 10})), []),  # kinds not listed are not compared
])
def test_discordant_results(knowledge, facts, lines):
    derived = FUNCTIONS["discordant_results"](_evaluation(knowledge, facts), **CALLS)
    assert derived.lines == lines and derived.result == (MET if lines else NOT_MET) and derived.shown is bool(lines)


def test_discordance_params_in_the_knowledge_are_the_seed_calls(knowledge):
    # TRIUMPH Table 1: "Positive IHC (3+)", "Equivocal IHC (2+)", "Negative IHC (1+)", "Negative IHC (0+)"; ISH ratio >= 2
    params = knowledge.rules.rules["common.contradiction.discordant-over-time"]["params"]
    assert params == CALLS


def test_safety_statements_by_drug_and_tumour_scope(knowledge):
    book = knowledge.rules
    assert [s["id"] for s in book.safety_for(["pembrolizumab", "trastuzumab"], "gastric")] == ["gc.safety.pembrolizumab-immune"]
    assert book.safety_for(["pembrolizumab"], "colorectal") == []  # KEYNOTE-811 is a gastric trial
    assert [s["id"] for s in book.safety_for(["trastuzumab deruxtecan"], "colorectal")] == ["common.safety.tdxd-ild"]
    assert book.safety_for(["trastuzumab"], "gastric") == []


def test_a_warning_param_is_one_declaration_and_an_unknown_one_is_a_load_problem():
    # decision 6.30: `{param: <name>}` in a condition is the rule's own list; a misspelt name stops the service
    from cds_service.rules.book import resolve_params

    problems: list[str] = []
    rule = {"id": "crc.warning.x", "params": {"agents": ["a", "b"]},
            "when": {"ordered.her2-directed": {"intersects": {"param": "agents"}}, "not": {"x": {"in": {"param": "agentz"}}}}}
    resolved = resolve_params(rule, problems)
    assert resolved["when"]["ordered.her2-directed"] == {"intersects": ["a", "b"]}
    assert problems == ["crc.warning.x: unknown param agentz"]
