"""SSRF (#17 item 4): destinations checked after DNS resolution, and one 412 text for every failure.

Private, link-local and metadata addresses are checked as a unit: the guard is fed resolved
addresses, nothing is sent anywhere. End to end only loopback forms are used, against a trap socket
that counts the connections it gets (it must get none).
"""
from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from cds_service import fhir_client
from cds_service.app import create_app
from cds_service.netguard import DestinationRefused, GuardedResolver, check_host, refusal
from cds_service.settings import Settings
from tests.conftest import call
from tests.hostile_fhir import HostileFhirServer, request_via

REFUSED = {
    # private ranges
    "10.0.0.1": "private", "172.16.5.4": "private", "192.168.1.1": "private", "fc00::1": "private",
    "fd12:3456::1": "private", "198.18.0.1": "private", "192.0.2.1": "private", "2001:db8::1": "private",
    # link-local and metadata
    "169.254.1.1": "link-local", "fe80::1": "link-local", "fe80::1%eth0": "link-local",
    "169.254.169.254": "metadata", "169.254.170.2": "metadata", "fd00:ec2::254": "metadata",
    "100.100.100.200": "metadata", "168.63.129.16": "metadata", "192.0.0.192": "metadata",
    # loopback and unspecified, also in IPv6 clothing
    "127.0.0.1": "loopback", "127.255.255.254": "loopback", "::1": "loopback", "::ffff:127.0.0.1": "loopback",
    "::127.0.0.1": "loopback", "2002:7f00:1::": "loopback", "0.0.0.0": "unspecified", "::": "unspecified",
    "::ffff:169.254.169.254": "metadata", "64:ff9b::a9fe:a9fe": "metadata", "::ffff:10.1.2.3": "private",
    # the rest of the not-public space
    "100.64.0.1": "shared", "224.0.0.1": "multicast", "ff02::1": "multicast", "255.255.255.255": "private",
    "240.0.0.1": "private", "2001::1": "private",
}
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::"]


@pytest.mark.parametrize("address", sorted(REFUSED))
def test_resolved_addresses_that_are_not_public_are_refused(address):
    assert refusal(address) == REFUSED[address]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert refusal(address) is None


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "0177.0.0.1", "017700000001", "0x7f.1",
                                  "0.0.0.0", "0", "127.0.0.1", "[::1]", "::ffff:7f00:1", "169.254.169.254"])
def test_numeric_hosts_are_judged_before_any_lookup(host):
    with pytest.raises(DestinationRefused):
        check_host(host)


@pytest.mark.parametrize("host", ["ehr.example.org", "localhost", "cafe", "face.b00c", "93.184.216.34"])
def test_names_are_left_to_the_resolver(host):
    check_host(host)  # no exception: names are checked once resolved


class _Answers(GuardedResolver):
    """The guard with canned resolver answers: what DNS would return, without asking DNS."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers

        class Inner:
            async def resolve(_self, host, port, family):
                return [{"hostname": host, "host": a, "port": port, "family": socket.AF_INET6 if ":" in a else socket.AF_INET,
                         "proto": 0, "flags": 0} for a in answers]

        self._inner = Inner()


@pytest.mark.parametrize("answers", [["10.0.0.1"], ["93.184.216.34", "10.0.0.1"], ["169.254.169.254"],
                                     ["2606:4700::1111", "::1"], ["::ffff:127.0.0.1"], ["fd00:ec2::254"]])
def test_a_name_resolving_to_any_non_public_address_is_refused(answers):
    with pytest.raises(DestinationRefused):
        asyncio.run(_Answers(answers).resolve("ehr.example.org", 443))


def test_the_addresses_checked_are_the_ones_connected_to():
    """The guard hands the connector exactly what it checked: no second lookup to rebind."""
    results = asyncio.run(_Answers(["93.184.216.34", "2606:4700::1111"]).resolve("ehr.example.org", 443))
    assert [r["host"] for r in results] == ["93.184.216.34", "2606:4700::1111"]


# --------------------------------------------------------------------------- end to end, loopback only
class Trap:
    """A listening socket on loopback that counts connections and never answers."""

    def __init__(self, host: str = "127.0.0.1", family: int = socket.AF_INET) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.running = True
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while self.running:
            try:
                self.accepted.append(self.sock.accept()[0])
            except OSError:
                continue

    def close(self) -> None:
        self.running = False
        for conn in self.accepted:
            conn.close()
        self.sock.close()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def reasons(caplog) -> list[str]:
    return [r.reason for r in caplog.records if r.getMessage() == "FHIR fallback failed"]


UNIFORM = "cannot assess: " + fhir_client.unavailable("conditions")


@pytest.mark.slow
@pytest.mark.parametrize("form", ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "127.1", "0.0.0.0",
                                  "[::1]", "[::ffff:127.0.0.1]", "LOCALHOST."])
def test_loopback_forms_are_refused_without_connecting(tmp_path, caplog, form):
    v4, v6 = Trap(), (Trap("::1", socket.AF_INET6) if _ipv6_loopback() else None)
    try:
        port = v4.port
        if v6 is not None and form.startswith("["):
            port = v6.port
        client = create_app(Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"})).test_client()
        code, body = call(client, request_via(f"https://{form}:{port}/fhir"))
        assert code == 412 and body["reason"] == UNIFORM
        assert v4.accepted == [] and (v6 is None or v6.accepted == [])
        # Refused by the guard; "LOCALHOST." does not even resolve on some machines.
        assert reasons(caplog) and all(r.startswith("destination refused") or r == "connection failed (gaierror)"
                                       for r in reasons(caplog))
    finally:
        v4.close()
        if v6 is not None:
            v6.close()


@pytest.mark.slow
def test_every_unreachable_server_reads_the_same(tmp_path, caplog):
    """Closed port, TLS error, timeout, non-JSON and HTTP errors, SSRF refusal: one text, details in the log."""
    hostile, trap = HostileFhirServer(), Trap()
    closed = Trap()
    closed_port = closed.port
    closed.close()
    dev = create_app(Settings.from_env({"HER2CDS_ALLOW_HTTP_FHIR": "1", "HER2CDS_FHIR_BUDGET_S": "1",
                                        "DATABASE_URL": f"sqlite:///{tmp_path}/dev.sqlite3"})).test_client()
    strict = create_app(Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path}/strict.sqlite3"})).test_client()
    cases = {
        "closed port": (dev, f"http://127.0.0.1:{closed_port}/fhir"),
        "TLS to a plain server": (dev, f"https://127.0.0.1:{hostile.port}/ok/fhir"),
        "no answer": (dev, f"http://127.0.0.1:{trap.port}/fhir"),
        "HTTP 404, not JSON": (dev, hostile.base("missing")),
        "SSRF refusal": (strict, f"https://127.0.0.1:{hostile.port}/ok/fhir"),
    }
    try:
        answers = {name: call(client, request_via(base)) for name, (client, base) in cases.items()}
    finally:
        hostile.close()
        trap.close()
    assert {name: (code, body["reason"]) for name, (code, body) in answers.items()} == \
        {name: (412, UNIFORM) for name in cases}
    logged = " | ".join(reasons(caplog))
    for detail in ("connection failed (ConnectionRefusedError)", "TLS failed", "time budget", "HTTP 404",
                   "destination refused: loopback"):
        assert detail in logged, logged
