"""Service configuration, read once from environment variables (see README, Configuration)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024


class SettingsError(ValueError):
    """A configuration variable holds a value the service cannot use."""


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be 0 or 1, got {raw!r}")


def _number(env: Mapping[str, str], name: str, default: float, kind: type = float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the service can be configured with. Defaults run locally with no EHR."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_base_url: str | None = None
    trusted_issuers_file: str | None = None
    allow_http_fhir: bool = False
    fhir_budget_s: float = 3.0
    database_url: str | None = None
    pseudonym_key: str | None = None
    log_level: str = "INFO"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    ctgov_api_url: str = "https://clinicaltrials.gov/api/v2"
    trial_overlay: str | None = None
    knowledge_dir: Path | None = None
    jwt_leeway_s: float = 30.0
    trial_overlay_max_age_days: float = 30.0
    db_auto_migrate: bool = True
    sources_dir: Path | None = None  # the source review texts, for the verbatim-quote check

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `env` (default: the process environment)."""
        env = os.environ if env is None else env
        knowledge_dir = env.get("HER2CDS_KNOWLEDGE_DIR")
        return cls(
            host=env.get("HOST") or "127.0.0.1",
            port=int(_number(env, "PORT", 8080, int)),
            public_base_url=(env.get("HER2CDS_PUBLIC_BASE_URL") or None),
            trusted_issuers_file=(env.get("HER2CDS_TRUSTED_ISSUERS_FILE") or None),
            allow_http_fhir=_bool(env, "HER2CDS_ALLOW_HTTP_FHIR", False),
            fhir_budget_s=_number(env, "HER2CDS_FHIR_BUDGET_S", 3.0),
            database_url=(env.get("DATABASE_URL") or None),
            pseudonym_key=(env.get("HER2CDS_PSEUDONYM_KEY") or None),
            log_level=(env.get("HER2CDS_LOG_LEVEL") or "INFO").upper(),
            max_body_bytes=int(_number(env, "HER2CDS_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, int)),
            ctgov_api_url=env.get("HER2CDS_CTGOV_API_URL") or "https://clinicaltrials.gov/api/v2",
            trial_overlay=(env.get("HER2CDS_TRIAL_OVERLAY") or None),
            knowledge_dir=Path(knowledge_dir) if knowledge_dir else None,
            jwt_leeway_s=_number(env, "HER2CDS_JWT_LEEWAY_S", 30.0),
            trial_overlay_max_age_days=_number(env, "HER2CDS_TRIAL_OVERLAY_MAX_AGE_DAYS", 30.0),
            db_auto_migrate=_bool(env, "HER2CDS_DB_AUTO_MIGRATE", True),
            sources_dir=Path(env["HER2CDS_SOURCES_DIR"]) if env.get("HER2CDS_SOURCES_DIR") else None,
        )
