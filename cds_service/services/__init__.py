"""The CDS services: each declared once (patient_view.SERVICE, order_hooks.ORDER_SELECT / ORDER_SIGN), registered here."""
from __future__ import annotations

from . import patient_view
from .declaration import PrefetchKey, Service
from .order_hooks import ORDER_SELECT, ORDER_SIGN

SERVICES: dict[str, Service] = {s.id: s for s in (patient_view.SERVICE, ORDER_SELECT, ORDER_SIGN)}

__all__ = ["SERVICES", "PrefetchKey", "Service"]
