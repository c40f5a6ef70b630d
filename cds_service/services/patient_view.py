"""her2-patient-view: HER2 status, therapies, trials and due tests when a chart is opened."""
from __future__ import annotations

from ..data_access import PatientData
from ..engine import Engine
from ..validation import HookRequest


def handle(engine: Engine, request: HookRequest, data: PatientData) -> list[dict]:
    facts = engine.facts(data)
    return engine.patient_cards(facts, engine.assessments(facts), request.patient_id)
