"""her2-order-sign: speaks about every draft order about to be signed."""
from __future__ import annotations

from ..data_access import PatientData
from ..engine import Engine
from ..validation import HookRequest
from .order_common import order_cards


def handle(engine: Engine, request: HookRequest, data: PatientData) -> list[dict]:
    return order_cards(engine, request, data, selected_only=False)
