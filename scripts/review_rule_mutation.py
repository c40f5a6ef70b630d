# ruff: noqa: E501  (the mutant table: one mutant a line)
"""Hand mutations of the rules added or changed after the clinician review of the cards (decisions
6.12-6.24): each must make a seed-pinned test fail. Works on a copy of the checkout.

    python scripts/review_rule_mutation.py [start end]    # all, or mutants start..end-1
"""
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent
M = [
 ("cards/warnings.yaml", "crc.warning.her2-agent-without-partner", "agents: [trastuzumab, pertuzumab, lapatinib, tucatinib, pyrotinib, neratinib]", "agents: [trastuzumab]"),
 ("cards/warnings.yaml", "crc.warning.her2-agent-without-partner", "pertuzumab_partners: [lapatinib, trastuzumab emtansine]", "pertuzumab_partners: [trastuzumab emtansine]"),
 ("cards/warnings.yaml", "crc.warning.her2-agent-without-partner", "pertuzumab_partners: [lapatinib, trastuzumab emtansine]", "pertuzumab_partners: [lapatinib]"),
 ("cards/warnings.yaml", "crc.warning.plasma-only-regimen", "basis: {not_contains: tissue}", "basis: {not_contains: plasma}"),
 ("cards/warnings.yaml", "crc.warning.plasma-only-regimen", "settling_test: true", "settling_test: false"),
 ("cards/warnings.yaml", "crc.warning.tdxd-her2-low", "when: {status: {eq: positive}, ish_ratio", "when: {status: {ne: positive}, ish_ratio"),
 ("cards/trials.yaml", "common.trial-exclusion.previously-treated-in-first-line", ", history_available: {eq: true}", ""),
 ("cards/trials.yaml", "common.trial-exclusion.previously-treated-in-first-line", "line: {eq: first}", "line: {eq: later}"),
 ("cards/trials.yaml", "crc.trial-exclusion.ihc0-not-expressing", 'ihc_score: {eq: "0"}', 'ihc_score: {eq: "1+"}'),
 ("cards/trials.yaml", "crc.trial-exclusion.ihc0-not-expressing", "crc.trial.nct04660929]", "]"),
 ("cards/trials.yaml", "crc.trial-exclusion.nct05350917-undecided", "status: {in: [equivocal, indeterminate]}", "status: {in: [equivocal]}"),
 ("cards/trials.yaml", "crc.trial-exclusion.nct05350917-undecided", "unassessable: true", "unassessable: false"),
 ("cards/crc-criteria.yaml", "crc.criterion.harmonized-10pct", "ish-ratio-amplified}, if_missing: not-met}\n          undecided", "ish-ratio-amplified}}\n          undecided"),
 ("cards/crc-criteria.yaml", "crc.criterion.harmonized-10pct", '          ihc_score: {eq: "2+", if_missing: not-met}\n          ish_ratio: {absent: true}\n          undecided: "IHC 2+ without ISH: the source gives the harmonized cut-off for IHC 3+ only"\n', '          ihc_score: {eq: "2+", if_missing: not-met}\n          ish_ratio: {absent: true}\n'),
 ("cards/crc-criteria.yaml", "crc.criterion.heracles", '          undecided: "the IHC could not be scored: HERACLES is written on the IHC score"', ''),
 ("cards/crc-criteria.yaml", "crc.criterion.heracles", 'missing_note: "% of cells amplified is not reported', 'if_missing: met\n            note: "% of cells amplified is not reported'),
 ("cards/crc-criteria.yaml", "crc.criterion.triumph-tissue", "ihc_percent_cells: {absent: true}", "ihc_percent_cells: {present: true}"),
 ("cards/crc-criteria.yaml", "crc.criterion.triumph-tissue", 'not: {ihc_score: {in: ["0", "1+"]}}', 'not: {ihc_score: {in: ["0"]}}'),
 ("cards/statements.yaml", "gc.headline.result-predates-trastuzumab", "      not: {rule: gc.definition.her2-retained-in-plasma}\n", ""),
 ("cards/statements.yaml", "gc.headline.no-plasma-criterion", "      ish_on_file: {eq: false}\n", ""),
 ("cards/evidence-notes.yaml", "gc.note.plasma-reassess-after-trastuzumab", ", history_drugs: {contains: trastuzumab}", ""),
 ("cards/testing.yaml", "crc.test.reflex-ish", "suggestion: reflex-ish-crc", "suggestion: reflex-ish"),
 ("cards/testing.yaml", "crc.test.ihc-after-ish", "suggestion: ihc-after-ish-crc", "suggestion: ihc-after-ish"),
 ("cards/copy-number-cutoffs.yaml", "crc.cutoff.triumph-tissue-ngs", "and no concurrent oncogenic alterations vs all others (alterations not assessed here)", "with no concurrent oncogenic alteration"),
 ("cards/therapies.yaml", "crc.therapy-gap.plasma-only", "the only ctDNA-selected cohort in the source is TRIUMPH's", "its evidence is from tissue-positive patients"),
 # the re-review of 2026-11-26 (decisions 6.25-6.30)
 ("cards/warnings.yaml", "crc.warning.plasma-only-regimen", "          all: {in_use.her2-directed: {contains: tucatinib}}\n", ""),
 ("cards/warnings.yaml", "crc.warning.plasma-only-regimen", "          all: {in_use.her2-directed: {contains: trastuzumab emtansine}}\n", ""),
 ("cards/warnings.yaml", "crc.warning.plasma-only-regimen", "        - ordered.her2-directed: {intersects: [trastuzumab, lapatinib]}\n", "        - ordered.her2-directed: {empty: false}\n"),
 ("cards/warnings.yaml", "crc.warning.plasma-only-regimen", '        when: {in_use.her2-directed: {contains: pertuzumab}, all: {in_use.her2-directed: {contains: trastuzumab emtansine}}}\n', ""),
 ("cards/warnings.yaml", "crc.warning.plasma-only-regimen", '"MOUNTAINEER (tucatinib + trastuzumab) enrolled RAS wild-type', '"HERACLES (trastuzumab + lapatinib) enrolled RAS wild-type'),
 ("cards/warnings.yaml", "crc.warning.her2-agent-without-partner", "      status: {eq: positive}\n", ""),
 ("cards/warnings.yaml", "crc.warning.her2-agent-without-partner", "{params.trastuzumab_partners}", "pertuzumab, lapatinib, tucatinib"),
 ("cds_service/orders.py", None, 'ev = order_ev.child({"params": rule.get("params") or {}})', "ev = order_ev"),
 ("cds_service/rules/book.py", None, 'return params.get(node["param"])', "return node"),
 ("cards/statements.yaml", "common.headline.discordant", "        - rule: crc.contradiction.ihc3-ish-negative\n", ""),
 ("cards/statements.yaml", "common.headline.discordant", "        - rule: gc.contradiction.ihc-low-ish-amplified\n", ""),
 ("cards/statements.yaml", "common.headline.discordant", '      - text: " (IHC 3+, ISH not amplified)"', '      - text: ""'),
 ("cards/statements.yaml", "gc.contradiction.ihc-low-ish-amplified", "rule: gc.definition.ish-positive-low-ihc", "rule: gc.definition.her2-low"),
 ("cards/evidence-notes.yaml", "gc.note.ish-positive-low-ihc", 'despite FISH positivity."', 'despite FISH positivity: IHC 0/1+ with ISH ≥ 2 is not HER2-positive for trastuzumab."'),
 ("cards/trials.yaml", "crc.trial.nct05350917", "ref: her2_positive_or_mutated", "ref: expressing_or_amplified"),
 ("cds_service/assessment.py", None, "arm = local.text(outcome.arm)", "arm = outcome.arm"),
 ("cards/copy-number-cutoffs.yaml", "crc.cutoff.triumph-plasma-apcn", " and no concurrent oncogenic alterations vs all others", ""),
 ("cds_service/card_builder.py", None, "{' ' if v.get('amplified') is None else ', copy number '}", "{', copy number '}"),
 ("cds_service/orders.py", None, 'due.warning, due.safety = rule["code"], safety', 'due.warning, due.safety = rule["code"], []'),
 ("cds_service/orders.py", None, 'due.warning, due.safety = rule["code"], safety', 'due.warning, due.safety = None, safety'),
 ("cds_service/card_builder.py", None, "        lines += self.safety_lines(due.safety)\n", ""),
 ("cds_service/rules/conditions.py", None, "parts.append(Outcome(UNKNOWN, missing=[value]))", "parts.append(Outcome(NOT_MET))"),
 ("cds_service/assessment.py", None, "                elif offered:\n", "                elif True:\n"),
 ("cds_service/assessment.py", None, "                if not excluded[\"unassessable\"]:", "                if True:"),
 ("cds_service/rules/vocabulary.py", None, '"history_available": facts.history_available,', '"history_available": True,'),
 # review of main (decisions 6.27, 6.31-6.33, 7.4)
 ("cards/statements.yaml", "common.headline.discordant", "        - rule: crc.contradiction.ihc-low-ish-amplified\n", ""),
 ("cards/statements.yaml", "crc.contradiction.ihc-low-ish-amplified", 'ihc_score: {in: ["0", "1+"]}', 'ihc_score: {eq: "0"}'),
 ("cards/statements.yaml", "common.contradiction.lab-call-negative-criteria-met", '      - text: "{plasma_result}"\n        when: {basis: {not_contains: tissue}}\n', ""),
 ("cards/warnings.yaml", "common.warning.her2-drug-newer-result-disagrees", "rule: common.contradiction.lab-call-negative-criteria-met", "rule: common.contradiction.newer-result-without-score"),
 ("cards/gastric-criteria.yaml", "gc.status.newer-call-positive", "unscored.newer_calls: {contains: positive}", "unscored.newer_calls: {contains: negative}"),
 ("cards/testing.yaml", "gc.lab-request.newer-call", "        - rule: common.contradiction.newer-call-positive\n", ""),
 ("cards/gastric-criteria.yaml", "gc.criterion.toga", '          undecided: "the IHC could not be scored: ToGA is written on the IHC score"', ""),
 ("cards/statements.yaml", "common.contradiction.newer-ihc-indeterminate", "ihc_score: {eq: indeterminate}", 'ihc_score: {eq: "0"}'),
 ("cards/testing.yaml", "gc.test.ihc-indeterminate", "when: {ihc_score: {eq: indeterminate}}", 'when: {ihc_score: {eq: "0"}}'),
 ("cds_service/facts.py", None, 'elif present and not gain and origin == "tissue" and not qpcr:', 'elif present and not gain and origin == "serum" and not qpcr:'),
]
TESTS = ["tests/test_rules_colorectal.py", "tests/test_rules_gastric.py", "tests/test_order_hooks.py", "tests/test_fixtures.py",
         "tests/test_rules_unscored.py", "tests/test_rules_engine.py", "tests/test_rules_book.py",
         "tests/test_review_16_fixes.py", "tests/test_review_last_fixes.py"]
def mutate(text: str, block: str | None, old: str, new: str) -> str:
    """`old` -> `new` once, inside the rule `block` (from its `- id:` to the next rule) or the whole file."""
    if block is None:
        assert text.count(old) == 1, old
        return text.replace(old, new)
    start = text.index(f"- id: {block}\n")
    nxt = re.search(r"\n  - id: |\n[a-z_]+:\n", text[start + 5:])
    end = start + 5 + nxt.start() if nxt else len(text)
    seg = text[start:end]
    assert seg.count(old) == 1, (block, old)
    return text[:start] + seg.replace(old, new) + text[end:]


def main() -> int:
    chosen = M[int(sys.argv[1]):int(sys.argv[2])] if len(sys.argv) > 2 else M
    tmp = Path(tempfile.mkdtemp(prefix="review-mutation-"))
    root = tmp / "r"
    shutil.copytree(SRC, root, ignore=shutil.ignore_patterns(".git", ".venv", "node_modules", "mutants", "__pycache__"))
    survived = 0
    try:
        for file, block, old, new in chosen:
            path = root / file
            orig = path.read_text(encoding="utf-8")
            path.write_text(mutate(orig, block, old, new), encoding="utf-8")
            run = subprocess.run([str(SRC / ".venv/bin/python"), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *TESTS],
                                 cwd=root, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp)})
            path.write_text(orig, encoding="utf-8")
            killed = run.returncode != 0
            survived += not killed
            failed = next((line for line in run.stdout.splitlines() if line.startswith("FAILED")), "")
            print("killed  " if killed else "SURVIVED", file, block or "", "|", old[:60].replace("\n", "\\n"), "|", failed[:120], flush=True)
    finally:
        shutil.rmtree(tmp)
    print(f"{len(chosen)} mutants, {len(chosen) - survived} killed, {survived} survived")
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main())
