"""The card examples in the README ("What the cards say") are what `her2-cds call` prints today."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from cds_service.cli import main

pytestmark = pytest.mark.slow  # the operator CLI end to end (throwaway databases)

README = Path(__file__).resolve().parent.parent / "README.md"


def examples() -> list[tuple[str, list[str]]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## What the cards say"):]
    block = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    found: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ her2-cds call "):
            found.append((line.split()[-1], []))
        elif line.strip():
            found[-1][1].append(line.strip().removesuffix("...").rstrip())
    return found


@pytest.mark.parametrize(("fixture", "lines"), examples(), ids=[f for f, _ in examples()])
def test_readme_card_examples_are_current(fixture, lines, capsys):
    assert main(["call", fixture]) == 0
    out = capsys.readouterr().out
    assert lines and [line for line in lines if line not in out] == []
