"""Knowledge-file mutation check: every number in cards/*.yaml, moved 30% down and 30% up, must make
a test fail.

    python scripts/knowledge_mutation.py [--with-golden] [pytest args ...]

Works on a copy of the checkout (the working tree is never touched). Each number is found with its
exact place in the YAML text (so nothing else in the file changes), replaced, and the seed-pinned
rule tests are run (`pytest -x`); a mutant survives when they all pass. By default the golden
snapshot test is left out, so the score says what the tests written from the sources catch.
cards/codes.yaml (the input-code contract) holds no clinical thresholds and is not mutated; a
threshold of 0 cannot move by a percentage and is listed as skipped. Exit code 1 if any survives.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TESTS = ["tests/test_rules_colorectal.py", "tests/test_rules_gastric.py", "tests/test_order_hooks.py", "tests/test_rules_unscored.py"]
GOLDEN = ["tests/test_rules_golden.py"]
FACTORS = (0.7, 1.3)
NUMERIC_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}


@dataclass
class Number:
    file: str
    line: int
    path: str
    start: int
    end: int
    text: str
    value: float
    is_int: bool


def numbers(cards: Path) -> list[Number]:
    """Every int/float scalar of the knowledge files (not codes.yaml), with its place in the text."""
    found = []
    for path in sorted(cards.glob("*.yaml")):
        if path.name == "codes.yaml":
            continue
        text = path.read_text(encoding="utf-8")

        def walk(node: yaml.Node, where: str, path: Path = path, text: str = text) -> None:
            if isinstance(node, yaml.ScalarNode) and node.tag in NUMERIC_TAGS:
                raw = text[node.start_mark.index:node.end_mark.index]
                found.append(Number(path.name, node.start_mark.line + 1, where, node.start_mark.index, node.end_mark.index,
                                    raw, float(node.value), node.tag.endswith("int")))
            elif isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    walk(value, f"{where}.{key.value}")
            elif isinstance(node, yaml.SequenceNode):
                for i, value in enumerate(node.value):
                    walk(value, f"{where}[{i}]")

        walk(yaml.compose(text), "")
    return found


def moved(number: Number, factor: float) -> str:
    value = number.value * factor
    if number.is_int:
        new = round(value)
        if new == number.value:
            new = int(number.value) + (1 if factor > 1 else -1)
        return str(new)
    return f"{value:.4g}"


def copy_checkout(target: Path) -> None:
    ignore = shutil.ignore_patterns("node_modules", "__pycache__", ".pytest_cache", "mutants", "*.sqlite3")
    for name in ("cds_service", "cards", "fixtures", "tests"):
        shutil.copytree(ROOT / name, target / name, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")


def run_tests(workdir: Path, tests: list[str], extra: list[str]) -> bool:
    """True when the tests pass (the mutant survives)."""
    env = dict(os.environ, PYTHONPATH=str(workdir), PYTHONDONTWRITEBYTECODE="1")
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-m", "not slow", "-p", "no:cacheprovider", *tests, *extra]
    return subprocess.run(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def main(argv: list[str]) -> int:
    with_golden = "--with-golden" in argv
    extra = [a for a in argv if a != "--with-golden"]
    tests = TESTS + (GOLDEN if with_golden else [])
    with tempfile.TemporaryDirectory(prefix="her2cds-knowledge-mutation-") as tmp:
        workdir = Path(tmp)
        copy_checkout(workdir)
        if not run_tests(workdir, tests, extra):
            print("the tests fail on the unmutated knowledge: nothing to measure", file=sys.stderr)
            return 2
        survived, killed, skipped = [], 0, []
        for number in numbers(workdir / "cards"):
            label = f"cards/{number.file}:{number.line} {number.path} = {number.text}"
            if number.value == 0:
                skipped.append(label)
                continue
            path = workdir / "cards" / number.file
            original = path.read_text(encoding="utf-8")
            for factor in FACTORS:
                replacement = moved(number, factor)
                path.write_text(original[:number.start] + replacement + original[number.end:], encoding="utf-8")
                try:
                    if run_tests(workdir, tests, extra):
                        survived.append(f"{label} -> {replacement}")
                        print(f"SURVIVED {label} -> {replacement}", flush=True)
                    else:
                        killed += 1
                        print(f"killed   {label} -> {replacement}", flush=True)
                finally:
                    path.write_text(original, encoding="utf-8")
        total = killed + len(survived)
        print(f"\nknowledge mutants: {total}, killed {killed}, survived {len(survived)} "
              f"({100 * killed / total:.1f}% killed); tests: {' '.join(tests)}")
        for label in skipped:
            print(f"skipped (zero cannot move by a percentage): {label}")
        return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
