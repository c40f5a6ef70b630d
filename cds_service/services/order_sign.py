"""her2-order-sign: speaks about every draft order about to be signed."""
from __future__ import annotations

from ..data_access import PatientData
from ..engine import Engine
from ..models import HookRequest
from .declaration import Service
from .order_common import order_cards, orders_are_relevant
from .prefetch import HER2_PREFETCH


def handle(engine: Engine, request: HookRequest, data: PatientData) -> list[dict]:
    return order_cards(engine, request, data, selected_only=False)


def relevant(engine: Engine, request: HookRequest) -> bool:
    return orders_are_relevant(engine, request, selected_only=False)


SERVICE = Service(
    id="her2-order-sign",
    hook="order-sign",
    title="HER2 checks before signing orders",
    description="Warns when a draft order conflicts with the HER2 evidence and suggests missing HER2 tests.",
    prefetch=HER2_PREFETCH,
    handler=handle,
    relevant=relevant,
)
