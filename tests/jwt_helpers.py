"""Signing keys, a loopback JWKS server and token minting for tests that need trusted issuers."""
from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from jwt.utils import base64url_encode

ISS = "https://ehr.example.org"


class Issuer:
    """A fresh EC P-384 key, its JWKS served on loopback, and an issuers file for the service."""

    def __init__(self, iss: str = ISS) -> None:
        self.iss = iss
        self.key = ec.generate_private_key(ec.SECP384R1())
        self.server = JsonServer({"/jwks.json": {"keys": [jwk(self.key.public_key(), "k1")]}})
        self.jwks_url = f"{self.server.url}/jwks.json"

    def issuers_file(self, path) -> str:
        path.write_text(json.dumps([self.entry()]))
        return str(path)

    def entry(self) -> dict:
        """This issuer as one entry of a trusted-issuers file."""
        return {"iss": self.iss, "jwks_url": self.jwks_url, "fhir_servers": []}

    def token(self, aud: str, jti: str | None = None) -> str:
        now = int(time.time())
        claims = {"iss": self.iss, "aud": aud, "iat": now, "exp": now + 300, "jti": jti or str(uuid.uuid4()), "sub": "ehr"}
        return jwt.encode(claims, self.key, algorithm="ES384", headers={"kid": "k1"})

    def close(self) -> None:
        self.server.close()


class JsonServer:
    """Serves fixed JSON documents on loopback and counts the requests per path (404 elsewhere)."""

    def __init__(self, documents: dict[str, dict]) -> None:
        self.hits: dict[str, int] = {}
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits[self.path] = hits.get(self.path, 0) + 1
                body = json.dumps(documents.get(self.path, {})).encode()
                self.send_response(200 if self.path in documents else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()


def jwk(public_key, kid: str) -> dict:
    """The public JWK of an EC P-384 key, for ES384."""
    key = ECAlgorithm.to_jwk(public_key, as_dict=True)
    key.update({"kid": kid, "alg": "ES384", "use": "sig"})
    return key


def sign_raw(claims: dict, key, kid: str | None = "k1", headers: dict | None = None) -> str:
    """An ES384 JWS over any JSON header and claims, also ones PyJWT's encoder refuses."""
    header = {"alg": "ES384", "typ": "JWT"} | ({"kid": kid} if kid else {}) | (headers or {})
    signing_input = b".".join(base64url_encode(json.dumps(part).encode()) for part in (header, claims))
    signature = ECAlgorithm(ECAlgorithm.SHA384).sign(signing_input, key)
    return (signing_input + b"." + base64url_encode(signature)).decode()
