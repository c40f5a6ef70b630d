"""Card wording written in the knowledge files: `{fact}` placeholders and optional parts.

A template is a string, or a list of parts `{text, when}` joined together; a part with `when` is
kept only when its condition holds. Placeholders name facts of the vocabulary: `{ish_ratio:g}`,
`{ras.mutant}`, `{draft_orders.systemic.0}` (first item). A list is joined with ", ", or with the
placeholder's format spec as separator (`{ras.mutant:; }`).
"""
from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import Any

Template = str | list[Mapping[str, Any]]


class _Formatter(string.Formatter):
    def __init__(self, lookup: Callable[[str], Any]) -> None:
        self.lookup = lookup

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        return self.lookup(field_name), field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, list | tuple):
            return (format_spec or ", ").join(str(v) for v in value)
        return super().format_field(value, format_spec)


def render(template: Template | None, lookup: Callable[[str], Any], holds: Callable[[Any], bool]) -> str:
    """The text of a template for these facts (`holds` decides the optional parts)."""
    if template is None:
        return ""
    parts = [template] if isinstance(template, str) else [part["text"] for part in template if holds(part.get("when"))]
    return "".join(_Formatter(lookup).format(text) for text in parts)


def fields(template: Template | None) -> set[str]:
    """The placeholders a template uses (checked against the vocabulary at load)."""
    if template is None:
        return set()
    if isinstance(template, str):
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    return set().union(*(fields(part["text"]) for part in template))


def conditions(template: Template | None) -> list[Any]:
    """The conditions of a template's optional parts."""
    if isinstance(template, list):
        return [part["when"] for part in template if part.get("when")]
    return []
