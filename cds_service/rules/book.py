"""The rule book: every rule of the knowledge files by id, and their evaluation for one patient.

A rule id reads `<scope>.<kind>.<name>`: scope `crc` (colorectal), `gc` (gastric/GEJ) or `common`
(both) decides which assessments the rule takes part in; kind says which list it belongs to.
Lists are walked in file order; a ladder (status, settling test) stops at the first rule that holds.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .conditions import MET, NOT_MET, Outcome, evaluate, rule_references, variables
from .functions import FUNCTIONS, Derived
from .templates import Template, conditions, fields, render
from .vocabulary import known

if TYPE_CHECKING:
    from ..facts import Facts

SCOPES = {"colorectal": "crc", "gastric": "gc"}
RULE_ID = re.compile(r"^(?P<scope>crc|gc|common)\.(?P<kind>[a-z-]+)\.(?P<name>[a-z0-9][a-z0-9.-]*)$")

# (knowledge file, key of the list in it) -> kind of its rules
RULE_LISTS: dict[tuple[str, str], str] = {
    ("thresholds", "thresholds"): "threshold",
    ("crc-criteria", "criteria"): "criterion",
    ("crc-criteria", "definitions"): "definition",
    ("crc-criteria", "status"): "status",
    ("gastric-criteria", "criteria"): "criterion",
    ("gastric-criteria", "definitions"): "definition",
    ("gastric-criteria", "status"): "status",
    ("statements", "contradictions"): "contradiction",
    ("statements", "missing"): "missing",
    ("statements", "findings"): "finding",
    ("statements", "scope"): "scope",
    ("statements", "headline"): "headline",
    ("copy-number-cutoffs", "cutoffs"): "cutoff",
    ("copy-number-cutoffs", "notes"): "finding",
    ("evidence-notes", "notes"): "note",
    ("therapies", "therapies"): "therapy",
    ("therapies", "safety"): "safety",
    ("therapies", "caveats"): "therapy-note",
    ("therapies", "gaps"): "therapy-gap",
    ("trials", "offer"): "trial-offer",
    ("trials", "trial_notes"): "trial-note",
    ("trials", "exclusions"): "trial-exclusion",
    ("trials", "trials"): "trial",
    ("warnings", "warnings"): "warning",
    ("testing", "rules"): "test",
    ("testing", "order_rules"): "order-test",
    ("testing", "settling"): "settling-test",
    ("testing", "laboratory"): "lab-request",
}
TEMPLATE_KEYS = ("text", "detail", "ask", "why")


def scope_of(rule_id: str) -> str:
    return rule_id.partition(".")[0]


def resolve_thresholds(node: Any, values: Mapping[str, Any]) -> Any:
    """Replace every `{threshold: <id>}` by the threshold's value."""
    if isinstance(node, dict):
        if set(node) == {"threshold"}:
            return values.get(node["threshold"])
        return {k: resolve_thresholds(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_thresholds(v, values) for v in node]
    return node


def resolve_params(rule: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """Replace every `{param: <name>}` in a warning's condition by the list of its own `params` (one
    declaration for the condition and the text, which names them as `{params.<name>}`)."""
    params = rule.get("params") if isinstance(rule.get("params"), Mapping) else {}

    def walk(node: Any) -> Any:
        if isinstance(node, Mapping):
            if set(node) == {"param"}:
                if node["param"] not in params:
                    problems.append(f"{rule['id']}: unknown param {node['param']}")
                return params.get(node["param"])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return {k: (v if k == "params" else walk(v)) for k, v in rule.items()}


def threshold_references(node: Any) -> set[str]:
    """The thresholds a rule uses."""
    if isinstance(node, dict):
        if set(node) == {"threshold"}:
            return {node["threshold"]}
        return set().union(*(threshold_references(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(threshold_references(v) for v in node))
    return set()


def _templates(rule: Mapping[str, Any]) -> Iterator[Template]:
    for key in TEMPLATE_KEYS:
        value = rule.get(key)
        if key == "detail" and isinstance(value, list) and value and not isinstance(value[0], Mapping):
            yield from value  # a list of lines, each a template
        elif value is not None:
            yield value
    yield from (arm["label"] for arm in rule.get("arms") or [] if isinstance(arm, Mapping) and arm.get("label"))


class RuleBook:
    """All rules by id with their kind, the ordered lists, and the trials' HER2 criteria."""

    def __init__(self, raw: dict[str, Any]) -> None:
        thresholds = {t["id"]: t["value"] for t in raw["thresholds"]["thresholds"]}
        self.raw = raw
        self.rules: dict[str, dict] = {}
        self.kinds: dict[str, str] = {}
        self.files: dict[str, str] = {}
        self.lists: dict[tuple[str, str], list[dict]] = {}
        self.problems: list[str] = []
        self.threshold_users: dict[str, list[str]] = {t: [] for t in thresholds}
        for (name, key), kind in RULE_LISTS.items():
            for rule in raw[name].get(key) or []:
                for ref in sorted(threshold_references(rule)):
                    if ref in thresholds:
                        self.threshold_users[ref].append(rule["id"])
                    else:
                        self.problems.append(f"{name}: {rule['id']} uses unknown threshold {ref}")
            items = [resolve_params(resolve_thresholds(rule, thresholds), self.problems) for rule in raw[name].get(key) or []]
            self.lists[(name, key)] = items
            for rule in items:
                if rule["id"] in self.rules:
                    self.problems.append(f"{name}: duplicate rule id {rule['id']}")
                self.rules[rule["id"]] = rule
                self.kinds[rule["id"]] = kind
                self.files[rule["id"]] = name
        for set_name, criterion_set in raw["trials"]["criterion_sets"].items():
            for ref in threshold_references(criterion_set):
                self.threshold_users[ref].append(f"criterion set {set_name} (trials)")
        sets = {k: resolve_thresholds(v, thresholds) for k, v in raw["trials"]["criterion_sets"].items()}
        for trial in self.lists[("trials", "trials")]:
            her2 = trial["her2"]
            trial["arms"] = sets[her2["ref"]]["arms"] if her2.get("ref") in sets else her2.get("arms") or []
        self.drug_classes: dict[str, set[str]] = {d["id"]: set(d["classes"]) for d in raw["drugs"]["drugs"]}
        self.suggestions: dict[str, dict] = {s["id"]: s for s in raw["testing"]["suggestions"]}
        self.problems += self._check()

    # ------------------------------------------------------------ lists
    def of(self, name: str, key: str, tumour: str | None = None) -> list[dict]:
        """The rules of one list, in order; with `tumour`, only those of its scope and `common`."""
        items = self.lists[(name, key)]
        if tumour is None:
            return items
        scopes = {"common", SCOPES[tumour]}
        return [rule for rule in items if scope_of(rule["id"]) in scopes]

    def criteria(self, tumour: str) -> list[dict]:
        return self.of("crc-criteria" if tumour == "colorectal" else "gastric-criteria", "criteria")

    def status_ladder(self, tumour: str) -> list[dict]:
        return self.of("crc-criteria" if tumour == "colorectal" else "gastric-criteria", "status")

    def derivations(self) -> list[dict]:
        """The definitions computed by a named function (every scope; an evaluation runs its own)."""
        return [d for name in ("crc-criteria", "gastric-criteria") for d in self.of(name, "definitions") if d.get("function")]

    def classes_of(self, drugs: Any) -> list[str]:
        return sorted({c for d in drugs for c in self.drug_classes.get(d, set())})

    def safety_for(self, drugs: Any, tumour: str) -> list[dict]:
        """The safety statements (of this tumour type's scope) that concern any of `drugs`."""
        return [s for s in self.of("therapies", "safety", tumour) if set(s["drugs"]) & set(drugs)]

    @staticmethod
    def condition(rule: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """A rule's condition: `when`, or its `arms` (criteria, trials) as any-of."""
        if "arms" in rule:
            return {"any": rule["arms"]}
        return rule.get("when")

    # ------------------------------------------------------------ load-time checks
    def _check(self) -> list[str]:
        problems = []
        for rule_id, rule in self.rules.items():
            where = f"{self.files[rule_id]}: {rule_id}"
            match = RULE_ID.match(rule_id)
            if not match:
                problems.append(f"{where}: id must read <crc|gc|common>.<kind>.<name>")
            elif match.group("kind") != self.kinds[rule_id]:
                problems.append(f"{where}: kind '{match.group('kind')}' in the id, but the rule is a {self.kinds[rule_id]}")
            if not (rule.get("source") or rule.get("sources") or rule.get("evidence") or rule.get("policy")):
                problems.append(f"{where}: no citation (source, sources, evidence) and no stated policy")
            conds = [self.condition(rule), rule.get("unless")] + [c for t in _templates(rule) for c in conditions(t)]
            conds += [e.get("when") for e in rule.get("evidence") or [] if isinstance(e, Mapping)]
            for cond in conds:
                problems += [f"{where}: unknown fact '{v}'" for v in sorted(variables(cond)) if not known(v)]
                problems += [f"{where}: refers to unknown rule '{r}'" for r in sorted(rule_references(cond)) if r not in self.rules]
            for template in _templates(rule):
                problems += [f"{where}: template names unknown fact '{f}'" for f in sorted(fields(template)) if not known(f)]
            if rule.get("function") and rule["function"] not in FUNCTIONS:
                problems.append(f"{where}: no rule function named '{rule['function']}'")
        for name in ("crc-criteria", "gastric-criteria"):
            ladder = self.lists[(name, "status")]
            if not ladder or ladder[-1].get("when"):
                problems.append(f"{name}: the status ladder must end with a rule without a condition (it always holds)")
        for key in ("rules", "order_rules"):
            for rule in self.lists[("testing", key)]:
                if rule["suggestion"] not in self.suggestions:
                    problems.append(f"testing: {rule['id']} names unknown suggestion {rule['suggestion']}")
        tests = self.raw["testing"]["tests"]
        from ..facts import LACKS  # the fact layer imports the knowledge, hence here

        for rule in self.lists[("testing", "laboratory")]:
            problems += [f"testing: {rule['id']} names unknown lacks {x}" for x in rule.get("lacks") or [] if x not in LACKS]
        for rule in self.lists[("testing", "settling")]:
            problems += [f"testing: {rule['id']} names unknown test {t}" for t in rule["tests"] if t not in tests]
        therapy_ids = {t["id"] for t in self.lists[("therapies", "therapies")]}
        for caveat in self.lists[("therapies", "caveats")]:
            problems += [f"therapies: {caveat['id']} names unknown therapy {t}" for t in caveat.get("therapies") or []
                         if t not in therapy_ids]
            problems += [f"therapies: {caveat['id']} names unknown evidence note {n}" for n in caveat["notes"]
                         if self.kinds.get(n) != "note"]
        for safety in self.lists[("therapies", "safety")]:
            problems += [f"therapies: {safety['id']} names unknown drug {d}" for d in safety["drugs"] if d not in self.drug_classes]
        trial_ids = {t["id"] for t in self.lists[("trials", "trials")]}
        for exclusion in self.lists[("trials", "exclusions")]:
            problems += [f"trials: {exclusion['id']} names unknown trial {t}" for t in exclusion.get("trials") or []
                         if t not in trial_ids]
        return problems


class Evaluation:
    """The rules applied to one patient for one tumour type: facts, memoised outcomes, derived lines."""

    def __init__(self, book: RuleBook, tumour: str, facts: dict[str, Any], patient: Facts) -> None:
        self.book = book
        self.tumour = tumour
        self.scopes = {"common", SCOPES[tumour]}
        self.facts = facts
        self.patient = patient
        self.outcomes: dict[str, Outcome] = {}
        self.derived: dict[str, Derived] = {}

    def child(self, extra: Mapping[str, Any]) -> Evaluation:
        """The same patient with more facts (a draft order, a trial): outcomes so far are kept."""
        other = Evaluation(self.book, self.tumour, {**self.facts, **extra}, self.patient)
        other.outcomes = dict(self.outcomes)
        other.derived = self.derived
        return other

    def lookup(self, name: str) -> Any:
        if "." not in name:
            return self.facts.get(name)
        node: Any = self.facts
        for part in name.split("."):
            if isinstance(node, Mapping):
                node = node.get(part)
            elif isinstance(node, list) and part.isdigit():
                node = node[int(part)] if int(part) < len(node) else None
            else:
                return None
        return node

    def in_scope(self, rule_id: str) -> bool:
        return scope_of(rule_id) in self.scopes

    def outcome(self, rule_id: str) -> Outcome:
        """A rule's outcome (memoised); a rule of another tumour type is not met."""
        if rule_id not in self.outcomes:
            self.outcomes[rule_id] = self._evaluate(self.book.rules[rule_id]) if self.in_scope(rule_id) else Outcome(NOT_MET)
        return self.outcomes[rule_id]

    def _evaluate(self, rule: Mapping[str, Any]) -> Outcome:
        if rule.get("function"):
            derived = FUNCTIONS[rule["function"]](self, **(rule.get("params") or {}))
            self.derived[rule["id"]] = derived
            self.facts.update(derived.facts)
            return Outcome(derived.result)
        outcome = self.check(self.book.condition(rule))
        if outcome.met and rule.get("unless") and self.check(rule["unless"]).met:
            return Outcome(NOT_MET)
        return outcome

    def _referenced(self, rule_id: str) -> Outcome:
        inner = self.outcome(rule_id)  # `via` only counts where the whole condition is met
        return Outcome(inner.result, missing=inner.missing, via=[rule_id, *inner.via])

    def check(self, condition: Mapping[str, Any] | None) -> Outcome:
        return evaluate(condition, self.lookup, self._referenced)

    def holds(self, condition: Mapping[str, Any] | None) -> bool:
        return self.check(condition).met

    def fires(self, rule: Mapping[str, Any]) -> bool:
        return self.outcome(rule["id"]).result == MET

    def first(self, rules: list[dict]) -> dict | None:
        return next((rule for rule in rules if self.fires(rule)), None)

    def fired(self, rules: list[dict]) -> list[dict]:
        return [rule for rule in rules if self.fires(rule)]

    def produced_by(self, rule: Mapping[str, Any]) -> list[str]:
        """A fired rule's id and the ids of the rules its condition relied on."""
        return [rule["id"], *self.outcome(rule["id"]).via]

    def text(self, template: Template | None, **local: Any) -> str:
        """A template rendered with the facts (and `local` names such as note, therapy, trial)."""
        evaluation = self.child(local) if local else self
        return render(template, evaluation.lookup, evaluation.holds)
