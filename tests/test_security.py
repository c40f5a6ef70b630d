"""JWT-verified EHR calls: real signed tokens (fresh EC P-384 and RSA keys, JWKS on loopback)."""
from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds_service.app import create_app
from cds_service.settings import Settings
from tests.conftest import load_request
from tests.jwt_helpers import JsonServer

BASE = "https://cds.example.org"
ISS = "https://ehr.example.org"
PV = "/cds-services/her2-patient-view"


def _jwk(public_key, kid, alg):
    algo = ECAlgorithm if alg == "ES384" else RSAAlgorithm
    jwk = algo.to_jwk(public_key, as_dict=True)
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk


@pytest.fixture(scope="module")
def keys():
    return {"ec": ec.generate_private_key(ec.SECP384R1()), "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "other-ec": ec.generate_private_key(ec.SECP384R1()), "jku-ec": ec.generate_private_key(ec.SECP384R1())}


@pytest.fixture(scope="module")
def jwks_server(keys):
    documents = {
        "/jwks.json": {"keys": [_jwk(keys["ec"].public_key(), "ec1", "ES384"), _jwk(keys["rsa"].public_key(), "rsa1", "RS384")]},
        "/jku.json": {"keys": [_jwk(keys["jku-ec"].public_key(), "jku1", "ES384")]},
        "/evil.json": {"keys": [_jwk(keys["other-ec"].public_key(), "evil1", "ES384")]},
    }

    server = JsonServer(documents)
    yield server.url
    server.close()


@pytest.fixture(scope="module")
def secured(jwks_server, tmp_path_factory, keys):
    tmp = tmp_path_factory.mktemp("sec")
    issuers = [
        {"iss": ISS, "jwks_url": f"{jwks_server}/jwks.json", "jku_allowlist": [f"{jwks_server}/jku.json"],
         "fhir_servers": ["https://ehr.example.org/fhir"]},
        {"iss": "https://inline.example.org", "jwks": {"keys": [_jwk(keys["ec"].public_key(), "ec1", "ES384")]}},
    ]
    (tmp / "issuers.json").write_text(json.dumps(issuers))
    app = create_app(Settings.from_env({"HER2CDS_TRUSTED_ISSUERS_FILE": str(tmp / "issuers.json"),
                                        "HER2CDS_PUBLIC_BASE_URL": BASE, "DATABASE_URL": f"sqlite:///{tmp}/db.sqlite3",
                                        "HER2CDS_PSEUDONYM_KEY": "k"}))
    return app.test_client()


def token(keys, *, kid="ec1", alg="ES384", key=None, iss=ISS, aud=BASE + PV, exp=300, iat=0, jti="auto", headers=None, drop=()):
    now = int(time.time())
    claims = {"iss": iss, "aud": aud, "exp": now + exp, "iat": now + iat, "jti": str(uuid.uuid4()) if jti == "auto" else jti,
              "sub": "client-id"}
    for name in drop:
        claims.pop(name)
    signing = key if key is not None else (keys["ec"] if alg == "ES384" else keys["rsa"])
    return jwt.encode(claims, signing, algorithm=alg, headers={"kid": kid, **(headers or {})})


def post(client, tok, path=PV, body=None):
    headers = {"Authorization": f"Bearer {tok}"} if tok is not None else {}
    return client.post(path, json=body or load_request("gastric-ihc3"), headers=headers)


def test_valid_es384_and_rs384_calls_pass(secured, keys):
    assert post(secured, token(keys)).status_code == 200
    assert post(secured, token(keys, kid="rsa1", alg="RS384")).status_code == 200


def test_inline_jwks_issuer(secured, keys):
    assert post(secured, token(keys, iss="https://inline.example.org")).status_code == 200


def test_jku_on_the_allowlist_is_honoured(secured, keys, jwks_server):
    tok = token(keys, kid="jku1", key=keys["jku-ec"], headers={"jku": f"{jwks_server}/jku.json"})
    assert post(secured, tok).status_code == 200


def _none_token():
    now = int(time.time())
    return jwt.encode({"iss": ISS, "aud": BASE + PV, "exp": now + 60, "iat": now, "jti": "n"}, None, algorithm="none")


REJECTIONS = {
    "unsigned": (lambda k, j: None, "missing-token"),
    "not-a-jwt": (lambda k, j: "abc.def", "malformed-token"),
    "alg-none": (lambda k, j: _none_token(), "alg-not-allowed"),
    "hs256": (lambda k, j: jwt.encode({"iss": ISS, "aud": BASE + PV, "exp": int(time.time()) + 60, "iat": int(time.time()), "jti": "h"},
                                      "secret-secret-secret-secret-secret!", algorithm="HS256"), "alg-not-allowed"),
    "wrong-key": (lambda k, j: token(k, key=k["other-ec"]), "bad-signature"),
    "unknown-iss": (lambda k, j: token(k, iss="https://stranger.example.org"), "unknown-issuer"),
    "wrong-aud": (lambda k, j: token(k, aud=BASE + "/cds-services/her2-order-sign"), "wrong-audience"),
    "expired": (lambda k, j: token(k, exp=-120, iat=-400), "expired"),
    "future-iat": (lambda k, j: token(k, iat=600, exp=900), "iat-in-future"),
    "missing-jti": (lambda k, j: token(k, drop=("jti",)), "missing-jti"),
    "jku-off-allowlist": (lambda k, j: token(k, kid="evil1", key=k["other-ec"], headers={"jku": f"{j}/evil.json"}), "jku-not-allowed"),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_rejected_calls_get_401_with_reason(secured, keys, jwks_server, case):
    make, code = REJECTIONS[case]
    response = post(secured, make(keys, jwks_server))
    assert response.status_code == 401, response.get_json()
    assert response.get_json()["error"] == code
    assert f'error_description="{code}"' in response.headers["WWW-Authenticate"]


def test_replayed_jti_is_rejected(secured, keys):
    tok = token(keys, jti="once-only")
    assert post(secured, tok).status_code == 200
    response = post(secured, tok)
    assert response.status_code == 401 and response.get_json()["error"] == "replayed-jti"


def test_feedback_needs_a_token_for_its_own_url(secured, keys):
    cards = post(secured, token(keys)).get_json()["cards"]
    body = {"feedback": [{"card": cards[0]["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-11-24T10:00:00Z"}]}
    path = PV + "/feedback"
    assert post(secured, None, path, body).status_code == 401
    assert post(secured, token(keys), path, body).get_json()["error"] == "wrong-audience"
    assert post(secured, token(keys, aud=BASE + path), path, body).status_code == 200


def test_discovery_and_health_stay_open_and_say_jwt(secured):
    assert secured.get("/cds-services").status_code == 200
    assert secured.get("/healthz").get_json()["authentication"] == "jwt"


def test_only_the_issuers_registered_fhir_servers_are_used(secured, keys):
    request = load_request("gastric-ihc3")
    request["prefetch"] = {}
    request["fhirServer"] = "https://attacker.example.net/fhir"
    response = post(secured, token(keys), body=request)
    assert response.status_code == 412 and "not registered for this EHR" in response.get_json()["reason"]
