"""Input shapes of the published guides, read at the facts level (docs/input-codes.md).

Every HER2 code of mCODE's Tumor Marker Test value set, the Genomics Reporting IG variant and
grouping shapes, v2-0487 / SNOMED specimens and IHC scores written as text, each with the fact it
must give. Expected behaviour is written here, from the guides and the source reviews; the card
wording built on these facts is tested with the cards.
"""
from __future__ import annotations

import json
import re

import pytest

from cds_service.facts import FactReader, Facts
from cds_service.fhir_read import parse_resources
from cds_service.medications import DrugMatcher
from tests import fhir_builders as b
from tests.conftest import FIXTURES, ROOT, by_topic, call, load_request, status_ext

P = "p1"
LOINC = "http://loinc.org"


@pytest.fixture(scope="module")
def reader(knowledge):
    return FactReader(knowledge, DrugMatcher(knowledge))


def read(reader, *resources) -> Facts:
    return reader.read(parse_resources(resources))


def obs(code, display, date="2024-03-01", **fields):
    return b.observation(P, b.loinc(code, display), date, **fields)


def only(items):
    assert len(items) == 1, items
    return items[0]


# ---------------------------------------------------------------- mCODE HER2 codes

# Every HER2 code that mCODE STU4's Tumor Marker Test value set enumerates (VS_Genomics.fsh), plus
# 18474-7 (the Genomics Reporting IG's immune-stain example). Each: an example value -> the fact.
# ("result", kind, values) | ("unscored", kind, lacks, lab call) | ("not_used", reason)
MCODE_HER2 = {
    "18474-7": ("HER2 Ag [Presence] in Tissue by Immune stain", {"valueCodeableConcept": b.loinc("LA11843-2", "3+")},
                ("result", "ihc", {"score": "3+"})),
    "85319-2": ("HER2 [Presence] in Breast cancer specimen by Immune stain", {"valueCodeableConcept": b.loinc("LA11842-4", "2+")},
                ("result", "ihc", {"score": "2+"})),
    "49683-6": ("ERBB2 gene copy number/Chromosome 17 copy number in Tissue by FISH",
                {"valueQuantity": {"value": 2.3, "system": "http://unitsofmeasure.org", "code": "{ratio}"}},
                ("result", "ish", {"ratio": 2.3})),
    "74885-5": ("ERBB2 gene (HER2) duplication associated observations panel - Tissue by FISH",
                {"component": [b.component(LOINC, "49683-6", valueQuantity={"value": 2.5}),
                               b.component(LOINC, "74860-8", valueQuantity={"value": 6.1, "code": "{copies}/{nucleus}"}),
                               b.component(LOINC, "74861-6", valueQuantity={"value": 2.4, "code": "{copies}/{nucleus}"})]},
                ("result", "ish", {"ratio": 2.5, "copies_per_cell": 6.1, "cep17_per_cell": 2.4})),
    "74860-8": ("ERBB2 gene copy number/nucleus in Tissue by FISH", {"valueQuantity": {"value": 6.0, "code": "{copies}/{nucleus}"}},
                ("result", "ish", {"copies_per_cell": 6.0})),
    "31150-6": ("ERBB2 gene duplication [Presence] in Tissue by FISH", {"valueCodeableConcept": b.loinc("LA9633-4", "Present")},
                ("unscored", "ish", "ratio", "positive")),
    "85318-4": ("ERBB2 gene duplication [Presence] in Breast cancer specimen by FISH",
                {"valueCodeableConcept": b.loinc("LA9634-2", "Absent")}, ("unscored", "ish", "ratio", "negative")),
    "96893-3": ("ERBB2 gene duplication in Tumor by FISH", {"valueCodeableConcept": b.loinc("LA6576-8", "Positive")},
                ("unscored", "ish", "ratio", "positive")),
    "48676-1": ("HER2 [Interpretation] in Tissue", {"valueCodeableConcept": b.loinc("LA6577-6", "Negative")},
                ("unscored", "interpretation", "ihc-or-ish", "negative")),
    "32996-1": ("HER2 [Mass/volume] in Serum", {"valueQuantity": {"value": 12.0, "unit": "ng/mL"}}, ("not_used", "serum")),
    "42914-2": ("HER2 [Mass/volume] in Serum by Immunoassay", {"valueQuantity": {"value": 18.5, "unit": "ng/mL"}}, ("not_used", "serum")),
    "51981-9": ("HER2 [Presence] in Serum by Immunoassay", {"valueCodeableConcept": b.loinc("LA6576-8", "Positive")},
                ("not_used", "serum")),
    "72382-5": ("HER2 [Units/volume] in Tissue by Immunoassay", {"valueQuantity": {"value": 20, "unit": "IU/mL"}},
                ("not_used", "tissue-immunoassay")),
    # with the laboratory's call: perhaps an IHC under another code, asked (review of 6.11, item 4)
    "72383-3": ("HER2 [Presence] in Tissue by Immunoassay", {"valueCodeableConcept": b.loinc("LA6576-8", "Positive")},
                ("unscored", "immunoassay", "immunoassay", "positive")),
    "74861-6": ("Chromosome 17 copy number/nucleus in Tissue by FISH", {"valueQuantity": {"value": 2.0}}, ("not_used", "cep17-alone")),
}


def test_every_mcode_her2_code_has_a_tested_behaviour_and_a_sourced_entry(knowledge):
    mcode_value_set_her2 = {"31150-6", "32996-1", "42914-2", "48676-1", "49683-6", "51981-9", "72382-5", "72383-3",
                            "74860-8", "74861-6", "74885-5", "85318-4", "85319-2", "96893-3"}
    assert mcode_value_set_her2 | {"18474-7"} == set(MCODE_HER2)
    entries = {e["code"]: e for e in knowledge.codes["observation_codes"]}
    references = knowledge.codes["references"]
    for code in MCODE_HER2:
        assert code in entries, code
        assert entries[code]["from"] and all(ref in references for ref in entries[code]["from"])


@pytest.mark.parametrize("code", sorted(MCODE_HER2))
def test_mcode_her2_code(reader, code):
    display, value, expected = MCODE_HER2[code]
    facts = read(reader, obs(code, display, oid="o1", **value))
    if expected[0] == "result":
        _, kind, values = expected
        result = only(facts.results[kind])
        assert result.ref == "Observation/o1" and result.origin == "tissue"
        assert {k: result.values[k] for k in values} == values
        assert not facts.unscored and not facts.not_used
    elif expected[0] == "unscored":
        _, kind, lacks, call_ = expected
        item = only(facts.unscored)
        assert (item.kind, item.lacks, item.interpretation, item.ref) == (kind, lacks, call_, "Observation/o1")
        assert item.code == f"{LOINC}|{code}" and item.when.date().isoformat() == "2024-03-01"
        assert facts.unusable_results == 1 and not facts.results
    else:
        item = only(facts.not_used)
        assert (item.reason, item.ref, item.code) == (expected[1], "Observation/o1", f"{LOINC}|{code}")
        assert facts.unusable_results == 0 and not facts.results and not facts.unscored


@pytest.mark.parametrize("code", sorted(c for c, (_, _, e) in MCODE_HER2.items() if e[0] == "not_used"))
@pytest.mark.parametrize("tumour", ["crc", "gastric"])
def test_a_result_that_is_no_criterion_never_changes_the_status(client, code, tumour):
    display, value, _ = MCODE_HER2[code]
    base = [b.patient(P), getattr(b, tumour)(P), b.liver_mets(P)]
    for others, expected in (([], "not-tested"), ([b.ihc(P, "3+", 80)], "positive")):
        without = call(client, b.hook_request("patient-view", P, base + others))[1]
        extra = obs(code, display, oid="not-a-criterion", **value)
        request = b.hook_request("patient-view", P, base + others)
        request["prefetch"]["her2Observations"]["entry"].append({"resource": extra})
        code_, with_ = call(client, request)
        assert code_ == 200
        assert status_ext(with_["cards"])["status"] == status_ext(without["cards"])["status"] == expected
        detail = with_["cards"][0]["detail"]  # named as not used, by its date, never by its record id (decision 6.10)
        assert "**On file, not used**" in detail and "Observation/not-a-criterion" not in detail


# ---------------------------------------------------------------- Genomics Reporting IG examples

def test_ig_her2_immune_stain_example_is_an_unscored_ihc_result(reader):
    """HER2byImmuneStainExample: 18474-7 = LA9633-4 Present, gene studied ERBB2, no score."""
    stain = obs("18474-7", "HER2 Ag [Presence] in Tissue by Immune stain", "2019-04-01", oid="HER2byImmuneStainExample",
                valueCodeableConcept=b.loinc("LA9633-4", "Present"),
                component=[b.component(LOINC, "48018-6", valueCodeableConcept=b.cc("http://www.genenames.org", "HGNC:3430", "ERBB2"))])
    facts = read(reader, stain)
    item = only(facts.unscored)
    assert (item.kind, item.ref, item.lacks, item.reported, item.interpretation) == (
        "ihc", "Observation/HER2byImmuneStainExample", "score", "Present", None)
    assert item.lacks_text == "no 0/1+/2+/3+ score"
    assert item.test == "HER2 Ag [Presence] in Tissue by Immune stain" and item.when.date().isoformat() == "2019-04-01"
    assert not facts.results and facts.unusable_results == 1 and facts.her2_on_file


@pytest.mark.parametrize("value, interpretation, expected", [
    ({"valueCodeableConcept": b.loinc("LA9633-4", "Present")}, None, None),  # antigen present is no HER2 call
    ({"valueCodeableConcept": b.loinc("LA6576-8", "Positive")}, None, "positive"),
    ({"valueCodeableConcept": b.cc(b.SNOMED, "260385009", "Negative (qualifier value)")}, None, "negative"),
    ({"valueString": "equivocal"}, None, "equivocal"),
    ({"valueCodeableConcept": b.loinc("LA9633-4", "Present")}, b.cc(b.V3_INTERPRETATION, "POS", "Positive"), "positive"),
    ({"valueString": "see report"}, b.cc(b.SNOMED, "10828004", "Positive (qualifier value)"), "positive"),
    ({"valueString": "HER2-negative"}, None, "negative"),
])
def test_unscored_ihc_keeps_the_laboratorys_own_call(reader, value, interpretation, expected):
    extra = {"interpretation": [interpretation]} if interpretation else {}
    item = only(read(reader, obs("18474-7", "HER2 IHC", **value, **extra)).unscored)
    assert (item.kind, item.lacks, item.interpretation) == ("ihc", "score", expected)


@pytest.mark.parametrize("value, lacks, reported", [
    ({"valueQuantity": {"value": 2.3, "unit": "mg"}}, "ratio-unit", "2.3 mg"),
    ({"valueQuantity": {"value": 2.0, "comparator": "<"}}, "ratio-bound", "<2"),
    ({"dataAbsentReason": b.cc("http://terminology.hl7.org/CodeSystem/data-absent-reason", "not-performed", "Not Performed")},
     "value", "no value: Not Performed"),
])
def test_ish_ratio_that_cannot_be_used_is_named_with_what_it_lacks(reader, value, lacks, reported):
    facts = read(reader, obs("49683-6", "ERBB2/CEP17 ratio", oid="r", **value))
    item = only(facts.unscored)
    assert (item.kind, item.ref, item.lacks, item.reported) == ("ish", "Observation/r", lacks, reported)
    assert not facts.results.get("ish")


ERBB2_GAIN = b.component(LOINC, "48019-4", valueCodeableConcept=b.cc(b.SO, "SO:0001742", "copy_number_gain"))
CN_14 = b.component(LOINC, "82155-3", valueQuantity={"value": 14, "system": "http://unitsofmeasure.org", "code": "1"})
GERMLINE = b.component(LOINC, "48002-0", valueCodeableConcept=b.loinc("LA6683-2", "Germline"))
SOMATIC = b.component(LOINC, "48002-0", valueCodeableConcept=b.loinc("LA6684-0", "Somatic"))


@pytest.mark.parametrize("gene, present, extra, expected", [
    ("ERBB2", True, (ERBB2_GAIN, CN_14, SOMATIC), ("ngs_plasma", {"amplified": True, "copy_number": 14.0})),
    ("ERBB2", True, (CN_14,), ("ngs_plasma", {"amplified": True, "copy_number": 14.0})),  # copy number without 48019-4
    ("ERBB2", False, (ERBB2_GAIN,), ("ngs_plasma", {"amplified": False})),
    ("ERBB2", True, (ERBB2_GAIN, CN_14, GERMLINE), ("not_used", "germline")),
    ("KRAS", True, (GERMLINE, b.component(LOINC, "48005-3", valueCodeableConcept={"text": "p.Gly12Asp"})), ("not_used", "germline")),
    ("ERBB2", True, (b.component(LOINC, "48019-4", valueCodeableConcept=b.cc(b.SO, "SO:1000002", "substitution")),),
     ("not_used", "erbb2-sequence-variant")),
    ("ERBB2", None, (ERBB2_GAIN,), ("unscored", "ngs", "value")),
])
def test_genomics_reporting_variants(reader, gene, present, extra, expected):
    facts = read(reader, b.gr_variant(P, gene, present, specimen="Plasma cfDNA", extra=extra, oid="v"))
    if expected[0] == "not_used":
        assert only(facts.not_used).reason == expected[1]
        assert not facts.results and not facts.variants and facts.unusable_results == 0
    elif expected[0] == "unscored":
        item = only(facts.unscored)
        assert (item.kind, item.lacks) == expected[1:]
    else:
        kind, values = expected
        result = only(facts.results[kind])
        assert {k: result.values[k] for k in values} == values and result.ref == "Observation/v"


@pytest.mark.parametrize("aa, codon", [
    (b.cc("http://varnomen.hgvs.org", "NP_004976.2:p.Gly12Asp"), 12),  # IG oncology example style: HGVS coding only
    ({"text": "p.G13D"}, 13),
    ({"text": "Q61H"}, 61),
])
def test_ras_variant_codon_and_allele_fraction(reader, aa, codon):
    vaf = b.component(LOINC, "81258-6", valueQuantity={"value": 0.08, "system": "http://unitsofmeasure.org", "code": "1"})
    change = b.component(LOINC, "48005-3", valueCodeableConcept=aa)
    facts = read(reader, b.gr_variant(P, "KRAS", True, specimen="Plasma", extra=(SOMATIC, change, vaf)))
    variant = only(facts.variants)
    assert (variant.gene, variant.codon, variant.vaf, variant.origin) == ("KRAS", codon, 8.0, "plasma")


def test_loinc_answer_without_its_system_is_still_read(reader):
    variant = b.gr_variant(P, "KRAS", None, specimen="Plasma")
    variant["valueCodeableConcept"] = {"coding": [{"code": "LA9634-2", "display": "Absent"}]}
    assert only(read(reader, variant).variants).present is False


def test_ig_erbb2_variant_example(reader):
    """VariantExample (NM_004448.4(ERBB2):c.2264_2278del): as published it names no gene studied, only
    NC_000017.11 coordinates, so the gene cannot be told; with gene studied ERBB2 it is a sequence
    variant, shown as not used (the criteria use amplification)."""
    coordinates = (b.component(LOINC, "48013-7", valueCodeableConcept=b.cc("http://www.ncbi.nlm.nih.gov/refseq", "NC_000017.11")),
                   b.component(LOINC, "69547-8", valueString="ATTGAGGGAAAACACAT"), b.component(LOINC, "69551-0", valueString="T"))
    published = b.observation(P, b.loinc("69548-6"), "2019-04-01", valueCodeableConcept=b.loinc("LA9633-4", "Present"),
                              component=list(coordinates))
    facts = read(reader, published)
    assert not (facts.results or facts.variants or facts.unscored or facts.not_used)
    with_gene = b.gr_variant(P, "ERBB2", True, extra=coordinates)
    assert only(read(reader, with_gene).not_used).reason == "erbb2-sequence-variant"


def test_gene_studied_given_as_symbol(reader):
    """The IG oncology bundle codes gene studied with the symbol (system geneId, code JAK2)."""
    variant = b.gr_variant(P, "NRAS", False, specimen="Plasma", gene_code="NRAS")
    variant["component"][0]["valueCodeableConcept"] = {"coding": [{"system": b.HGNC, "code": "NRAS"}]}
    assert only(read(reader, variant).variants).gene == "NRAS"


# ---------------------------------------------------------------- specimens: v2-0487, SNOMED, words

V2, SCT = b.V2_0487, b.SNOMED


@pytest.mark.parametrize("system, code, display, origin", [
    (V2, "PLAS", None, "plasma"),  # plasma coded only PLAS, no display
    (V2, "PPP", None, "plasma"),
    (V2, "BLD", None, "plasma"),
    (V2, "BLDV", None, "plasma"),
    (V2, "WB", None, "plasma"),
    (V2, "TISS", None, "tissue"),
    (V2, "TUMOR", None, "tissue"),
    (V2, "BX", None, "tissue"),
    (SCT, "119361006", None, "plasma"),
    (SCT, "258580003", None, "plasma"),  # whole blood sample
    (SCT, "119376003", None, "tissue"),
    (SCT, "441652008", None, "tissue"),  # FFPE tissue specimen
    (SCT, "258435002", None, "tissue"),  # tumour tissue sample
    (V2, "SER", "Serum", None),  # serum is not plasma
    (SCT, "119364003", None, None),
    (SCT, "788707000", "Plasma specimen or serum specimen or whole blood specimen", None),  # not one kind
    (None, None, "Liquid biopsy (cfDNA)", "plasma"),  # "biopsy" in "liquid biopsy" is no tissue
    (None, None, "Plasma", "plasma"),
])
def test_specimen_type_decides_the_origin_of_an_erbb2_result(reader, system, code, display, origin):
    spec = b.specimen(P, system, code, display, sid="s1") if code else b.specimen(P, None, None, sid="s1", text=display)
    facts = read(reader, spec, b.gr_variant(P, "ERBB2", True, specimen={"reference": "Specimen/s1"}, extra=(ERBB2_GAIN,), oid="v"))
    if origin is None:
        item = only(facts.unscored)
        assert item.kind == "ngs" and item.lacks in ("specimen", "specimen-serum") and item.interpretation == "positive"
        assert not facts.results
    else:
        assert only(facts.results[f"ngs_{origin}"]).specimen_key == "Specimen/s1"


def test_serum_specimen_is_named_as_serum(reader):
    spec = b.specimen(P, V2, "SER", sid="s1")
    item = only(read(reader, spec, b.gr_variant(P, "ERBB2", True, specimen={"reference": "Specimen/s1"}, extra=(ERBB2_GAIN,))).unscored)
    assert (item.lacks, item.origin) == ("specimen-serum", "serum")


def test_contained_specimen_coded_plas(reader):
    variant = b.gr_variant(P, "ERBB2", True, specimen={"reference": "#spec"}, extra=(ERBB2_GAIN,))
    variant["contained"] = [{"resourceType": "Specimen", "id": "spec", "type": b.cc(V2, "PLAS")}]
    assert only(read(reader, variant).results["ngs_plasma"])


@pytest.mark.parametrize("spec, kind", [
    (b.specimen(P, V2, "BX", sid="s1"), "biopsy"),
    (b.specimen(P, SCT, "258415003", sid="s1"), "biopsy"),
    (b.specimen(P, V2, "TISS", sid="s1", method=("129314006", "Biopsy - action")), "biopsy"),
    (b.specimen(P, V2, "TISS", sid="s1", method=("129304002", "Excision - action")), "surgical"),
    (b.specimen(P, V2, "TUMOR", sid="s1"), None),
])
def test_specimen_collection_tells_biopsy_from_surgical(reader, spec, kind):
    ihc = b.ihc(P, "3+", 20, specimen=None)
    ihc["specimen"] = {"reference": "Specimen/s1"}
    assert only(read(reader, spec, ihc).results["ihc"]).specimen == kind


# ---------------------------------------------------------------- IHC scores written as text

@pytest.mark.parametrize("text, score, percent", [
    ("3+", "3+", None),
    ("Score 3+", "3+", None),
    ("HER2 (3+)", "3+", None),
    ("positive (3+)", "3+", None),
    ("Positive (Score 3+)", "3+", None),  # CAP biomarker template wording
    ("IHC 3+ (Positive)", "3+", None),
    ("2+ equivocal", "2+", None),
    ("Equivocal (Score 2+)", "2+", None),
    ("IHC 1+ (low)", "1+", None),
    ("Negative (Score 1+)", "1+", None),
    ("negative (0)", "0", None),
    ("score: 2", "2+", None),
    ("3", "3+", None),
    ("HER 2 score 3+", "3+", None),
    ("HER2/neu 2+", "2+", None),
    ("3+ in 80% of tumour cells", "3+", 80.0),
    ("0 (ultralow)", "0", None),
    ("Indeterminate", "indeterminate", None),
])
@pytest.mark.parametrize("form", ["valueString", "text"])
def test_ihc_score_written_unambiguously_is_read(reader, text, score, percent, form):
    value = {"valueString": text} if form == "valueString" else {"valueCodeableConcept": {"text": text}}
    result = only(read(reader, obs("18474-7", "HER2 IHC", **value)).results["ihc"])
    assert result.values["score"] == score
    assert result.values.get("percent_cells") == percent


@pytest.mark.parametrize("text, lacks", [
    ("1+/3", "score-ambiguous"),  # 1+ out of 3, or 1+ and 3?
    ("+++", "score-ambiguous"),  # staining intensity notation, not the 0-3+ score
    ("2+ to 3+", "score-ambiguous"),
    ("2-3+", "score-ambiguous"),
    ("3+ (80%)", "score-ambiguous"),
    ("positive (1+)", "score-conflict"),  # gastric review Table 3: 1+ is negative
    ("negative (3+)", "score-conflict"),
    ("low (3+)", "score-conflict"),
    ("Present", "score"),
    ("Mixed", "score"),
    ("see pathology report", "score"),
])
@pytest.mark.parametrize("form", ["valueString", "text"])
def test_ihc_text_that_is_ambiguous_is_never_guessed(reader, text, lacks, form):
    value = {"valueString": text} if form == "valueString" else {"valueCodeableConcept": {"text": text}}
    facts = read(reader, obs("18474-7", "HER2 IHC", **value))
    assert not facts.results
    item = only(facts.unscored)
    assert (item.kind, item.lacks, item.reported) == ("ihc", lacks, text)


# ---------------------------------------------------------------- grouping: report, hasMember, derivedFrom

def test_report_specimen_and_date_apply_to_results_that_name_none(reader):
    spec = b.specimen(P, V2, "PLAS", sid="s1")
    variant = b.gr_variant(P, "ERBB2", True, date=None, extra=(ERBB2_GAIN,), oid="v")
    report = b.diagnostic_report(P, b.loinc("51969-4", "Genetic analysis report"), (variant,), (spec,), date="2024-04-02", rid="r")
    result = only(read(reader, spec, variant, report).results["ngs_plasma"])
    assert (result.grouped_in, result.when.date().isoformat()) == ("DiagnosticReport/r", "2024-04-02")


def test_result_own_specimen_wins_over_the_reports(reader):
    plasma, tissue = b.specimen(P, V2, "PLAS", sid="s1"), b.specimen(P, V2, "TISS", sid="s2")
    variant = b.gr_variant(P, "ERBB2", True, specimen=b.ref(tissue), extra=(ERBB2_GAIN,))
    report = b.diagnostic_report(P, b.loinc("51969-4"), (variant,), (plasma,))
    assert only(read(reader, plasma, tissue, variant, report).results["ngs_tissue"])


def test_report_with_specimens_of_two_kinds_gives_no_origin(reader):
    plasma, tissue = b.specimen(P, V2, "PLAS", sid="s1"), b.specimen(P, V2, "TISS", sid="s2")
    variant = b.gr_variant(P, "ERBB2", True, extra=(ERBB2_GAIN,))
    report = b.diagnostic_report(P, b.loinc("51969-4"), (variant,), (plasma, tissue))
    assert only(read(reader, plasma, tissue, variant, report).unscored).lacks == "specimen"


def test_result_contained_in_the_report(reader):
    ihc = b.ihc(P, "3+", 90, oid="c1")
    report = b.diagnostic_report(P, b.loinc("22637-3"), rid="r", contained=[ihc], result=[{"reference": "#c1"}])
    assert only(read(reader, report).results["ihc"]).ref == "DiagnosticReport/r#c1"


def test_ish_panel_members_become_one_result(reader):
    ratio = obs("49683-6", "ratio", None, oid="m1", valueRatio={"numerator": {"value": 2.4}, "denominator": {"value": 1}})
    copies = obs("74860-8", "copies", None, oid="m2", valueQuantity={"value": 7.0, "code": "{copies}/{nucleus}"})
    cep17 = obs("74861-6", "cep17", None, oid="m3", valueQuantity={"value": 2.9, "code": "{copies}/{nucleus}"})
    panel = obs("74885-5", "panel", "2024-06-01", oid="p", specimen="Colon resection specimen", method={"text": "SISH"},
                hasMember=[b.ref(ratio), b.ref(copies), b.ref(cep17)])
    facts = read(reader, panel, ratio, copies, cep17)
    result = only(facts.results["ish"])
    expected = {"ratio": 2.4, "copies_per_cell": 7.0, "cep17_per_cell": 2.9, "method": "SISH"}
    assert {k: result.values[k] for k in expected} == expected
    assert (result.ref, result.specimen, result.when.date().isoformat()) == ("Observation/m1", "surgical", "2024-06-01")
    assert not facts.unscored and not facts.not_used


def test_separate_ish_parts_in_one_report_are_merged_but_two_ratios_are_not(reader):
    ratio = obs("49683-6", "ratio", oid="a", valueQuantity={"value": 2.2})
    copies = obs("74860-8", "copies", oid="b", valueQuantity={"value": 5.0})
    report = b.diagnostic_report(P, b.loinc("22637-3"), (ratio, copies))
    assert only(read(reader, ratio, copies, report).results["ish"]).values["copies_per_cell"] == 5.0
    second = obs("49683-6", "ratio", oid="c", valueQuantity={"value": 1.1})
    report = b.diagnostic_report(P, b.loinc("22637-3"), (ratio, second, copies))
    assert len(read(reader, ratio, second, copies, report).results["ish"]) == 3


def test_nested_grouping_passes_the_report_specimen_down(reader):
    spec = b.specimen(P, V2, "PLAS", sid="s1")
    kras = b.gr_variant(P, "KRAS", False, date=None)
    grouper = b.observation(P, {"coding": [{"system": "http://ncimeta.nci.nih.gov", "code": "C43359"}], "text": "Group"}, None,
                            hasMember=[b.ref(kras)])
    report = b.diagnostic_report(P, b.loinc("51969-4"), (grouper,), (spec,), date="2024-04-03")
    variant = only(read(reader, spec, kras, grouper, report).variants)
    assert (variant.origin, variant.when.date().isoformat()) == ("plasma", "2024-04-03")


def test_outer_grouper_context_reaches_inner_members_whatever_the_order(reader):
    spec = b.specimen(P, V2, "PLAS", sid="s1")
    kras = b.gr_variant(P, "KRAS", False, date=None)
    inner = b.observation(P, {"text": "Group"}, None, oid="inner", hasMember=[b.ref(kras)])
    outer = b.observation(P, {"text": "Group"}, "2024-04-05", oid="outer", specimen=b.ref(spec), hasMember=[b.ref(inner)])
    assert only(read(reader, spec, inner, kras, outer).variants).origin == "plasma"


def test_versioned_and_absolute_references_resolve(reader):
    spec = b.specimen(P, V2, "PLAS", sid="s1")
    variant = b.gr_variant(P, "ERBB2", True, specimen={"reference": "https://ehr.example/fhir/Specimen/s1/_history/3"},
                           extra=(ERBB2_GAIN,))
    assert only(read(reader, spec, variant).results["ngs_plasma"])


def test_mcode_interpretation_in_a_pathology_report(reader):
    """mCODE tumor-marker-test-her2-jenny-m in us-core-diagnosticreport-lab-jenny-m (Specimen TUMOR)."""
    spec = b.specimen(P, V2, "TUMOR", sid="s1")
    her2 = obs("48676-1", "HER2 [Interpretation] in Tissue", "2018-03-10", oid="tumor-marker-test-her2",
               valueCodeableConcept=b.loinc("LA6577-6", "Negative"))
    report = b.diagnostic_report(P, b.loinc("22637-3"), (her2,), (spec,), rid="path")
    item = only(read(reader, spec, her2, report).unscored)
    assert (item.kind, item.lacks, item.interpretation) == ("interpretation", "ihc-or-ish", "negative")
    assert item.grouped_in == "DiagnosticReport/path"


def test_interpretation_with_ihc_and_ish_components(reader):
    """HER2 status (48676-1) carrying IHC (85319-2 = LA11843-2 3+) and ISH (96893-3 = Positive) as components."""
    status = obs("48676-1", "HER2 status", oid="s", valueCodeableConcept={"text": "HER2-positive"}, component=[
        b.component(LOINC, "85319-2", valueCodeableConcept=b.loinc("LA11843-2", "3+")),
        b.component(LOINC, "96893-3", valueCodeableConcept=b.loinc("LA6576-8", "Positive"))])
    facts = read(reader, status)
    ihc = only(facts.results["ihc"])
    assert (ihc.ref, ihc.values["score"], ihc.values["lab_interpretation"]) == ("Observation/s", "3+", "positive")
    ish = only(facts.unscored)
    assert (ish.kind, ish.lacks, ish.interpretation) == ("ish", "ratio", "positive")


def test_derived_from_is_kept_on_an_unscored_result(reader):
    interp = obs("48676-1", "HER2 [Interpretation] in Tissue", valueString="positive", derivedFrom=[{"reference": "Observation/ihc-1"}])
    assert only(read(reader, interp).unscored).derived_from == ("Observation/ihc-1",)


@pytest.mark.parametrize("fields, expected", [
    ({"conclusion": "HER2 IHC: positive, see attached PDF."}, ("narrative", None)),
    ({"conclusion": "Result in attachment", "conclusionCode": [b.cc(b.SNOMED, "260385009", "Negative")]}, ("narrative", "negative")),
    ({"presentedForm": [{"contentType": "application/pdf", "title": "HER2 FISH report"}]}, ("narrative", None)),
    ({"result": [{"reference": "Observation/not-received"}]}, ("members", None)),
])
def test_her2_report_without_structured_result_is_a_result_on_file(reader, fields, expected):
    report = b.diagnostic_report(P, {"text": "HER2 testing"}, date="2024-02-20", rid="r", **fields)
    item = only(read(reader, report).unscored)
    assert (item.kind, item.ref, item.when.date().isoformat()) == ("report", "DiagnosticReport/r", "2024-02-20")
    assert (item.lacks, item.interpretation) == expected


def test_reports_that_say_nothing_about_her2_or_already_gave_a_result_add_nothing(reader):
    tmb = b.diagnostic_report(P, b.loinc("51969-4", "Genetic analysis report"), conclusion="TMB 25 mut/Mb; MSI stable")
    ihc = b.ihc(P, "2+", 30)
    her2 = b.diagnostic_report(P, {"text": "HER2 IHC"}, (ihc,), conclusion="HER2 2+")
    draft = b.diagnostic_report(P, {"text": "HER2 IHC"}, status="preliminary", conclusion="HER2 pending")
    facts = read(reader, tmb, ihc, her2, draft)
    assert not facts.unscored and only(facts.results["ihc"]).grouped_in == f"DiagnosticReport/{her2['id']}"
    assert any("status 'preliminary'" in n for n in facts.notes)


def test_her2_named_result_with_an_unmapped_code_is_shown_not_used(reader):
    local = b.observation(P, {"coding": [{"system": "https://fhir.cerner.com/x/codeSet/72", "code": "123"}], "text": "HER2 IHC"},
                          valueString="3+", oid="local")
    facts = read(reader, local, b.observation(P, {"text": "Haemoglobin"}, valueString="12"))
    item = only(facts.not_used)
    assert (item.reason, item.ref) == ("unmapped-code", "Observation/local")
    assert not facts.results and facts.unusable_results == 0


# ---------------------------------------------------------------- fixtures from the published examples

NEW_FIXTURES = {
    # name: (scored kinds, unscored (kind, lacks, call), not-used reasons)
    "crc-ig-her2-immune-stain": (set(), [("ihc", "score", None)], ["tissue-immunoassay"]),
    "crc-genomics-report-plasma": ({"ngs_plasma"}, [], []),
    "crc-narrative-her2-report": (set(), [("report", "narrative", "positive")], []),
    "gastric-mcode-her2-interpretation": (set(), [("interpretation", "ihc-or-ish", "negative")], []),
    "gastric-ish-panel": ({"ihc", "ish"}, [], []),
    "gastric-not-criteria": (set(), [], ["serum", "tissue-immunoassay", "germline"]),
}


@pytest.mark.parametrize("name", sorted(NEW_FIXTURES))
def test_published_shape_fixture_facts(reader, name):
    kinds, unscored, not_used = NEW_FIXTURES[name]
    request = load_request(name)
    facts = reader.read(parse_resources(request["prefetch"].values()))
    assert {k for k, v in facts.results.items() if v} == kinds
    assert [(u.kind, u.lacks, u.interpretation) for u in facts.unscored] == unscored
    assert [n.reason for n in facts.not_used] == not_used
    assert facts.her2_on_file == bool(kinds or unscored)


def test_plas_coded_genomic_report_fixture_is_read_as_plasma(reader):
    facts = reader.read(parse_resources(load_request("crc-genomics-report-plasma")["prefetch"].values()))
    assert only(facts.results["ngs_plasma"]).values == {"amplified": True, "copy_number": 14.0}
    assert {(v.gene, v.present, v.origin) for v in facts.variants} == {("KRAS", False, "plasma"), ("NRAS", False, "plasma")}


def test_ish_panel_fixture_gives_ratio_copies_and_method(reader):
    facts = reader.read(parse_resources(load_request("gastric-ish-panel")["prefetch"].values()))
    assert only(facts.results["ihc"]).values["score"] == "2+"
    ish = only(facts.results["ish"]).values
    assert (ish["ratio"], ish["copies_per_cell"], ish["cep17_per_cell"], ish["method"]) == (2.6, 5.8, 2.2, "FISH")


@pytest.mark.parametrize("name", sorted(NEW_FIXTURES))
def test_published_shape_fixtures_answer_over_http(client, name):
    code, body = call(client, load_request(name))
    assert code == 200
    assert by_topic(body["cards"], "her2-status")


def test_fixture_readme_names_every_fixture():
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    for path in (FIXTURES / "requests").glob("*.json"):
        assert f"| {path.stem} |" in readme, path.stem


def test_no_shape_of_this_file_gives_a_server_error(client):
    """Every shape above, sent as a hook request: 200, never a 500."""
    shapes = [obs(code, display, **value) for code, (display, value, _) in MCODE_HER2.items()]
    shapes += [b.gr_variant(P, "ERBB2", True, specimen={"reference": "#s"}, extra=(ERBB2_GAIN, CN_14, GERMLINE)),
               b.diagnostic_report(P, {"text": "HER2"}, conclusion="x" * 5000, result=[{"reference": "#missing"}]),
               obs("18474-7", "HER2", valueString="＋＋＋ 3+ " * 50)]
    for resource in shapes:
        for tumour in ("crc", "gastric"):
            request = b.hook_request("patient-view", P, [b.patient(P), getattr(b, tumour)(P)])
            request["prefetch"]["her2Observations"]["entry"].append({"resource": json.loads(json.dumps(resource))})
            code, _ = call(client, request)
            assert code == 200


# ---------------------------------------------------------------- the integrator's guide

def test_input_guide_is_in_the_repo_and_linked(knowledge):
    guide = ROOT / "docs" / "input-codes.md"
    assert "docs/input-codes.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert knowledge.codes["contract"] == knowledge.drugs["contract"].split()[0] == "docs/input-codes.md"
    text = guide.read_text(encoding="utf-8")
    for entry in knowledge.codes["observation_codes"]:  # every code the service reads is in the guide
        assert f"`{entry['code']}`" in text, entry["code"]
    outside = "design/" + "input-codes"  # the design note outside the repository
    for path in [ROOT / "README.md", guide, *ROOT.glob("cds_service/*.py"), *ROOT.glob("cards/*.yaml"), *ROOT.glob("tests/*.py")]:
        assert outside not in path.read_text(encoding="utf-8"), path


def test_relative_links_of_the_guide_and_readme_resolve():
    for doc in (ROOT / "README.md", ROOT / "docs" / "input-codes.md"):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            assert (doc.parent / target).exists(), f"{doc.name}: {target}"
