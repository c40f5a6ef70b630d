"""The prefetch templates the HER2 services declare (and the FHIR-server fallback runs).

Every key is a standard FHIR search with only `{{context.patientId}}` tokens and no repeated
parameter, so an EHR can run it as GET or as POST _search (interface.md, "Real clients").
"""
from __future__ import annotations

from .declaration import PrefetchKey

_OBSERVATION_CODES = ",".join([
    "http://loinc.org|18474-7", "http://loinc.org|85319-2", "http://loinc.org|49683-6",
    "http://loinc.org|74885-5", "http://loinc.org|69548-6",
    "urn:her2-cds:code|erbb2-cn-qpcr", "urn:her2-cds:code|erbb2-adjusted-plasma-cn",
    "urn:her2-cds:code|ctdna-fraction", "urn:her2-cds:code|erbb2-copies-per-cell",
])

HER2_PREFETCH = (
    PrefetchKey("patient", "Patient/{{context.patientId}}"),
    # Without the diagnoses no rule applies: the tumour type decides which rules exist at all.
    PrefetchKey("conditions", "Condition?patient={{context.patientId}}", on_failure="fail"),
    PrefetchKey("her2Observations", "Observation?patient={{context.patientId}}&code=" + _OBSERVATION_CODES),
    PrefetchKey("medicationRequests", "MedicationRequest?patient={{context.patientId}}"),
    PrefetchKey("medicationStatements", "MedicationStatement?patient={{context.patientId}}"),
    PrefetchKey("specimens", "Specimen?patient={{context.patientId}}"),
)
