"""Write the synthetic fixture patients and their hook requests to fixtures/ (run from the repo root).

python -m tests.make_fixtures      # rewrite fixtures/patients/*.json and fixtures/requests/*.json
tests/test_fixtures.py checks the committed files equal what this script writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests import fhir_builders as b

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _crc_base(pid: str) -> list[dict]:
    return [b.patient(pid), b.crc(pid), b.liver_mets(pid)]


def crc_ihc3_positive(pid: str = "crc-ihc3") -> list[dict]:
    """CRC, IHC 3+ in 80% on biopsy, tissue RAS wild-type, after FOLFOX (later line)."""
    return _crc_base(pid) + [
        b.ihc(pid, "3+", 80),
        b.variant(pid, "KRAS", present=False, origin="tissue", date="2024-03-01"),
        b.variant(pid, "NRAS", present=False, origin="tissue", date="2024-03-01"),
        b.medication(pid, "FOLFOX", date="2024-01-10"),
    ]


def crc_ihc2_ish_positive(pid: str = "crc-ihc2-ish") -> list[dict]:
    """CRC, IHC 2+ in 60% with ISH ratio 2.5 (8 copies, 70% of cells amplified); first line."""
    return _crc_base(pid) + [b.ihc(pid, "2+", 60), b.ish(pid, 2.5, copies=8, amplified_pct=70)]


def crc_plasma_amplified(pid: str = "crc-plasma") -> list[dict]:
    """CRC, plasma ERBB2 amplified (ApCN 20), plasma KRAS/NRAS wild-type, no tissue result."""
    return _crc_base(pid) + [
        b.erbb2_cn(pid, True, copy_number=12),
        b.apcn(pid, 20),
        b.ctdna_fraction(pid, 15),
        b.variant(pid, "KRAS", present=False),
        b.variant(pid, "NRAS", present=False),
        b.medication(pid, "FOLFIRI", date="2023-05-01"),
    ]


def crc_her2_negative(pid: str = "crc-negative") -> list[dict]:
    """CRC, IHC 0."""
    return _crc_base(pid) + [b.ihc(pid, "0")]


def crc_her2_low(pid: str = "crc-low") -> list[dict]:
    """CRC, IHC 2+ with ISH ratio 1.4 (HER2-low)."""
    return _crc_base(pid) + [b.ihc(pid, "2+", 40), b.ish(pid, 1.4)]


def crc_plasma_negative_low_shedding(pid: str = "crc-plasma-neg") -> list[dict]:
    """CRC, plasma ERBB2 not amplified with ctDNA fraction 0.4%, no tissue result."""
    return _crc_base(pid) + [b.erbb2_cn(pid, False), b.ctdna_fraction(pid, 0.4)]


def crc_ras_mutant(pid: str = "crc-ras") -> list[dict]:
    """CRC, IHC 3+ 70% and plasma KRAS G12D at relative clonality 80% (RAS-mutant), later line."""
    return _crc_base(pid) + [
        b.ihc(pid, "3+", 70),
        b.erbb2_cn(pid, True, copy_number=30),
        b.variant(pid, "KRAS", "p.Gly12Asp", vaf=8.0),
        b.variant(pid, "PIK3CA", "p.His1047Arg", vaf=10.0),
        b.variant(pid, "NRAS", present=False),
        b.medication(pid, "FOLFOX", date="2023-02-01"),
    ]


def gastric_ihc3(pid: str = "gc-ihc3") -> list[dict]:
    """Gastric/GEJ, IHC 3+, metastatic, no prior therapy (first line)."""
    return [b.patient(pid), b.gastric(pid), b.liver_mets(pid), b.ihc(pid, "3+", specimen="Gastric biopsy")]


def gastric_ihc2_no_ish(pid: str = "gc-ihc2") -> list[dict]:
    """Gastric/GEJ, IHC 2+ without ISH."""
    return [b.patient(pid), b.gastric(pid), b.liver_mets(pid), b.ihc(pid, "2+", specimen="Gastric biopsy")]


def gastric_after_trastuzumab(pid: str = "gc-post-t") -> list[dict]:
    """Gastric/GEJ, IHC 3+ from 2023, trastuzumab + chemotherapy completed in 2024 (second line now)."""
    return [
        b.patient(pid),
        b.gastric(pid),
        b.liver_mets(pid),
        b.ihc(pid, "3+", date="2023-01-15", specimen="Gastric biopsy"),
        b.medication(pid, "trastuzumab", "224905", date="2023-02-01"),
        b.medication(pid, "cisplatin", "2555", date="2023-02-01"),
    ]


def crc_tissue_copy_number(pid: str = "crc-cn") -> list[dict]:
    """CRC, IHC 3+ with tissue NGS copy number 70 and qPCR copy number 12 (Table 2 tissue cut-offs)."""
    return _crc_base(pid) + [
        b.ihc(pid, "3+", 90),
        b.erbb2_cn(pid, True, 70, origin="tissue"),
        b.local_value(pid, "erbb2-cn-qpcr", 12, origin="tissue"),
    ]


def crc_ihc2_no_ish(pid: str = "crc-ihc2") -> list[dict]:
    """CRC, IHC 2+ without ISH, after cetuximab: equivocal, reflex ISH."""
    return _crc_base(pid) + [b.ihc(pid, "2+", 40), b.medication(pid, "cetuximab", "318341", date="2023-03-01")]


def gastric_plasma_only(pid: str = "gc-plasma") -> list[dict]:
    """Gastric/GEJ with only a plasma ERBB2 amplification: information only, tissue test suggested."""
    return [b.patient(pid), b.gastric(pid), b.liver_mets(pid), b.erbb2_cn(pid, True, 18)]


def crc_no_her2_test(pid: str = "crc-untested") -> list[dict]:
    """Metastatic CRC with no HER2 result on file."""
    return _crc_base(pid)


def gastric_ihc1_ish_positive(pid: str = "gc-ihc1-ish") -> list[dict]:
    """Gastric/GEJ, IHC 1+ with ISH ratio 3.0: amplified but not positive for trastuzumab (ToGA)."""
    return [b.patient(pid), b.gastric(pid), b.liver_mets(pid), b.ihc(pid, "1+", specimen="Gastric biopsy"), b.ish(pid, 3.0)]


def gastric_no_her2_test(pid: str = "gc-untested") -> list[dict]:
    """Metastatic gastric/GEJ cancer with no HER2 result on file."""
    return [b.patient(pid), b.gastric(pid), b.liver_mets(pid)]


def lung_cancer(pid: str = "lung") -> list[dict]:
    """Non-small cell lung cancer: outside the HER2 rules."""
    return [b.patient(pid), b.condition(pid, b.ICD10, "C34.1", "Malignant neoplasm of upper lobe, lung")]


def no_diagnosis(pid: str = "no-dx") -> list[dict]:
    """A patient with no Condition on file."""
    return [b.patient(pid)]


# ---------------------------------------------------------------- issue #15 (clinical-rules.md section 6)

def crc_ihc1_ish_amplified(pid: str = "crc-ihc1-ish") -> list[dict]:
    """CRC, IHC 1+ with ISH ratio 2.3, after FOLFOX: positive by TRIUMPH tissue, outside DESTINY-CRC01 (no T-DXd card)."""
    return _crc_base(pid) + [b.ihc(pid, "1+"), b.ish(pid, 2.3), b.medication(pid, "FOLFOX", date="2023-09-01")]


def crc_ihc0_ish_amplified(pid: str = "crc-ihc0-ish") -> list[dict]:
    """CRC, IHC 0 with ISH ratio 2.5: positive by TRIUMPH tissue, no T-DXd evidence for IHC 0."""
    return _crc_base(pid) + [b.ihc(pid, "0"), b.ish(pid, 2.5)]


def crc_ish_only(pid: str = "crc-ish-only") -> list[dict]:
    """CRC, ISH ratio 1.4 with no IHC: indeterminate (never negative without IHC), IHC suggested."""
    return _crc_base(pid) + [b.ish(pid, 1.4)]


def crc_discordant_ihc(pid: str = "crc-discordant") -> list[dict]:
    """CRC, IHC 3+ in 2022 and IHC 1+ in 2024, after trastuzumab + pertuzumab: HER2-low, discordant."""
    return _crc_base(pid) + [
        b.ihc(pid, "3+", 80, date="2022-03-01"),
        b.ihc(pid, "1+", date="2024-06-01"),
        b.medication(pid, "Phesgo", date="2022-04-01"),
    ]


def crc_tissue_negative_plasma_positive(pid: str = "crc-tneg-ppos") -> list[dict]:
    """CRC, IHC 0 and plasma ERBB2 amplified with RAS wild-type: positive by plasma only, discordant."""
    return _crc_base(pid) + [
        b.ihc(pid, "0"),
        b.erbb2_cn(pid, True, copy_number=14),
        b.variant(pid, "KRAS", present=False),
        b.variant(pid, "NRAS", present=False),
    ]


def crc_ihc3_below_threshold(pid: str = "crc-ihc3-low-pct") -> list[dict]:
    """CRC, IHC 3+ in 8% of tumour cells, specimen type not recorded: indeterminate, ISH suggested."""
    return _crc_base(pid) + [b.ihc(pid, "3+", 8, specimen=None)]


def gastric_retest_amplified(pid: str = "gc-retest-amp") -> list[dict]:
    """Gastric/GEJ, IHC 3+ before trastuzumab and plasma ERBB2 amplified after it: HER2 retained (plasma basis)."""
    return gastric_after_trastuzumab(pid) + [b.erbb2_cn(pid, True, 16, date="2024-05-02")]


def gastric_retest_not_amplified(pid: str = "gc-retest-neg") -> list[dict]:
    """Gastric/GEJ, IHC 3+ before trastuzumab and plasma ERBB2 not amplified after it: tissue re-test."""
    return gastric_after_trastuzumab(pid) + [b.erbb2_cn(pid, False, date="2024-05-02"), b.ctdna_fraction(pid, 1.2, date="2024-05-02")]


# ---------------------------------------------------------------- shapes of the published guides
# Written from the structure and codes of the HL7 Genomics Reporting IG and mCODE examples (named
# in each docstring); docs/input-codes.md explains each shape.

GR_CS = "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem"
PATHOLOGY = [b.cc(b.LOINC, "LP7839-6", "Pathology")]  # US Core DiagnosticReport category
GENETICS = [b.cc("http://terminology.hl7.org/CodeSystem/v2-0074", "GE", "Genetics")]  # Genomics Reporting IG category


def crc_ig_her2_immune_stain(pid: str = "crc-ig-ihc") -> list[dict]:
    """CRC with the Genomics Reporting IG HER2byImmuneStainExample shape (18474-7 = Present, gene
    studied ERBB2, no score) and its HER2byImmunoassayExample shape (72382-5, 20 IU/mL)."""
    biomarker = b.component(f"{GR_CS}/tbd-codes-cs", "biomarker-category",
                            valueCodeableConcept=b.cc(f"{GR_CS}/molecular-biomarker-ontology-cs", "immuneStain", "immune stain category"))
    gene = b.component(b.LOINC, "48018-6", "Gene studied [ID]", valueCodeableConcept=b.cc("http://www.genenames.org", "HGNC:3430", "ERBB2"))
    stain = b.observation(pid, b.loinc("18474-7", "HER2 Ag [Presence] in Tissue by Immune stain"), "2024-02-12",
                          valueCodeableConcept=b.loinc("LA9633-4", "Present"), component=[gene, biomarker])
    assay = b.observation(pid, b.loinc("72382-5", "HER2 [Units/volume] in Tissue by Immunoassay"), "2024-02-12",
                          valueQuantity={"value": 20, "unit": "IU/mL"}, component=[gene])
    return _crc_base(pid) + [stain, assay]


def gastric_mcode_her2_interpretation(pid: str = "gc-mcode-interp") -> list[dict]:
    """Gastric/GEJ with the mCODE tumor-marker-test-her2 shape: 48676-1 = LA6577-6 Negative, no
    specimen of its own, listed by a pathology DiagnosticReport (22637-3) whose Specimen is v2-0487 TUMOR."""
    spec = b.specimen(pid, b.V2_0487, "TUMOR")
    her2 = b.observation(pid, b.loinc("48676-1", "HER2 [Interpretation] in Tissue"), "2024-03-10",
                         valueCodeableConcept=b.loinc("LA6577-6", "Negative"))
    report = b.diagnostic_report(pid, b.loinc("22637-3", "Pathology report final diagnosis Narrative"), (her2,), (spec,),
                                 date="2024-03-10", issued="2024-03-14T00:00:00Z", category=PATHOLOGY)
    return [b.patient(pid), b.gastric(pid), b.liver_mets(pid), spec, her2, report]


def crc_genomics_report_plasma(pid: str = "crc-gr-plasma") -> list[dict]:
    """CRC with a Genomics Reporting genomic report (51969-4) on a plasma Specimen coded only
    v2-0487 PLAS (no display): ERBB2 copy-number Variant (48019-4 copy_number_variation, 82155-3,
    48002-0 Somatic) naming the Specimen, KRAS and NRAS Absent naming none (the report's applies)."""
    spec = b.specimen(pid, b.V2_0487, "PLAS")
    somatic = b.component(b.LOINC, "48002-0", "Genomic source class [Type]", valueCodeableConcept=b.loinc("LA6684-0", "Somatic"))
    erbb2 = b.gr_variant(pid, "ERBB2", True, specimen=b.ref(spec), extra=(
        b.component(b.LOINC, "48019-4", "DNA change type", valueCodeableConcept=b.cc(b.SO, "SO:0001019", "copy_number_variation")),
        b.component(b.LOINC, "82155-3", "Genomic structural variant copy number",
                    valueQuantity={"value": 14, "system": "http://unitsofmeasure.org", "code": "1"}),
        somatic), method=b.loinc("LA26398-0", "Sequencing"))
    kras = b.gr_variant(pid, "KRAS", False, extra=(somatic,))
    nras = b.gr_variant(pid, "NRAS", False, extra=(somatic,))
    report = b.diagnostic_report(pid, b.loinc("51969-4", "Genetic analysis report"), (erbb2, kras, nras), (spec,), date="2024-04-01",
                                 category=GENETICS)
    return _crc_base(pid) + [spec, erbb2, kras, nras, report, b.medication(pid, "FOLFOX", date="2023-06-01")]


def gastric_ish_panel(pid: str = "gc-ish-panel") -> list[dict]:
    """Gastric/GEJ, IHC written as text ("2+ (equivocal)") and the mCODE ISH panel 74885-5 whose
    hasMember Observations carry the ratio (49683-6 as valueRatio), HER2 (74860-8) and CEP17
    (74861-6) copies per nucleus; the panel names the biopsy."""
    ihc = b.observation(pid, b.loinc("18474-7", "HER2 Ag [Presence] in Tissue by Immune stain"), "2024-05-02",
                        specimen="Gastric biopsy", valueString="2+ (equivocal)")
    ratio = b.observation(pid, b.loinc("49683-6", "ERBB2 gene copy number/Chromosome 17 copy number in Tissue by FISH"), None,
                          valueRatio={"numerator": {"value": 2.6}, "denominator": {"value": 1}},
                          interpretation=[b.cc(b.V3_INTERPRETATION, "POS", "Positive")])
    her2 = b.observation(pid, b.loinc("74860-8", "ERBB2 gene copy number/nucleus in Tissue by FISH"), None,
                         valueQuantity={"value": 5.8, "system": "http://unitsofmeasure.org", "code": "{copies}/{nucleus}"})
    cep17 = b.observation(pid, b.loinc("74861-6", "Chromosome 17 copy number/nucleus in Tissue by FISH"), None,
                          valueQuantity={"value": 2.2, "system": "http://unitsofmeasure.org", "code": "{copies}/{nucleus}"})
    panel = b.observation(pid, b.loinc("74885-5", "ERBB2 gene (HER2) duplication associated observations panel - Tissue by FISH"),
                          "2024-05-09", specimen="Gastric biopsy", method={"text": "FISH"},
                          hasMember=[b.ref(ratio), b.ref(her2), b.ref(cep17)])
    return [b.patient(pid), b.gastric(pid), b.liver_mets(pid), ihc, panel, ratio, her2, cep17]


def gastric_not_criteria(pid: str = "gc-not-criteria") -> list[dict]:
    """Gastric/GEJ whose only HER2-related results are no criterion of the sources: serum HER2
    (42914-2, on a v2-0487 SER Specimen), a quantitative tissue immunoassay (72382-5, as the Genomics
    Reporting IG example) and a germline ERBB2 variant (48002-0 = LA6683-2 Germline)."""
    serum = b.specimen(pid, b.V2_0487, "SER", "Serum")
    germline = b.component(b.LOINC, "48002-0", "Genomic source class [Type]", valueCodeableConcept=b.loinc("LA6683-2", "Germline"))
    return [b.patient(pid), b.gastric(pid), b.liver_mets(pid), serum,
            b.observation(pid, b.loinc("42914-2", "HER2 [Mass/volume] in Serum by Immunoassay"), "2024-01-20", specimen=b.ref(serum),
                          valueQuantity={"value": 18.5, "unit": "ng/mL", "system": "http://unitsofmeasure.org", "code": "ng/mL"}),
            b.observation(pid, b.loinc("72382-5", "HER2 [Units/volume] in Tissue by Immunoassay"), "2024-01-22",
                          valueQuantity={"value": 20, "unit": "IU/mL"}),
            b.gr_variant(pid, "ERBB2", True, specimen="Blood", extra=(
                b.component(b.LOINC, "48019-4", "DNA change type", valueCodeableConcept=b.cc(b.SO, "SO:0001019", "copy_number_variation")),
                germline))]


def crc_narrative_her2_report(pid: str = "crc-narrative") -> list[dict]:
    """CRC whose HER2 result exists only as a narrative pathology report (local report code, text,
    conclusion, PDF title) with the laboratory's call coded in conclusionCode (SNOMED Positive)."""
    report = b.diagnostic_report(
        pid,
        {"coding": [{"system": "urn:oid:2.16.840.1.113883.3.9999.1", "code": "HER2-IHC-RPT"}], "text": "HER2 immunohistochemistry report"},
        date="2024-02-20", category=PATHOLOGY, conclusion="HER2 immunohistochemistry on colon biopsy: positive. See attached report.",
        conclusionCode=[b.cc(b.SNOMED, "10828004", "Positive (qualifier value)")],
        presentedForm=[{"contentType": "application/pdf", "title": "HER2 IHC report"}])
    return _crc_base(pid) + [report]


PATIENTS: dict[str, Callable[[], list[dict]]] = {
    "crc-ihc3-positive": crc_ihc3_positive,
    "crc-ihc2-ish-positive": crc_ihc2_ish_positive,
    "crc-plasma-amplified": crc_plasma_amplified,
    "crc-her2-negative": crc_her2_negative,
    "crc-her2-low": crc_her2_low,
    "crc-plasma-negative-low-shedding": crc_plasma_negative_low_shedding,
    "crc-ras-mutant": crc_ras_mutant,
    "gastric-ihc3": gastric_ihc3,
    "gastric-ihc2-no-ish": gastric_ihc2_no_ish,
    "gastric-after-trastuzumab": gastric_after_trastuzumab,
    "crc-tissue-copy-number": crc_tissue_copy_number,
    "crc-no-her2-test": crc_no_her2_test,
    "crc-ihc2-no-ish": crc_ihc2_no_ish,
    "gastric-plasma-only": gastric_plasma_only,
    "gastric-ihc1-ish-positive": gastric_ihc1_ish_positive,
    "gastric-no-her2-test": gastric_no_her2_test,
    "lung-cancer": lung_cancer,
    "no-diagnosis": no_diagnosis,
    "crc-ig-her2-immune-stain": crc_ig_her2_immune_stain,
    "crc-genomics-report-plasma": crc_genomics_report_plasma,
    "crc-narrative-her2-report": crc_narrative_her2_report,
    "gastric-mcode-her2-interpretation": gastric_mcode_her2_interpretation,
    "gastric-ish-panel": gastric_ish_panel,
    "gastric-not-criteria": gastric_not_criteria,
    "crc-ihc1-ish-amplified": crc_ihc1_ish_amplified,
    "crc-ihc0-ish-amplified": crc_ihc0_ish_amplified,
    "crc-ish-only": crc_ish_only,
    "crc-discordant-ihc-over-time": crc_discordant_ihc,
    "crc-tissue-negative-plasma-positive": crc_tissue_negative_plasma_positive,
    "crc-ihc3-below-threshold": crc_ihc3_below_threshold,
    "gastric-retest-plasma-amplified": gastric_retest_amplified,
    "gastric-retest-plasma-not-amplified": gastric_retest_not_amplified,
}

def _tdxd(pid: str) -> list[dict]:
    return [b.draft_order(pid, "Enhertu", mid="draft-tdxd")]


# Order-hook requests: (patient fixture, hook, draft orders built for that patient id)
ORDER_REQUESTS: dict[str, tuple[str, str, Callable[[str], list[dict]]]] = {
    "crc-ihc3-positive-cetuximab-sign": (
        "crc-ihc3-positive",
        "order-sign",
        lambda p: [b.draft_order(p, "cetuximab 2 MG/ML Injectable Solution", "1657589", mid="draft-cetuximab")],
    ),
    "crc-ihc3-positive-pertuzumab-trastuzumab-sign": (
        "crc-ihc3-positive",
        "order-sign",
        lambda p: [b.draft_order(p, "Perjeta", mid="draft-pertuzumab"), b.draft_order(p, "Herceptin", mid="draft-trastuzumab")],
    ),
    "gastric-ihc3-lapatinib-select": (
        "gastric-ihc3",
        "order-select",
        lambda p: [b.draft_order(p, "lapatinib 250 MG Oral Tablet", mid="draft-lapatinib")],
    ),
    "crc-her2-low-tdxd-sign": ("crc-her2-low", "order-sign", lambda p: [b.draft_order(p, "Enhertu 100 MG Injection", mid="draft-tdxd")]),
    "crc-ras-mutant-dual-blockade-sign": (
        "crc-ras-mutant",
        "order-sign",
        lambda p: [b.draft_order(p, "pertuzumab", "1298944", mid="draft-p"), b.draft_order(p, "trastuzumab", "224905", mid="draft-t")],
    ),
    "gastric-no-her2-test-oxaliplatin-sign": (
        "gastric-no-her2-test",
        "order-sign",
        lambda p: [b.draft_order(p, "oxaliplatin", "32592", mid="draft-ox")],
    ),
    "crc-no-her2-test-trastuzumab-sign": ("crc-no-her2-test", "order-sign", lambda p: [b.draft_order(p, "Herceptin", mid="draft-h")]),
    "gastric-after-trastuzumab-pertuzumab-select": (
        "gastric-after-trastuzumab",
        "order-select",
        lambda p: [b.draft_order(p, "Perjeta", mid="draft-perj")],
    ),
    # issue #15
    "crc-ihc1-ish-amplified-tdxd-sign": ("crc-ihc1-ish-amplified", "order-sign", _tdxd),
    "crc-ihc0-ish-amplified-tdxd-sign": ("crc-ihc0-ish-amplified", "order-sign", _tdxd),
    "crc-plasma-amplified-tdxd-sign": ("crc-plasma-amplified", "order-sign", _tdxd),
    "crc-ihc3-positive-tdxd-sign": ("crc-ihc3-positive", "order-sign", _tdxd),
    "crc-ihc3-positive-trastuzumab-sign": ("crc-ihc3-positive", "order-sign", lambda p: [b.draft_order(p, "Herceptin", mid="draft-h")]),
    "gastric-ihc3-tdxd-sign": ("gastric-ihc3", "order-sign", _tdxd),
    "gastric-after-trastuzumab-tdxd-sign": ("gastric-after-trastuzumab", "order-sign", _tdxd),
    "gastric-retest-plasma-amplified-tdxd-sign": ("gastric-retest-plasma-amplified", "order-sign", _tdxd),
    "gastric-no-her2-test-flot-sign": ("gastric-no-her2-test", "order-sign", lambda p: [b.draft_order(p, "FLOT", mid="draft-flot")]),
    "gastric-no-her2-test-docetaxel-sign": (
        "gastric-no-her2-test", "order-sign", lambda p: [b.draft_order(p, "docetaxel 20 MG/ML Injection", mid="draft-doc")]),
    # clinician review of the cards: a lone TKI (S1), a plasma-only regimen outside the ctDNA evidence (S3)
    "crc-ihc3-positive-lapatinib-sign": (
        "crc-ihc3-positive", "order-sign", lambda p: [b.draft_order(p, "lapatinib 250 MG Oral Tablet", mid="draft-lapatinib")]),
    "crc-plasma-amplified-tucatinib-trastuzumab-sign": (
        "crc-plasma-amplified", "order-sign",
        lambda p: [b.draft_order(p, "Tukysa 150 MG Oral Tablet", mid="draft-tucatinib"), b.draft_order(p, "Herceptin", mid="draft-h")]),
}


def build_all() -> dict[Path, dict]:
    """Every fixture file's path and content."""
    files: dict[Path, dict] = {}
    cache: dict[str, list[dict]] = {}
    for name, make in PATIENTS.items():
        b.reset_ids()
        resources = make()
        cache[name] = resources
        pid = resources[0]["id"]
        files[FIXTURES / "patients" / f"{name}.json"] = b.collection(resources)
        files[FIXTURES / "requests" / f"{name}.json"] = b.hook_request("patient-view", pid, resources)
    for name, (patient_name, hook, orders) in ORDER_REQUESTS.items():
        resources = cache[patient_name]
        pid = resources[0]["id"]
        files[FIXTURES / "requests" / f"{name}.json"] = b.hook_request(hook, pid, resources, orders(pid))
    return files


def dump(content: dict) -> str:
    return json.dumps(content, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    for path, content in build_all().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(content), encoding="utf-8")
        print(path.relative_to(FIXTURES.parent))


if __name__ == "__main__":
    main()
