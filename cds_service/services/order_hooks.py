"""her2-order-select and her2-order-sign: the same checks; select speaks only about the selected orders."""
from __future__ import annotations

from functools import partial

from ..data_access import PatientData
from ..engine import Engine
from ..fhir_read import iter_resources, parse_resources
from ..models import HookRequest
from ..orders import DraftOrders, order_tests, order_warnings, read_draft_orders
from .declaration import Service
from .prefetch import HER2_PREFETCH


def _her2_relevant(engine: Engine, orders: DraftOrders) -> bool:
    """A systemic anticancer drug or a HER2 test is being ordered (anything else: do not nag)."""
    return bool(orders.tests) or any(engine.matcher.is_systemic(set(u.drugs)) for u in orders.medications)


def orders_are_relevant(engine: Engine, request: HookRequest, selected_only: bool) -> bool:
    """Relevance from the draft orders alone (with the Medications in the same Bundle): no patient data."""
    draft = request.context.draft_orders
    own = parse_resources([r for r in iter_resources(draft) if isinstance(r, dict) and r.get("resourceType") == "Medication"])
    orders = read_draft_orders(request.context.orders(), selected_only, own, engine.matcher, engine.knowledge)
    return _her2_relevant(engine, orders)


def order_cards(engine: Engine, request: HookRequest, data: PatientData, selected_only: bool) -> list[dict]:
    """Status card, warnings and due tests for HER2-relevant draft orders; [] for anything else."""
    orders = read_draft_orders(request.context.orders(), selected_only, data.parsed, engine.matcher, engine.knowledge)
    if not _her2_relevant(engine, orders):
        return []
    her2 = [u for u in orders.medications if engine.matcher.of_class(set(u.drugs), "her2-directed")]
    facts = engine.facts(data)
    facts.notes += orders.notes
    assessments = engine.assessments(facts)
    if not assessments:
        if her2 or orders.tests:
            return [engine.cards.out_of_scope_card(facts.other_diagnoses, facts.conditions_available, facts.unreadable_conditions)]
        return []
    cards = [engine.cards.status_card(a, both_types=len(assessments) > 1) for a in assessments]
    cards += [engine.cards.warning_card(w, request.patient_id)
              for w in order_warnings(engine.knowledge, engine.matcher, facts, assessments, orders)]
    cards += [engine.cards.testing_card(due, request.patient_id, indicator="warning")
              for due in order_tests(engine.matcher, assessments, orders)]
    return cards



def _order_service(service_id: str, hook: str, title: str, description: str, selected_only: bool) -> Service:
    return Service(id=service_id, hook=hook, title=title, description=description, prefetch=HER2_PREFETCH,
                   handler=partial(order_cards, selected_only=selected_only),
                   relevant=partial(orders_are_relevant, selected_only=selected_only))


ORDER_SELECT = _order_service(
    "her2-order-select", "order-select", "HER2 checks on selected orders",
    "Warns when a selected drug conflicts with the HER2 evidence and suggests missing HER2 tests.", selected_only=True)
ORDER_SIGN = _order_service(
    "her2-order-sign", "order-sign", "HER2 checks before signing orders",
    "Warns when a draft order conflicts with the HER2 evidence and suggests missing HER2 tests.", selected_only=False)
