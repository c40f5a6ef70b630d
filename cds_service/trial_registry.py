"""Trial status from ClinicalTrials.gov (API v2): the refresh command and the overlay the cards read.

The sources' statuses date from 2022. `her2-cds trials refresh` asks the registry for each trial's
overallStatus and lastUpdatePostDate and writes an overlay file; the trial card then offers only
trials the registry lists as RECRUITING or NOT_YET_RECRUITING, labelled with the refresh date.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .knowledge import Knowledge
from .settings import Settings

log = logging.getLogger("her2cds.trials")
OPEN_STATUSES = {"RECRUITING", "NOT_YET_RECRUITING"}
OVERLAY_NAME = "trial-status-overlay.json"
FIELDS = "NCTId,OverallStatus,LastUpdatePostDate"


class RefreshError(RuntimeError):
    """The registry could not be read; the previous overlay is left untouched."""


def overlay_path(settings: Settings, knowledge: Knowledge) -> Path:
    """HER2CDS_TRIAL_OVERLAY, else next to the knowledge files."""
    return Path(settings.trial_overlay) if settings.trial_overlay else knowledge.directory / OVERLAY_NAME


@dataclass
class RefreshReport:
    statuses: dict[str, dict] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def _session() -> requests.Session:
    retry = Retry(total=4, connect=3, read=2, status=4, backoff_factor=0.5, allowed_methods=frozenset({"GET"}),
                  status_forcelist=(429, 500, 502, 503, 504), respect_retry_after_header=True,
                  raise_on_status=False)
    session = requests.Session()
    session.mount("https://", HTTPAdapter(max_retries=retry))
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.headers["Accept"] = "application/json"
    return session


def fetch_statuses(settings: Settings, knowledge: Knowledge, min_interval_s: float = 0.25,
                   timeout_s: float = 15.0) -> RefreshReport:
    """Ask the registry for every trial in the knowledge files, politely (one at a time, spaced)."""
    session = _session()
    report = RefreshReport()
    base = settings.ctgov_api_url.rstrip("/")
    last = 0.0
    for trial in knowledge.trials:
        nct = trial["nct"]
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


def refresh(settings: Settings, knowledge: Knowledge, **kwargs: Any) -> tuple[Path, RefreshReport]:
    """Fetch every status and write the overlay atomically; on any error the old file stays."""
    report = fetch_statuses(settings, knowledge, **kwargs)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for entry in report.statuses.values():
        entry["refreshedAt"] = now
    overlay = {"refreshedAt": now, "api": settings.ctgov_api_url, "knowledgeVersion": knowledge.version,
               "trials": report.statuses, "missingFromRegistry": report.missing}
    path = overlay_path(settings, knowledge)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8") as fh:
        json.dump(overlay, fh, indent=2)
    os.replace(fh.name, path)
    return path, report


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


class OverlayReader:
    """Reads the overlay file, re-reading it when it changes (a CronJob may refresh it live)."""

    def __init__(self, path: Path, max_age_days: float) -> None:
        self.path = path
        self.max_age_days = max_age_days
        self._mtime: float | None = None
        self._overlay: Overlay | None = None
        self.problem: str | None = None

    def current(self) -> Overlay | None:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            self._mtime, self._overlay, self.problem = None, None, None
            return None
        if mtime != self._mtime:
            self._mtime = mtime
            try:
                raw = json.loads(self.path.read_text(encoding="utf-8"))
                self._overlay = Overlay(datetime.fromisoformat(raw["refreshedAt"]), dict(raw["trials"]),
                                        frozenset(raw.get("missingFromRegistry", [])), self.max_age_days)
                self.problem = None
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.error("trial overlay unreadable; using the source statuses", extra={"error": type(exc).__name__})
                self._overlay, self.problem = None, f"overlay unreadable ({type(exc).__name__})"
        return self._overlay

    def health(self) -> dict:
        overlay = self.current()
        if overlay is None:
            return {"present": False, **({"problem": self.problem} if self.problem else {})}
        return {"present": True, "refreshedAt": overlay.refreshed_at.isoformat(), "stale": overlay.stale,
                "maxAgeDays": self.max_age_days}
