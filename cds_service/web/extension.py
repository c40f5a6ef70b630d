"""The service's long-lived objects as one Flask extension (built once per app, in `init_app`)."""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from ..engine import Engine
from ..fhir_client import FhirFetcher
from ..knowledge import load_knowledge
from ..openapi import build_document
from ..security import Verifier, load_issuers
from ..settings import Settings
from ..storage import Store
from ..trial_registry import OverlayReader

log = logging.getLogger("her2cds")


@dataclass
class Runtime:
    """What every request needs: configuration, the clinical engine, records, JWT check, FHIR fallback."""

    settings: Settings
    engine: Engine
    overlay: OverlayReader
    store: Store
    verifier: Verifier | None
    fetcher: FhirFetcher
    pseudonym_key: bytes
    openapi: dict

    def __getitem__(self, name: str) -> Any:
        """Mapping-style access (`app.extensions["her2cds"]["store"]`)."""
        return getattr(self, name)


def _pseudonym_key(settings: Settings) -> bytes:
    """The configured key (`her2-cds serve` sets one shared by its workers); else one for this process."""
    if settings.pseudonym_key:
        return settings.pseudonym_key.encode()
    log.warning("HER2CDS_PSEUDONYM_KEY is not set: a random key was generated for this process; "
                "audit patient keys will not match across restarts or replicas.")
    return secrets.token_bytes(32)


class Her2Cds:
    """Flask extension: `her2cds.init_app(app, settings)`; `runtime()` inside a request."""

    def init_app(self, app: Flask, settings: Settings) -> None:
        knowledge = load_knowledge(settings.knowledge_dir)
        store = Store(settings.database_url, auto_migrate=settings.db_auto_migrate)
        overlay = OverlayReader(store, settings.trial_overlay_max_age_days)  # the trial status, in the database
        verifier = None
        if settings.trusted_issuers_file is None:
            log.warning("NO TRUSTED ISSUERS CONFIGURED: unsigned CDS Hooks calls are accepted. "
                        "For local use only; set HER2CDS_TRUSTED_ISSUERS_FILE in production.")
        else:
            verifier = Verifier(load_issuers(settings.trusted_issuers_file), store.remember_jti, settings.jwt_leeway_s,
                                settings.max_token_lifetime_s)
        app.extensions["her2cds"] = Runtime(settings, Engine(knowledge, overlay), overlay, store, verifier,
                                            FhirFetcher(settings), _pseudonym_key(settings), build_document())


her2cds = Her2Cds()


def runtime() -> Runtime:
    """The Runtime of the app handling the current request."""
    return current_app.extensions["her2cds"]
