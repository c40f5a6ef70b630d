"""Golden snapshots: the cards of every fixture request and of a matrix of synthetic patients.

    python -m tests.golden_cases        # rewrite tests/golden/*.json from the current code

Run it only for a deliberate change of behaviour, and read the diff before committing it:
tests/test_rules_golden.py fails whenever the cards differ from the snapshot. Card uuids and the
knowledge version are replaced by placeholders; the rule ids of each card are kept apart in
`rules.json`, so a change of wording and a change of rule ids show up as separate diffs.
"""
from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests import fhir_builders as b

GOLDEN = Path(__file__).resolve().parent / "golden"
FIXTURE_REQUESTS = Path(__file__).resolve().parent.parent / "fixtures" / "requests"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
P = "g"


# ---------------------------------------------------------------- the synthetic matrix

def _base(tumour: str, metastatic: bool = True) -> list[dict]:
    condition = b.crc(P) if tumour == "crc" else b.gastric(P)
    return [b.patient(P), condition] + ([b.liver_mets(P)] if metastatic else [])


IHC = {
    "none": None,
    "ihc0": ("0", None, "Colon biopsy"),
    "ihc1": ("1+", None, "Colon biopsy"),
    "ihc2-40": ("2+", 40, "Colon biopsy"),
    "ihc2-60": ("2+", 60, "Colon resection specimen"),
    "ihc3-60-biopsy": ("3+", 60, "Colon biopsy"),
    "ihc3-51-resection": ("3+", 51, "Colon resection specimen"),
    "ihc3-10-resection": ("3+", 10, "Colon resection specimen"),
    "ihc3-9-unknown": ("3+", 9, None),
    "ihc3-nopct-unknown": ("3+", None, None),
    "ihc-indeterminate": ("indeterminate", None, "Colon biopsy"),
}
ISH = {"none": None, "ish1.2": (1.2, None), "ish1.99": (1.99, None), "ish2.0": (2.0, None),
       "ish2.01-amp40": (2.01, 40), "ish2.3": (2.3, None), "ish2.3-copies7": (2.3, 7)}


def _tissue(ihc_key: str, ish_key: str) -> list[dict]:
    out = []
    if IHC[ihc_key]:
        score, pct, specimen = IHC[ihc_key]
        out.append(b.ihc(P, score, pct, specimen=specimen))
    if ISH[ish_key]:
        ratio, extra = ISH[ish_key]
        if ish_key.endswith("copies7"):
            out.append(b.ish(P, ratio, copies=extra))
        else:
            out.append(b.ish(P, ratio, amplified_pct=extra))
    return out


RAS = {
    "ras-none": lambda: [],
    "ras-wt": lambda: [b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", present=False)],
    "kras-rc30": lambda: [b.variant(P, "KRAS", "p.G12D", rc=30), b.variant(P, "NRAS", present=False)],
    "kras-rc31": lambda: [b.variant(P, "KRAS", "p.G12D", rc=31), b.variant(P, "NRAS", present=False)],
    "nras-q61-tissue": lambda: [b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", "p.Q61K", origin="tissue")],
    "kras-vaf-peer": lambda: [b.variant(P, "KRAS", "p.G12V", vaf=3.1), b.variant(P, "PIK3CA", "p.E545K", vaf=10.0),
                              b.variant(P, "NRAS", present=False)],
    "kras-no-vaf": lambda: [b.variant(P, "KRAS", "p.G13D"), b.variant(P, "NRAS", present=False)],
    "kras-other-codon": lambda: [b.variant(P, "KRAS", "p.L19F", rc=90), b.variant(P, "NRAS", present=False)],
    "kras-no-codon": lambda: [b.variant(P, "KRAS", "see report", rc=90), b.variant(P, "NRAS", present=False)],
    "kras-unknown-origin": lambda: [b.variant(P, "KRAS", "p.G12D", origin="sample 3"), b.variant(P, "NRAS", present=False)],
    "braf-tissue": lambda: [b.variant(P, "BRAF", "p.V600E", origin="tissue")],
}
PLASMA = {
    "plasma-none": lambda: [],
    "plasma-amp": lambda: [b.erbb2_cn(P, True, copy_number=12)],
    "plasma-neg": lambda: [b.erbb2_cn(P, False)],
    "plasma-neg-frac": lambda: [b.erbb2_cn(P, False), b.ctdna_fraction(P, 0.4)],
}
HISTORY = {
    "first-line": lambda: [],
    "folfox": lambda: [b.medication(P, "FOLFOX", date="2023-01-10")],
    "cetuximab": lambda: [b.medication(P, "cetuximab", "318341", date="2023-01-10")],
    "panitumumab": lambda: [b.medication(P, "Vectibix", date="2023-01-10")],
    "trastuzumab-before-results": lambda: [b.medication(P, "trastuzumab", "224905", date="2025-01-10")],
    "trastuzumab-after-results": lambda: [b.medication(P, "trastuzumab", "224905", date="2023-01-10")],
    "trastuzumab-not-taken": lambda: [b.medication(P, "trastuzumab", "224905", status="not-taken", date="2023-01-10",
                                                   rtype="MedicationStatement")],
    "trastuzumab-intended": lambda: [b.medication(P, "Herceptin", status="intended", date="2023-01-10",
                                                  rtype="MedicationStatement")],
    "trastuzumab-no-date": lambda: [{**b.medication(P, "trastuzumab", "224905"), "authoredOn": None}],
    "trastuzumab-active": lambda: [b.medication(P, "trastuzumab", "224905", status="active", date="2023-01-10")],
}
COPY_NUMBER = {
    "apcn-16.69": lambda: [b.apcn(P, 16.69)], "apcn-16.7": lambda: [b.apcn(P, 16.7)],
    "apcn-25.82": lambda: [b.apcn(P, 25.82)], "apcn-30.89": lambda: [b.apcn(P, 30.89)], "apcn-30.9": lambda: [b.apcn(P, 30.9)],
    "ngs-68.69": lambda: [b.erbb2_cn(P, True, 68.69, origin="tissue")], "ngs-68.7": lambda: [b.erbb2_cn(P, False, 68.7, origin="tissue")],
    "qpcr-9.44": lambda: [b.local_value(P, "erbb2-cn-qpcr", 9.44, origin="tissue")],
    "qpcr-9.45": lambda: [b.local_value(P, "erbb2-cn-qpcr", 9.45, origin="tissue")],
}
ORDERS: dict[str, Callable[[], list[dict]]] = {
    "cetuximab": lambda: [b.draft_order(P, "cetuximab", "318341", mid="o-cx")],
    "panitumumab": lambda: [b.draft_order(P, "Vectibix", mid="o-pz")],
    "trastuzumab": lambda: [b.draft_order(P, "Herceptin", mid="o-t")],
    "high-dose-trastuzumab": lambda: [b.draft_order(P, "trastuzumab high-dose loading", mid="o-hd")],
    "pertuzumab+trastuzumab": lambda: [b.draft_order(P, "Perjeta", mid="o-p"), b.draft_order(P, "Herceptin", mid="o-t")],
    "phesgo": lambda: [b.draft_order(P, "Phesgo", mid="o-ph")],
    "tdxd": lambda: [b.draft_order(P, "Enhertu", mid="o-x")],
    "lapatinib": lambda: [b.draft_order(P, "Tykerb", mid="o-l")],
    "t-dm1": lambda: [b.draft_order(P, "Kadcyla", mid="o-k")],
    "tucatinib": lambda: [b.draft_order(P, "Tukysa", mid="o-tu")],
    "oxaliplatin": lambda: [b.draft_order(P, "oxaliplatin", "32592", mid="o-ox")],
    "oxaliplatin+ihc-order": lambda: [b.draft_order(P, "oxaliplatin", "32592", mid="o-ox"),
                                      b.test_order(P, "18474-7", "HER2 IHC", sid="o-ihc")],
    "oxaliplatin+ish-order": lambda: [b.draft_order(P, "oxaliplatin", "32592", mid="o-ox"),
                                      b.test_order(P, "49683-6", "HER2 FISH", sid="o-ish")],
    "statin": lambda: [b.draft_order(P, "atorvastatin 20 MG Oral Tablet", mid="o-s")],
}


def _case(resources: list[dict], hook: str = "patient-view", orders: list[dict] | None = None,
          drop: tuple[str, ...] = (), selections: list[str] | None = None) -> dict:
    request = b.hook_request(hook, P, resources, orders, selections)
    for key in drop:
        del request["prefetch"][key]
    return request


def synthetic_cases() -> Iterator[tuple[str, Callable[[], dict]]]:
    """(name, request builder) for the matrix: each builder resets the resource ids."""
    def case(name: str, build: Callable[[], dict]) -> tuple[str, Callable[[], dict]]:
        def make() -> dict:
            b.reset_ids()
            return build()
        return name, make

    for tumour in ("crc", "gc"):
        for ihc_key in IHC:
            for ish_key in ISH:
                yield case(f"{tumour}/{ihc_key}/{ish_key}", lambda t=tumour, i=ihc_key, s=ish_key: _case(_base(t) + _tissue(i, s)))
    for tissue in ("none", "ihc0", "ihc3-60-biopsy", "ihc1"):
        for plasma in PLASMA:
            for ras in RAS:
                yield case(f"crc/{tissue}/{plasma}/{ras}",
                           lambda i=tissue, p=plasma, r=ras: _case(_base("crc") + _tissue(i, "none") + PLASMA[p]() + RAS[r]()))
    for tumour in ("crc", "gc"):
        for tissue in ("none", "ihc3-60-biopsy", "ihc1", "ihc2-40"):
            for history in HISTORY:
                yield case(f"{tumour}/{tissue}/{history}",
                           lambda t=tumour, i=tissue, h=history: _case(_base(t) + _tissue(i, "none") + HISTORY[h]()))
        for plasma in ("plasma-amp", "plasma-neg"):
            yield case(f"{tumour}/ihc3-60-biopsy/trastuzumab-before-results/{plasma}",
                       lambda t=tumour, p=plasma: _case(_base(t) + _tissue("ihc3-60-biopsy", "none")
                                                        + HISTORY["trastuzumab-before-results"]() + PLASMA[p]()))
        yield case(f"{tumour}/not-metastatic/ihc3-60-biopsy",
                   lambda t=tumour: _case(_base(t, metastatic=False) + _tissue("ihc3-60-biopsy", "none")))
        yield case(f"{tumour}/observations-unreadable",
                   lambda t=tumour: _case(_base(t), drop=("her2Observations",)))
        yield case(f"{tumour}/history-unreadable/ihc3-60-biopsy",
                   lambda t=tumour: _case(_base(t) + _tissue("ihc3-60-biopsy", "none"),
                                          drop=("medicationRequests", "medicationStatements")))
        yield case(f"{tumour}/plasma-only-apcn", lambda t=tumour: _case(_base(t) + [b.apcn(P, 40)]))
    for cn in COPY_NUMBER:
        yield case(f"crc/ihc3-60-biopsy/{cn}", lambda c=cn: _case(_base("crc") + _tissue("ihc3-60-biopsy", "none") + COPY_NUMBER[c]()))
    yield case("crc/ihc3-60-biopsy/plasma-amp-cn20", lambda: _case(_base("crc") + _tissue("ihc3-60-biopsy", "none")
                                                                   + [b.erbb2_cn(P, True, copy_number=20)]))
    yield case("both/ihc3-60-biopsy", lambda: _case(_base("crc") + [b.gastric(P)] + _tissue("ihc3-60-biopsy", "none")))
    patients = {
        "crc-positive": lambda: _base("crc") + _tissue("ihc3-60-biopsy", "none"),
        "crc-plasma-positive": lambda: _base("crc") + PLASMA["plasma-amp"]() + RAS["ras-wt"](),
        "crc-ras-mutant": lambda: _base("crc") + _tissue("ihc3-60-biopsy", "none") + RAS["kras-rc31"](),
        "crc-low": lambda: _base("crc") + _tissue("ihc1", "none"),
        "crc-equivocal": lambda: _base("crc") + _tissue("ihc2-40", "none"),
        "crc-negative": lambda: _base("crc") + _tissue("ihc0", "ish1.2"),
        "crc-untested": lambda: _base("crc"),
        "crc-ish-only": lambda: _base("crc") + _tissue("none", "ish1.2"),
        "gc-positive": lambda: _base("gc") + _tissue("ihc3-60-biopsy", "none"),
        "gc-equivocal": lambda: _base("gc") + _tissue("ihc2-40", "none"),
        "gc-low": lambda: _base("gc") + _tissue("ihc1", "none"),
        "gc-untested": lambda: _base("gc"),
        "gc-positive-pre-trastuzumab": lambda: _base("gc") + _tissue("ihc3-60-biopsy", "none") + HISTORY["trastuzumab-before-results"](),
        "gc-positive-trastuzumab-completed": lambda: _base("gc") + [b.ihc(P, "3+", date="2025-06-01")]
        + [b.medication(P, "trastuzumab", "224905", status="completed", date="2024-01-01")],
        "lung": lambda: [b.patient(P), b.condition(P, b.ICD10, "C34.1", "Lung cancer")],
    }
    for patient_name, resources in patients.items():
        for line in ("first-line", "folfox"):
            for order in ORDERS:
                yield case(f"order-sign/{patient_name}/{line}/{order}",
                           lambda r=resources, h=line, o=order: _case(r() + HISTORY[h](), "order-sign", ORDERS[o]()))
    yield case("order-select/crc-positive/folfox/cetuximab-not-selected",
               lambda: _case(patients["crc-positive"]() + HISTORY["folfox"](), "order-select",
                             ORDERS["cetuximab"]() + ORDERS["oxaliplatin"](), selections=["MedicationRequest/o-ox"]))
    yield case("order-sign/crc-ras-mutant/active-trastuzumab/tucatinib",
               lambda: _case(patients["crc-ras-mutant"]() + HISTORY["trastuzumab-active"](), "order-sign", ORDERS["tucatinib"]()))


def fixture_cases() -> Iterator[tuple[str, Callable[[], dict]]]:
    for path in sorted(FIXTURE_REQUESTS.glob("*.json")):
        yield path.stem, lambda p=path: json.loads(p.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- running and normalising

def _client() -> Any:
    from cds_service.app import create_app
    from cds_service.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="her2cds-golden-"))
    # A new database: no registry overlay, so trial cards show the source statuses.
    app = create_app(Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp}/golden.sqlite3", "HER2CDS_LOG_LEVEL": "ERROR"}))
    return app, app.test_client()


def _normalise(node: Any, version: str) -> Any:
    if isinstance(node, dict):
        return {k: _normalise(v, version) for k, v in node.items()}
    if isinstance(node, list):
        return [_normalise(v, version) for v in node]
    if isinstance(node, str):
        return UUID.sub("<uuid>", node.replace(version, "<knowledge>"))
    return node


def split_rules(cards: list[dict]) -> tuple[list[dict], list[list[str]]]:
    """Cards without `extension.her2cds.rules`, and those rule ids card by card."""
    stripped, rules = [], []
    for card in cards:
        card = json.loads(json.dumps(card))
        ext = (card.get("extension") or {}).get("her2cds") or {}
        rules.append(ext.pop("rules", []))
        if card.get("extension") == {"her2cds": {}}:
            del card["extension"]  # the card's extension held only its rule ids
        stripped.append(card)
    return stripped, rules


def snapshot() -> dict[str, dict[str, Any]]:
    """{"fixtures": {name: cards}, "scenarios": {name: cards}, "rules": {name: [[rule ids] per card]}}."""
    from cds_service.discovery import SERVICE_FOR_HOOK

    app, client = _client()
    version = app.extensions["her2cds"]["engine"].knowledge.version_label
    out: dict[str, dict[str, Any]] = {"fixtures": {}, "scenarios": {}, "rules": {}}
    for group, cases in (("fixtures", fixture_cases()), ("scenarios", synthetic_cases())):
        for name, make in cases:
            request = make()
            response = client.post(f"/cds-services/{SERVICE_FOR_HOOK[request['hook']]}", json=request)
            assert response.status_code == 200, (name, response.get_json())
            cards, rules = split_rules(_normalise(response.get_json()["cards"], version))
            out[group][name] = cards
            out["rules"][f"{group}/{name}"] = rules
    return out


def deduplicate(cases: dict[str, list[dict]]) -> dict[str, Any]:
    """{"cases": {name: [card key]}, "cards": {card key: card}}: identical cards are stored once."""
    cards: dict[str, dict] = {}
    index: dict[str, list[str]] = {}
    for name, case_cards in cases.items():
        keys = []
        for card in case_cards:
            key = hashlib.sha256(dump(card).encode()).hexdigest()[:16]
            cards[key] = card
            keys.append(key)
        index[name] = keys
    return {"cases": index, "cards": cards}


def expand(stored: dict[str, Any]) -> dict[str, list[dict]]:
    return {name: [stored["cards"][k] for k in keys] for name, keys in stored["cases"].items()}


def dump(content: Any) -> str:
    return json.dumps(content, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for name, content in snapshot().items():
        if name == "scenarios":
            content = deduplicate(content)
        path = GOLDEN / f"{name}.json"
        path.write_text(dump(content), encoding="utf-8")
        print(f"wrote {path.relative_to(GOLDEN.parent.parent)} ({len(content)} entries)")


if __name__ == "__main__":
    main()
