"""The CDS services: each declared once in its module (`SERVICE`), registered here."""
from __future__ import annotations

from . import order_select, order_sign, patient_view
from .declaration import PrefetchKey, Service

SERVICES: dict[str, Service] = {s.id: s for s in (patient_view.SERVICE, order_select.SERVICE, order_sign.SERVICE)}

__all__ = ["SERVICES", "PrefetchKey", "Service"]
