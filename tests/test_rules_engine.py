"""The generic rule engine: the condition language (three-valued), templates, scope and ladders."""
from __future__ import annotations

import pytest

from cds_service.rules.conditions import MET, NOT_MET, UNKNOWN, Outcome, evaluate, rule_references, variables
from cds_service.rules.templates import fields, render

FACTS = {"score": "2+", "ratio": 2.0, "none": None, "genes": ["KRAS", "PIK3CA"], "empty": [], "flag": False,
         "ns": {"inner": [3, 4], "text": "x"}}
RULES = {"yes": Outcome(MET, via=["deeper"]), "no": Outcome(NOT_MET), "maybe": Outcome(UNKNOWN, missing=["why"])}


def lookup(name):
    node = FACTS
    for part in name.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def check(condition):
    return evaluate(condition, lookup, lambda rule_id: RULES[rule_id])


@pytest.mark.parametrize("spec, result", [
    ({"eq": "2+"}, MET), ({"eq": "3+"}, NOT_MET), ({"ne": "3+"}, MET), ({"ne": "2+"}, NOT_MET),
    ({"in": ["2+", "3+"]}, MET), ({"in": ["3+"]}, NOT_MET), ({"not_in": ["3+"]}, MET), ({"not_in": ["2+"]}, NOT_MET),
])
def test_equality_ops(spec, result):
    assert check({"score": spec}).result == result


@pytest.mark.parametrize("op, ref, result", [
    ("gt", 1.99, MET), ("gt", 2.0, NOT_MET), ("ge", 2.0, MET), ("ge", 2.01, NOT_MET),
    ("lt", 2.01, MET), ("lt", 2.0, NOT_MET), ("le", 2.0, MET), ("le", 1.99, NOT_MET),
])
def test_comparison_edges(op, ref, result):
    assert check({"ratio": {op: ref}}).result == result


@pytest.mark.parametrize("spec, result", [
    ({"contains": "KRAS"}, MET), ({"contains": "NRAS"}, NOT_MET),
    ({"not_contains": "NRAS"}, MET), ({"not_contains": "KRAS"}, NOT_MET),
    ({"intersects": ["NRAS", "PIK3CA"]}, MET), ({"intersects": ["NRAS"]}, NOT_MET),
    ({"disjoint": ["NRAS"]}, MET), ({"disjoint": ["KRAS"]}, NOT_MET),
    ({"empty": False}, MET), ({"empty": True}, NOT_MET), ({"count_ge": 2}, MET), ({"count_ge": 3}, NOT_MET),
])
def test_collection_ops(spec, result):
    assert check({"genes": spec}).result == result


def test_empty_collection():
    assert check({"empty": {"empty": True}}).met and not check({"empty": {"count_ge": 1}}).met


def test_all_ops_of_one_test_must_hold():
    assert check({"ratio": {"ge": 2.0, "lt": 3}}).met
    assert check({"ratio": {"ge": 2.0, "lt": 2.0}}).result == NOT_MET


def test_a_fact_not_on_file_is_unknown_with_its_note():
    outcome = check({"none": {"eq": 1, "missing_note": "no value"}})
    assert outcome.result == UNKNOWN and outcome.missing == ["no value"]
    assert check({"none": {"eq": 1}}).missing == ["none not on file"]
    assert check({"no_such_fact": {"eq": 1}}).missing == ["no such fact not on file"]


def test_if_missing_met_adds_a_caveat_and_not_met_is_plain():
    outcome = check({"none": {"eq": 1, "if_missing": "met", "note": "assumed"}})
    assert outcome.met and outcome.caveats == ["assumed"]
    assert check({"none": {"eq": 1, "if_missing": "met"}}).caveats == ["none not on file"]
    assert check({"none": {"eq": 1, "if_missing": "not-met"}}).result == NOT_MET
    assert check({"ratio": {"eq": 2.0, "if_missing": "met", "note": "x"}}).caveats == []


def test_absent_and_present():
    assert check({"none": {"absent": True}}).met and not check({"ratio": {"absent": True}}).met
    assert check({"ratio": {"present": True}}).met and not check({"none": {"present": True}}).met


def test_values_that_cannot_be_compared_are_unknown():
    outcome = check({"score": {"gt": 2}})
    assert outcome.result == UNKNOWN and outcome.missing == ["score cannot be compared"]


def test_all_of_is_kleene():
    assert check({"all": [{"score": {"eq": "2+"}}, {"ratio": {"ge": 2.0}}]}).met
    assert check({"all": [{"none": {"eq": 1}}, {"score": {"eq": "3+"}}]}).result == NOT_MET  # false wins over unknown
    outcome = check({"all": [{"none": {"eq": 1, "missing_note": "a"}}, {"score": {"eq": "2+"}}]})
    assert outcome.result == UNKNOWN and outcome.missing == ["a"]
    assert check({"score": {"eq": "2+"}, "ratio": {"ge": 2.0}}).met  # entries of a mapping are all-of
    assert check({"all": {"score": {"eq": "2+"}}}).met  # one mapping


def test_any_of_returns_the_first_arm_met_with_its_label():
    arms = [{"label": "A", "all": {"score": {"eq": "3+"}}}, {"label": "B", "all": {"ratio": {"ge": 2.0}}},
            {"label": "C", "all": {"score": {"eq": "2+"}}}]
    assert check({"any": arms}).arm == "B"
    outcome = check({"any": [{"label": "A", "all": {"none": {"eq": 1, "missing_note": "m"}}},
                             {"label": "B", "all": {"none": {"eq": 2, "missing_note": "m"}}},
                             {"label": "C", "all": {"score": {"eq": "3+"}}}]})
    assert outcome.result == UNKNOWN and outcome.missing == ["m"]  # unknown, missing pieces once
    assert check({"any": [{"score": {"eq": "3+"}}]}).result == NOT_MET


def test_not_and_unknown():
    assert check({"not": {"score": {"eq": "3+"}}}).met
    assert check({"not": {"score": {"eq": "2+"}}}).result == NOT_MET
    assert check({"not": {"none": {"eq": 1}}}).result == UNKNOWN
    assert check({"unknown": {"none": {"eq": 1}}}).met
    assert check({"unknown": {"score": {"eq": "3+"}}}).result == NOT_MET
    assert check({"unknown": {"rule": "maybe"}}).met and check({"unknown": {"rule": "yes"}}).result == NOT_MET


def test_rule_references_pass_their_outcome():
    assert check({"rule": "yes"}).met and check({"rule": "no"}).result == NOT_MET and check({"rule": "maybe"}).result == UNKNOWN
    assert check({"rule": "yes", "score": {"eq": "2+"}}).via == ["deeper"]


def test_no_condition_always_holds():
    assert check(None).met and check({}).met


def test_dotted_facts_and_what_a_condition_names():
    assert check({"ns.text": {"eq": "x"}}).met
    condition = {"a": {"eq": 1}, "any": [{"b.c": {"gt": 2}}, {"rule": "r1"}], "not": {"unknown": {"rule": "r2"}}, "label": "x",
                 "all": [{"d": {"present": True}}, {"rule": "r3"}]}
    assert variables(condition) == {"a", "b.c", "d"}
    assert rule_references(condition) == {"r1", "r2", "r3"}


def test_vocabulary_knows_facts_and_namespaced_facts_only():
    from cds_service.rules.vocabulary import known

    assert known("ihc_score") and known("ras.wild_type") and known("ordered.her2-directed") and known("note")
    assert not known("ihc_scor") and not known("rass.wild_type") and not known("ras") and not known("foo.bar")


def test_templates_fill_facts_join_lists_and_keep_parts_whose_condition_holds():
    holds = lambda condition: check(condition).met  # noqa: E731
    assert render("ratio {ratio:g}, genes {genes}; {genes:/}", lookup, holds) == "ratio 2, genes KRAS, PIK3CA; KRAS/PIK3CA"
    parts = [{"text": "a"}, {"text": " b", "when": {"score": {"eq": "2+"}}}, {"text": " c", "when": {"score": {"eq": "3+"}}}]
    assert render(parts, lookup, holds) == "a b"
    assert render(None, lookup, holds) == ""
    assert fields(parts + [{"text": "{x.y} {z:g}"}]) == {"x.y", "z"}


def test_scope_ladder_and_memo(knowledge):
    from cds_service.facts import Facts
    from cds_service.rules.book import Evaluation
    from cds_service.rules.vocabulary import patient_facts

    book = knowledge.rules
    view = patient_facts(Facts(), "gastric", book.classes_of)
    ev = Evaluation(book, "gastric", view, Facts())
    assert ev.outcome("crc.status.not-tested").result == NOT_MET  # another tumour type's rule never holds
    assert ev.first(book.status_ladder("gastric"))["id"] == "gc.status.not-tested"
    assert [r["id"] for r in book.of("evidence-notes", "notes", "gastric")] == [
        r["id"] for r in book.of("evidence-notes", "notes") if not r["id"].startswith("crc.")]


def test_all_of_collects_every_missing_piece_caveat_and_the_arm():
    unknowns = check({"none": {"eq": 1, "missing_note": "a"}, "no_fact": {"eq": 1, "missing_note": "b"}})
    assert unknowns.result == UNKNOWN and unknowns.missing == ["a", "b"]
    caveats = check({"none": {"eq": 1, "if_missing": "met", "note": "x"}, "no_fact": {"eq": 1, "if_missing": "met", "note": "y"}})
    assert caveats.caveats == ["x", "y"]
    assert check({"any": [{"label": "A", "score": {"eq": "2+"}}], "ratio": {"ge": 2.0}}).arm == "A"
    assert check({"ratio": {"ge": 2.0}, "any": [{"label": "B", "score": {"eq": "2+"}}]}).arm == "B"
    assert check({"score": {"eq": "2+"}, "ratio": {"ge": 2.0}}).arm is None


def test_rule_references_inside_all_any_and_not():
    assert check({"all": [{"rule": "yes"}, {"score": {"eq": "2+"}}]}).via == ["deeper"]
    assert check({"any": [{"rule": "no"}, {"rule": "yes"}]}).met
    assert check({"not": {"rule": "no"}}).met


def test_present_on_a_missing_fact_is_not_met_not_unknown():
    assert check({"none": {"present": True}}).result == NOT_MET
