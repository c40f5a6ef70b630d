"""The molecular pathologist's review of decision 6.11 (results in the shapes laboratories send).

One section per finding, each a table whose rows include the twin that must stay silent; the requests
are the reviewer's probes, rebuilt here with tests/fhir_builders.py. Expected values are the sources'
(ISH ratio >= 2 / > 2, IHC 2+ equivocal "to be confirmed by FISH", the diploid ERBB2 copy number 2) and
the codes of the published guides, written in the test; assertions are on status codes and rule ids.
"""
from __future__ import annotations

import pytest

from tests import fhir_builders as b
from tests.conftest import by_topic, status_ext
from tests.rule_ids import rules
from tests.test_rules_unscored import LOINC, V2, P, created, lab_requests, obs, run, suggested_by

SO = b.SO
CNV = b.component(LOINC, "48019-4", valueCodeableConcept=b.cc(SO, "SO:0001019", "copy_number_variation"))
GAIN = b.component(LOINC, "48019-4", valueCodeableConcept=b.cc(SO, "SO:0001742", "copy_number_gain"))


def copies(value: float) -> dict:
    return b.component(LOINC, "82155-3", valueQuantity={"value": value, "system": "http://unitsofmeasure.org", "code": "1"})


def erbb2(specimen_code: str, *extra: dict) -> list[dict]:
    spec = b.specimen(P, V2, specimen_code, sid=f"s-{specimen_code.lower()}")
    return [spec, b.gr_variant(P, "ERBB2", True, specimen=b.ref(spec), extra=extra, oid="erbb2", date="2024-03-01")]


def ras_wild_type() -> list[dict]:
    return [b.variant(P, "KRAS", present=False, date="2024-03-01"), b.variant(P, "NRAS", present=False, date="2024-03-01")]


def therapy_rules(cards: list[dict]) -> set[str]:
    return {r for c in by_topic(cards, "her2-therapy") for r in rules(c)}


def trial_ids(cards: list[dict]) -> list[str]:
    return [t for c in by_topic(cards, "her2-trials") for t in c["extension"]["her2cds"].get("trials", [])]


# ---------------------------------------------------------------- 1. ERBB2 copy-number variant "Present"

@pytest.mark.parametrize("tumour, specimen, extra, amplified, asked", [
    # plasma CN 1 / 2 with RAS wild-type: not TRIUMPH-blood, the laboratory is asked (reviewer's probes)
    ("crc", "PLAS", (CNV, copies(1)), False, "crc.lab-request.ngs-amplification"),
    ("crc", "PLAS", (CNV, copies(2)), False, "crc.lab-request.ngs-amplification"),
    ("crc", "PLAS", (CNV,), False, "crc.lab-request.ngs-amplification"),      # no copy number: may be a loss
    ("crc", "PLAS", (CNV, copies(3)), True, None),                             # twin: above the diploid 2
    ("crc", "PLAS", (GAIN,), True, None),                                      # twin: coded as a gain
    ("crc", "TUMOR", (CNV, copies(2)), False, "crc.lab-request.ngs-amplification"),
    ("crc", "TUMOR", (GAIN, copies(2)), False, "crc.lab-request.ngs-amplification"),  # a gain of 2 contradicts itself
    ("crc", "TUMOR", (CNV, copies(8)), True, None),
    ("gastric", "TUMOR", (CNV, copies(2)), False, "gc.lab-request.ngs-amplification"),
    ("gastric", "TUMOR", (CNV,), False, "gc.lab-request.ngs-amplification"),
    ("gastric", "TUMOR", (GAIN, copies(8)), True, None),
])
def test_1_copy_number_variant_is_amplified_only_as_a_gain_or_above_two(client, tumour, specimen, extra, amplified, asked):
    ras = ras_wild_type() if tumour == "crc" and specimen == "PLAS" else []
    cards = run(client, tumour, *erbb2(specimen, *extra), *ras)
    status = status_ext(cards)
    assert lab_requests(cards) == ({asked} if asked else set())
    if tumour == "crc" and specimen == "PLAS":
        assert ("TRIUMPH-blood" in status["criteriaMet"]) is amplified
        assert ("crc.therapy.pertuzumab-trastuzumab" in therapy_rules(cards)) is amplified
    if tumour == "crc" and specimen == "TUMOR":  # 3T: "gene copy number > 6 or HER2 amplification by NGS"
        assert ("NCT05356897" in trial_ids(cards)) is amplified
    if not amplified:
        assert status["status"] != "positive"
        [ask] = created(cards, "CommunicationRequest")
        assert "2024-03-01" in ask["payload"][0]["contentString"]
        assert suggested_by(cards)[0] == "common.test.ask-laboratory"


# ---------------------------------------------------------------- 2. a newer result without score behind an older scored one

NEG, POS, PRESENT = ("LA6577-6", "Negative"), ("LA6576-8", "Positive"), ("LA9633-4", "Present")


def interpretation(date: str, answer: tuple[str, str]) -> dict:
    return obs("48676-1", "HER2 [Interpretation] in Tissue", date, oid=f"interp-{date}", valueCodeableConcept=b.loinc(*answer))


def stain_present(date: str) -> dict:
    return obs("18474-7", "HER2 Ag [Presence] in Tissue by Immune stain", date, oid=f"stain-{date}",
               valueCodeableConcept=b.loinc(*PRESENT))


def ihc3(tumour: str, date: str) -> dict:
    return b.ihc(P, "3+", 80.0, date=date) if tumour == "crc" else b.ihc(P, "3+", date=date)


DISCORDANT = {"common.contradiction.lab-call-negative-criteria-met", "common.headline.discordant", "common.headline.lab-call-negative"}
NEWER = {"common.contradiction.newer-result-without-score", "common.headline.newer-result-without-score"}


@pytest.mark.parametrize("tumour", ["crc", "gastric"])
@pytest.mark.parametrize("later, status_rules, therapy_note, lab, in_summary", [
    # the reviewer's probe: IHC 3+ 2022-02-01, then the laboratory's "Negative" 2024-06-06 without a score
    (lambda: interpretation("2024-06-06", NEG), DISCORDANT, "common.therapy-note.newer-result-disagrees",
     "{p}.lab-request.newer-call", ["discordant", "IHC 3+ 2022-02-01", "negative", "2024-06-06"]),
    # an IHC of the same kind without a score, newer than the scored one (finding 8)
    (lambda: stain_present("2024-06-06"), NEWER, "common.therapy-note.newer-result-without-score",
     "{p}.lab-request.ihc-score", ["newer HER2 IHC 2024-06-06 has no score"]),
    # twins: the newer call agrees; the call or the unscored IHC predates the scored IHC
    (lambda: interpretation("2024-06-06", POS), set(), None, None, []),
    (lambda: interpretation("2021-06-06", NEG), set(), None, None, []),
    (lambda: stain_present("2021-06-06"), set(), None, None, []),
])
def test_2_a_newer_result_without_score_is_not_hidden_behind_an_older_positive(
        client, tumour, later, status_rules, therapy_note, lab, in_summary):
    cards = run(client, tumour, ihc3(tumour, "2022-02-01"), later())
    status = status_ext(cards)
    assert status["status"] == "positive"
    assert set(status["rules"]) & (DISCORDANT | NEWER) == status_rules
    therapies = by_topic(cards, "her2-therapy")
    assert therapies and all((therapy_note in rules(c)) is (therapy_note is not None) for c in therapies)
    prefix = "crc" if tumour == "crc" else "gc"
    assert lab_requests(cards) == ({lab.format(p=prefix)} if lab else set())
    summary = cards[0]["summary"]
    assert all(words in summary for words in in_summary), summary
