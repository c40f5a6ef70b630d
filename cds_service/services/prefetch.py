"""The prefetch templates the HER2 services declare (and the FHIR-server fallback runs).

Every key is a standard FHIR search with only `{{context.patientId}}` tokens and no repeated
parameter, so an EHR can run it as GET or as POST _search (interface.md, "Real clients").
"""
from __future__ import annotations

import yaml

from ..facts import observation_search_codes
from ..knowledge import default_knowledge_dir
from .declaration import PrefetchKey

# The Observation codes the fact layer reads, from the one place they are declared (cards/codes.yaml).
_CODES = yaml.safe_load((default_knowledge_dir() / "codes.yaml").read_text(encoding="utf-8"))
_OBSERVATION_CODES = ",".join(observation_search_codes(_CODES))
# Pathology and genetics reports (US Core Pathology category, HL7 v2-0074 GE/PAT/SP sections):
# grouped HER2 results reach the service through the report (docs/input-codes.md, section 2).
_REPORT_CATEGORIES = ",".join([
    "http://loinc.org|LP7839-6", "http://terminology.hl7.org/CodeSystem/v2-0074|GE",
    "http://terminology.hl7.org/CodeSystem/v2-0074|PAT", "http://terminology.hl7.org/CodeSystem/v2-0074|SP",
])

HER2_PREFETCH = (
    PrefetchKey("patient", "Patient/{{context.patientId}}"),
    # Without the diagnoses no rule applies: the tumour type decides which rules exist at all.
    PrefetchKey("conditions", "Condition?patient={{context.patientId}}", on_failure="fail"),
    PrefetchKey("her2Observations", "Observation?patient={{context.patientId}}&code=" + _OBSERVATION_CODES),
    PrefetchKey("her2Reports", "DiagnosticReport?patient={{context.patientId}}&category=" + _REPORT_CATEGORIES),
    PrefetchKey("medicationRequests", "MedicationRequest?patient={{context.patientId}}"),
    PrefetchKey("medicationStatements", "MedicationStatement?patient={{context.patientId}}"),
    PrefetchKey("specimens", "Specimen?patient={{context.patientId}}"),
)
