"""Checks that refuse an unsafe start, before the server binds (`her2-cds serve`) or the app is built."""
from __future__ import annotations

import ipaddress

from .security import ConfigError, load_issuers
from .settings import Settings, SettingsError


class StartupRefused(SettingsError):
    """The configuration is unsafe to serve with; the message is one line saying what to set."""


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def preflight(settings: Settings) -> None:
    """Raise StartupRefused when the service must not start with these settings.

    - Without trusted issuers (unsigned calls accepted) only on loopback, unless
      HER2CDS_ALLOW_UNSIGNED=1 says so explicitly.
    - With trusted issuers (JWT mode): HER2CDS_PUBLIC_BASE_URL (the JWT audience never comes from
      the Host header) and HER2CDS_PSEUDONYM_KEY (one key for every worker and replica) are
      required, and the issuers file must be readable.
    """
    if settings.trusted_issuers_file is None:
        if not is_loopback(settings.host) and not settings.allow_unsigned:
            raise StartupRefused(
                f"refusing to listen on {settings.host} without trusted issuers: set HER2CDS_TRUSTED_ISSUERS_FILE "
                "(JWT-verified calls), listen on 127.0.0.1, or set HER2CDS_ALLOW_UNSIGNED=1 to accept unsigned calls (demos only)")
        return
    missing = [name for name, value in (("HER2CDS_PUBLIC_BASE_URL", settings.public_base_url),
                                        ("HER2CDS_PSEUDONYM_KEY", settings.pseudonym_key)) if not value]
    if missing:
        raise StartupRefused(f"HER2CDS_TRUSTED_ISSUERS_FILE is set, so {' and '.join(missing)} must be set too "
                             "(JWT audience and audit pseudonyms must not depend on the request or the worker)")
    try:
        load_issuers(settings.trusted_issuers_file)
    except ConfigError as exc:
        raise StartupRefused(" ".join(str(exc).split())) from None
