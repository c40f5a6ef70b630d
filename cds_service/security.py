"""CDS Hooks 2.0 JWT verification of EHR calls (PyJWT + cryptography).

Configured trusted issuers (HER2CDS_TRUSTED_ISSUERS_FILE): JSON list of
{"iss", "jwks_url" or "jwks", "jku_allowlist": [...], "fhir_servers": [...]}.
Accepts ES384 and RS384 only; checks claim types, signature, iss, aud (= public base URL + path),
exp, iat, the token's lifetime (exp - iat, HER2CDS_MAX_TOKEN_LIFETIME_S), jti and its replay.
Keys: the issuer's configured key set (inline `jwks` or `jwks_url`) whenever it holds the token's
`kid`, also when the token names a `jku` (the CDS Hooks sandbox always does); a `jku` is fetched
only when it is on the issuer's allowlist and the configured set lacks the kid. Every failure is an
AuthError with a reason code (sent in WWW-Authenticate) and a fixed text: network and library
errors go to the log, never to the caller.
"""
from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWKClient, PyJWKSet

log = logging.getLogger("her2cds.auth")
ALGORITHMS = ("ES384", "RS384")
MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime can hold
MAX_JTI_CHARS = 256


class AuthError(Exception):
    """A call that must be answered 401; `code` is the machine-readable reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ConfigError(ValueError):
    """The trusted-issuers file is unusable."""


@dataclass
class Issuer:
    iss: str
    jwks_url: str | None = None
    jwks: dict | None = None
    jku_allowlist: list[str] = field(default_factory=list)
    fhir_servers: list[str] = field(default_factory=list)
    _clients: dict[str, PyJWKClient] = field(default_factory=dict, repr=False)
    _inline: PyJWKSet | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.jwks is not None:
            try:
                self._inline = PyJWKSet.from_dict(self.jwks)
            except jwt.PyJWTError as exc:
                raise ConfigError(f"issuer {self.iss!r}: inline 'jwks' holds no usable key ({exc})") from None

    def configured_key(self, kid: str | None) -> Any:
        """The kid's key from the configured set (inline, then jwks_url), or None."""
        if self._inline is not None:
            key = next((k for k in self._inline.keys if kid is None or k.key_id == kid), None)
            if key is not None:
                return key
        return self.fetched_key(self.jwks_url, kid) if self.jwks_url else None

    def fetched_key(self, url: str, kid: str | None) -> Any:
        """The kid's key from a JWKS URL, or None. Sets are cached for 300 s; an unknown kid
        refetches at most every 30 s (PyJWKClient's cooldown). Errors are logged, not raised."""
        if url not in self._clients:
            self._clients[url] = PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)
        client = self._clients[url]
        try:
            return client.get_signing_key(kid) if kid else client.get_signing_keys()[0]
        except (jwt.PyJWKClientError, jwt.PyJWTError, IndexError) as exc:
            log.warning("JWKS lookup failed", extra={"iss": self.iss, "jwks": url, "detail": str(exc)[:300]})
            return None


def load_issuers(path: str) -> dict[str, Issuer]:
    """Read and check the trusted-issuers file."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"HER2CDS_TRUSTED_ISSUERS_FILE {path!r} cannot be read as JSON: {exc}") from exc
    if not isinstance(raw, list) or not raw:
        raise ConfigError("HER2CDS_TRUSTED_ISSUERS_FILE must hold a non-empty JSON list of issuers")
    issuers: dict[str, Issuer] = {}
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("iss"), str):
            raise ConfigError(f"issuer #{i} needs an 'iss' string")
        if not (isinstance(entry.get("jwks_url"), str) or isinstance(entry.get("jwks"), dict)):
            raise ConfigError(f"issuer {entry['iss']!r} needs 'jwks_url' or an inline 'jwks'")
        for key in ("jku_allowlist", "fhir_servers"):
            if not isinstance(entry.get(key, []), list):
                raise ConfigError(f"issuer {entry['iss']!r}: '{key}' must be a list")
        issuers[entry["iss"]] = Issuer(entry["iss"], entry.get("jwks_url"), entry.get("jwks"),
                                       list(entry.get("jku_allowlist", [])), list(entry.get("fhir_servers", [])))
    return issuers


def _numeric_date(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            and 0 <= value <= MAX_NUMERIC_DATE)


def _check_claim_types(claims: dict) -> None:
    """401 `invalid-claim` for claims of the wrong type, before any key is looked up."""
    for name in ("exp", "iat", "nbf"):
        if name in claims and not _numeric_date(claims[name]):
            raise AuthError("invalid-claim", f"the token's '{name}' is not a NumericDate (seconds since 1970)")
    for name in ("iss", "jti", "sub"):
        if name in claims and not isinstance(claims[name], str):
            raise AuthError("invalid-claim", f"the token's '{name}' is not a string")
    if len(claims.get("jti") or "") > MAX_JTI_CHARS:
        raise AuthError("invalid-claim", f"the token's 'jti' is longer than {MAX_JTI_CHARS} characters")
    aud = claims.get("aud")
    if aud is not None and not isinstance(aud, str) and not (
            isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud)):
        raise AuthError("invalid-claim", "the token's 'aud' is not a string or a list of strings")


class Verifier:
    """Verifies the bearer JWT of one call against the trusted issuers and the replay store."""

    def __init__(self, issuers: dict[str, Issuer], remember_jti: Callable[[str, str, datetime], bool],
                 leeway_s: float = 30, max_lifetime_s: float = 300) -> None:
        self.issuers = issuers
        self.remember_jti = remember_jti
        self.leeway = leeway_s
        self.max_lifetime = max_lifetime_s

    def _key(self, issuer: Issuer, header: dict) -> Any:
        """The signing key: the configured set when it holds the kid, else an allow-listed jku."""
        kid, jku = header.get("kid"), header.get("jku")
        if jku is not None and not isinstance(jku, str):
            raise AuthError("malformed-token", "the token's jku is not a URL")
        key = issuer.configured_key(kid)
        if key is None and jku is not None:
            if jku not in issuer.jku_allowlist:
                raise AuthError("jku-not-allowed", "the token's jku is not on this issuer's allowlist")
            key = issuer.fetched_key(jku, kid)
        if key is None:
            raise AuthError("unknown-key", "no key of this issuer matches the token's kid")
        return key

    def verify(self, authorization: str | None, audience: str) -> dict:
        """The verified claims, or AuthError."""
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthError("missing-token", "Authorization: Bearer <JWT> is required")
        token = authorization[len("Bearer "):].strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthError("malformed-token", "the bearer token is not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise AuthError("alg-not-allowed", "the token's algorithm is not allowed (ES384 or RS384 only)")
        _check_claim_types(unverified)
        issuer = self.issuers.get(unverified.get("iss")) if isinstance(unverified.get("iss"), str) else None
        if issuer is None:
            raise AuthError("unknown-issuer", "the token's issuer is not trusted")
        key = self._key(issuer, header)
        try:
            claims = jwt.decode(token, key=key, algorithms=list(ALGORITHMS), audience=audience,
                                issuer=issuer.iss, leeway=self.leeway,
                                options={"require": ["iss", "aud", "exp", "iat", "jti"]})
        except jwt.ExpiredSignatureError:
            raise AuthError("expired", "the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("iat-in-future", "the token is issued in the future") from None
        except jwt.InvalidAudienceError:
            raise AuthError("wrong-audience", f"the token's aud is not {audience}") from None
        except jwt.MissingRequiredClaimError as exc:
            code = "missing-jti" if exc.claim == "jti" else "missing-claim"
            raise AuthError(code, f"the token has no '{exc.claim}' claim") from None
        except jwt.InvalidSignatureError:
            raise AuthError("bad-signature", "the token's signature does not verify") from None
        except (jwt.PyJWTError, TypeError, ValueError, OverflowError) as exc:
            log.info("JWT rejected by the library", extra={"detail": type(exc).__name__})
            raise AuthError("invalid-token", "the token is invalid") from None
        if not claims["jti"]:
            raise AuthError("missing-jti", "the token has no usable 'jti'")
        if claims["exp"] <= claims["iat"]:
            raise AuthError("invalid-claim", "the token's 'exp' is not after its 'iat'")
        if claims["exp"] - claims["iat"] > self.max_lifetime:
            raise AuthError("lifetime-too-long",
                            f"the token's lifetime (exp - iat) exceeds {self.max_lifetime:g} s")
        expires = datetime.fromtimestamp(claims["exp"] + self.leeway, UTC)
        if not self.remember_jti(claims["jti"], issuer.iss, expires):
            raise AuthError("replayed-jti", "this token's jti has been used before")
        claims["_issuer"] = issuer
        return claims
