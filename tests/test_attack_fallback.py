"""A malicious FHIR server on loopback (#17 items 1 and 2): the fallback's outcomes stay bounded.

Gzip bomb, huge bodies, dripping bodies and headers, endless paging and redirect tricks each end
in a uniform 412 or in cards naming what is missing, with memory, connections and reading time
bounded; one EHR's dripping server does not starve another EHR's calls (bulkhead).
"""
from __future__ import annotations

import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from cds_service import fhir_client
from cds_service.app import create_app
from cds_service.discovery import PREFETCH
from cds_service.settings import Settings
from tests.conftest import call, status_ext
from tests.hostile_fhir import DRIP_INTERVAL_S, HostileFhirServer, request_via
from tests.service_process import ServiceProcess

pytestmark = pytest.mark.slow  # servers and processes

MB = 1_000_000
CAP = 20_000_000  # the default of HER2CDS_FHIR_MAX_RESPONSE_BYTES (interface.md)
SEARCHES = sum("?" in t for t in PREFETCH.values())


@pytest.fixture(scope="module")
def hostile():
    server = HostileFhirServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def healthy():
    server = HostileFhirServer()  # only its `ok` mode is used: another origin, a well-behaved EHR
    yield server
    server.close()


def make_client(tmp_path, **env):
    settings = Settings.from_env({"HER2CDS_ALLOW_HTTP_FHIR": "1", "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
                                  "HER2CDS_PSEUDONYM_KEY": "k", **env})
    return create_app(settings).test_client()


def logged(caplog) -> list[str]:
    return [r.reason for r in caplog.records if r.getMessage() == "FHIR fallback failed"]


def assert_uniform_412(code, body):
    assert code == 412, body
    assert body["reason"] == "cannot assess: " + fhir_client.unavailable("conditions")


def test_healthy_server_gives_the_same_cards_as_prefetch(tmp_path, healthy):
    client = make_client(tmp_path)
    code, body = call(client, request_via(healthy.base("ok")))
    assert code == 200 and status_ext(body["cards"])["status"] == "positive"


@pytest.mark.parametrize("mode", ["bomb", "huge"])
def test_bodies_are_cut_at_the_cap_after_decompression(tmp_path, hostile, healthy, caplog, mode):
    """1 GiB of gzip, or 100 MB of plain JSON with no length: memory stays near the cap."""
    client = make_client(tmp_path)
    call(client, request_via(healthy.base("ok")))  # the loop, the sessions and the parser are warm
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        code, body = call(client, request_via(hostile.base(mode)))
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert_uniform_412(code, body)
    reasons = logged(caplog)
    assert any(f"exceed the {CAP}-byte cap after decompression" in r for r in reasons), reasons
    # One call's keys share the cap, bodies are kept in pieces: peak = the cap, not the 1 GiB / 100 MB sent.
    assert peak < CAP + 8 * MB, peak


def test_json_that_is_costly_to_parse_is_refused_before_parsing(tmp_path, hostile, caplog):
    """19 MB of `{"a":1}` would take ~600 MB once parsed; the call's token allowance refuses it first."""
    client = make_client(tmp_path)
    tracemalloc.start()
    try:
        code, body = call(client, request_via(hostile.base("dense")))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_uniform_412(code, body)
    assert f"responses hold more than {fhir_client.MAX_JSON_TOKENS} JSON tokens" in logged(caplog)
    assert peak < CAP + 8 * MB, peak  # counted in pieces, refused before being joined or parsed
    # Just inside the allowance (0.99 M tokens) the body is parsed: the bound is ~64 bytes a token.
    code, body = call(client, request_via(hostile.base("dense:330000")))
    assert code == 200


def test_declared_oversize_body_is_refused_before_reading(tmp_path, hostile, caplog):
    code, body = call(make_client(tmp_path), request_via(hostile.base("huge-length")))
    assert_uniform_412(code, body)
    assert any("cap (Content-Length)" in r for r in logged(caplog))


@pytest.mark.parametrize("mode", ["drip", "drip-headers"])
def test_dripping_server_is_abandoned_at_the_deadline(tmp_path, hostile, caplog, mode):
    """A byte every 0.5 s: the call answers at the budget and the service stops reading then."""
    budget = 1.0
    client = make_client(tmp_path, HER2CDS_FHIR_BUDGET_S=str(budget))
    closed_before = len(hostile.stats.closed_at)
    requests_before = hostile.stats.requests.get(mode, 0)
    started = time.monotonic()
    code, body = call(client, request_via(hostile.base(mode)))
    answered = time.monotonic()
    assert_uniform_412(code, body)
    assert answered - started < budget + 1.5  # the budget is the behaviour; wide margin
    assert set(logged(caplog)) == {f"time budget of {budget:g} s spent"}
    opened = hostile.stats.requests.get(mode, 0) - requests_before
    assert opened >= 1
    # Every dripping connection is hung up on by the service: the server's next write fails.
    while len(hostile.stats.closed_at) - closed_before < opened and time.monotonic() < answered + 5:
        time.sleep(0.05)
    closed = hostile.stats.closed_at[closed_before:]
    assert len(closed) == opened
    # The server notices within two writes (DRIP_INTERVAL_S apart) of the service closing.
    assert max(closed) - answered < 2 * DRIP_INTERVAL_S + 0.5


def test_endless_paging_stops_at_the_page_cap(tmp_path, hostile):
    before = hostile.stats.requests.get("paging", 0)
    code, body = call(make_client(tmp_path), request_via(hostile.base("paging")))
    assert code == 200  # empty Bundles: no diagnosis on file, said on a card
    served = hostile.stats.requests.get("paging", 0) - before
    assert served <= SEARCHES * fhir_client.MAX_PAGES + 1


@pytest.mark.parametrize("mode, logged_reason", [
    ("redirect-loop", "too many redirects"),
    ("redirect-away", "redirect to another origin refused"),
    ("redirect-https", "redirect to another origin refused"),
    ("redirect-file", "redirect to another origin refused"),
])
def test_redirect_tricks_are_not_followed(tmp_path, hostile, healthy, caplog, mode, logged_reason):
    if mode == "redirect-away":
        mode = f"redirect-away:{healthy.port}"
    healthy_before = healthy.stats.requests.get("ok", 0)
    before = hostile.stats.requests.get(mode.split(":")[0], 0)
    code, body = call(make_client(tmp_path), request_via(hostile.base(mode)))
    assert_uniform_412(code, body)
    assert set(logged(caplog)) == {logged_reason}
    assert healthy.stats.requests.get("ok", 0) == healthy_before  # the other origin was never called
    sent = hostile.stats.requests.get(mode.split(":")[0], 0) - before
    assert sent <= len(PREFETCH) * (fhir_client.MAX_REDIRECTS + 1)


def test_one_dripping_ehr_does_not_starve_another(tmp_path, hostile, healthy):
    """12 calls to a dripping server hold at most its share of connections; a healthy EHR still gets answers."""
    settings = {"HER2CDS_FHIR_BUDGET_S": "3"}
    client = make_client(tmp_path, **settings)
    call(client, request_via(healthy.base("ok")))
    attackers = [make_client(tmp_path, **settings) for _ in range(12)]
    attack = request_via(hostile.base("drip"))
    with ThreadPoolExecutor(max_workers=12) as pool:
        attacks = [pool.submit(call, attacker, attack) for attacker in attackers]
        time.sleep(0.5)  # the dripping server now holds every connection it is allowed
        held, results = [], []
        for _ in range(4):  # well inside the attackers' 3 s budget
            held.append(hostile.stats.open_connections)
            results.append(call(client, request_via(healthy.base("ok"))))
        held.append(hostile.stats.open_connections)
        attack_results = [f.result() for f in attacks]
    assert 0 < max(held) <= fhir_client.MAX_CONNECTIONS_PER_SERVER, held
    for code, body in results:
        assert code == 200 and status_ext(body["cards"])["status"] == "positive"
    for code, body in attack_results:
        assert_uniform_412(code, body)


def test_service_process_memory_under_bomb_and_huge_answers(hostile, healthy):
    """The real service (`her2-cds serve`, its gevent worker, 1 worker): 16 concurrent hostile calls
    against two hostile FHIR servers, RSS growth bounded; a healthy call still answered afterwards.

    With gevent many calls wait on FHIR servers at once; each server's calls hold at most one
    call's worth of bytes (the cap), so the bound is 2 servers x the cap, x2 for buffer growth and
    the parser, + 64 MB for everything else. Before #17 one such call grew a worker by 6.9 GB.
    """
    second = HostileFhirServer()
    try:
        with ServiceProcess({"HER2CDS_ALLOW_HTTP_FHIR": "1"}, workers=1) as service:
            url = f"{service.url}/cds-services/her2-patient-view"
            for _ in range(3):
                assert requests.post(url, json=request_via(healthy.base("ok")), timeout=30).status_code == 200
            service.mark()
            bases = [server.base(mode) for server in (hostile, second) for mode in ("bomb", "huge")] * 4
            with ThreadPoolExecutor(max_workers=len(bases)) as pool:
                answers = list(pool.map(lambda base: requests.post(url, json=request_via(base), timeout=60), bases))
            growth = service.peak_growth()
            assert requests.post(url, json=request_via(healthy.base("ok")), timeout=30).status_code == 200
    finally:
        second.close()
    assert [a.status_code for a in answers] == [412] * len(bases)
    assert growth < 2 * CAP * 2 + 64 * MB, growth
