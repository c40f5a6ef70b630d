"""CDS Hooks 2.0 JWT verification of EHR calls (PyJWT + cryptography).

Configured trusted issuers (HER2CDS_TRUSTED_ISSUERS_FILE): JSON list of
{"iss", "jwks_url" or "jwks", "jku_allowlist": [...], "fhir_servers": [...]}.
Accepts ES384 and RS384 only; checks signature, iss, aud (= public base URL + path), exp, iat,
jti and its replay. Every failure is an AuthError with a reason code (sent in WWW-Authenticate).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWKClient, PyJWKSet

log = logging.getLogger("her2cds.auth")
ALGORITHMS = ("ES384", "RS384")


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

    def client(self, url: str) -> PyJWKClient:
        """A cached JWKS client per URL (keys cached, refetched on an unknown kid)."""
        if url not in self._clients:
            self._clients[url] = PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)
        return self._clients[url]


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


class Verifier:
    """Verifies the bearer JWT of one call against the trusted issuers and the replay store."""

    def __init__(self, issuers: dict[str, Issuer], remember_jti: Callable[[str, str, datetime], bool],
                 leeway_s: float = 30) -> None:
        self.issuers = issuers
        self.remember_jti = remember_jti
        self.leeway = leeway_s

    def _key(self, issuer: Issuer, header: dict) -> Any:
        """The issuer's signing key for this token: inline JWKS, allow-listed jku, or jwks_url."""
        kid = header.get("kid")
        jku = header.get("jku")
        if jku is not None and jku not in issuer.jku_allowlist:
            raise AuthError("jku-not-allowed", "the token's jku is not on this issuer's allowlist")
        try:
            if jku is None and issuer.jwks is not None:
                keys = [k for k in PyJWKSet.from_dict(issuer.jwks).keys if kid is None or k.key_id == kid]
                if not keys:
                    raise AuthError("unknown-key", "no key of this issuer matches the token's kid")
                return keys[0]
            client = issuer.client(jku or issuer.jwks_url or "")
            return client.get_signing_key(kid) if kid else client.get_signing_keys()[0]
        except (jwt.PyJWKClientError, jwt.PyJWTError) as exc:
            raise AuthError("unknown-key", f"signing key not found: {exc}") from None

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
            raise AuthError("alg-not-allowed", f"algorithm {header.get('alg')!r} is not allowed (ES384 or RS384)")
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
        except jwt.PyJWTError as exc:
            raise AuthError("invalid-token", f"the token is invalid ({type(exc).__name__})") from None
        if not isinstance(claims["jti"], str) or not claims["jti"]:
            raise AuthError("missing-jti", "the token has no usable 'jti'")
        expires = datetime.fromtimestamp(claims["exp"] + self.leeway, UTC)
        if not self.remember_jti(claims["jti"], issuer.iss, expires):
            raise AuthError("replayed-jti", "this token's jti has been used before")
        claims["_issuer"] = issuer
        return claims
