"""The benchmark's requests: patient-view and order-sign with a realistic 30-resource prefetch."""
from __future__ import annotations

import json

from tests import fhir_builders as b

PID = "bench-1"


def resources() -> list[dict]:
    """30 resources: patient, 3 conditions, 20 HER2/RAS/ctDNA observations, 6 medications."""
    b.reset_ids()
    res = [b.patient(PID), b.crc(PID), b.liver_mets(PID),
           b.condition(PID, b.ICD10, "I10", "Essential hypertension")]
    for year in (2022, 2023, 2024):
        res += [b.ihc(PID, "3+", 80, date=f"{year}-03-01"), b.ish(PID, 4.2, copies=9, date=f"{year}-03-05")]
    res += [b.erbb2_cn(PID, True, 25, date="2024-04-01"), b.erbb2_cn(PID, True, 70, origin="tissue", date="2024-02-01"),
            b.apcn(PID, 20.5), b.ctdna_fraction(PID, 12.0),
            b.variant(PID, "KRAS", present=False), b.variant(PID, "NRAS", present=False),
            b.variant(PID, "KRAS", present=False, origin="tissue"), b.variant(PID, "NRAS", present=False, origin="tissue"),
            b.variant(PID, "PIK3CA", "p.E545K", vaf=4.0), b.variant(PID, "BRAF", present=False),
            b.variant(PID, "PIK3CA", "p.H1047R", vaf=2.0, origin="tissue"),
            b.local_value(PID, "erbb2-cn-qpcr", 12.0, origin="tissue"), b.ihc(PID, "3+", 85, date="2024-06-01"),
            b.ish(PID, 5.0, date="2024-06-02")]
    res += [b.medication(PID, "FOLFOX", date="2023-01-01"), b.medication(PID, "bevacizumab", "253337", date="2023-01-01"),
            b.medication(PID, "FOLFIRI", date="2023-09-01"), b.medication(PID, "irinotecan", "51499", date="2023-09-01"),
            b.medication(PID, "capecitabine", "194000", date="2024-01-01", rtype="MedicationStatement"),
            b.medication(PID, "oxaliplatin", "32592", date="2024-01-01", rtype="MedicationStatement")]
    assert len(res) == 30, len(res)
    return res


def patient_view() -> dict:
    return b.hook_request("patient-view", PID, resources())


def order_sign() -> dict:
    return b.hook_request("order-sign", PID, resources(),
                          [b.draft_order(PID, "cetuximab 2 MG/ML Injectable Solution", "1657589", mid="bench-cx")])


def no_prefetch(fhir_base: str, patient_id: str = "crc-ras") -> dict:
    """A patient-view call that carries no prefetch: the service fetches from the FHIR server."""
    return {"hook": "patient-view", "hookInstance": "bench", "context": {"patientId": patient_id, "userId": "Practitioner/1"},
            "fhirServer": fhir_base, "fhirAuthorization": {"access_token": "bench-token", "token_type": "Bearer"}}


if __name__ == "__main__":
    print(len(json.dumps(order_sign())))
