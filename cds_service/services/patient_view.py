"""her2-patient-view: HER2 status, therapies, trials and due tests when a chart is opened."""
from __future__ import annotations

from ..data_access import PatientData
from ..engine import Engine
from ..models import HookRequest
from .declaration import Service
from .prefetch import HER2_PREFETCH


def handle(engine: Engine, request: HookRequest, data: PatientData) -> list[dict]:
    facts = engine.facts(data)
    return engine.patient_cards(facts, engine.assessments(facts), request.patient_id)


SERVICE = Service(
    id="her2-patient-view",
    hook="patient-view",
    title="HER2 status, therapies and trials (colorectal, gastric/GEJ)",
    description="Classifies HER2 by HERACLES, TRIUMPH (tissue and blood), harmonized and ToGA criteria; "
                "lists matching HER2-targeted therapies, trials and due tests.",
    prefetch=HER2_PREFETCH,
    handler=handle,
)
