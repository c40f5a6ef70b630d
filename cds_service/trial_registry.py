"""Trial status from ClinicalTrials.gov (API v2): the refresh command and the overlay the cards read.

The sources' statuses date from 2022. `her2-cds trials refresh` asks the registry for each trial's
overallStatus and lastUpdatePostDate and stores the result (the overlay) in the database, where
every replica reads it; the trial card then offers only trials the registry lists as RECRUITING or
NOT_YET_RECRUITING, labelled with the refresh date. `HER2CDS_TRIAL_OVERLAY`, when set, is a JSON
copy: the refresh also writes it there, and `her2-cds trials import` stores such a file (made where
the registry is reachable) in the database. The service itself never reads or writes a file.
"""
from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .knowledge import Knowledge
from .settings import Settings
from .storage import Store

if TYPE_CHECKING:
    import requests

log = logging.getLogger("her2cds.trials")
OPEN_STATUSES = {"RECRUITING", "NOT_YET_RECRUITING"}
OVERLAY_TTL_S = 60.0
FIELDS = "NCTId,OverallStatus,LastUpdatePostDate"


class RefreshError(RuntimeError):
    """The registry could not be read; the previous overlay is left untouched."""


@dataclass
class RefreshReport:
    statuses: dict[str, dict] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def _session() -> requests.Session:
    # requests (and with it ssl) is imported only here: the service imports this module in the
    # gunicorn master, where ssl must not be imported before gevent patches it in the workers.
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(total=4, connect=3, read=2, status=4, backoff_factor=0.5, allowed_methods=frozenset({"GET"}),
                  status_forcelist=(429, 500, 502, 503, 504), respect_retry_after_header=True,
                  raise_on_status=False)
    session = requests.Session()
    session.mount("https://", HTTPAdapter(max_retries=retry))
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.headers["Accept"] = "application/json"
    return session


def fetch_statuses(settings: Settings, knowledge: Knowledge, min_interval_s: float = 0.25,
                   timeout_s: float = 15.0, progress: Callable[[str], None] | None = None) -> RefreshReport:
    """Ask the registry for every trial in the knowledge files, politely (one at a time, spaced).
    `progress` hears one line per trial."""
    import requests

    session = _session()
    report = RefreshReport()
    base = settings.ctgov_api_url.rstrip("/")
    last = 0.0
    for number, trial in enumerate(knowledge.trials, 1):
        nct = trial["nct"]
        if progress:
            progress(f"asking the registry for {nct} ({number}/{len(knowledge.trials)})")
        wait = min_interval_s - (time.monotonic() - last)
        if wait > 0:
            time.sleep(wait)
        last = time.monotonic()
        try:
            response = session.get(f"{base}/studies/{nct}", params={"fields": FIELDS, "format": "json"},
                                   timeout=(5.0, timeout_s))
        except requests.RequestException as exc:
            raise RefreshError(f"{nct}: registry not reachable ({type(exc).__name__})") from None
        if response.status_code == 404:
            report.missing.append(nct)
            continue
        if response.status_code != 200:
            raise RefreshError(f"{nct}: registry answered HTTP {response.status_code}")
        try:
            status = response.json()["protocolSection"]["statusModule"]
            overall = status["overallStatus"]
        except (ValueError, KeyError, TypeError):
            raise RefreshError(f"{nct}: registry answer does not have the documented shape") from None
        if not isinstance(overall, str):
            raise RefreshError(f"{nct}: overallStatus is not a string")
        report.statuses[nct] = {"overallStatus": overall,
                                "lastUpdatePostDate": (status.get("lastUpdatePostDateStruct") or {}).get("date")}
    return report


@dataclass(frozen=True)
class Overlay:
    """A loaded overlay: registry status per trial and when it was refreshed."""

    refreshed_at: datetime
    trials: dict[str, dict]
    missing: frozenset[str]
    max_age_days: float

    @property
    def age_days(self) -> float:
        return (datetime.now(UTC) - self.refreshed_at).total_seconds() / 86400

    @property
    def stale(self) -> bool:
        return self.age_days > self.max_age_days

    @property
    def date(self) -> str:
        return self.refreshed_at.date().isoformat()


def refresh(settings: Settings, knowledge: Knowledge, store: Store, **kwargs: Any) -> tuple[Overlay, RefreshReport]:
    """Fetch every status and store the overlay in the database; on any error the previous one stays."""
    report = fetch_statuses(settings, knowledge, **kwargs)
    now = datetime.now(UTC).replace(microsecond=0)
    for entry in report.statuses.values():
        entry["refreshedAt"] = now.isoformat()
    store.save_trial_overlay(now, settings.ctgov_api_url, knowledge.version, report.statuses, report.missing)
    overlay = Overlay(now, report.statuses, frozenset(report.missing), settings.trial_overlay_max_age_days)
    if settings.trial_overlay:
        export_overlay(overlay, Path(settings.trial_overlay), settings.ctgov_api_url, knowledge.version)
    return overlay, report


class OverlayFileError(ValueError):
    """An overlay file that cannot be imported (unreadable, or not the documented shape)."""


def export_overlay(overlay: Overlay, path: Path, api: str, knowledge_version: str) -> None:
    """Write the overlay as JSON (atomically), for inspection or to carry to a site without registry access."""
    document = {"refreshedAt": overlay.refreshed_at.isoformat(), "api": api, "knowledgeVersion": knowledge_version,
                "trials": overlay.trials, "missingFromRegistry": sorted(overlay.missing)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8") as fh:
        json.dump(document, fh, indent=2)
    os.replace(fh.name, path)


def import_overlay(path: Path, store: Store, knowledge: Knowledge, max_age_days: float) -> Overlay:
    """Store an exported overlay file in the database (a site whose cluster cannot reach the registry)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OverlayFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise OverlayFileError(f"{path} is not JSON") from None
    try:
        refreshed_at = datetime.fromisoformat(raw["refreshedAt"])
        trials, missing = raw["trials"], list(raw.get("missingFromRegistry", []))
        if refreshed_at.tzinfo is None or not isinstance(trials, dict) \
                or not all(isinstance(v, dict) and isinstance(v.get("overallStatus"), str) for v in trials.values()):
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise OverlayFileError(f"{path} is not a trial overlay (needs refreshedAt with a time zone and "
                               "trials: {NCT: {overallStatus}})") from None
    store.save_trial_overlay(refreshed_at, str(raw.get("api", "imported")), str(raw.get("knowledgeVersion", knowledge.version))[:32],
                             trials, missing)
    return Overlay(refreshed_at, trials, frozenset(missing), max_age_days)


class OverlayReader:
    """The newest overlay in the database, re-read at most every `ttl_s` seconds (the refresh job may
    store a new one at any time; every replica picks it up within the TTL)."""

    def __init__(self, store: Store, max_age_days: float, ttl_s: float = OVERLAY_TTL_S) -> None:
        self.store = store
        self.max_age_days = max_age_days
        self.ttl_s = ttl_s
        self._checked = -math.inf
        self._id: int | None = None
        self._overlay: Overlay | None = None
        self._lock = threading.Lock()
        self.problem: str | None = None

    def current(self) -> Overlay | None:
        if time.monotonic() - self._checked < self.ttl_s or not self._lock.acquire(blocking=False):
            return self._overlay  # fresh enough, or another thread is reading it right now
        try:
            self._checked = time.monotonic()
            try:
                record = self.store.latest_trial_overlay()
            except Exception as exc:  # noqa: BLE001 - keep the last overlay read while the database is away
                log.error("trial overlay not readable from the database; keeping the last one read",
                          extra={"error": type(exc).__name__})
                self.problem = f"database unavailable ({type(exc).__name__})"
                return self._overlay
            self.problem = None
            if record is None:
                self._id, self._overlay = None, None
            elif record.id != self._id:
                refreshed_at = record.refreshed_at if record.refreshed_at.tzinfo else record.refreshed_at.replace(tzinfo=UTC)
                self._id = record.id
                self._overlay = Overlay(refreshed_at, dict(record.trials), frozenset(record.missing), self.max_age_days)
            return self._overlay
        finally:
            self._lock.release()

    def health(self) -> dict:
        overlay = self.current()
        if overlay is None:
            return {"present": False, **({"problem": self.problem} if self.problem else {})}
        return {"present": True, "refreshedAt": overlay.refreshed_at.isoformat(), "stale": overlay.stale,
                "maxAgeDays": self.max_age_days, **({"problem": self.problem} if self.problem else {})}
