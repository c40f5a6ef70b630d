"""Service configuration: one typed model, read once from environment variables (README, Configuration).

Each field names its variable (`validation_alias`); `Settings.from_env()` reads them, and a bad
value stops the start with one line naming the variable. Fields can also be given by name
(`Settings(host="0.0.0.0")`), which tests and the CLI use.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
# Sized by scripts/measure_resource_cap.py (docs/limits.md): the largest call costs about a second of CPU.
DEFAULT_MAX_RESOURCES_PER_CALL = 2000

Positive = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]


class SettingsError(ValueError):
    """A configuration variable holds a value the service cannot use (the message is one line)."""


def _env(name: str, *more: str) -> Any:
    return Field(None, validation_alias=AliasChoices(name, *more) if more else name)


class Settings(BaseModel):
    """Everything the service can be configured with. Defaults run locally with no EHR."""

    model_config = ConfigDict(frozen=True, validate_by_name=True, validate_by_alias=True, extra="ignore")

    host: str = Field("127.0.0.1", validation_alias="HOST", min_length=1)
    port: int = Field(8080, validation_alias="PORT", gt=0, lt=65536)
    public_base_url: str | None = _env("HER2CDS_PUBLIC_BASE_URL")
    trusted_issuers_file: str | None = _env("HER2CDS_TRUSTED_ISSUERS_FILE")
    allow_unsigned: bool = Field(False, validation_alias="HER2CDS_ALLOW_UNSIGNED")
    allow_http_fhir: bool = Field(False, validation_alias="HER2CDS_ALLOW_HTTP_FHIR")
    fhir_budget_s: Positive = Field(3.0, validation_alias="HER2CDS_FHIR_BUDGET_S")
    fhir_max_response_bytes: PositiveInt = Field(20_000_000, validation_alias="HER2CDS_FHIR_MAX_RESPONSE_BYTES")
    database_url: str | None = _env("DATABASE_URL")
    pseudonym_key: str | None = _env("HER2CDS_PSEUDONYM_KEY")
    log_level: str = Field("INFO", validation_alias="HER2CDS_LOG_LEVEL")
    max_body_bytes: PositiveInt = Field(DEFAULT_MAX_BODY_BYTES, validation_alias="HER2CDS_MAX_BODY_BYTES")
    max_resources_per_call: PositiveInt = Field(DEFAULT_MAX_RESOURCES_PER_CALL, validation_alias="HER2CDS_MAX_RESOURCES_PER_CALL")
    max_feedback_bytes: PositiveInt = Field(64 * 1024, validation_alias="HER2CDS_MAX_FEEDBACK_BYTES")
    max_token_lifetime_s: Positive = Field(300.0, validation_alias="HER2CDS_MAX_TOKEN_LIFETIME_S")
    jwt_leeway_s: Positive = Field(30.0, validation_alias="HER2CDS_JWT_LEEWAY_S")
    ctgov_api_url: str = Field("https://clinicaltrials.gov/api/v2", validation_alias="HER2CDS_CTGOV_API_URL")
    trial_overlay: str | None = _env("HER2CDS_TRIAL_OVERLAY")
    trial_overlay_max_age_days: Positive = Field(30.0, validation_alias="HER2CDS_TRIAL_OVERLAY_MAX_AGE_DAYS")
    knowledge_dir: Path | None = _env("HER2CDS_KNOWLEDGE_DIR")
    sources_dir: Path | None = _env("HER2CDS_SOURCES_DIR")
    db_auto_migrate: bool = Field(True, validation_alias="HER2CDS_DB_AUTO_MIGRATE")
    workers: PositiveInt | None = _env("HER2CDS_WORKERS", "WEB_CONCURRENCY")  # None: `her2-cds serve` decides
    threads: PositiveInt | None = _env("HER2CDS_THREADS")
    timeout_s: PositiveInt = Field(30, validation_alias="HER2CDS_TIMEOUT_S")
    graceful_timeout_s: PositiveInt = Field(20, validation_alias="HER2CDS_GRACEFUL_TIMEOUT_S")
    read_timeout_s: PositiveInt = Field(10, validation_alias="HER2CDS_READ_TIMEOUT_S")  # a client sends its request within this

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("must be the http(s) base URL EHRs call, e.g. https://cds.example.org")
        return value.rstrip("/")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from `env` (default: the process environment). Empty variables count as unset."""
        env = os.environ if env is None else env
        names = {name for field in cls.model_fields.values() for name in _aliases(field.validation_alias)}
        values = {name: env[name] for name in names if env.get(name, "").strip() != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(describe(exc)) from None

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (by field name), validated like the original."""
        try:
            return type(self).model_validate({**self.model_dump(), **changes})
        except ValidationError as exc:
            raise SettingsError(describe(exc)) from None


def _aliases(alias: Any) -> list[str]:
    if isinstance(alias, str):
        return [alias]
    return [c for c in getattr(alias, "choices", []) if isinstance(c, str)]


def describe(exc: ValidationError) -> str:
    """One line naming each bad variable, its problem and the value given."""
    parts = []
    for error in exc.errors():
        name = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{name}: {message[0].lower()}{message[1:]} (got {error['input']!r})")
    return "invalid configuration: " + "; ".join(parts)
