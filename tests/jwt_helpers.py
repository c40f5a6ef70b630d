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

ISS = "https://ehr.example.org"


class Issuer:
    """A fresh EC P-384 key, its JWKS served on loopback, and an issuers file for the service."""

    def __init__(self, iss: str = ISS) -> None:
        self.iss = iss
        self.key = ec.generate_private_key(ec.SECP384R1())
        jwk = ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        jwk.update({"kid": "k1", "alg": "ES384", "use": "sig"})
        body = json.dumps({"keys": [jwk]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.jwks_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"

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
        self.httpd.shutdown()
