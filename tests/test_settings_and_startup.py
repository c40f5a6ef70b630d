"""Settings as one typed model with the contract's variable names; an unsafe start is refused (preflight)."""
from __future__ import annotations

import json

import pytest

from cds_service.app import create_app
from cds_service.cli import main
from cds_service.settings import Settings, SettingsError
from cds_service.startup import StartupRefused, is_loopback, preflight
from tests.jwt_helpers import Issuer

# Every variable of interface.md's configuration tables (including the additions of 2026-11-26), a value, the field.
CONTRACT = [
    ("HOST", "0.0.0.0", "host", "0.0.0.0"),
    ("PORT", "9090", "port", 9090),
    ("HER2CDS_PUBLIC_BASE_URL", "https://cds.example.org/", "public_base_url", "https://cds.example.org"),
    ("HER2CDS_TRUSTED_ISSUERS_FILE", "/etc/issuers.json", "trusted_issuers_file", "/etc/issuers.json"),
    ("HER2CDS_ALLOW_HTTP_FHIR", "1", "allow_http_fhir", True),
    ("HER2CDS_FHIR_BUDGET_S", "1.5", "fhir_budget_s", 1.5),
    ("DATABASE_URL", "postgresql+psycopg://db/cds", "database_url", "postgresql+psycopg://db/cds"),
    ("HER2CDS_PSEUDONYM_KEY", "k", "pseudonym_key", "k"),
    ("HER2CDS_LOG_LEVEL", "debug", "log_level", "DEBUG"),
    ("HER2CDS_CTGOV_API_URL", "https://ct.example.org/v2", "ctgov_api_url", "https://ct.example.org/v2"),
    ("HER2CDS_TRIAL_OVERLAY", "/data/overlay.json", "trial_overlay", "/data/overlay.json"),
    ("HER2CDS_ALLOW_UNSIGNED", "1", "allow_unsigned", True),
    ("HER2CDS_MAX_TOKEN_LIFETIME_S", "120", "max_token_lifetime_s", 120),
    ("HER2CDS_FHIR_MAX_RESPONSE_BYTES", "1000", "fhir_max_response_bytes", 1000),
    ("HER2CDS_SOURCES_DIR", "../shared/seeds", "sources_dir", "../shared/seeds"),
    ("HER2CDS_WORKERS", "3", "workers", 3),
    ("HER2CDS_THREADS", "2", "threads", 2),
    ("HER2CDS_MAX_RESOURCES_PER_CALL", "10", "max_resources_per_call", 10),
    ("HER2CDS_MAX_FEEDBACK_BYTES", "100", "max_feedback_bytes", 100),
]


@pytest.mark.parametrize("variable, raw, field, expected", CONTRACT)
def test_every_contract_variable_is_a_settings_field(variable, raw, field, expected):
    value = getattr(Settings.from_env({variable: raw}), field)
    assert (str(value) if field == "sources_dir" else value) == expected


def test_defaults_are_the_contracts():
    s = Settings.from_env({})
    assert (s.host, s.port, s.fhir_budget_s, s.log_level) == ("127.0.0.1", 8080, 3.0, "INFO")
    assert s.max_token_lifetime_s == 300 and s.fhir_max_response_bytes == 20_000_000
    assert s.allow_unsigned is False and s.allow_http_fhir is False
    assert s.trusted_issuers_file is None and s.public_base_url is None and s.pseudonym_key is None
    assert s.ctgov_api_url == "https://clinicaltrials.gov/api/v2"
    assert s.sources_dir is None and s.workers is None and s.threads is None


def test_gunicorn_web_concurrency_sets_workers_and_ours_wins():
    assert Settings.from_env({"WEB_CONCURRENCY": "5"}).workers == 5
    assert Settings.from_env({"WEB_CONCURRENCY": "5", "HER2CDS_WORKERS": "2"}).workers == 2


def test_empty_variables_count_as_unset():
    assert Settings.from_env({"HER2CDS_FHIR_BUDGET_S": "", "PORT": " "}) == Settings.from_env({})


@pytest.mark.parametrize("variable, raw", [
    ("HER2CDS_FHIR_BUDGET_S", "abc"), ("HER2CDS_FHIR_BUDGET_S", "0"), ("PORT", "70000"), ("HER2CDS_ALLOW_UNSIGNED", "maybe"),
    ("HER2CDS_LOG_LEVEL", "LOUD"), ("HER2CDS_PUBLIC_BASE_URL", "cds.example.org"), ("HER2CDS_MAX_RESOURCES_PER_CALL", "-1"),
    ("HER2CDS_WORKERS", "many"), ("HER2CDS_MAX_TOKEN_LIFETIME_S", "-5"),
])
def test_a_bad_value_is_one_line_naming_the_variable(variable, raw):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: raw})
    message = str(caught.value)
    assert variable in message and repr(raw) in message and "\n" not in message


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True),
                                            ("[::1]", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False),
                                            ("cds.example.org", False)])
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_unsigned_start_on_a_public_address_is_refused_unless_allowed():
    with pytest.raises(StartupRefused) as caught:
        preflight(Settings(host="0.0.0.0"))
    assert "HER2CDS_ALLOW_UNSIGNED=1" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(StartupRefused):
        create_app(Settings(host="0.0.0.0"))
    preflight(Settings(host="0.0.0.0", allow_unsigned=True))
    preflight(Settings(host="127.0.0.1"))


def test_jwt_mode_requires_public_base_url_and_pseudonym_key(tmp_path):
    issuer = Issuer()
    try:
        issuers = issuer.issuers_file(tmp_path / "issuers.json")
        with pytest.raises(StartupRefused, match="HER2CDS_PUBLIC_BASE_URL and HER2CDS_PSEUDONYM_KEY"):
            preflight(Settings(trusted_issuers_file=issuers, host="0.0.0.0"))
        with pytest.raises(StartupRefused, match="HER2CDS_PSEUDONYM_KEY"):
            create_app(Settings(trusted_issuers_file=issuers, public_base_url="https://cds.example.org"))
        with pytest.raises(StartupRefused, match="HER2CDS_PUBLIC_BASE_URL"):
            preflight(Settings(trusted_issuers_file=issuers, pseudonym_key="k"))
        preflight(Settings(trusted_issuers_file=issuers, pseudonym_key="k", public_base_url="https://cds.example.org",
                           host="0.0.0.0"))
    finally:
        issuer.close()


def test_unreadable_issuers_file_is_refused_in_one_line(tmp_path):
    (tmp_path / "issuers.json").write_text(json.dumps({"iss": "not a list"}))
    settings = Settings(trusted_issuers_file=str(tmp_path / "issuers.json"), pseudonym_key="k",
                        public_base_url="https://cds.example.org")
    with pytest.raises(StartupRefused) as caught:
        preflight(settings)
    assert "HER2CDS_TRUSTED_ISSUERS_FILE" in str(caught.value) and "\n" not in str(caught.value)


def test_serve_refuses_before_binding(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.delenv("HER2CDS_ALLOW_UNSIGNED", raising=False)
    monkeypatch.delenv("HER2CDS_TRUSTED_ISSUERS_FILE", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "1"]) != 0  # refused before anything binds
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "refusing to listen on 0.0.0.0" in err and "HER2CDS_ALLOW_UNSIGNED" in err
