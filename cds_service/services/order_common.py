"""What order-select and order-sign share: they differ only in which draft orders they read."""
from __future__ import annotations

from ..data_access import PatientData
from ..engine import Engine
from ..orders import order_tests, order_warnings, read_draft_orders
from ..validation import HookRequest


def order_cards(engine: Engine, request: HookRequest, data: PatientData, selected_only: bool) -> list[dict]:
    """Status card, warnings and due tests for HER2-relevant draft orders; [] for anything else."""
    orders = read_draft_orders(request.context, selected_only, data.parsed, engine.matcher, engine.knowledge)
    oncology = [u for u in orders.medications if engine.matcher.is_systemic(set(u.drugs))]
    her2 = [u for u in orders.medications if engine.matcher.of_class(set(u.drugs), "her2-directed")]
    if not oncology and not orders.tests:
        return []  # do not nag: nothing HER2-relevant is being ordered
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
