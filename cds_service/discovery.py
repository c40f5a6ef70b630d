"""The discovery document (GET /cds-services), derived from the service declarations."""
from __future__ import annotations

from .knowledge import Knowledge
from .models import Discovery, ServiceDescription
from .services import SERVICES
from .services.prefetch import HER2_PREFETCH

USAGE = ("Send the prefetch below or fhirServer + fhirAuthorization. Rules cover metastatic colorectal and "
         "gastric/GEJ adenocarcinoma only.")
# Derived names kept for callers that need them without a service at hand (CLI, report, tests).
PREFETCH = {p.key: p.template for p in HER2_PREFETCH}
SERVICE_FOR_HOOK = {s.hook: s.id for s in SERVICES.values()}


def discovery_document(knowledge: Knowledge) -> dict:
    """The GET /cds-services response."""
    return Discovery(services=[
        ServiceDescription(hook=s.hook, id=s.id, title=s.title, prefetch=s.templates, usage_requirements=USAGE,
                           description=f"{s.description} Knowledge version {knowledge.version_label}.")
        for s in SERVICES.values()
    ]).model_dump(exclude_none=True)
