"""Builders for synthetic FHIR R4 resources with the codes of docs/input-codes.md.

Used by tests/make_fixtures.py (the committed fixtures) and by table-driven tests. The shapes of
the published guides (HL7 Genomics Reporting IG, mCODE) are written here from their examples'
structure and codes; no example file is copied.
"""
from __future__ import annotations

import itertools
from typing import Any

from cds_service.discovery import PREFETCH
from cds_service.knowledge import load_knowledge

LOINC = "http://loinc.org"
LOCAL = "urn:her2-cds:code"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
HGNC = "http://www.genenames.org/geneId"
SO = "http://www.sequenceontology.org"
IHC_ANSWERS = {"0": "LA6111-4", "1+": "LA11841-6", "2+": "LA11842-4", "3+": "LA11843-2", "indeterminate": "LA11884-6"}
GENES = {"ERBB2": "HGNC:3430", "KRAS": "HGNC:6407", "NRAS": "HGNC:7989", "BRAF": "HGNC:1097", "PIK3CA": "HGNC:8975"}
V2_0487 = "http://terminology.hl7.org/CodeSystem/v2-0487"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
SPECIMENS = {"plasma": ("119361006", "Plasma specimen"), "tissue": ("119376003", "Tissue specimen"),
             "blood": ("119297000", "Blood specimen")}
_ids = itertools.count(1)


def _id(pid: str, prefix: str) -> str:
    """Ids unique across patients, so all fixtures can share one FHIR server."""
    return f"{pid}-{prefix}-{next(_ids)}"


def reset_ids() -> None:
    global _ids
    _ids = itertools.count(1)


def cc(system: str, code: str, display: str | None = None, text: str | None = None) -> dict:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    concept: dict[str, Any] = {"coding": [coding]}
    if text:
        concept["text"] = text
    return concept


def patient(pid: str, family: str = "Synthetic", given: str = "Test", birth: str = "1960-01-01") -> dict:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family, "given": [given]}],
            "gender": "unknown", "birthDate": birth}


def condition(pid: str, system: str, code: str, display: str, verification: str = "confirmed",
              stage: str | None = None, cid: str | None = None) -> dict:
    res = {"resourceType": "Condition", "id": cid or _id(pid, "cond"),
           "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
           "verificationStatus": cc("http://terminology.hl7.org/CodeSystem/condition-ver-status", verification),
           "code": cc(system, code, display, text=display), "subject": {"reference": f"Patient/{pid}"}}
    if stage:
        res["stage"] = [{"summary": {"text": stage}}]
    return res


def crc(pid: str, **kw: Any) -> dict:
    return condition(pid, ICD10, "C18.7", "Malignant neoplasm of sigmoid colon", **kw)


def gastric(pid: str, **kw: Any) -> dict:
    return condition(pid, ICD10, "C16.0", "Malignant neoplasm of cardia (gastroesophageal junction adenocarcinoma)", **kw)


def liver_mets(pid: str) -> dict:
    return condition(pid, ICD10, "C78.7", "Secondary malignant neoplasm of liver")


def _obs(pid: str, code: dict, date: str, status: str = "final", oid: str | None = None,
         specimen: str | None = None) -> dict:
    res = {"resourceType": "Observation", "id": oid or _id(pid, "obs"), "status": status,
           "category": [cc("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")],
           "code": code, "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": date}
    if specimen:
        res["specimen"] = {"display": specimen}
    return res


def _comp(system: str, code: str, **value: Any) -> dict:
    return {"code": cc(system, code), **value}


def pct(value: float) -> dict:
    return {"value": value, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}


def ihc(pid: str, score: str, percent: float | None = None, date: str = "2024-03-01",
        specimen: str | None = "Colon biopsy", **kw: Any) -> dict:
    res = _obs(pid, cc(LOINC, "18474-7", "HER2 Ag [Presence] in Tissue by Immune stain"), date, specimen=specimen, **kw)
    res["valueCodeableConcept"] = cc(LOINC, IHC_ANSWERS[score], score)
    if percent is not None:
        res["component"] = [_comp(LOCAL, "ihc-percent-cells", valueQuantity=pct(percent))]
    return res


def ish(pid: str, ratio: float, copies: float | None = None, amplified_pct: float | None = None,
        date: str = "2024-03-05", method: str = "FISH", **kw: Any) -> dict:
    res = _obs(pid, cc(LOINC, "49683-6", "ERBB2 gene copy number/Chromosome 17 copy number in Tissue by FISH"),
               date, specimen="Tumour tissue", **kw)
    res["valueQuantity"] = {"value": ratio, "unit": "{ratio}", "system": "http://unitsofmeasure.org", "code": "{ratio}"}
    res["method"] = {"text": method}
    comps = []
    if copies is not None:
        comps.append(_comp(LOCAL, "erbb2-copies-per-cell", valueQuantity={"value": copies}))
    if amplified_pct is not None:
        comps.append(_comp(LOCAL, "ish-percent-cells-amplified", valueQuantity=pct(amplified_pct)))
    if comps:
        res["component"] = comps
    return res


def _variant_obs(pid: str, gene: str, present: bool, date: str, specimen: str, **kw: Any) -> dict:
    res = _obs(pid, cc(LOINC, "69548-6", "Genetic variant assessment"), date, specimen=specimen, **kw)
    res["valueCodeableConcept"] = cc(LOINC, "LA9633-4" if present else "LA9634-2", "Present" if present else "Absent")
    res["component"] = [_comp(LOINC, "48018-6", valueCodeableConcept=cc(HGNC, GENES[gene], gene))]
    return res


def erbb2_cn(pid: str, amplified: bool, copy_number: float | None = None, origin: str = "plasma",
             date: str = "2024-04-01", method: str | None = None, **kw: Any) -> dict:
    specimen = {"plasma": "Plasma cfDNA (ctDNA)", "tissue": "Tumour tissue (FFPE)"}.get(origin, origin)
    res = _variant_obs(pid, "ERBB2", amplified, date, specimen, **kw)
    change = ("SO:0001742", "copy_number_gain") if amplified else ("SO:0001019", "copy_number_variation")
    res["component"].append(_comp(LOINC, "48019-4", valueCodeableConcept=cc(SO, *change)))
    if copy_number is not None:
        res["component"].append(_comp(LOINC, "82155-3", valueQuantity={"value": copy_number}))
    if method:
        res["method"] = {"text": method}
    return res


def variant(pid: str, gene: str, hgvs: str | None = None, present: bool = True, vaf: float | None = None,
            rc: float | None = None, origin: str = "plasma", date: str = "2024-04-01", **kw: Any) -> dict:
    specimen = {"plasma": "Plasma cfDNA (ctDNA)", "tissue": "Tumour tissue (FFPE)"}.get(origin, origin)
    res = _variant_obs(pid, gene, present, date, specimen, **kw)
    if hgvs:
        res["component"].append(_comp(LOINC, "48005-3", valueCodeableConcept={"text": hgvs}))
    if vaf is not None:
        res["component"].append(_comp(LOINC, "81258-6", valueQuantity=pct(vaf)))
    if rc is not None:
        res["component"].append(_comp(LOCAL, "relative-clonality", valueQuantity=pct(rc)))
    return res


def local_value(pid: str, code: str, value: float, unit: str | None = None, date: str = "2024-04-01",
                origin: str = "plasma", **kw: Any) -> dict:
    specimen = {"plasma": "Plasma cfDNA (ctDNA)", "tissue": "Tumour tissue (FFPE)"}.get(origin, origin)
    res = _obs(pid, cc(LOCAL, code), date, specimen=specimen, **kw)
    q: dict[str, Any] = {"value": value}
    if unit:
        q.update({"unit": unit, "system": "http://unitsofmeasure.org", "code": unit})
    res["valueQuantity"] = q
    return res


def apcn(pid: str, value: float, **kw: Any) -> dict:
    return local_value(pid, "erbb2-adjusted-plasma-cn", value, **kw)


def ctdna_fraction(pid: str, percent: float, **kw: Any) -> dict:
    return local_value(pid, "ctdna-fraction", percent, unit="%", **kw)


# ---------------------------------------------------------------- shapes of the published guides


def loinc(code: str, display: str | None = None, text: str | None = None) -> dict:
    return cc(LOINC, code, display, text)


def ref(resource: dict) -> dict:
    return {"reference": f"{resource['resourceType']}/{resource['id']}"}


def component(system: str, code: str, display: str | None = None, **value: Any) -> dict:
    """A component with its code and value[x] given as keyword (valueQuantity=..., ...)."""
    return {"code": cc(system, code, display), **value}


def observation(pid: str, code: dict, date: str | None = "2024-03-01", specimen: dict | str | None = None,
                status: str = "final", oid: str | None = None, **fields: Any) -> dict:
    """An Observation with `code` and whatever value[x] / component / hasMember ... is given."""
    res = _obs(pid, code, date or "", status=status, oid=oid)
    if date is None:
        del res["effectiveDateTime"]
    if isinstance(specimen, dict):
        res["specimen"] = specimen
    elif specimen:
        res["specimen"] = {"display": specimen}
    res.update(fields)
    return res


def specimen(pid: str, system: str | None, code: str | None, display: str | None = None, sid: str | None = None,
             method: tuple[str, str] | None = None, text: str | None = None) -> dict:
    """A Specimen typed by one coding (v2-0487 or SNOMED), optionally with collection.method."""
    res: dict[str, Any] = {"resourceType": "Specimen", "id": sid or _id(pid, "spec"), "status": "available",
                           "subject": {"reference": f"Patient/{pid}"}}
    if code:
        res["type"] = cc(system or SNOMED, code, display, text)
    elif text:
        res["type"] = {"text": text}
    if method:
        res["collection"] = {"method": cc(SNOMED, *method)}
    return res


def gr_variant(pid: str, gene: str, present: bool | None = True, date: str | None = "2024-04-01",
               specimen: dict | str | None = None, extra: tuple[dict, ...] = (), gene_code: str | None = None,
               **fields: Any) -> dict:
    """A Genomics Reporting Variant (69548-6): Present/Absent, gene studied (48018-6) as HGNC id."""
    value = {} if present is None else {"valueCodeableConcept": loinc("LA9633-4" if present else "LA9634-2",
                                                                        "Present" if present else "Absent")}
    gene_studied = component(LOINC, "48018-6", "Gene studied [ID]",
                             valueCodeableConcept=cc(HGNC, gene_code or GENES[gene], gene))
    return observation(pid, loinc("69548-6", "Genetic variant assessment"), date, specimen,
                       component=[gene_studied, *extra], **value, **fields)


def diagnostic_report(pid: str, code: dict, results: tuple[dict, ...] = (), specimens: tuple[dict, ...] = (),
                      date: str | None = "2024-03-01", status: str = "final", rid: str | None = None,
                      **fields: Any) -> dict:
    """A DiagnosticReport listing `results` (Observations, by reference) from `specimens`."""
    res: dict[str, Any] = {"resourceType": "DiagnosticReport", "id": rid or _id(pid, "dr"), "status": status,
                           "code": code, "subject": {"reference": f"Patient/{pid}"}}
    if date:
        res["effectiveDateTime"] = date
    if specimens:
        res["specimen"] = [ref(s) for s in specimens]
    if results:
        res["result"] = [ref(r) for r in results]
    res.update(fields)
    return res


def medication(pid: str, text: str, rxnorm: str | None = None, status: str = "completed",
               date: str = "2023-06-01", rtype: str = "MedicationRequest", mid: str | None = None) -> dict:
    concept: dict[str, Any] = {"text": text}
    if rxnorm:
        concept["coding"] = [{"system": RXNORM, "code": rxnorm, "display": text}]
    res: dict[str, Any] = {"resourceType": rtype, "id": mid or _id(pid, "med"), "status": status,
                           "medicationCodeableConcept": concept, "subject": {"reference": f"Patient/{pid}"}}
    if rtype == "MedicationRequest":
        res.update({"intent": "order", "authoredOn": date})
    else:
        res["effectiveDateTime"] = date
    return res


def draft_order(pid: str, text: str, rxnorm: str | None = None, mid: str | None = None, **extra: Any) -> dict:
    res = medication(pid, text, rxnorm, status="draft", date="2026-11-24", mid=mid or _id(pid, "draft"))
    res.update(extra)
    return res


def test_order(pid: str, loinc: str, text: str, sid: str | None = None) -> dict:
    return {"resourceType": "ServiceRequest", "id": sid or _id(pid, "sr"), "status": "draft", "intent": "order",
            "code": cc(LOINC, loinc, text, text=text), "subject": {"reference": f"Patient/{pid}"}}


# ---------------------------------------------------------------- bundles and requests

def searchset(resources: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"urn:uuid:{r['resourceType']}-{r['id']}", "resource": r} for r in resources]}


def collection(resources: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{r['resourceType']}-{r['id']}", "resource": r} for r in resources]}


_CODES = load_knowledge().codes
# The Observation codes the fact layer reads (cards/codes.yaml): what the proposed her2Observations
# template asks for. The codes of today's discovery template are a subset.
READ_CODES = {e["code"] for e in _CODES["observation_codes"]} | set(_CODES["local"])
assert {c.split("|")[1] for c in PREFETCH["her2Observations"].split("code=")[1].split(",")} <= READ_CODES


def prefetch_for(resources: list[dict]) -> dict:
    """The prefetch an EHR would send for these resources (every key filled)."""
    by_type: dict[str, list[dict]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(r)
    observations = [o for o in by_type.get("Observation", [])
                    if any(c.get("code") in READ_CODES for c in o["code"].get("coding", []))]
    pf: dict[str, Any] = {
        "conditions": searchset(by_type.get("Condition", [])),
        "her2Observations": searchset(observations),
        "her2Reports": searchset(by_type.get("DiagnosticReport", [])),
        "medicationRequests": searchset([m for m in by_type.get("MedicationRequest", []) if m["status"] != "draft"]),
        "medicationStatements": searchset(by_type.get("MedicationStatement", [])),
        "specimens": searchset(by_type.get("Specimen", [])),
    }
    if by_type.get("Patient"):
        pf["patient"] = by_type["Patient"][0]
    return pf


def hook_request(hook: str, pid: str, resources: list[dict], orders: list[dict] | None = None,
                 selections: list[str] | None = None, instance: str = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea") -> dict:
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": pid}
    if hook in ("order-select", "order-sign"):
        context["draftOrders"] = collection(orders or [])
    if hook == "order-select":
        context["selections"] = selections if selections is not None else [
            f"{o['resourceType']}/{o['id']}" for o in orders or []]
    return {"hookInstance": instance, "hook": hook, "context": context, "prefetch": prefetch_for(resources)}
