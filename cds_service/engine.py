"""The clinical pipeline shared by the hook services: data -> facts -> assessment -> cards."""
from __future__ import annotations

from .assessment import Assessment, assess
from .card_builder import CardBuilder
from .data_access import PatientData
from .facts import FactReader, Facts
from .knowledge import Knowledge
from .medications import DrugMatcher
from .trial_registry import OverlayReader


class Engine:
    """Holds the loaded knowledge and the objects built from it (once, at start-up)."""

    def __init__(self, knowledge: Knowledge, overlay: OverlayReader | None = None) -> None:
        self.knowledge = knowledge
        self.overlay = overlay
        self.matcher = DrugMatcher(knowledge)
        self.reader = FactReader(knowledge, self.matcher)
        self.cards = CardBuilder(knowledge)

    def facts(self, data: PatientData) -> Facts:
        """Facts from the gathered data, with what could not be read stated."""
        facts = self.reader.read(data.parsed)
        facts.conditions_available = "conditions" in data.available
        facts.observations_available = "her2Observations" in data.available
        facts.history_available = bool({"medicationRequests", "medicationStatements"} & data.available)
        facts.notes += [f"Not read: {why}" for why in data.unavailable.values()]
        if not facts.history_available:
            facts.notes.append("Medication history could not be read: line of therapy is assumed first line.")
        return facts

    def assessments(self, facts: Facts) -> list[Assessment]:
        return assess(facts, self.knowledge, self.overlay.current() if self.overlay else None)

    def patient_cards(self, facts: Facts, assessments: list[Assessment], patient_id: str) -> list[dict]:
        """Status, therapy, trial and testing cards (or the out-of-scope card)."""
        if not assessments:
            return [self.cards.out_of_scope_card(facts.other_diagnoses, facts.conditions_available, facts.unreadable_conditions)]
        cards = []
        for a in assessments:
            cards.append(self.cards.status_card(a, both_types=len(assessments) > 1))
            cards += [self.cards.therapy_card(a, option) for option in a.therapies]
            if a.trials or a.trials_closed:
                cards.append(self.cards.trials_card(a))
            cards += [self.cards.testing_card(due, patient_id) for due in a.tests]
        return cards
