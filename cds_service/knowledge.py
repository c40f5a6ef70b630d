"""The curated knowledge in `cards/`: located, validated (typed models, rule book) and loaded once at start-up."""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from pydantic import ValidationError

from .rules.book import RuleBook
from .rules.models import FILE_MODELS

KNOWLEDGE_FILES = (
    "sources", "thresholds", "crc-criteria", "gastric-criteria", "statements", "copy-number-cutoffs",
    "evidence-notes", "therapies", "trials", "warnings", "testing", "drugs", "codes",
)
MAX_QUOTE_WORDS = 25


class KnowledgeError(ValueError):
    """A knowledge file is missing, malformed or inconsistent."""


def default_knowledge_dir() -> Path:
    """`cards/` of a source checkout, else the copy packaged in the installed wheel."""
    checkout = Path(__file__).resolve().parent.parent / "cards"
    if (checkout / "sources.yaml").is_file():
        return checkout
    return Path(__file__).resolve().parent / "_cards"  # installed wheel (pyproject package-dir)


def default_fixtures_dir() -> Path:
    """`fixtures/` of a source checkout, else the copy packaged in the installed wheel."""
    checkout = Path(__file__).resolve().parent.parent / "fixtures"
    if (checkout / "patients").is_dir():
        return checkout
    return Path(__file__).resolve().parent / "_fixtures"


def normalise_quote_text(text: str) -> str:
    """Collapse whitespace and drop extraction mark-up (*emphasis*, <i>) for quote comparison."""
    text = re.sub(r"</?i>", "", text)
    text = text.replace("*", "")
    return re.sub(r"\s+", " ", text).strip()


def seed_text_variants(raw: str) -> tuple[str, ...]:
    """The seed text normalised three ways: as is, line-break hyphens joined, and kept."""
    joined = re.sub(r"-[ \t]*\n\s*", "", raw)
    kept = re.sub(r"-[ \t]*\n\s*", "-", raw)
    return tuple(normalise_quote_text(t) for t in (raw, joined, kept))


def iter_sources(node: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    """Every `source`/`sources`/`*_source` citation in a knowledge document, with its path."""
    if isinstance(node, dict):
        if {"file", "section", "quote"} <= node.keys():
            yield path, node
            return
        for key, value in node.items():
            yield from iter_sources(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from iter_sources(value, f"{path}[{i}]")


@dataclass(frozen=True)
class Knowledge:
    """All knowledge files, parsed; `version` is a content hash of them."""

    raw: dict[str, Any]
    directory: Path
    version: str
    documents: dict[str, dict] = field(default_factory=dict)

    @property
    def date(self) -> str:
        """The date the knowledge was last reviewed (sources.yaml `knowledge_date`)."""
        return str(self.raw["sources"]["knowledge_date"])

    @property
    def version_label(self) -> str:
        """Date and content hash: traces any card to the exact knowledge that produced it."""
        return f"{self.date}+{self.version}"

    @property
    def crc(self) -> dict:
        return self.raw["crc-criteria"]

    @property
    def gastric(self) -> dict:
        return self.raw["gastric-criteria"]

    @property
    def cutoffs(self) -> dict:
        return self.raw["copy-number-cutoffs"]

    @property
    def therapies(self) -> list[dict]:
        return self.raw["therapies"]["therapies"]

    @property
    def trials(self) -> list[dict]:
        return self.raw["trials"]["trials"]

    @property
    def testing(self) -> dict:
        return self.raw["testing"]

    @property
    def drugs(self) -> dict:
        return self.raw["drugs"]

    @property
    def codes(self) -> dict:
        return self.raw["codes"]

    @cached_property
    def rules(self) -> RuleBook:
        """Every rule by id, with the ordered lists the assessment walks."""
        return RuleBook(self.raw)

    def document(self, file: str) -> dict:
        """The source document entry for a seed file name."""
        return self.documents[file]

    def document_for(self, key: str) -> dict:
        """The source document entry by key (crc, gc)."""
        return next(d for d in self.documents.values() if d["key"] == key)

    def suggestion(self, suggestion_id: str) -> dict:
        for item in self.testing["suggestions"]:
            if item["id"] == suggestion_id:
                return item
        raise KeyError(suggestion_id)


def _check_consistency(raw: dict[str, Any]) -> list[str]:
    problems = []
    files = {d["file"] for d in raw["sources"]["documents"]}
    for name, doc in raw.items():
        for where, src in iter_sources(doc):
            if src["file"] not in files:
                problems.append(f"{name}:{where}: unknown source file {src['file']}")
            words = len(normalise_quote_text(src["quote"]).split())
            if words > MAX_QUOTE_WORDS:
                problems.append(f"{name}:{where}: quote has {words} words (max {MAX_QUOTE_WORDS})")
    sets = raw["trials"]["criterion_sets"]
    for trial in raw["trials"]["trials"]:
        her2 = trial["her2"]
        if her2.get("ref") is not None and her2["ref"] not in sets:
            problems.append(f"trials: {trial['nct']} refers to unknown criterion set")
        if (her2.get("ref") is None) == (her2.get("arms") is None):
            problems.append(f"trials: {trial['nct']} needs either HER2 arms or a criterion set")
    tests = raw["testing"]["tests"]
    for sug in raw["testing"]["suggestions"]:
        problems += [f"testing: {sug['id']} names unknown test {t}" for t in sug["tests"] if t not in tests]
    drug_ids = {d["id"] for d in raw["drugs"]["drugs"]}
    for therapy in raw["therapies"]["therapies"]:
        if therapy["regimen"] != sorted(therapy["regimen"]):
            problems.append(f"therapies: {therapy['id']} regimen not sorted")
        problems += [f"therapies: {therapy['id']} unknown drug {d}" for d in therapy["regimen"] if d not in drug_ids]
    ncts = [t["nct"] for t in raw["trials"]["trials"]]
    if len(ncts) != len(set(ncts)):
        problems.append("trials: duplicate NCT number")
    return problems


def _validate(name: str, data: Any, schema_path: Path) -> tuple[Any, list[str]]:
    """A knowledge file checked against its typed model (codes.yaml: against its JSON Schema)."""
    if name not in FILE_MODELS:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
        errors = jsonschema.Draft202012Validator(schema).iter_errors(data)
        return data, [f"{name}.yaml at {'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}" for e in errors]
    try:
        return FILE_MODELS[name].model_validate(data).model_dump(mode="json"), []
    except ValidationError as exc:
        return data, [f"{name}.yaml at {'/'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()]


def load_knowledge(directory: Path | None = None) -> Knowledge:
    """Load and validate every knowledge file; raise KnowledgeError naming each problem."""
    directory = directory or default_knowledge_dir()
    raw: dict[str, Any] = {}
    digest = hashlib.sha256()
    problems: list[str] = []
    for name in KNOWLEDGE_FILES:
        path = directory / f"{name}.yaml"
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise KnowledgeError(f"cannot read knowledge file {path.name}: {exc}") from exc
        digest.update(name.encode() + b"\0" + text)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise KnowledgeError(f"{path.name} is not valid YAML: {exc}") from exc
        raw[name], found = _validate(name, data, directory / "schema" / f"{name}.schema.json")
        problems += found
    if problems:
        raise KnowledgeError("knowledge files failed validation:\n" + "\n".join(problems))
    problems = _check_consistency(raw)
    documents = {d["file"]: d for d in raw["sources"]["documents"]}
    knowledge = Knowledge(raw=raw, directory=directory, version=digest.hexdigest()[:12], documents=documents)
    problems += knowledge.rules.problems
    if problems:
        raise KnowledgeError("knowledge files are inconsistent:\n" + "\n".join(problems))
    return knowledge
