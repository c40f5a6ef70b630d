"""The three CDS services and their prefetch templates (discovery document)."""
from __future__ import annotations

from .knowledge import Knowledge

_OBSERVATION_CODES = ",".join([
    "http://loinc.org|18474-7", "http://loinc.org|85319-2", "http://loinc.org|49683-6",
    "http://loinc.org|74885-5", "http://loinc.org|69548-6",
    "urn:her2-cds:code|erbb2-cn-qpcr", "urn:her2-cds:code|erbb2-adjusted-plasma-cn",
    "urn:her2-cds:code|ctdna-fraction", "urn:her2-cds:code|erbb2-copies-per-cell",
])
# Every key is a standard FHIR search (one token per parameter, no repeated parameters), so an
# EHR can run it as GET or as POST _search. The same templates drive the FHIR-server fallback.
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "her2Observations": "Observation?patient={{context.patientId}}&code=" + _OBSERVATION_CODES,
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "specimens": "Specimen?patient={{context.patientId}}",
}
# Keys without which nothing useful can be said (412 when neither prefetch nor server supplies them).
ESSENTIAL_KEYS = ("conditions",)

SERVICES = {
    "her2-patient-view": {
        "hook": "patient-view",
        "title": "HER2 status, therapies and trials (colorectal, gastric/GEJ)",
        "description": "Classifies HER2 by HERACLES, TRIUMPH (tissue and blood), harmonized and ToGA criteria; "
                       "lists matching HER2-targeted therapies, trials and due tests.",
    },
    "her2-order-select": {
        "hook": "order-select",
        "title": "HER2 checks on selected orders",
        "description": "Warns when a selected drug conflicts with the HER2 evidence and suggests missing HER2 tests.",
    },
    "her2-order-sign": {
        "hook": "order-sign",
        "title": "HER2 checks before signing orders",
        "description": "Warns when a draft order conflicts with the HER2 evidence and suggests missing HER2 tests.",
    },
}
SERVICE_FOR_HOOK = {spec["hook"]: service_id for service_id, spec in SERVICES.items()}
USAGE = ("Send the prefetch below or fhirServer + fhirAuthorization. Rules cover metastatic colorectal and "
         "gastric/GEJ adenocarcinoma only.")


def discovery_document(knowledge: Knowledge) -> dict:
    """The GET /cds-services response."""
    return {"services": [
        {**spec, "id": service_id, "description": f"{spec['description']} Knowledge version {knowledge.version_label}.",
         "prefetch": dict(PREFETCH), "usageRequirements": USAGE}
        for service_id, spec in SERVICES.items()
    ]}
