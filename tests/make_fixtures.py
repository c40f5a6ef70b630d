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
}

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
