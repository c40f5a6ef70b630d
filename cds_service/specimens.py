"""Which specimen a result comes from: plasma (ctDNA) or tissue, and biopsy or surgical.

Read from HL7 v2-0487 and SNOMED CT codes first, then from words, in the Specimen's `type` and
`collection.method` and the reference's `display` (codes.yaml `specimen`). Codes or words that
name more than one kind leave it unknown: the result is then not used, never guessed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .fhir_read import ParsedResources, codings, concept_texts


@dataclass(frozen=True)
class SpecimenInfo:
    """origin: tissue | plasma | serum | None; kind: biopsy | surgical | None; key: the sample."""

    origin: str | None = None
    kind: str | None = None
    key: str | None = None


def _single(found: set[str]) -> str | None:
    return next(iter(found)) if len(found) == 1 else None


class SpecimenReader:
    """Classifies the specimen an Observation or DiagnosticReport refers to."""

    def __init__(self, codes: dict) -> None:
        spec = codes["specimen"]
        self.v2 = codes["systems"]["v2_0487"]
        self.snomed = codes["systems"]["snomed"]
        self.origin_codes = {
            origin: {(self.v2, c) for c in spec[f"{origin}_v2_0487"]} | {(self.snomed, c) for c in spec[f"{origin}_snomed"]}
            for origin in ("plasma", "tissue", "serum")
        }
        self.kind_codes = {
            "biopsy": {(self.v2, c) for c in spec["biopsy_v2_0487"]} | {(self.snomed, c) for c in spec["biopsy_snomed"]},
            "surgical": {(self.snomed, c) for c in spec["surgical_snomed"]},
        }
        self.origin_words = {origin: spec[f"{origin}_words"] for origin in ("plasma", "tissue", "serum")}
        self.kind_words = {"biopsy": spec["biopsy_words"], "surgical": spec["surgical_words"]}

    def _classify(self, coded: set[tuple[str, str]], text: str, codes: dict[str, set], words: dict[str, list[str]]) -> str | None:
        by_code = {name for name, members in codes.items() if coded & members}
        if by_code:
            return _single(by_code)
        for phrase in self.origin_words["plasma"]:  # "liquid biopsy" is no tissue biopsy
            if " " in phrase and phrase in text:
                text = text.replace(phrase, " plasma ")
        return _single({name for name, wordlist in words.items() if any(w in text for w in wordlist)})

    def read(self, reference: Any, parsed: ParsedResources, container: dict | None = None) -> SpecimenInfo:
        """The specimen a `specimen` Reference points to (contained in `container`, in the data, or
        only named by its display)."""
        ref = reference if isinstance(reference, dict) else {}
        display = ref.get("display") if isinstance(ref.get("display"), str) else None
        target = ref.get("reference") if isinstance(ref.get("reference"), str) else None
        specimen = None
        if target and target.startswith("#") and container is not None:
            specimen = next((c for c in container.get("contained") or [] if isinstance(c, dict) and c.get("id") == target[1:]), None)
        elif target:
            specimen = parsed.by_ref.get("/".join(target.split("/_history/")[0].split("/")[-2:]))
        texts = [display] if display else []
        coded: set[tuple[str, str]] = set()
        if isinstance(specimen, dict):
            for concept in (specimen.get("type"), (specimen.get("collection") or {}).get("method")):
                texts += concept_texts(concept)
                coded |= {(c.get("system", ""), c.get("code", "")) for c in codings(concept)}
        if not texts and not coded:
            return SpecimenInfo(key=target)
        text = " ".join(texts).lower()
        origin = self._classify(coded, text, self.origin_codes, self.origin_words)
        kind = self._classify(coded, text, self.kind_codes, self.kind_words)
        return SpecimenInfo(origin, kind, target or display)

    def of_all(self, references: Any, parsed: ParsedResources, container: dict | None = None) -> SpecimenInfo:
        """One SpecimenInfo for a list of references (a report's specimens): what they agree on."""
        infos = [self.read(r, parsed, container) for r in references or [] if isinstance(r, dict)]
        if not infos:
            return SpecimenInfo()
        if len(infos) == 1:
            return infos[0]
        return SpecimenInfo(_single({i.origin for i in infos}), _single({i.kind for i in infos}), None)
