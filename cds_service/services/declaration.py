"""The shape of a service declaration. Discovery, routing, the OpenAPI document and the FHIR-server
fallback are all derived from the declarations in this package (one per service)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..models import REQUEST_FOR_HOOK, HookRequest

if TYPE_CHECKING:
    from ..data_access import PatientData
    from ..engine import Engine

Handler = Callable[["Engine", HookRequest, "PatientData"], list[dict]]
Relevance = Callable[["Engine", HookRequest], bool]


@dataclass(frozen=True)
class PrefetchKey:
    """One prefetch template and what happens when neither the EHR nor its FHIR server supplies it.

    on_failure "fail": nothing useful can be said without it; the call is answered 412.
    on_failure "omit": answer without it; the cards name what could not be read.
    """

    key: str
    template: str
    on_failure: Literal["fail", "omit"] = "omit"


@dataclass(frozen=True)
class Service:
    """One CDS service: what discovery announces, the data it needs, when it speaks, and its handler.

    `relevant` runs on the request alone, before any prefetch is read or any FHIR request made:
    False answers `{"cards": []}` at once. None means every call is relevant.
    """

    id: str
    hook: str
    title: str
    description: str
    prefetch: tuple[PrefetchKey, ...]
    handler: Handler
    relevant: Relevance | None = None

    @property
    def request_model(self) -> type[HookRequest]:
        return REQUEST_FOR_HOOK[self.hook]

    @property
    def templates(self) -> dict[str, str]:
        return {p.key: p.template for p in self.prefetch}

    @property
    def essential(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.prefetch if p.on_failure == "fail")
