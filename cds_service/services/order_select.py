"""her2-order-select: speaks about the orders the clinician has just selected."""
from __future__ import annotations

from ..data_access import PatientData
from ..engine import Engine
from ..validation import HookRequest
from .order_common import order_cards


def handle(engine: Engine, request: HookRequest, data: PatientData) -> list[dict]:
    return order_cards(engine, request, data, selected_only=True)
