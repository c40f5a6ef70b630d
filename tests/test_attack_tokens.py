"""Crafted JWTs (#17 items 9 and 12): each gets 401 with its reason code, never a 500 or a leaked error.

Real ES384 signatures with fresh keys; the JWKS and jku endpoints are loopback servers that count
their hits, so "the jku was not fetched" is observed, not assumed.
"""
from __future__ import annotations

import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cds_service.app import create_app
from cds_service.settings import Settings
from tests.conftest import load_request
from tests.jwt_helpers import JsonServer, jwk, sign_raw

BASE = "https://cds.example.org"
PV = "/cds-services/her2-patient-view"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"  # never fetched: see the tests
INLINE_ISS = "https://inline.example.org"
URL_ISS = "https://url.example.org"


@pytest.fixture(scope="module")
def keys():
    return {name: ec.generate_private_key(ec.SECP384R1()) for name in ("inline", "url", "jku", "stranger")}


@pytest.fixture(scope="module")
def jwks(keys):
    server = JsonServer({"/jwks.json": {"keys": [jwk(keys["url"].public_key(), "url1")]},
                         "/jku.json": {"keys": [jwk(keys["jku"].public_key(), "jku1")]}})
    yield server
    server.close()


def make_client(tmp_path, jwks, keys, **env):
    issuers = [
        # Configured like the public sandbox: its key inline, its jku NOT on the allowlist.
        {"iss": INLINE_ISS, "jwks": {"keys": [jwk(keys["inline"].public_key(), "inline1")]}, "jku_allowlist": []},
        {"iss": URL_ISS, "jwks_url": f"{jwks.url}/jwks.json",
         "jku_allowlist": [f"{jwks.url}/jku.json", "http://127.0.0.1:9/closed.json"]},
    ]
    (tmp_path / "issuers.json").write_text(json.dumps(issuers))
    settings = Settings.from_env({"HER2CDS_TRUSTED_ISSUERS_FILE": str(tmp_path / "issuers.json"),
                                  "HER2CDS_PUBLIC_BASE_URL": BASE, "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
                                  "HER2CDS_PSEUDONYM_KEY": "k", **env})
    return create_app(settings).test_client()


@pytest.fixture(scope="module")
def client(tmp_path_factory, jwks, keys):
    return make_client(tmp_path_factory.mktemp("tokens"), jwks, keys)


def claims(iss=INLINE_ISS, lifetime=300, **overrides) -> dict:
    now = int(time.time())
    return {"iss": iss, "aud": BASE + PV, "iat": now, "exp": now + lifetime, "jti": str(uuid.uuid4()),
            "sub": "client"} | overrides


def post(client, token):
    return client.post(PV, json=load_request("gastric-ihc3"), headers={"Authorization": f"Bearer {token}"})


def rejected(response, code):
    body = response.get_json()
    assert response.status_code == 401, body
    assert body["error"] == code
    assert f'error_description="{code}"' in response.headers["WWW-Authenticate"]
    return body


# --------------------------------------------------------------------------- item 12: jku
def test_sandbox_token_with_its_jku_uses_the_configured_key(client, keys):
    token = sign_raw(claims(), keys["inline"], "inline1", {"jku": SANDBOX_JKU})
    assert post(client, token).status_code == 200


def test_configured_jwks_url_key_wins_over_an_allowlisted_jku(client, keys, jwks):
    before = jwks.hits.get("/jku.json", 0)
    token = sign_raw(claims(URL_ISS), keys["url"], "url1", {"jku": f"{jwks.url}/jku.json"})
    assert post(client, token).status_code == 200
    assert jwks.hits.get("/jku.json", 0) == before  # the kid was known: the jku was not fetched


def test_allowlisted_jku_is_fetched_only_for_an_unknown_kid(client, keys, jwks):
    token = sign_raw(claims(URL_ISS), keys["jku"], "jku1", {"jku": f"{jwks.url}/jku.json"})
    assert post(client, token).status_code == 200
    assert jwks.hits["/jku.json"] >= 1


def test_unknown_kid_with_a_jku_off_the_allowlist(client, keys, jwks):
    token = sign_raw(claims(), keys["stranger"], "stranger1", {"jku": f"{jwks.url}/jku.json"})
    rejected(post(client, token), "jku-not-allowed")


def test_unreachable_jku_is_unknown_key_without_the_network_error(client, keys):
    token = sign_raw(claims(URL_ISS), keys["jku"], "nope", {"jku": "http://127.0.0.1:9/closed.json"})
    body = rejected(post(client, token), "unknown-key")
    assert body["reason"] == "no key of this issuer matches the token's kid"


def test_known_kid_signed_by_another_key_is_a_bad_signature(client, keys):
    token = sign_raw(claims(), keys["stranger"], "inline1", {"jku": SANDBOX_JKU})
    rejected(post(client, token), "bad-signature")


# --------------------------------------------------------------------------- item 9: lifetime and claim types
# Claim overrides per case; a callable gets the current time (tests run long after import).
CRAFTED = {
    "ten-years": (dict(lifetime=10 * 365 * 86400), "lifetime-too-long"),
    "301-seconds": (dict(lifetime=301), "lifetime-too-long"),
    "exp-1e18": (dict(exp=10**18), "invalid-claim"),
    "exp-1e20": (dict(exp=10**20), "invalid-claim"),
    "exp-string": (lambda now: dict(exp=str(now + 60)), "invalid-claim"),
    "exp-bool": (dict(exp=True), "invalid-claim"),
    "exp-negative": (dict(exp=-1), "invalid-claim"),
    "exp-list": (lambda now: dict(exp=[now + 60]), "invalid-claim"),
    "exp-infinity": (dict(exp=float("inf")), "invalid-claim"),
    "exp-nan": (dict(exp=float("nan")), "invalid-claim"),
    "exp-before-iat": (lambda now: dict(exp=now + 10, iat=now + 20), "invalid-claim"),
    "iat-string": (dict(iat="now"), "invalid-claim"),
    "iat-null": (dict(iat=None), "invalid-claim"),
    "nbf-object": (dict(nbf={"t": 1}), "invalid-claim"),
    "jti-number": (dict(jti=123), "invalid-claim"),
    "jti-list": (dict(jti=["a"]), "invalid-claim"),
    "jti-huge": (dict(jti="j" * 5000), "invalid-claim"),
    "jti-empty": (dict(jti=""), "missing-jti"),
    "iss-number": (dict(iss=5), "invalid-claim"),
    "iss-list": (dict(iss=[INLINE_ISS]), "invalid-claim"),
    "sub-object": (dict(sub={}), "invalid-claim"),
    "aud-empty-list": (dict(aud=[]), "invalid-claim"),
    "aud-list-of-number": (dict(aud=[1]), "invalid-claim"),
    "aud-list-of-null": (dict(aud=[None]), "invalid-claim"),
    "aud-nested-list": (dict(aud=[[BASE + PV]]), "invalid-claim"),
    "aud-object": (dict(aud={"a": BASE + PV}), "invalid-claim"),
    "aud-number": (dict(aud=123), "invalid-claim"),
    "aud-other-list": (dict(aud=[BASE + "/cds-services/her2-order-sign"]), "wrong-audience"),
    "aud-prefix": (dict(aud=BASE), "wrong-audience"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_claims_get_401_with_the_reason(client, keys, case):
    overrides, code = CRAFTED[case]
    if callable(overrides):
        overrides = overrides(int(time.time()))
    rejected(post(client, sign_raw(claims(**overrides), keys["inline"], "inline1")), code)


def test_aud_list_holding_this_service_is_accepted(client, keys):
    assert post(client, sign_raw(claims(aud=[BASE + PV, "https://other.example.org"]), keys["inline"], "inline1")).status_code == 200


def test_lifetime_limit_is_configurable(tmp_path, jwks, keys):
    client = make_client(tmp_path, jwks, keys, HER2CDS_MAX_TOKEN_LIFETIME_S="3600")
    assert post(client, sign_raw(claims(lifetime=1800), keys["inline"], "inline1")).status_code == 200
    rejected(post(client, sign_raw(claims(lifetime=3601), keys["inline"], "inline1")), "lifetime-too-long")


@pytest.mark.parametrize("header", [{"jku": 5}, {"jku": ["x"]}, {"kid": 7}])
def test_malformed_headers(client, keys, header):
    token = sign_raw(claims(), keys["inline"], None, header)
    rejected(post(client, token), "malformed-token")
