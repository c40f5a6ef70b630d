"""The benchmark's requests: hook calls with a realistic 30-resource prefetch, one distinct patient each.

`pool(n)` builds n order-sign requests for n different synthetic patients (colorectal or gastric,
varied HER2/RAS results, dates and treatment history), so no body is repeated and the service's
validation cache cannot answer from a previous call of the same patient.
"""
from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

from tests import fhir_builders as b

ORDERS = {"crc": [("cetuximab 2 MG/ML Injectable Solution", "1657589"), ("trastuzumab 150 MG Injection", "224905"),
                  ("panitumumab 20 MG/ML Injectable Solution", "263034")],
          "gastric": [("trastuzumab 150 MG Injection", "224905"), ("fam-trastuzumab deruxtecan-nxki 100 MG Injection", None)]}


def resources(pid: str, rng: random.Random) -> tuple[str, list[dict]]:
    """(cancer, 30 resources): patient, 3 conditions, 20 HER2/RAS/ctDNA observations, 6 medications."""
    cancer = rng.choice(["crc", "gastric"])
    year = rng.randint(2019, 2023)
    day = lambda y, m: f"{y}-{m:02d}-{rng.randint(1, 28):02d}"  # noqa: E731 - a local shorthand
    score = rng.choice(["0", "1+", "2+", "3+"])
    res = [b.patient(pid, family=f"Synthetic{rng.randint(1, 99999)}", birth=day(rng.randint(1940, 1985), rng.randint(1, 12))),
           b.crc(pid) if cancer == "crc" else b.gastric(pid), b.liver_mets(pid),
           b.condition(pid, b.ICD10, "I10", "Essential hypertension")]
    for k in range(3):
        res += [b.ihc(pid, rng.choice(["0", "1+", "2+", "3+"]), rng.randint(5, 95), date=day(year + k, 3)),
                b.ish(pid, round(rng.uniform(0.8, 6.0), 2), copies=round(rng.uniform(1.5, 12), 1), date=day(year + k, 4))]
    res += [b.erbb2_cn(pid, rng.random() < 0.5, round(rng.uniform(2, 80), 1), date=day(year + 2, 5)),
            b.erbb2_cn(pid, rng.random() < 0.5, round(rng.uniform(2, 80), 1), origin="tissue", date=day(year + 2, 2)),
            b.apcn(pid, round(rng.uniform(1, 30), 1)), b.ctdna_fraction(pid, round(rng.uniform(0.5, 40), 1)),
            b.variant(pid, "KRAS", "p.G12D" if rng.random() < 0.3 else None, present=rng.random() < 0.3),
            b.variant(pid, "NRAS", present=False),
            b.variant(pid, "KRAS", present=False, origin="tissue"), b.variant(pid, "NRAS", present=False, origin="tissue"),
            b.variant(pid, "PIK3CA", "p.E545K", vaf=round(rng.uniform(0.5, 30), 1)),
            b.variant(pid, "BRAF", "p.V600E" if rng.random() < 0.1 else None, present=rng.random() < 0.1),
            b.variant(pid, "PIK3CA", "p.H1047R", vaf=round(rng.uniform(0.5, 30), 1), origin="tissue"),
            b.local_value(pid, "erbb2-cn-qpcr", round(rng.uniform(1, 20), 1), origin="tissue"),
            b.ihc(pid, score, rng.randint(5, 95), date=day(year + 3, 6)),
            b.ish(pid, round(rng.uniform(0.8, 6.0), 2), date=day(year + 3, 7))]
    first, second = ("FOLFOX", "FOLFIRI") if cancer == "crc" else ("FLOT", "ramucirumab")
    res += [b.medication(pid, first, date=day(year, 1)), b.medication(pid, "bevacizumab", "253337", date=day(year, 1)),
            b.medication(pid, second, date=day(year + 1, 9)), b.medication(pid, "irinotecan", "51499", date=day(year + 1, 9)),
            b.medication(pid, "capecitabine", "194000", date=day(year + 2, 1), rtype="MedicationStatement"),
            b.medication(pid, "oxaliplatin", "32592", date=day(year + 2, 1), rtype="MedicationStatement")]
    assert len(res) == 30, len(res)
    return cancer, res


def order_sign_for(pid: str, rng: random.Random) -> dict:
    """An order-sign call for one synthetic patient, with an oncology drug as the draft order."""
    cancer, res = resources(pid, rng)
    text, rxnorm = rng.choice(ORDERS[cancer])
    return b.hook_request("order-sign", pid, res, [b.draft_order(pid, text, rxnorm, mid=f"{pid}-draft")],
                          instance=str(uuid.UUID(int=rng.getrandbits(128), version=4)))


def pool(n: int = 400, seed: int = 20261126) -> list[dict]:
    """n order-sign requests for n distinct patients (deterministic for a seed)."""
    rng = random.Random(seed)
    b.reset_ids()
    return [order_sign_for(f"bench-{i:04d}", rng) for i in range(n)]


def write_pool(folder: Path, n: int = 400, seed: int = 20261126) -> list[Path]:
    """The pool as one JSON file per request (what the load generator sends)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, request in enumerate(pool(n, seed)):
        path = folder / f"{i:04d}.json"
        path.write_text(json.dumps(request, separators=(",", ":")), encoding="utf-8")
        paths.append(path)
    return paths


def no_prefetch(fhir_base: str, patient_id: str = "crc-ras") -> dict:
    """A patient-view call that carries no prefetch: the service fetches from the FHIR server."""
    return {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"patientId": patient_id, "userId": "Practitioner/1"},
            "fhirServer": fhir_base, "fhirAuthorization": {"access_token": "bench-token", "token_type": "Bearer"}}


if __name__ == "__main__":
    sizes = [len(json.dumps(r)) for r in pool(20)]
    print(f"body bytes: min {min(sizes)}, max {max(sizes)}")
